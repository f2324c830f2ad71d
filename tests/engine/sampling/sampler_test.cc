#include "engine/sampling/sampler.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

// Counts heap allocations, to check that sampling allocates nothing once
// its scratch buffers exist.
namespace {
size_t g_allocations = 0;
}  // namespace

// GCC flags free() on memory from operator new, not knowing that this
// operator new is malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kvasir::engine {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Sampler> MakeSampler(SamplingParams params,
                                     uint64_t default_seed = 0) {
  auto s = Sampler::Create({.params = params, .default_seed = default_seed});
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

std::vector<float> RandomLogits(std::mt19937& rng, int n) {
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

int32_t ArgMax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Token frequencies over `n` draws.
std::vector<double> Frequencies(Sampler& s, const std::vector<float>& logits,
                                int n) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) f[s.Sample(logits, {})] += 1.0 / n;
  return f;
}

std::vector<float> LogitsOf(const std::vector<float>& probs) {
  std::vector<float> l;
  for (float p : probs) l.push_back(std::log(p));
  return l;
}

TEST(SamplerTest, GreedyIsArgmaxFirstMaximumWins) {
  auto s = MakeSampler({});
  EXPECT_TRUE(s->is_greedy());
  EXPECT_EQ(s->Sample(std::vector<float>{1, 3, 3, 2}, {}), 1);
  EXPECT_EQ(s->Sample(std::vector<float>{-5, -7}, {}), 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(s->Sample(std::vector<float>{nan, 1, 0}, {}), 1);
  EXPECT_EQ(s->Sample(std::vector<float>{}, {}), -1);
  // Greedy: the first of tied maxima; 0 when everything is -inf (or NaN).
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(s->Sample(std::vector<float>{1, 3, 2, 3}, {}), 1);
  EXPECT_EQ(s->Sample(std::vector<float>{ninf, ninf, ninf}, {}), 0);
  EXPECT_EQ(s->Sample(std::vector<float>{nan, nan}, {}), 0);
  EXPECT_EQ(s->Sample(std::vector<float>{0, -ninf, 5, -ninf}, {}), 1);
  SamplingParams hot;
  hot.temperature = 1.0f;
  auto h = MakeSampler(hot);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(h->Sample(std::vector<float>{0, inf, 1}, {}), 1);
  EXPECT_EQ(h->Sample(std::vector<float>{-inf, -inf}, {}), 0);
  EXPECT_EQ(h->Sample(std::vector<float>{nan, 2, nan}, {}), 1);
  std::mt19937 rng(1);
  for (int i = 0; i < 50; ++i) {
    const auto logits = RandomLogits(rng, 1000);
    ASSERT_EQ(s->Sample(logits, {}), ArgMax(logits));
  }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferent) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 7;
  auto a = MakeSampler(p);
  auto b = MakeSampler(p);
  p.seed = 8;
  auto c = MakeSampler(p);
  p.seed.reset();
  auto d = MakeSampler(p, /*default_seed=*/7);  // the caller's seed
  std::mt19937 rng(3);
  std::vector<int32_t> ta, tb, tc, td;
  for (int i = 0; i < 200; ++i) {
    const auto logits = RandomLogits(rng, 64);
    ta.push_back(a->Sample(logits, ta));
    tb.push_back(b->Sample(logits, tb));
    tc.push_back(c->Sample(logits, tc));
    td.push_back(d->Sample(logits, td));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_EQ(ta, td);
  EXPECT_NE(ta, tc);
}

TEST(SamplerTest, TemperatureOneFollowsTheDistribution) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 11;
  auto s = MakeSampler(p);
  const auto f = Frequencies(*s, LogitsOf({0.6f, 0.3f, 0.1f}), 20000);
  EXPECT_NEAR(f[0], 0.6, 0.02);
  EXPECT_NEAR(f[1], 0.3, 0.02);
  EXPECT_NEAR(f[2], 0.1, 0.02);
  // A high temperature flattens it.
  p.temperature = 100.0f;
  auto hot = MakeSampler(p);
  const auto g = Frequencies(*hot, LogitsOf({0.6f, 0.3f, 0.1f}), 20000);
  EXPECT_NEAR(g[2], 1.0 / 3, 0.03);
}

TEST(SamplerTest, TopKOneAndTinyTopPAndFullMinPAreGreedy) {
  std::mt19937 rng(5);
  SamplingParams k1;
  k1.temperature = 1.5f;
  k1.top_k = 1;
  SamplingParams tiny_p;
  tiny_p.temperature = 1.5f;
  tiny_p.top_p = 1e-6f;
  SamplingParams min_p1;
  min_p1.temperature = 1.5f;
  min_p1.min_p = 1.0f;
  for (const SamplingParams& p : {k1, tiny_p, min_p1}) {
    auto s = MakeSampler(p, 99);
    for (int i = 0; i < 100; ++i) {
      const auto logits = RandomLogits(rng, 500);
      ASSERT_EQ(s->Sample(logits, {}), ArgMax(logits));
    }
  }
}

