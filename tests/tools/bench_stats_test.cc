// The statistics of `kvasir bench serve` (tools/bench_stats.h), its token
// timer (bench_serve_client.h), prompts (bench_serve_workload.h) and report
// groups (bench_serve_report.h), on fixed inputs.
#include "tools/bench_stats.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/paths.h"
#include "tools/bench_serve_client.h"
#include "tools/bench_serve_report.h"
#include "tools/bench_serve_workload.h"

namespace kvasir::tools {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PercentileTest, InterpolatesLinearlyBetweenRanksAsNumpyDoes) {
  // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 99, 100])
  //   = [1, 2.5, 3.7, 3.97, 4]
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(Percentile(v, -5), 1);   // clamped
  EXPECT_DOUBLE_EQ(Percentile(v, 250), 4);  // clamped
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
}

TEST(SummarizeTest, SortsAndSummarizes) {
  // 1..100 shuffled: p50 = 50.5, p90 = 90.1, p99 = 99.01 (numpy).
  std::vector<double> v(100);
  std::iota(v.begin(), v.end(), 1.0);
  std::reverse(v.begin(), v.begin() + 60);
  const Distribution d = Summarize(v);
  EXPECT_EQ(d.count, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_DOUBLE_EQ(d.min, 1);
  EXPECT_DOUBLE_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.p50, 50.5);
  EXPECT_NEAR(d.p90, 90.1, 1e-9);
  EXPECT_NEAR(d.p99, 99.01, 1e-9);
  const Distribution empty = Summarize({});
  EXPECT_EQ(empty.count, 0);
  EXPECT_EQ(empty.p99, 0);
}

TEST(SummarizeTest, PercentilesAreOrderedOnSkewedData) {
  std::vector<double> v;
  for (int i = 0; i < 997; ++i) v.push_back(0.0);  // gaps of batched tokens
  v.push_back(5);
  v.push_back(1000);
  v.push_back(3);
  const Distribution d = Summarize(v);
  EXPECT_LE(d.min, d.p50);
  EXPECT_LE(d.p50, d.p90);
  EXPECT_LE(d.p90, d.p99);
  EXPECT_LE(d.p99, d.max);
  EXPECT_EQ(d.max, 1000);
}

TEST(PoissonArrivalsTest, SameSeedSameTimesAscendingWithTheRightMean) {
  const std::vector<double> a = PoissonArrivals(20000, 50.0, 7);
  EXPECT_EQ(a, PoissonArrivals(20000, 50.0, 7));
  EXPECT_NE(a, PoissonArrivals(20000, 50.0, 8));
  ASSERT_EQ(a.size(), 20000u);
  EXPECT_GT(a[0], 0);
  std::vector<double> gaps;
  double prev = 0;
  for (double t : a) {
    ASSERT_GT(t, prev);  // strictly ascending: every gap > 0
    gaps.push_back(t - prev);
    prev = t;
  }
  // Exponential gaps of mean 1/50 s: the sample mean of 20000 is within
  // 5% with overwhelming probability (its standard error is 0.7%), and the
  // median is ln 2 / rate.
  const Distribution d = Summarize(gaps);
  EXPECT_NEAR(d.mean, 0.02, 0.001);
  EXPECT_NEAR(d.p50, 0.02 * std::log(2.0), 0.001);
  EXPECT_TRUE(PoissonArrivals(0, 1.0, 1).empty());
}

TEST(TokenTimerTest, TimesFirstTokenAndEveryGapWithZerosInsideAMessage) {
  BenchResult r;
  std::atomic<int64_t> live{0};
  TokenTimer timer(&r, &live);
  const BenchClock::time_point t0 = BenchClock::now();
  using std::chrono::milliseconds;
  timer.Sent(t0);
  timer.Arrived(t0 + milliseconds(100), 1);
  timer.Arrived(t0 + milliseconds(130), 1);
  timer.Arrived(t0 + milliseconds(170), 3);  // three tokens in one message
  timer.Arrived(t0 + milliseconds(180), 0);  // nothing: ignored
  timer.Ended(t0 + milliseconds(200));
  EXPECT_NEAR(r.ttft_s, 0.100, 1e-9);
  EXPECT_NEAR(r.e2e_s, 0.200, 1e-9);
  ASSERT_EQ(r.itl_s.size(), 4u);  // one gap per token after the first
  EXPECT_NEAR(r.itl_s[0], 0.030, 1e-9);
  EXPECT_NEAR(r.itl_s[1], 0.040, 1e-9);
  EXPECT_EQ(r.itl_s[2], 0.0);
  EXPECT_EQ(r.itl_s[3], 0.0);
  EXPECT_EQ(r.chunks, 3);
  EXPECT_EQ(timer.tokens_seen(), 5);
  EXPECT_EQ(live.load(), 5);
  // The server said 7 tokens: two more came inside the chunks.
  timer.Settle(7);
  ASSERT_EQ(r.itl_s.size(), 6u);
  EXPECT_EQ(r.itl_s[4], 0.0);
  EXPECT_EQ(r.itl_s[5], 0.0);
  EXPECT_EQ(timer.tokens_seen(), 7);
  EXPECT_EQ(live.load(), 7);
  EXPECT_EQ(r.chunks, 3);
  timer.Settle(3);  // fewer: nothing to add
  EXPECT_EQ(r.itl_s.size(), 6u);
}

