// The token buckets of the rate limits (engine/sched/token_bucket.h,
// rate_limiter.h), on the fake clock.
#include "engine/sched/token_bucket.h"

#include <optional>

#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/sched/rate_limiter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::sched {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::DoubleNear;
using ::testing::HasSubstr;

TEST(TokenBucketTest, StartsFullRefillsAtTheRateAndStopsAtTheBurst) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b,
      TokenBucket::Create({.rate = 10, .burst = 5}, clock.Now()));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.TryTake(1, clock.Now())) << i;
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  clock.Advance(absl::Milliseconds(99));
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  clock.Advance(absl::Milliseconds(1));  // 100 ms at 10/s: one token
  EXPECT_TRUE(b.TryTake(1, clock.Now()));
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  // Idle time is banked only up to the burst.
  clock.Advance(absl::Seconds(10));
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 5);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.TryTake(1, clock.Now())) << i;
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
}

TEST(TokenBucketTest, FractionalRefill) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b,
      TokenBucket::Create({.rate = 2.5, .burst = 1}, clock.Now()));
  ASSERT_TRUE(b.TryTake(1, clock.Now()));
  clock.Advance(absl::Milliseconds(200));  // 0.5 token
  EXPECT_THAT(b.Level(clock.Now()), DoubleNear(0.5, 1e-12));
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  // The refusal took nothing: the half token is still there.
  EXPECT_EQ(b.WhenAvailable(1), clock.Now() + absl::Milliseconds(200));
  clock.Advance(absl::Milliseconds(200));
  EXPECT_TRUE(b.TryTake(1, clock.Now()));
  EXPECT_THAT(b.Level(clock.Now()), DoubleNear(0, 1e-9));
}

TEST(TokenBucketTest, WhenAvailableIsWhenATakeSucceeds) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b, TokenBucket::Create({.rate = 3, .burst = 2}, clock.Now()));
  EXPECT_LE(b.WhenAvailable(1), clock.Now());
  ASSERT_TRUE(b.TryTake(2, clock.Now()));
  const absl::Time t = b.WhenAvailable(1);  // 1/3 s, rounded up to a us
  EXPECT_GT(t, clock.Now() + absl::Microseconds(333332));
  EXPECT_LE(t, clock.Now() + absl::Microseconds(333334));
  clock.Set(t - absl::Microseconds(2));
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  clock.Set(t);
  EXPECT_TRUE(b.TryTake(1, clock.Now()));
}

TEST(TokenBucketTest, TakeLargerThanTheBurstWaitsForAFullBucketThenOwes) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b,
      TokenBucket::Create({.rate = 10, .burst = 10}, clock.Now()));
  ASSERT_TRUE(b.TryTake(4, clock.Now()));
  EXPECT_FALSE(b.TryTake(25, clock.Now()));  // 6 of the 10 it needs
  EXPECT_EQ(b.WhenAvailable(25), clock.Now() + absl::Milliseconds(400));
  clock.Advance(absl::Milliseconds(300));
  EXPECT_FALSE(b.TryTake(25, clock.Now()));
  clock.Advance(absl::Milliseconds(100));  // full
  EXPECT_TRUE(b.TryTake(25, clock.Now()));
  // The 15 it owes are paid back before anything else goes.
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), -15);
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  clock.Advance(absl::Milliseconds(100));
  EXPECT_TRUE(b.TryTake(1, clock.Now()));
}

TEST(TokenBucketTest, ReconfigureKeepsTheLevelClippedToTheNewBurst) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b,
      TokenBucket::Create({.rate = 10, .burst = 10}, clock.Now()));
  ASSERT_TRUE(b.TryTake(10, clock.Now()));
  clock.Advance(absl::Milliseconds(300));  // 3 tokens at the old rate
  ASSERT_THAT(b.Reconfigure({.rate = 1000, .burst = 20}, clock.Now()), IsOk());
  // Not refilled to the new burst, nor at the new rate for the past.
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 3);
  clock.Advance(absl::Milliseconds(10));  // 10 tokens at the new rate
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 13);
  // A smaller burst clips what is there.
  clock.Advance(absl::Seconds(1));
  ASSERT_THAT(b.Reconfigure({.rate = 1, .burst = 4}, clock.Now()), IsOk());
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 4);
  // Bad options change nothing.
  EXPECT_THAT(b.Reconfigure({.rate = 0, .burst = 4}, clock.Now()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rate")));
  EXPECT_DOUBLE_EQ(b.options().rate, 1);
}

TEST(TokenBucketTest, GiveBackNeverExceedsTheBurst) {
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(
      TokenBucket b, TokenBucket::Create({.rate = 1, .burst = 2}, clock.Now()));
  ASSERT_TRUE(b.TryTake(1, clock.Now()));
  b.GiveBack(1);
  b.GiveBack(1);
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 2);
}

