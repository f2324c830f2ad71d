#ifndef KVASIR_TOOLS_CLIENT_H_
#define KVASIR_TOOLS_CLIENT_H_

// `kvasir client ...`: a gRPC client of a running Kvasir server, as a
// library (the CLI wiring is in client_command.cc).

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace kvasir::tools {

struct ClientOptions {
  // generate | stream | chat | tokenize | info | stats | health | reload |
  // usage
  std::string command;
  std::string addr = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <key>` when not empty.
  std::string api_key;
  // Per-call deadline in seconds; 0 = none (health: 5 s).
  double timeout_seconds = 0;
  // Machine-readable output: one JSON object on stdout.
  bool json = false;

  // generate / stream / tokenize
  std::string prompt;
  std::vector<int32_t> token_ids;  // instead of `prompt` (generate, stream)
  std::optional<int32_t> max_tokens;
  std::optional<float> temperature;
  std::optional<int32_t> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool include_stop = false;
  bool ignore_eos = false;
  bool logprobs = false;
  int32_t top_logprobs = 0;
  int32_t priority = 0;
  std::string request_id;
  bool no_bos = false;  // tokenize without BOS
  // Text prompts: encode special-token text ("<|im_start|>") as those
  // tokens (GenerateRequest/TokenizeRequest.parse_special).
  bool parse_special = false;

  // chat: a system message opening the conversation ("" = none). With
  // `prompt`, one user turn and its reply; without, one user turn per line
  // read from the input (prompted with "> " when it is a terminal).
  std::string system;

  // health: the service to check ("" = the whole server).
  std::string service;

  // usage: zero the server's usage after reading it (GetUsageRequest.reset).
  bool reset = false;
};

// The max_tokens of a chat turn when --max-tokens is not given.
inline constexpr int32_t kChatDefaultMaxTokens = 256;

// Runs one command against the server. Results go to `out` (streamed text
// as it arrives for `stream`), errors to `err`. Returns the process exit
// code: 0 on success, otherwise the gRPC status code (3 INVALID_ARGUMENT,
// 14 UNAVAILABLE, 16 UNAUTHENTICATED, ...); `health` returns 0 only when
// the server reports SERVING and 14 otherwise; 2 for bad options.
int RunClient(const ClientOptions& options, std::ostream& out,
              std::ostream& err);

// `chat`: RunClient with the user's turns read from `in` (one per line)
// unless options.prompt is set; `interactive` prints a "> " prompt before
// each line and carries on after a failed turn (a one-shot or scripted chat
// stops at the first failure and returns its code). Each reply is streamed
// to `out` as it arrives (with --json: one object per turn) and becomes
// part of the conversation sent with the next turn.
int RunChat(const ClientOptions& options, std::istream& in, bool interactive,
            std::ostream& out, std::ostream& err);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_CLIENT_H_
