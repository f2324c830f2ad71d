#ifndef KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_
#define KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/sched/sequence.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine::sched {

// The memory side of scheduling (TensorRT-LLM's capacity policy): whom to
// preempt when a running sequence's next chunk does not fit. Block counts
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
  // above its limit or above its reserved floor. A tenant within its floor
  // is never preempted for another tenant. Sequences that would free no
  // block (all shared with others) are skipped, except the requester.
  //
  // Order: tenants above their limit first, then tenants above their floor
  // (then the requester's own tenant within its floor); within that, lowest
  // priority first, then latest arrival first. If that is the requester, it
  // preempts itself (as vLLM does: a late request does not push out an
  // earlier one).
  Sequence* PickVictim(Sequence& requester, kvcache::AllocStatus status,
                       absl::Span<Sequence* const> running) const;

 private:
  const kvcache::KvCacheManager* kv_;
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_CAPACITY_POLICY_H_
