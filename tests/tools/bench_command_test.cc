// Runs the real `kvasir bench offline` and `kvasir bench roofline` on a
// small checkpoint and checks the work counters of their JSON: the bytes
// and flops a roofline divides by the machine's limits.
#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/subprocess.h"

namespace kvasir {
namespace {

using ::kvasir::testing::BinaryDir;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ProcessResult;
using ::kvasir::testing::RunProcess;

// Two requests of 8 prompt and 8 generated tokens, `concurrency` in flight.
nlohmann::json Bench(const std::string& mode, std::vector<std::string> extra,
                     int concurrency = 2) {
  std::vector<std::string> args = {BinaryDir() + "/tools/kvasir",
                                   "bench",
                                   mode,
                                   "--model",
                                   ModelPath("stories260K.gguf"),
                                   "--requests",
                                   "2",
                                   "--concurrency",
                                   std::to_string(concurrency),
                                   "--prompt-len",
                                   "8",
                                   "--gen-len",
                                   "8",
                                   "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const ProcessResult r = RunProcess(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

// stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads of 8,
// vocab 512, f32 weights, output tied to the embedding.
TEST(BenchCommandTest, OfflineReportsTheWorkOfTheDecodeSteps) {
  const nlohmann::json j = Bench("offline", {});
  const nlohmann::json& d = j["roofline"]["decode"];
  ASSERT_GT(d["steps"].get<int64_t>(), 0);
  const int64_t steps = d["steps"].get<int64_t>();
  const int64_t tokens = d["tokens"].get<int64_t>();
  // Two sequences decode together after their prompts: 2 rows per step,
  // but the last step of a request may run alone.
  EXPECT_GE(tokens, steps);
  EXPECT_LE(tokens, 2 * steps);
  const int64_t layer_macs =
      64 * (8 + 2 * 4) * 8 + 8 * 8 * 64 + 64 * 2 * 172 + 172 * 64;
  const int64_t macs = 5 * layer_macs + 64 * 512;
  EXPECT_EQ(d["matmul_flops"].get<int64_t>(), 2 * tokens * macs);
  EXPECT_EQ(d["bf16_flops"].get<int64_t>(), 0);
  // f32 weights: 4 bytes each (oneDNN's layout may pad a little).
  EXPECT_NEAR(d["bytes_per_weight"].get<double>(), 4.0, 0.5);
  EXPECT_GT(d["kv_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(j["roofline"].contains("limits"));
  EXPECT_FALSE(d.contains("weight_pct_of_read"));
}

// The decode steps' split is their own: the run's step split also counts
// the prompt steps.
TEST(BenchCommandTest, DecodeSplitCountsTheDecodeStepsOnly) {
  const nlohmann::json j = Bench("offline", {});
  const nlohmann::json& d = j["roofline"]["decode"];
  const nlohmann::json& all = j["step_split"];
  const auto ns = [](const nlohmann::json& o, const char* key) {
    return o[key].get<int64_t>();
  };
  // Every kind of time is inside the run's; the prompts' matmuls are not
  // in the decode steps'.
  EXPECT_GT(ns(d, "matmul_ns"), 0);
  EXPECT_LT(ns(d, "matmul_ns"), ns(all, "matmul_ns"));
  EXPECT_LE(ns(d, "attention_ns"), ns(all, "attention_ns"));
  EXPECT_LE(ns(d, "other_ns"), ns(all, "other_ns"));
  const double total = static_cast<double>(
      ns(d, "matmul_ns") + ns(d, "attention_ns") + ns(d, "other_ns"));
  EXPECT_DOUBLE_EQ(d["matmul_pct"].get<double>(),
                   100.0 * static_cast<double>(ns(d, "matmul_ns")) / total);
  EXPECT_DOUBLE_EQ(d["attention_pct"].get<double>(),
                   100.0 * static_cast<double>(ns(d, "attention_ns")) / total);
  EXPECT_NEAR(d["matmul_pct"].get<double>() + d["attention_pct"].get<double>() +
                  d["other_pct"].get<double>(),
              100.0, 1e-9);
}

TEST(BenchCommandTest, RooflineMeasuresTheLimitsAndReportsPercentages) {
  const nlohmann::json j = Bench("roofline", {"--bandwidth-mib", "64"});
  const nlohmann::json& r = j["roofline"];
  ASSERT_TRUE(r.contains("limits"));
  EXPECT_GT(r["limits"]["read_GBps"].get<double>(), 0);
  // Read before and after the workload; the limit is the better reading.
  const nlohmann::json& readings = r["limits"]["read_GBps_readings"];
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_DOUBLE_EQ(
      r["limits"]["read_GBps"].get<double>(),
      std::max(readings[0].get<double>(), readings[1].get<double>()));
  EXPECT_GT(r["limits"]["f32_fma_GFLOPs"].get<double>(), 0);
  EXPECT_GT(r["limits"]["int8_dot_GOPs"].get<double>(), 0);
  const nlohmann::json& d = r["decode"];
  EXPECT_GT(d["weight_pct_of_read"].get<double>(), 0);
  EXPECT_EQ(d["peak_used"], "f32_fma");
  EXPECT_DOUBLE_EQ(d["matmul_pct_of_peak_used"].get<double>(),
                   d["matmul_pct_of_f32_peak"].get<double>());
  EXPECT_GT(d["roofline_ns"].get<double>(), 0);
  EXPECT_GT(d["step_over_roofline"].get<double>(), 0);
}

// --block-size sets the engine's KV block (kv_cache.block_size): the run
// reports it, and the decode work it counts does not depend on it. One
// request at a time: with two in flight, whether the second's prompt joins
// a step of the first's decode depends on the threads' timing, and so does
// the number of decode-only steps (ASan, loaded machine: 13 against 14).
TEST(BenchCommandTest, BlockSizeSetsTheKvBlockAndKeepsTheWork) {
  const nlohmann::json base = Bench("offline", {}, 1);
  EXPECT_EQ(base["block_size"].get<int>(), 16);
  const nlohmann::json j = Bench("offline", {"--block-size", "4"}, 1);
  EXPECT_EQ(j["block_size"].get<int>(), 4);
  const nlohmann::json& d = j["roofline"]["decode"];
  const nlohmann::json& b = base["roofline"]["decode"];
  EXPECT_EQ(d["tokens"].get<int64_t>(), b["tokens"].get<int64_t>());
  EXPECT_EQ(d["matmul_flops"].get<int64_t>(), b["matmul_flops"].get<int64_t>());
  EXPECT_EQ(d["kv_bytes"].get<int64_t>(), b["kv_bytes"].get<int64_t>());
}

TEST(BenchCommandTest, BlockSizeOutOfRangeNamesTheFlagAndTheLimit) {
  for (const char* bad : {"0", "1025"}) {
    const ProcessResult r = RunProcess(
        {BinaryDir() + "/tools/kvasir", "bench", "offline", "--model",
         ModelPath("stories260K.gguf"), "--block-size", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, ::testing::HasSubstr(std::string("--block-size ") + bad +
                                            " must be in [1, 1024]"));
  }
}

// bf16 weights run on bf16 dot products (vdpbf16ps) where the CPU has
// them: their matmuls are judged against that peak, not f32 FMA's (half of
// it). Elsewhere (an AVX2 CPU, where oneDNN 2.6 has no bf16 matmul) they
// run on Kvasir's GEMV, widened to f32, and are judged against f32 FMA's.
TEST(BenchCommandTest, Bf16WeightsAreJudgedAgainstThePeakTheyRanOn) {
  __builtin_cpu_init();
  const bool dot = __builtin_cpu_supports("avx512bf16");
  const nlohmann::json j =
      Bench("roofline", {"--bandwidth-mib", "64", "--weights-dtype", "bf16"});
  const nlohmann::json& r = j["roofline"];
  if (dot) {
    EXPECT_GT(r["limits"]["bf16_dot_GFLOPs"].get<double>(), 0);
    EXPECT_EQ(r["limits"]["bf16_isa"], "avx512bf16");
  }
  const nlohmann::json& d = r["decode"];
  // Every projection is dense bf16, two bytes a weight.
  EXPECT_EQ(d["bf16_flops"].get<int64_t>(), d["matmul_flops"].get<int64_t>());
  EXPECT_NEAR(d["bytes_per_weight"].get<double>(), 2.0, 0.25);
  EXPECT_EQ(d["peak_used"], dot ? "bf16_dot" : "f32_fma");
  EXPECT_DOUBLE_EQ(d["matmul_pct_of_peak_used"].get<double>(),
                   d[dot ? "matmul_pct_of_bf16_peak" : "matmul_pct_of_f32_peak"]
                       .get<double>());
}

}  // namespace
}  // namespace kvasir
