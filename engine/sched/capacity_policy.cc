#include "engine/sched/capacity_policy.h"

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

}  // namespace

bool CapacityPolicy::KeepsFloor(const kvcache::TenantKvUsage& tenant,
                                int64_t releasable) {
  return tenant.used_blocks - releasable >= tenant.reserved_blocks;
}

Sequence* CapacityPolicy::PickVictim(
    Sequence& requester, kvcache::AllocStatus status,
    absl::Span<Sequence* const> running) const {
  const int32_t own = requester.kv.tenant_id();
  Sequence* best = nullptr;
  VictimKey best_key;
  for (Sequence* s : running) {
    if (!s->kv.valid()) continue;
    const bool is_requester = s == &requester;
    const int32_t tenant = s->kv.tenant_id();
    const bool same_tenant = tenant == own;
    if (status == kvcache::AllocStatus::kTenantLimit && !same_tenant) continue;
    const kvcache::TenantKvUsage t = kv_->GetTenantUsage(tenant);
    const int cls = t.over_limit()    ? kOverLimit
                    : t.above_floor() ? kAboveFloor
                                      : kWithinFloor;
    if (!same_tenant && cls == kWithinFloor) continue;
    if (!is_requester) {
      const int64_t releasable = kv_->ReleasableBlocks(s->kv);
      if (releasable == 0) continue;
      // Another tenant gives up only what it holds above its floor.
      if (!same_tenant && !KeepsFloor(t, releasable)) continue;
    }
    const VictimKey key = KeyOf(cls, *s);
    if (best == nullptr || key < best_key) {
      best = s;
      best_key = key;
    }
  }
  return best != nullptr ? best : &requester;
}

Sequence* CapacityPolicy::PickOverLimitVictim(
    int32_t requester_tenant, absl::Span<Sequence* const> running) const {
  Sequence* best = nullptr;
  VictimKey best_key;
  for (Sequence* s : running) {
    if (!s->kv.valid()) continue;
    const int32_t tenant = s->kv.tenant_id();
    if (tenant == requester_tenant) continue;
    const kvcache::TenantKvUsage t = kv_->GetTenantUsage(tenant);
    if (!t.over_limit()) continue;
    const int64_t releasable = kv_->ReleasableBlocks(s->kv);
    if (releasable == 0 || !KeepsFloor(t, releasable)) continue;
    const VictimKey key = KeyOf(kOverLimit, *s);
    if (best == nullptr || key < best_key) {
      best = s;
      best_key = key;
    }
  }
  return best;
}

}  // namespace kvasir::engine::sched
