#ifndef KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_
#define KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/sched/sequence.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine::sched {

// The memory side of scheduling (TensorRT-LLM's capacity policy): whom to
// preempt when a running sequence's next chunk does not fit, or when a
// waiting request is kept out by a tenant above its limit. Block counts
// and budgets are the KvCacheManager's; this only ranks candidates.
//
// Not thread-safe; the manager must outlive it.
class CapacityPolicy {
 public:
  explicit CapacityPolicy(const kvcache::KvCacheManager* kv) : kv_(kv) {}

  // The sequence to preempt so that `requester` (running, its allocation
  // refused with `status`) can grow, chosen among `running` (which holds
  // the requester). Never nullptr: when nobody else may be preempted, the
  // requester itself is the answer.
  //
  // Eligible: the requester's own tenant's sequences; for kTenantLimit only
  // those (freeing another tenant's blocks does not lower this tenant's
  // usage); otherwise also other tenants' sequences when that tenant is
  // above its limit or above its reserved floor, and stays at or above its
  // floor once the sequence's blocks are freed
  // (KvCacheManager::ReleasableAboveFloor). A tenant is
  // never pushed below its floor for another tenant (those blocks would be
  // kept for it anyway, so the work would be lost for nothing). Sequences
  // that would free no block (all shared with others) are skipped, except
  // the requester.
  //
  // Order: tenants above their limit first, then tenants above their floor
  // (then the requester's own tenant within its floor); within that, lowest
  // priority first, then latest arrival first. If that is the requester, it
  // preempts itself (as vLLM does: a late request does not push out an
  // earlier one).
  Sequence* PickVictim(Sequence& requester, kvcache::AllocStatus status,
                       absl::Span<Sequence* const> running) const;

  // The sequence to preempt so that a waiting request of tenant
  // `requester_tenant`, refused for lack of pool blocks (kPoolExhausted or
  // kOtherTenantsFloors, never kTenantLimit), can start: a running sequence
  // of another tenant that is above its limit (DESIGN.md: such a tenant is
  // preempted first), whose blocks are not all shared, and whose tenant
  // stays at or above its floor without them. Lowest priority first, then
  // latest arrival. nullptr when there is none.
  Sequence* PickOverLimitVictim(int32_t requester_tenant,
                                absl::Span<Sequence* const> running) const;

 private:
  const kvcache::KvCacheManager* kv_;
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_
