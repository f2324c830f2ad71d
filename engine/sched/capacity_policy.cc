#include "engine/sched/capacity_policy.h"

#include <tuple>

namespace kvasir::engine::sched {
namespace {

// Preemption class of a tenant: lower goes first.
enum VictimClass : int { kOverLimit = 0, kAboveFloor = 1, kWithinFloor = 2 };

}  // namespace

Sequence* CapacityPolicy::PickVictim(
    Sequence& requester, kvcache::AllocStatus status,
    absl::Span<Sequence* const> running) const {
  const int32_t own = requester.kv.tenant_id();
  Sequence* best = nullptr;
  std::tuple<int, int32_t, uint64_t> best_key;
  for (Sequence* s : running) {
    if (!s->kv.valid()) continue;
    const bool is_requester = s == &requester;
    const int32_t tenant = s->kv.tenant_id();
    const bool same_tenant = tenant == own;
    if (status == kvcache::AllocStatus::kTenantLimit && !same_tenant) continue;
    const kvcache::TenantKvStats t = kv_->GetTenant(tenant);
    const int cls = t.over_limit    ? kOverLimit
                    : t.above_floor ? kAboveFloor
                                    : kWithinFloor;
    if (!same_tenant && cls == kWithinFloor) continue;
    if (!is_requester && kv_->ReleasableBlocks(s->kv) == 0) continue;
    // Smaller key = preempt first: class, then priority (lowest first),
    // then arrival (latest first, hence negated order).
    const std::tuple<int, int32_t, uint64_t> key{cls, s->priority, ~s->arrival};
    if (best == nullptr || key < best_key) {
      best = s;
      best_key = key;
    }
  }
  return best != nullptr ? best : &requester;
}

}  // namespace kvasir::engine::sched