TEST(SamplerTest, TopKKeepsOnlyTheKBest) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;
  auto s = MakeSampler(p, 3);
  const auto f = Frequencies(*s, LogitsOf({0.1f, 0.4f, 0.2f, 0.3f}), 5000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[1], 4.0 / 7, 0.03);  // renormalized over {0.4, 0.3}
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.7f;  // 0.5 + 0.3 reaches 0.7; 0.15 and 0.05 are cut
  auto s = MakeSampler(p, 4);
  const auto f = Frequencies(*s, LogitsOf({0.15f, 0.5f, 0.05f, 0.3f}), 5000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[1], 0.5 / 0.8, 0.03);
  // Over a large vocabulary (the partial sort grows past one chunk).
  std::vector<float> flat(5000, 0.0f);
  p.top_p = 0.5f;
  auto big = MakeSampler(p, 5);
  for (int i = 0; i < 300; ++i) ASSERT_LT(big->Sample(flat, {}), 2500);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.min_p = 0.2f;  // threshold 0.2 * 0.5 = 0.1: drops the 0.05 token
  auto s = MakeSampler(p, 6);
  const auto f = Frequencies(*s, LogitsOf({0.5f, 0.3f, 0.15f, 0.05f}), 5000);
  EXPECT_GT(f[0], 0.0);
  EXPECT_GT(f[1], 0.0);
  EXPECT_GT(f[2], 0.0);
  EXPECT_EQ(f[3], 0.0);
}

TEST(SamplerTest, RepetitionPenaltyChangesTheArgmax) {
  SamplingParams p;
  p.repetition_penalty = 1.5f;
  auto s = MakeSampler(p);
  const std::vector<float> logits = {2.0f, 1.8f, -1.0f};
  EXPECT_EQ(s->Sample(logits, {}), 0);
  EXPECT_EQ(s->Sample(logits, std::vector<int32_t>{0}), 1);  // 2/1.5 < 1.8
  // Repeats count once; unknown ids are ignored.
  EXPECT_EQ(s->Sample(logits, std::vector<int32_t>{0, 0, 0, -4, 99}), 1);
  // Negative logits are multiplied: -1 * 1.5 < -1.2.
  const std::vector<float> negative = {-1.0f, -1.2f};
  EXPECT_EQ(s->Sample(negative, std::vector<int32_t>{0}), 1);
  // The sampler's scratch marks are cleared between calls.
  EXPECT_EQ(s->Sample(logits, {}), 0);
  // A penalty below 1 rewards repeats.
  p.repetition_penalty = 0.5f;
  auto reward = MakeSampler(p);
  EXPECT_EQ(reward->Sample(logits, std::vector<int32_t>{1}), 1);
}

TEST(SamplerTest, InvalidParamsAreRejectedNamingTheField) {
  struct Case {
    SamplingParams params;
    const char* field;
  };
  std::vector<Case> cases;
  auto add = [&](auto mutate, const char* field) {
    SamplingParams p;
    mutate(p);
    cases.push_back({p, field});
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  add([](SamplingParams& p) { p.temperature = -1; }, "temperature");
  add([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  add([](SamplingParams& p) { p.top_p = 0; }, "top_p");
  add([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
  add([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  add([](SamplingParams& p) { p.top_k = -1; }, "top_k");
  add([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p");
  add([](SamplingParams& p) { p.min_p = 1.5f; }, "min_p");
  add([](SamplingParams& p) { p.repetition_penalty = 0; },
      "repetition_penalty");
  add([](SamplingParams& p) { p.repetition_penalty = -2; },
      "repetition_penalty");
  for (const Case& c : cases) {
    EXPECT_THAT(
        Sampler::Create({.params = c.params, .default_seed = 0}),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.field)));
  }
}

TEST(SamplerTest, IntegerParamsArePrintedAsIntegers) {
  SamplingParams p;
  p.top_k = std::numeric_limits<int32_t>::min();
  EXPECT_THAT(p.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampling.top_k: -2147483648 must be >= 0")));
}

TEST(SamplerTest, LogprobsAreTheLogSoftmaxOfRawLogits) {
  SamplingParams p;
  p.temperature = 0.5f;  // does not affect logprobs
  p.repetition_penalty = 2.0f;
  auto s = MakeSampler(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  const double lse =
      std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0));
  std::vector<TokenLogprob> top;
  const float lp = s->Logprobs(logits, 2, 3, &top);
  EXPECT_NEAR(lp, 2.0 - lse, 1e-5);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);  // ties: lower id first
  EXPECT_EQ(top[1].token, 3);
  EXPECT_EQ(top[2].token, 2);
  EXPECT_NEAR(top[0].logprob, 3.0 - lse, 1e-5);
  EXPECT_EQ(s->Logprobs(logits, 7, 0, &top),
            -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(top.empty());
  // More alternatives than tokens: all of them.
  s->Logprobs(logits, 0, 10, &top);
  EXPECT_EQ(top.size(), 4u);
  double total = 0;
  for (const TokenLogprob& t : top) total += std::exp(t.logprob);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(SamplerTest, NoHeapAllocationAfterTheFirstCall) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.01f;
  p.repetition_penalty = 1.1f;
  auto s = MakeSampler(p, 1);
  std::mt19937 rng(9);
  const auto logits = RandomLogits(rng, 32000);
  std::vector<int32_t> history = {1, 5, 9, 200};
  history.reserve(100);
  std::vector<TokenLogprob> top;
  top.reserve(5);
  const size_t at_start = g_allocations;
  s->Sample(logits, history);
  EXPECT_GT(g_allocations, at_start);  // the counter works: scratch is made
  s->Logprobs(logits, 5, 5, &top);
  SamplingParams greedy;
  auto g = MakeSampler(greedy, 1);
  g->Sample(logits, history);
  const size_t before = g_allocations;
  for (int i = 0; i < 20; ++i) {
    history.push_back(s->Sample(logits, history));
    s->Logprobs(logits, history.back(), 5, &top);
    g->Sample(logits, history);
  }
  EXPECT_EQ(g_allocations, before);
}

}  // namespace
}  // namespace kvasir::engine
