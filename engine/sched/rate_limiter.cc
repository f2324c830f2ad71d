#include "engine/sched/rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kvasir::engine::sched {
namespace {

// The bucket for `rate` (nullopt: unlimited) with `burst` defaulting to
// one second's worth, at least one token. A bucket that exists keeps
// its level (TokenBucket::Reconfigure).
absl::Status Apply(const std::optional<double>& rate,
                   const std::optional<double>& burst, absl::string_view what,
                   absl::Time now, std::optional<TokenBucket>* bucket) {
  if (!rate.has_value()) {
    if (burst.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("rate_limit: a ", what, " burst needs its rate"));
    }
    bucket->reset();
    return absl::OkStatus();
  }
  const TokenBucket::Options o{.rate = *rate,
                               .burst = burst.value_or(std::max(1.0, *rate))};
  if (bucket->has_value()) return (*bucket)->Reconfigure(o, now);
  absl::StatusOr<TokenBucket> b = TokenBucket::Create(o, now);
  if (!b.ok()) return b.status();
  *bucket = *b;
  return absl::OkStatus();
}

}  // namespace

int32_t RateLimiter::AddTenant() {
  tenants_.emplace_back();
  return size() - 1;
}

absl::Status RateLimiter::SetLimit(int32_t t, const RateLimit& limit,
                                   absl::Time now) {
  // All or nothing: both buckets are worked out on copies first.
  Tenant next = tenants_[t];
  if (absl::Status s = Apply(limit.tokens_per_second, limit.burst,
                             "generated-token", now, &next.generated);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Apply(limit.prompt_tokens_per_second, limit.prompt_burst,
                             "prompt-token", now, &next.prompt);
      !s.ok()) {
    return s;
  }
  tenants_[t] = next;
  return absl::OkStatus();
}

void RateLimiter::Refused(const TokenBucket& bucket, double n) {
  next_refill_ = std::min(next_refill_, bucket.WhenAvailable(n));
}

bool RateLimiter::TakeGenerated(int32_t t, absl::Time now) {
  std::optional<TokenBucket>& b = tenants_[t].generated;
  if (!b.has_value() || b->TryTake(1, now)) return true;
  Refused(*b, 1);
  return false;
}

void RateLimiter::GiveBackGenerated(int32_t t) {
  std::optional<TokenBucket>& b = tenants_[t].generated;
  if (b.has_value()) b->GiveBack(1);
}

bool RateLimiter::MayStart(int32_t t, int32_t prompt_tokens, absl::Time now) {
  const Tenant& tenant = tenants_[t];
  bool ok = true;
  if (tenant.generated.has_value() && !tenant.generated->Has(1, now)) {
    Refused(*tenant.generated, 1);
    ok = false;
  }
  if (prompt_tokens > 0 && tenant.prompt.has_value() &&
      !tenant.prompt->Has(prompt_tokens, now)) {
    Refused(*tenant.prompt, prompt_tokens);
    ok = false;
  }
  return ok;
}

void RateLimiter::TakePrompt(int32_t t, int32_t prompt_tokens, absl::Time now) {
  std::optional<TokenBucket>& b = tenants_[t].prompt;
  if (b.has_value() && prompt_tokens > 0) b->TryTake(prompt_tokens, now);
}

}  // namespace kvasir::engine::sched
