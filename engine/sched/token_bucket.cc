#include "engine/sched/token_bucket.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kvasir::engine::sched {
namespace {

// Float slack for "the bucket holds n": a refill computed for exactly the
// time WhenAvailable returned may land a rounding error short of n.
constexpr double kSlack = 1e-9;

absl::Status Check(const TokenBucket::Options& o) {
  if (!std::isfinite(o.rate) || o.rate <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("token bucket rate ", o.rate,
                     " must be a finite "
                     "number > 0 (tokens per second)"));
  }
  if (!std::isfinite(o.burst) || o.burst < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token bucket burst ", o.burst, " must be a finite number >= 1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenBucket> TokenBucket::Create(const Options& options,
                                                absl::Time now) {
  if (absl::Status s = Check(options); !s.ok()) return s;
  return TokenBucket(options, now);
}

double TokenBucket::Level(absl::Time now) const {
  if (now <= last_) return level_;
  return std::min(options_.burst,
                  level_ + options_.rate * absl::ToDoubleSeconds(now - last_));
}

void TokenBucket::Refill(absl::Time now) {
  if (now <= last_) return;
  level_ = Level(now);
  last_ = now;
}

bool TokenBucket::Has(double n, absl::Time now) const {
  return Level(now) + kSlack >= std::min(n, options_.burst);
}

bool TokenBucket::TryTake(double n, absl::Time now) {
  if (!Has(n, now)) return false;
  Refill(now);
  level_ -= n;
  return true;
}

void TokenBucket::GiveBack(double n) {
  level_ = std::min(options_.burst, level_ + n);
}

absl::Time TokenBucket::WhenAvailable(double n) const {
  const double missing = std::min(n, options_.burst) - level_;
  if (missing <= 0) return last_;
  // Rounded up to the next microsecond, so that waking then finds it there.
  return last_ + absl::Microseconds(std::ceil(missing / options_.rate * 1e6));
}

absl::Status TokenBucket::Reconfigure(const Options& options, absl::Time now) {
  if (absl::Status s = Check(options); !s.ok()) return s;
  Refill(now);
  options_ = options;
  level_ = std::min(level_, options_.burst);
  return absl::OkStatus();
}

}  // namespace kvasir::engine::sched
