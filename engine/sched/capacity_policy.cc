#include "engine/sched/capacity_policy.h"

#include <optional>
#include <tuple>

namespace kvasir::engine::sched {
namespace {

// Preemption class of a tenant: lower goes first.
enum VictimClass : int { kOverLimit = 0, kAboveFloor = 1, kWithinFloor = 2 };

// Smaller = preempt first: class, then priority (lowest first), then
// arrival (latest first, hence the negated order).
using VictimKey = std::tuple<int, int32_t, uint64_t>;

VictimKey KeyOf(int cls, const Sequence& s) {
  return {cls, s.priority, ~s.arrival};
}

// The best-ranked (smallest key) of `running` by `key_of`, which returns a
// candidate's key or nullopt to skip it; nullptr when none qualifies.
template <typename KeyOfFn>
Sequence* Best(absl::Span<Sequence* const> running, KeyOfFn key_of) {
  Sequence* best = nullptr;
  VictimKey best_key;
  for (Sequence* s : running) {
    if (!s->kv.valid()) continue;
    const std::optional<VictimKey> key = key_of(*s);
    if (key.has_value() && (best == nullptr || *key < best_key)) {
      best = s;
      best_key = *key;
    }
  }
  return best;
}

}  // namespace

Sequence* CapacityPolicy::PickVictim(
    Sequence& requester, kvcache::AllocStatus status,
    absl::Span<Sequence* const> running) const {
  const int32_t own = requester.kv.tenant_id();
  Sequence* best =
      Best(running, [&](const Sequence& s) -> std::optional<VictimKey> {
        const int32_t tenant = s.kv.tenant_id();
        const bool same_tenant = tenant == own;
        if (status == kvcache::AllocStatus::kTenantLimit && !same_tenant) {
          return std::nullopt;
        }
        const kvcache::TenantKvStats t = kv_->GetTenant(tenant);
        // A removed tenant's request (it goes on to its end, but starts
        // nothing) goes first, as one over its limit does.
        const int cls = t.over_limit() || !t.configured ? kOverLimit
                        : t.above_floor()               ? kAboveFloor
                                                        : kWithinFloor;
        if (!same_tenant && cls == kWithinFloor) return std::nullopt;
        if (&s != &requester) {
          // Another tenant gives up only what it holds above its floor.
          const int64_t gain = same_tenant ? kv_->ReleasableBlocks(s.kv)
                                           : kv_->ReleasableAboveFloor(s.kv);
          if (gain == 0) return std::nullopt;
        }
        return KeyOf(cls, s);
      });
  return best != nullptr ? best : &requester;
}

Sequence* CapacityPolicy::PickOverLimitVictim(
    int32_t requester_tenant, absl::Span<Sequence* const> running) const {
  return Best(running, [&](const Sequence& s) -> std::optional<VictimKey> {
    const int32_t tenant = s.kv.tenant_id();
    if (tenant == requester_tenant || !kv_->GetTenant(tenant).over_limit() ||
        kv_->ReleasableAboveFloor(s.kv) == 0) {
      return std::nullopt;
    }
    return KeyOf(kOverLimit, s);
  });
}

}  // namespace kvasir::engine::sched