TEST(RandomPromptsTest, ExactLengthsInRangeAndReproducible) {
  const std::vector<PromptSpec> p = RandomPrompts(50, 32, 7, 10, 3);
  ASSERT_EQ(p.size(), 50u);
  std::vector<int> seen(10, 0);
  for (const PromptSpec& s : p) {
    ASSERT_EQ(s.token_ids.size(), 32u);
    EXPECT_EQ(s.max_tokens, 7);
    EXPECT_TRUE(s.text.empty());
    for (int32_t id : s.token_ids) {
      ASSERT_GE(id, 3);
      ASSERT_LT(id, 10);
      ++seen[static_cast<size_t>(id)];
    }
  }
  for (int id = 3; id < 10; ++id) EXPECT_GT(seen[static_cast<size_t>(id)], 0);
  const std::vector<PromptSpec> again = RandomPrompts(50, 32, 7, 10, 3);
  EXPECT_EQ(again[17].token_ids, p[17].token_ids);
  EXPECT_NE(RandomPrompts(1, 32, 7, 10, 4)[0].token_ids, p[0].token_ids);
}

class PromptsFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("prompts.jsonl");
    std::ofstream(path) << text;
    return path;
  }

  testing::TempDir dir_;
};

TEST_F(PromptsFileTest, ReadsTextAndIdPromptsWithDefaultMaxTokens) {
  const std::string path = Write(
      "{\"prompt\": \"Once upon a time\", \"max_tokens\": 64}\n"
      "\n"
      "{\"prompt\": [1, 415, 2936]}\n");
  absl::StatusOr<std::vector<PromptSpec>> p = ReadPromptsFile(path, 9);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].text, "Once upon a time");
  EXPECT_EQ((*p)[0].max_tokens, 64);
  EXPECT_THAT((*p)[1].token_ids, ElementsAre(1, 415, 2936));
  EXPECT_EQ((*p)[1].max_tokens, 9);
}

TEST_F(PromptsFileTest, ErrorsNameTheFileAndTheLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"{\"prompt\": \"a\"}\nnot json\n", "line 2: not a JSON object"},
      {"{\"max_tokens\": 3}\n", "line 1: no \"prompt\""},
      {"{\"prompt\": [1, \"x\"]}\n", "string or an array of token ids"},
      {"{\"prompt\": \"a\", \"max_tokens\": 0}\n", "\"max_tokens\" must be"},
      {"\n\n", "no prompts"},
  };
  for (const Case& c : cases) {
    const std::string path = Write(c.text);
    absl::StatusOr<std::vector<PromptSpec>> p = ReadPromptsFile(path, 9);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(p.status().message(), HasSubstr(path));
  }
  EXPECT_EQ(ReadPromptsFile("/nonexistent/p.jsonl", 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GroupJsonTest, CountsFailuresByStatusAndSummarizesTheSuccesses) {
  std::vector<BenchResult> r(4);
  r[0].ok = true;
  r[0].ttft_s = 0.010;
  r[0].e2e_s = 0.040;
  r[0].itl_s = {0.010, 0.020};
  r[0].output_tokens = 3;
  r[0].prompt_tokens = 5;
  r[0].chunks = 3;
  r[1] = r[0];
  r[1].ttft_s = 0.030;
  r[1].e2e_s = 0.050;
  r[2].status = "UNAUTHENTICATED";
  r[2].error = "unknown API key";
  r[3].status = "UNAUTHENTICATED";
  r[3].error = "unknown API key";
  const nlohmann::ordered_json j =
      GroupJson({&r[0], &r[1], &r[2], &r[3]}, /*duration_s=*/2.0);
  EXPECT_EQ(j["requests"], 4);
  EXPECT_EQ(j["ok"], 2);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["failed_by_status"]["UNAUTHENTICATED"], 2);
  EXPECT_EQ(j["errors"]["UNAUTHENTICATED"], "unknown API key");
  EXPECT_EQ(j["output_tokens"], 6);
  EXPECT_EQ(j["prompt_tokens"], 10);
  EXPECT_DOUBLE_EQ(j["requests_per_s"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["output_tokens_per_s"].get<double>(), 3.0);
  EXPECT_EQ(j["ttft_ms"]["count"], 2);
  EXPECT_NEAR(j["ttft_ms"]["p50"].get<double>(), 20.0, 1e-9);
  EXPECT_EQ(j["itl_ms"]["count"], 4);
  EXPECT_NEAR(j["itl_ms"]["max"].get<double>(), 20.0, 1e-9);
  // tpot: (40 - 10) / 2 and (50 - 30) / 2 ms.
  EXPECT_NEAR(j["tpot_ms"]["min"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(j["tpot_ms"]["max"].get<double>(), 15.0, 1e-9);
}

TEST(ReportJsonTest, OneSectionPerKeyRoundRobin) {
  std::vector<BenchResult> r(5);
  for (BenchResult& x : r) {
    x.ok = true;
    x.output_tokens = 2;
    x.e2e_s = 0.1;
  }
  r[3].ok = false;
  r[3].status = "RESOURCE_EXHAUSTED";
  RunFacts f;
  f.mode = "concurrency";
  f.duration_s = 1;
  const nlohmann::ordered_json j = ReportJson(f, r, {"alpha-key", "beta-key"});
  EXPECT_EQ(j["total"]["ok"], 4);
  ASSERT_EQ(j["tenants"].size(), 2u);
  EXPECT_EQ(j["tenants"][0]["key_index"], 1);
  EXPECT_EQ(j["tenants"][0]["key_prefix"], "alph");
  EXPECT_EQ(j["tenants"][0]["requests"], 3);  // results 0, 2, 4
  EXPECT_EQ(j["tenants"][1]["requests"], 2);  // results 1, 3
  EXPECT_EQ(j["tenants"][1]["failed"], 1);
  EXPECT_FALSE(ReportJson(f, r, {"one"}).contains("tenants"));
}

}  // namespace
}  // namespace kvasir::tools