TEST(TokenBucketTest, CreateRejectsBadOptions) {
  const absl::Time now = absl::UnixEpoch();
  EXPECT_THAT(TokenBucket::Create({.rate = 0, .burst = 1}, now).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rate")));
  EXPECT_THAT(TokenBucket::Create({.rate = -1, .burst = 1}, now).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rate")));
  EXPECT_THAT(TokenBucket::Create({.rate = 1, .burst = 0.5}, now).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("burst")));
  EXPECT_THAT(
      TokenBucket::Create({.rate = 1.0 / 0.0, .burst = 1}, now).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rate")));
}

// A RateLimit by its four fields (unset: nullopt).
RateLimit Limit(std::optional<double> rate, std::optional<double> burst,
                std::optional<double> prompt_rate = std::nullopt,
                std::optional<double> prompt_burst = std::nullopt) {
  RateLimit r;
  r.tokens_per_second = rate;
  r.burst = burst;
  r.prompt_tokens_per_second = prompt_rate;
  r.prompt_burst = prompt_burst;
  return r;
}

TEST(RateLimiterTest, BurstDefaultsToOneSecondsWorthAndAtLeastOneToken) {
  FakeClock clock;
  RateLimiter r;
  const int32_t a = r.AddTenant();
  const int32_t b = r.AddTenant();
  const int32_t c = r.AddTenant();
  ASSERT_THAT(r.SetLimit(a, Limit(20, std::nullopt), clock.Now()), IsOk());
  ASSERT_THAT(r.SetLimit(b, Limit(0.5, std::nullopt), clock.Now()), IsOk());
  ASSERT_THAT(
      r.SetLimit(c, Limit(std::nullopt, std::nullopt, 300), clock.Now()),
      IsOk());
  EXPECT_DOUBLE_EQ(r.generated(a)->options().burst, 20);
  EXPECT_DOUBLE_EQ(r.generated(b)->options().burst, 1);
  EXPECT_FALSE(r.prompt(a).has_value());
  EXPECT_FALSE(r.generated(c).has_value());
  EXPECT_DOUBLE_EQ(r.prompt(c)->options().burst, 300);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(r.TakeGenerated(a, clock.Now()));
  EXPECT_FALSE(r.TakeGenerated(a, clock.Now()));
  // Unlimited: always yes.
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(r.TakeGenerated(c, clock.Now()));
}

TEST(RateLimiterTest, PromptLargerThanItsBurstWaitsForAFullBucket) {
  FakeClock clock;
  RateLimiter r;
  const int32_t t = r.AddTenant();
  ASSERT_THAT(
      r.SetLimit(t, Limit(std::nullopt, std::nullopt, 100, 50), clock.Now()),
      IsOk());
  ASSERT_TRUE(r.MayStart(t, 30, clock.Now()));
  r.TakePrompt(t, 30, clock.Now());  // 20 left
  r.StartStep();
  // 120 > the burst: it waits until the bucket is full (300 ms), never
  // fails for good.
  EXPECT_FALSE(r.MayStart(t, 120, clock.Now()));
  EXPECT_EQ(r.next_refill(), clock.Now() + absl::Milliseconds(300));
  clock.Advance(absl::Milliseconds(299));
  EXPECT_FALSE(r.MayStart(t, 120, clock.Now()));
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(r.MayStart(t, 120, clock.Now()));
  r.TakePrompt(t, 120, clock.Now());
  // In debt by 70: even a small prompt waits 700 ms + its own 10 ms.
  r.StartStep();
  EXPECT_FALSE(r.MayStart(t, 1, clock.Now()));
  EXPECT_EQ(r.next_refill(), clock.Now() + absl::Milliseconds(710));
  // A start that charges no prompt (a resume) is not held back by it.
  EXPECT_TRUE(r.MayStart(t, 0, clock.Now()));
}

TEST(RateLimiterTest, ReloadKeepsTheLevelAndUnlimitedDropsTheBucket) {
  FakeClock clock;
  RateLimiter r;
  const int32_t t = r.AddTenant();
  ASSERT_THAT(r.SetLimit(t, Limit(10, 10), clock.Now()), IsOk());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(r.TakeGenerated(t, clock.Now()));
  ASSERT_THAT(r.SetLimit(t, Limit(5, 2), clock.Now()), IsOk());
  EXPECT_DOUBLE_EQ(r.generated(t)->Level(clock.Now()), 2);
  ASSERT_THAT(r.SetLimit(t, Limit(5, 8), clock.Now()), IsOk());
  EXPECT_DOUBLE_EQ(r.generated(t)->Level(clock.Now()), 2);
  ASSERT_THAT(r.SetLimit(t, {}, clock.Now()), IsOk());
  EXPECT_FALSE(r.limited(t));
  // A burst without its rate is refused and changes nothing.
  EXPECT_THAT(
      r.SetLimit(t, Limit(5, std::nullopt, std::nullopt, 3), clock.Now()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("burst needs its rate")));
  EXPECT_FALSE(r.limited(t));
}

}  // namespace
}  // namespace kvasir::engine::sched
