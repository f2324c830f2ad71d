#ifndef KVASIR_TOOLS_BENCH_SERVE_REPORT_H_
#define KVASIR_TOOLS_BENCH_SERVE_REPORT_H_

// The report of `kvasir bench serve`: the results of a run summarized as
// one JSON object (the --json output), and the same as text. Latencies are
// in milliseconds, over the successful requests only.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tools/bench_serve_client.h"

namespace kvasir::tools {

// What the run was, for the report's header.
struct RunFacts {
  std::string protocol;
  std::string addr;
  std::string model;
  std::string mode;  // "concurrency" or "rate"
  int32_t concurrency = 0;
  double rate = 0;
  int32_t max_in_flight = 0;
  int64_t late_starts = 0;  // rate mode: sent > 10 ms after their arrival
  int32_t prompt_len = 0;   // 0 with a prompts file
  int32_t gen_len = 0;
  std::string prompts_file;
  bool ignore_eos = true;
  uint64_t seed = 0;
  double duration_s = 0;  // first send to last stream end
  double cpu_user_s = 0;  // this process, over the run
  double cpu_sys_s = 0;
};

// The statistics of `results` (any subset of a run): counts, failures by
// status (with the first message of each), token totals, throughput over
// `duration_s`, and the distributions ttft_ms, itl_ms (every inter-token
// gap of every stream), e2e_ms and tpot_ms ((e2e - ttft) / (tokens - 1)
// per request of two tokens or more).
nlohmann::ordered_json GroupJson(const std::vector<const BenchResult*>& results,
                                 double duration_s);

// The whole report: the facts, "total" (every result), and "tenants" (one
// GroupJson per key, with "key_index" from 1 and the key's first four
// characters) when api_keys has several; result i went with key
// i % api_keys.size().
nlohmann::ordered_json ReportJson(const RunFacts& facts,
                                  const std::vector<BenchResult>& results,
                                  const std::vector<std::string>& api_keys);

// ReportJson as aligned text.
void PrintReport(const nlohmann::ordered_json& report, std::ostream& out);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_BENCH_SERVE_REPORT_H_
