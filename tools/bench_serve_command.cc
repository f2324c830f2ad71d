// kvasir bench serve --addr HOST:PORT [--protocol grpc|http] [--api-key K]...
//   [--requests N] [--concurrency C | --rate R] [--prompt-len P --gen-len G
//   | --prompts FILE.jsonl] [--json]
#include <iostream>
#include <memory>

#include "tools/bench_serve.h"
#include "tools/commands.h"

namespace kvasir::tools {

void AddBenchServeCommand(CLI::App* bench, int* exit_code) {
  auto o = std::make_shared<BenchServeOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "serve",
      "Serving benchmark of a running server, measured client side over the "
      "network with streaming calls: throughput and p50/p90/p99 of time to "
      "first token, inter-token latency and end-to-end latency (per tenant "
      "with several --api-key)");
  cmd->footer(
      "Prompts: random token ids (--prompt-len ids from [3, --vocab-size), "
      "exactly --gen-len tokens generated, ignore_eos), or --prompts "
      "FILE.jsonl with one JSON object per line:\n"
      "  {\"prompt\": \"Once upon a time\", \"max_tokens\": 64}\n"
      "  {\"prompt\": [1, 415, 2936], \"max_tokens\": 16}\n"
      "\"prompt\" is text or token ids; \"max_tokens\" is optional "
      "(default --gen-len). Requests cycle through the lines; without "
      "--requests, one request per line.\n"
      "gRPC: GenerateStream. HTTP: POST /v1/completions with \"stream\": "
      "true (Server-Sent Events).\n"
      "Inter-token latency: every gap between successive tokens of every "
      "stream; tokens that arrive together (one gRPC message, one SSE "
      "chunk) add a gap of 0 after the first.\n"
      "Exit code: 0 when every request succeeded, 1 when the server is "
      "unreachable, refuses a key, or any request failed, 2 for bad "
      "options.");
  cmd->add_option("--addr", o->addr,
                  "Server host:port (default 127.0.0.1:50051 for grpc, "
                  "127.0.0.1:8080 for http)");
  cmd->add_option("--protocol", o->protocol, "grpc (default) or http");
  cmd->add_option("--api-key", o->api_keys,
                  "API key; repeat for several tenants (requests go round "
                  "robin; results per tenant). Default: $KVASIR_API_KEY");
  CLI::Option* requests =
      cmd->add_option("--requests", o->requests, "Requests in all (64)");
  CLI::Option* concurrency = cmd->add_option("--concurrency", o->concurrency,
                                             "Requests kept in flight (8)");
  CLI::Option* rate = cmd->add_option(
      "--rate", o->rate,
      "Instead of --concurrency: Poisson arrivals, requests per second");
  rate->excludes(concurrency);
  cmd->add_option("--max-in-flight", o->max_in_flight,
                  "With --rate: at most this many requests at once (512)");
  cmd->add_option("--seed", o->seed,
                  "Seed of the random prompts and arrival times (1)");
  cmd->add_option("--prompt-len", o->prompt_len,
                  "Random prompt token ids per request (128)");
  cmd->add_option("--gen-len", o->gen_len,
                  "Tokens generated per request (128)");
  cmd->add_option("--vocab-size", o->vocab_size,
                  "Random ids below this (default: the model's over grpc, "
                  "259 over http)");
  CLI::Option* prompts = cmd->add_option(
      "--prompts", o->prompts_file, "JSONL file of prompts (format below)");
  cmd->add_flag("--stop-at-eos", o->stop_at_eos,
                "Let requests stop at EOS (default: ignore_eos, exact "
                "lengths)");
  cmd->add_option("--timeout", o->timeout_s,
                  "Deadline of each request in seconds (600)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->add_option("--progress", o->progress,
                  "auto (a bar on a terminal, lines otherwise), bar, lines "
                  "or off");
  cmd->add_option("--progress-interval", o->progress_interval_s,
                  "Seconds between progress lines (5)");
  cmd->callback([o, exit_code, requests, prompts] {
    BenchServeOptions options = *o;
    if (options.api_keys.empty()) {
      const char* env = std::getenv("KVASIR_API_KEY");
      if (env != nullptr && *env != '\0') options.api_keys = {env};
    }
    // A prompts file without --requests: one request per line.
    if (prompts->count() > 0 && requests->count() == 0) options.requests = 0;
    *exit_code = RunBenchServe(options, std::cout, std::cerr);
  });
}

}  // namespace kvasir::tools
