#ifndef KVASIR_ENGINE_SCHED_TOKEN_BUCKET_H_
#define KVASIR_ENGINE_SCHED_TOKEN_BUCKET_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kvasir::engine::sched {

// A token bucket over clock time: it holds at most `burst` tokens and
// refills continuously at `rate` tokens per second of the times it is
// given (the caller's injected clock). It starts full, so over any
// interval [t0, t1] it hands out at most burst + rate * (t1 - t0) tokens
// plus the size of one take that leaves it in debt (below).
//
// A take larger than the burst could never be satisfied by a full bucket;
// instead it waits for a full bucket and then leaves the level negative
// (debt), which the refill pays back before the next take: the long-run
// rate still holds.
//
// Times must not go backwards; if they do, nothing refills until they pass
// the last time seen. Not thread-safe.
class TokenBucket {
 public:
  struct Options {
    double rate = 1.0;   // tokens per second; finite, > 0
    double burst = 1.0;  // tokens; finite, >= 1
  };

  // InvalidArgument naming the field when an option is out of range.
  static absl::StatusOr<TokenBucket> Create(const Options& options,
                                            absl::Time now);

  // The level at `now` (negative while in debt). Changes nothing.
  double Level(absl::Time now) const;

  // Whether TryTake(n, now) would succeed. Changes nothing.
  bool Has(double n, absl::Time now) const;

  // Takes n (> 0) tokens if the level at `now` reaches min(n, burst); false
  // (and nothing taken) otherwise.
  bool TryTake(double n, absl::Time now);

  // Returns n tokens taken by a TryTake that were not used after all; the
  // level never exceeds the burst.
  void GiveBack(double n);

  // The earliest time a TryTake(n) succeeds (<= the last time seen when it
  // would succeed already).
  absl::Time WhenAvailable(double n) const;

  // New rate and burst from `now` on: the time until `now` refills at the
  // old rate, then the level is clipped to the new burst. On error nothing
  // changes.
  absl::Status Reconfigure(const Options& options, absl::Time now);

  const Options& options() const { return options_; }

 private:
  TokenBucket(const Options& options, absl::Time now)
      : options_(options), level_(options.burst), last_(now) {}
  void Refill(absl::Time now);

  Options options_;
  double level_;
  absl::Time last_;  // the time level_ was computed for
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_TOKEN_BUCKET_H_
