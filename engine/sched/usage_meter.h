#ifndef KVASIR_ENGINE_SCHED_USAGE_METER_H_
#define KVASIR_ENGINE_SCHED_USAGE_METER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "engine/engine.h"

namespace kvasir::engine::sched {

// Per-tenant usage you can bill (engine.h's TenantUsage), over two
// periods: since the meter was created (never reset: Prometheus counters
// must not go backwards) and since the last Reset (what Admin.GetUsage
// shows and zeroes). Every event updates both, so neither is derived by
// subtraction.
//
// Sources, one per number: requests and their tokens come from the
// FinishInfo each request finishes with (the numbers its response
// reports; cached_prompt_tokens there is the scheduler's per-request count
// that TenantSchedStats::cached_prompt_tokens also sums); KV bytes come
// from the KvCacheManager (TenantKvStats::used_bytes: blocks the tenant's
// sequences reference) at each accounting point, the meter only multiplies
// them by the clock's elapsed time.
//
// Tenants are known by name. A tenant gets a record when SetTenants first
// names it, and keeps it for the meter's life (a bounded set: the tenants
// ever configured); events for names the meter does not know are ignored,
// so a request naming an arbitrary tenant cannot add one. A tenant
// SetTenants no longer names is "removed": its since-reset usage stays
// readable until the next Reset, after which it is reported only if it
// uses something again (a removed tenant's running requests may still
// finish and hold KV bytes).
//
// Thread-safe: one mutex guards all state. The engine thread records
// finishes and accrues KV time, Submit's callers record refusals, the
// admin API reads and resets. Nothing allocates after SetTenants except
// Report*, which builds its result.
class UsageMeter {
 public:
  struct Options {
    Clock* clock = nullptr;  // required; not owned
  };

  // One tenant's KV bytes at an accounting point.
  struct KvHeld {
    int32_t slot = -1;  // Slot(name)
    int64_t bytes = 0;  // >= 0
  };

  static absl::StatusOr<std::unique_ptr<UsageMeter>> Create(
      const Options& options);

  UsageMeter(const UsageMeter&) = delete;
  UsageMeter& operator=(const UsageMeter&) = delete;

  // The configured tenants now: unknown names get a record, known ones
  // are configured again, every other known tenant is marked removed.
  void SetTenants(absl::Span<const std::string> names);
  // A known tenant's slot (stable for the meter's life), or -1.
  int32_t Slot(absl::string_view name) const;

  // A finished request of `tenant`: its finish reason and tokens.
  void RecordFinished(absl::string_view tenant, const FinishInfo& info);
  // A request of `tenant` that Submit refused. kUnknownTenant is ignored.
  void RecordRefusal(absl::string_view tenant, Refusal refusal);

  // An accounting point at the clock's Now(): every tenant is charged the
  // bytes it held since the previous point times the time elapsed since
  // then; from now on the tenants in `held` hold those bytes and every
  // other tenant holds none. Slots out of range are ignored.
  void AccrueKv(absl::Span<const KvHeld> held);

  // Usage since the last Reset (or creation): configured tenants, and
  // removed ones with any usage in the period, in the order the meter
  // first saw them. KV time is charged up to Now() first (at the bytes of
  // the last accounting point). With `reset`, the period then restarts
  // at that same Now(), atomically with the read.
  UsageReport Report(bool reset);
  // Usage since creation, every tenant ever known (KV time charged up to
  // Now() first, as Report does).
  UsageReport ReportSinceStart();

 private:
  struct Record {
    TenantUsage since_start;
    TenantUsage since_reset;
    int64_t held_bytes = 0;  // since the last accounting point
  };

  explicit UsageMeter(const Options& options);
  // Charges held_bytes * (now - last_accrual_) to every record.
  void ChargeKvLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Record* Find(absl::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const absl::Time start_;
  mutable absl::Mutex mu_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int32_t> slots_ ABSL_GUARDED_BY(mu_);
  absl::Time last_accrual_ ABSL_GUARDED_BY(mu_);
  absl::Time reset_time_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_USAGE_METER_H_
