#ifndef KVASIR_TOOLS_BENCH_SERVE_H_
#define KVASIR_TOOLS_BENCH_SERVE_H_

// `kvasir bench serve`: a serving benchmark of a running Kvasir server,
// measured from the client side over the real network stack with streaming
// calls (gRPC GenerateStream, or HTTP POST /v1/completions with
// "stream": true). It keeps --concurrency requests in flight, or sends them
// as a Poisson process of --rate requests/s, until --requests have
// finished, then reports throughput and the distributions of time to first
// token, inter-token latency and end-to-end latency, per tenant when
// several API keys are given. The CLI wiring is bench_serve_command.cc; the
// statistics are bench_stats.h; the two protocols are bench_serve_client.h.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace kvasir::tools {

struct BenchServeOptions {
  // host:port of the server's gRPC or HTTP listener. Empty: 127.0.0.1:50051
  // for grpc, 127.0.0.1:8080 for http. HTTP also takes http://host:port.
  std::string addr;
  std::string protocol = "grpc";  // grpc | http
  // One tenant per key; request i uses key i % size (round robin). Empty:
  // no Authorization (the server's default tenant).
  std::vector<std::string> api_keys;
  int32_t requests = 64;  // in all, >= 1
  // Closed loop: this many requests in flight (>= 1). Used when rate == 0.
  int32_t concurrency = 8;
  // Open loop: Poisson arrivals of this many requests per second (> 0);
  // each request is sent at its arrival time on a worker of its own, at most
  // max_in_flight of them at once (a request whose arrival finds them all
  // busy waits for one and is counted in `late_starts`).
  double rate = 0;
  int32_t max_in_flight = 512;
  uint64_t seed = 1;  // prompts and arrival times
  // Random prompts of exactly prompt_len token ids from [3, vocab_size),
  // each asking for exactly gen_len tokens (ignore_eos). vocab_size 0: the
  // model's (gRPC ModelInfo), or 259 over HTTP (the byte tokens of Llama
  // vocabularies; every vocabulary has more ids than that).
  int32_t prompt_len = 128;
  int32_t gen_len = 128;
  int32_t vocab_size = 0;
  // Instead: a JSONL file, one {"prompt": "text" or [ids], "max_tokens": N}
  // per line (max_tokens optional: gen_len). Requests cycle through the
  // lines; `requests` 0 = one request per line.
  std::string prompts_file;
  // Stop at EOS as a normal request would (default: ignore_eos, so every
  // request generates exactly its max_tokens).
  bool stop_at_eos = false;
  // Per-request deadline in seconds (> 0).
  double timeout_s = 600;
  bool json = false;  // one JSON object on stdout
  // auto: a live bar when stderr is a terminal, a plain line every
  // progress_interval_s otherwise; off: nothing.
  std::string progress = "auto";  // auto | bar | lines | off
  double progress_interval_s = 5;
};

// Runs the benchmark; the report goes to `out` (text or JSON), progress and
// errors to `err`. Returns the exit code: 0 when every request succeeded;
// 1 when the server could not be reached or refused the key (before the
// run), or when any request failed (the report says which statuses); 2 for
// bad options or an unreadable prompts file.
int RunBenchServe(const BenchServeOptions& options, std::ostream& out,
                  std::ostream& err);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_BENCH_SERVE_H_
