#ifndef KVASIR_TOOLS_BENCH_SERVE_CLIENT_H_
#define KVASIR_TOOLS_BENCH_SERVE_CLIENT_H_

// The two wire protocols of `kvasir bench serve` behind one interface: a
// session sends one streaming generation at a time and times its tokens as
// they arrive. gRPC (bench_serve_grpc.cc): GenerateStream with token_ids
// in every message, so each message's token count is exact. HTTP
// (bench_serve_http.cc): POST /v1/completions, "stream": true, read as
// Server-Sent Events; an OpenAI chunk carries no token count, so each chunk
// with a choice is one token arrival, the request's token total comes from
// the final usage chunk ("stream_options": {"include_usage": true}), and
// tokens beyond the chunks (batched by the server) add gaps of 0
// (TokenTimer::Settle).
// No gRPC or HTTP headers here: this file is included by the driver.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kvasir::tools {

using BenchClock = std::chrono::steady_clock;

struct BenchRequest {
  std::vector<int32_t> token_ids;  // the prompt as ids, used as given
  std::string text;                // or as text, when token_ids is empty
  int32_t max_tokens = 16;
  bool ignore_eos = true;
  std::string api_key;  // empty: no Authorization
};

struct BenchResult {
  bool ok = false;
  // "OK"; otherwise the failure's class: the gRPC code name
  // ("UNAUTHENTICATED"), "HTTP <status>", "STREAM_ERROR" (an error event
  // after the stream started) or "TRANSPORT" (no HTTP response at all).
  std::string status = "OK";
  std::string error;  // the server's (or the transport's) message
  BenchClock::time_point sent;
  double ttft_s = 0;  // sent -> first token; 0 when no token came
  double e2e_s = 0;   // sent -> the stream's end
  // Gap before each token after the first, seconds: the time since the
  // previous token arrived; tokens that arrive together (one message or
  // chunk carrying several) have a gap of 0 after the first of them.
  std::vector<double> itl_s;
  int64_t prompt_tokens = 0;  // from the server's usage
  int64_t output_tokens = 0;  // from the server's usage
  int64_t chunks = 0;         // stream messages / SSE chunks with tokens
};

// Times the token arrivals of one stream into a BenchResult.
class TokenTimer {
 public:
  TokenTimer(BenchResult* result, std::atomic<int64_t>* live_tokens)
      : result_(result), live_tokens_(live_tokens) {}
  // Marks the send; call right before the request goes out.
  void Sent(BenchClock::time_point now) { result_->sent = now; }
  // `tokens` (>= 1) tokens arrived at `now`.
  void Arrived(BenchClock::time_point now, int64_t tokens);
  // The stream ended at `now`.
  void Ended(BenchClock::time_point now);
  // The stream carried `total` tokens in all (the server's usage). When
  // more than arrived: the others came inside chunks counted as one token
  // (an SSE chunk carries no token count; the server batches the tokens of
  // steps it could not send yet), so each adds an inter-token gap of 0, as
  // tokens sharing a gRPC message do.
  void Settle(int64_t total);
  int64_t tokens_seen() const { return seen_; }

 private:
  BenchResult* result_;
  std::atomic<int64_t>* live_tokens_;  // progress display; may be null
  BenchClock::time_point last_;
  int64_t seen_ = 0;
};

// One connection's worth of client: sends a request, blocks until its
// stream ends. Not thread-safe: a worker thread owns each session.
class BenchSession {
 public:
  virtual ~BenchSession() = default;
  // Never throws; failures are in the result. `live_tokens` (may be null)
  // is bumped as tokens arrive, for the progress display.
  virtual BenchResult Run(const BenchRequest& request,
                          std::atomic<int64_t>* live_tokens) = 0;
};

// What the preflight learned about the server.
struct ServerFacts {
  int32_t vocab_size = 0;      // 0: unknown (HTTP)
  int32_t context_length = 0;  // 0: unknown (HTTP)
  std::string model;
};

class BenchClient {
 public:
  virtual ~BenchClient() = default;
  // Checks that the server answers (and, over gRPC, that every key is
  // accepted: ModelInfo with each) before the run; the error names the
  // address or the key's position (--api-key #2).
  virtual absl::StatusOr<ServerFacts> Preflight(
      const std::vector<std::string>& api_keys) = 0;
  // A session for one worker thread. Thread-safe.
  virtual std::unique_ptr<BenchSession> NewSession() = 0;
};

// `addr` is host:port; `timeout_s` the deadline of every call.
std::unique_ptr<BenchClient> MakeGrpcBenchClient(const std::string& addr,
                                                 double timeout_s);
// `addr` is host:port or http://host:port; InvalidArgument naming --addr
// when it is neither.
absl::StatusOr<std::unique_ptr<BenchClient>> MakeHttpBenchClient(
    const std::string& addr, double timeout_s);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_BENCH_SERVE_CLIENT_H_
