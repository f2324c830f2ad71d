#ifndef KVASIR_ENGINE_SCHED_RATE_LIMITER_H_
#define KVASIR_ENGINE_SCHED_RATE_LIMITER_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/sched/token_bucket.h"

namespace kvasir::engine::sched {

// The token-rate limits of the scheduler's tenants (TenantConfig::
// rate_limit): per tenant, a TokenBucket of generated tokens and one of
// prompt tokens, each absent when unlimited. The scheduler asks before it
// schedules a token that produces logits (one generated token) and before
// a request first starts (its whole prompt); a tenant refused is skipped
// for the step, never failed.
//
// It also remembers, per step, the earliest time a refused tenant would
// get what it asked for (next_refill), so that a loop with only
// rate-limited work sleeps until then instead of spinning.
//
// Tenants are the scheduler's dense indices (as FairShare's). Times come
// from the scheduler's clock. Not thread-safe.
class RateLimiter {
 public:
  // Adds an unlimited tenant with index size().
  int32_t AddTenant();
  int32_t size() const { return static_cast<int32_t>(tenants_.size()); }

  // Applies tenant t's limits from `now` on: a bucket that exists keeps
  // its level (refilled at the old rate until now, then clipped to the new
  // burst); a new one starts full; an unset rate removes its bucket.
  // InvalidArgument (nothing changed) for values CheckTenantConfigs
  // rejects.
  absl::Status SetLimit(int32_t t, const RateLimit& limit, absl::Time now);

  bool limited(int32_t t) const {
    return tenants_[t].generated.has_value() || tenants_[t].prompt.has_value();
  }

  // Takes one generated token for tenant t; false when its bucket is
  // empty (the refusal is remembered for next_refill).
  bool TakeGenerated(int32_t t, absl::Time now);
  // Gives back a token TakeGenerated took that was not used after all.
  void GiveBackGenerated(int32_t t);

  // Whether a request of tenant t may start now: a generated token is
  // available (its first chunk may produce one) and, when
  // `prompt_tokens` > 0, the prompt bucket can take them. Takes nothing;
  // a refusal is remembered for next_refill.
  bool MayStart(int32_t t, int32_t prompt_tokens, absl::Time now);
  // Charges a starting request's prompt (after MayStart said yes).
  void TakePrompt(int32_t t, int32_t prompt_tokens, absl::Time now);

  // Makes next_refill() at most `t`: a step left a token unused for a
  // start that did not happen, so the next step should not wait.
  void WakeBy(absl::Time t) { next_refill_ = std::min(next_refill_, t); }
  // Forgets the refusals of the previous step.
  void StartStep() { next_refill_ = absl::InfiniteFuture(); }
  // The earliest time a tenant refused since StartStep gets what it was
  // refused; InfiniteFuture when none was.
  absl::Time next_refill() const { return next_refill_; }

  // Tenant t's buckets (nullopt: unlimited), for stats and tests.
  const std::optional<TokenBucket>& generated(int32_t t) const {
    return tenants_[t].generated;
  }
  const std::optional<TokenBucket>& prompt(int32_t t) const {
    return tenants_[t].prompt;
  }

 private:
  struct Tenant {
    std::optional<TokenBucket> generated;
    std::optional<TokenBucket> prompt;
  };
  void Refused(const TokenBucket& bucket, double n);

  std::vector<Tenant> tenants_;
  absl::Time next_refill_ = absl::InfiniteFuture();
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_RATE_LIMITER_H_
