#ifndef KVASIR_TOOLS_CLIENT_H_
#define KVASIR_TOOLS_CLIENT_H_

// `kvasir client ...`: a gRPC client of a running Kvasir server, as a
// library (the CLI wiring is in client_command.cc).

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace kvasir::tools {

struct ClientOptions {
  // generate | stream | tokenize | info | stats | health | reload
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

  // health: the service to check ("" = the whole server).
  std::string service;
};

// Runs one command against the server. Results go to `out` (streamed text
// as it arrives for `stream`), errors to `err`. Returns the process exit
// code: 0 on success, otherwise the gRPC status code (3 INVALID_ARGUMENT,
// 14 UNAVAILABLE, 16 UNAUTHENTICATED, ...); `health` returns 0 only when
// the server reports SERVING and 14 otherwise; 2 for bad options.
int RunClient(const ClientOptions& options, std::ostream& out,
              std::ostream& err);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_CLIENT_H_
