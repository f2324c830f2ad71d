#ifndef KVASIR_ENGINE_SCHED_SCHEDULER_H_
#define KVASIR_ENGINE_SCHED_SCHEDULER_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/sched/admission_control.h"
#include "engine/sched/batch_policy.h"
#include "engine/sched/capacity_policy.h"
#include "engine/sched/fair_share.h"
#include "engine/sched/rate_limiter.h"
#include "engine/sched/sequence.h"
#include "engine/tenant_rules.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine::sched {

// One sequence's share of a step: run tokens [start_pos, start_pos + n) of
// seq->tokens. compute_logits when that reaches the end of the known tokens
// (the caller then samples the next token).
struct ScheduledSeq {
  Sequence* seq = nullptr;
  int32_t start_pos = 0;
  int32_t num_tokens = 0;
  bool compute_logits = false;
};

// A sequence the scheduler finished on its own (its blocks are freed and it
// left every queue): the caller delivers the finish, then may destroy it.
struct FinishedSeq {
  Sequence* seq = nullptr;
  FinishReason reason = FinishReason::kLength;
  absl::Status error;  // set iff reason == kError
};

// What Schedule() decided. Valid until the next Schedule().
struct StepPlan {
  // In the order the model runner gets them: decodes, then chunks.
  std::vector<ScheduledSeq> scheduled;
  // Finished by the scheduler (deadline, could never fit, tenant removed);
  // Commit() appends the sequences whose tokens could not be recorded.
  std::vector<FinishedSeq> finished;
  // Preempted this step (back in the queue; blocks freed).
  std::vector<Sequence*> preempted;
  int32_t num_tokens = 0;         // sum over `scheduled`
  int32_t num_decode_tokens = 0;  // of which one-token decodes

  void Clear();
};

// Per-tenant scheduling state, readable for stats and tests. How many
// requests wait is AdmissionControl's count (the scheduler tells it when
// one leaves or re-enters the queue).
struct TenantSched {
  std::string name;
  int32_t kv_id = -1;      // the KvCacheManager's tenant id
  bool configured = true;  // false: removed, kept while requests run
  double weight = 1.0;
  int32_t max_concurrent = 0;
  TenantSchedStats stats;
};

// Continuous batching at iteration level (vLLM v1's scheduler, TensorRT-LLM's
// batch manager): every step it decides only how many tokens each request
// runs, {request: n_tokens}, within max_batch_tokens and max_running.
//
// Each Schedule():
//   1. Requests whose deadline has passed finish with kDeadline (running or
//      waiting; a request that is already expired never starts prefill).
//   2. Running requests first: decodes (one token each), then the next
//      chunk of partially prefilled prompts, so decodes never stall behind
//      a long prompt. Under a tight token budget, in fair-share order.
//   3. Then, unless step 2 had to preempt, waiting requests start (chunked
//      prefill) in fair order: the tenant with the smallest virtual token
//      counter (FairShare) first, priority then arrival within a tenant;
//      respecting max_running and each tenant's max_concurrent.
// Token-rate limits (RateLimiter) apply to both: a running sequence whose
// step would generate a token is skipped for the step when its tenant's
// bucket is empty, and a tenant whose buckets cannot pay for a start (one
// generated token; its prompt, once per request) waits this step. A
// limited tenant's tokens go round its running streams and its next waiting
// request (Sequence::turn; YieldsToWaiting). max_running bounds the sequences a
// step computes: a sequence sitting a step out for its rate leaves its slot
// to a start (it stays resident, up to BatchPolicy::kResidentFactor x
// max_running sequences in all), so a throttled tenant cannot hold every
// slot while others wait.
// KV blocks come from the KvCacheManager only. When a running request's
// chunk does not fit, CapacityPolicy picks a victim, which is preempted by
// recompute: its blocks are freed and it is requeued with its generated
// tokens kept; on resume it prefills prompt + generated tokens, and
// prefix-cache hits skip what is still cached. A waiting request whose
// chunk does not fit waits, and its tenant's later requests wait behind it;
// it preempts a running request only when the pool is short and another
// tenant is above its limit (after a budget change): that tenant's
// requests go first (CapacityPolicy::PickOverLimitVictim), until the
// waiting one fits or that tenant is back within its limit.
//
// Time comes from the injected clock only. Not thread-safe: one thread (the
// engine thread) calls everything; `admission` (thread-safe) is told when
// requests leave or re-enter the queue.
class Scheduler {
 public:
  struct Options {
    int32_t max_batch_tokens = 512;  // >= 1
    int32_t max_running = 64;        // >= 1
    Clock* clock = nullptr;          // required; not owned
  };

  // Validates the options and tenants (ValidateTenantConfigs against the
  // KV capacity) and applies the tenants' budgets to `kv` (SetTenants). `kv`
  // and `admission` (may be null) are not owned and must outlive the scheduler.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      const Options& options, kvcache::KvCacheManager* kv,
      AdmissionControl* admission, std::vector<TenantConfig> tenants);

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the tenant set, all or nothing (InvalidArgument naming the
  // tenant and the field; nothing changes then). KV budgets change at once
  // (a tenant above its new limit gets no new blocks and is preempted
  // first). Waiting requests of removed tenants finish with
  // kTenantRemoved and are appended to *cancelled; running ones go on to
  // their end within the limit their tenant had (and the others' floors;
  // when memory runs short and one is picked as a victim, it finishes with
  // kTenantRemoved instead of waiting: a removed tenant starts nothing).
  absl::Status SetTenants(std::vector<TenantConfig> tenants,
                          std::vector<FinishedSeq>* cancelled);

  // Queues `seq` (its tenant, tokens, prompt_len, max_new_tokens, priority
  // and deadline set; status kWaiting). Queue limits are AdmissionControl's
  // job, before this. NotFound for an unknown or removed tenant;
  // InvalidArgument for a malformed sequence. Not owned: it must live until
  // the scheduler finishes it.
  absl::Status Add(Sequence* seq);

  // Decides the next step (see the class comment). The plan is valid until
  // the next call.
  const StepPlan& Schedule();

  // After the model ran the plan: records the computed tokens in the KV
  // cache (full blocks enter the prefix cache) and moves sequences whose
  // known tokens are all computed to kDecoding. The caller then appends a
  // sampled token to each compute_logits sequence. Sequences whose tokens
  // could not be recorded are finished (kError) and appended to the
  // plan's `finished`. Not called when the model step failed: nothing is
  // recorded then, and the caller finishes the sequences.
  void Commit();

  // Finishes `seq` (done, cancelled, failed): it leaves its queue and its
  // blocks are freed now. No-op for a finished sequence.
  void Finish(Sequence* seq);

  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  bool idle() const { return running_.empty() && num_waiting_ == 0; }
  // Sequences running now, in the order they started.
  absl::Span<Sequence* const> running() const { return running_; }
  // The earliest deadline of any queued or running request.
  absl::Time NextDeadline() const;
  // The earliest time the next Schedule() could do more by time alone: a
  // deadline, or a tenant the last Schedule() refused for its token rate
  // getting what it was refused. A caller with nothing to run sleeps until
  // then instead of spinning.
  absl::Time NextWakeTime() const {
    return std::min(NextDeadline(), rate_.next_refill());
  }
  // The tenants' token buckets (indices as tenant(i)).
  const RateLimiter& rate_limiter() const { return rate_; }

  int32_t num_tenants() const { return static_cast<int32_t>(tenants_.size()); }
  const TenantSched& tenant(int32_t i) const { return tenants_[i].info; }
  // Index of a configured tenant, or -1.
  int32_t FindTenant(absl::string_view name) const;
  int64_t total_preemptions() const { return total_preemptions_; }

 private:
  // Waiting order within a tenant: priority (higher first), then arrival.
  struct WaitingOrder {
    bool operator()(const Sequence* a, const Sequence* b) const {
      if (a->priority != b->priority) return a->priority > b->priority;
      return a->arrival < b->arrival;
    }
  };
  struct Tenant {
    TenantSched info;
    std::set<Sequence*, WaitingOrder> waiting;
  };

  Scheduler(const Options& options, kvcache::KvCacheManager* kv,
            AdmissionControl* admission);

  void ExpireDeadlines(absl::Time now);
  void ScheduleRunning(absl::Time now);
  // Whether running stream `s`, about to take its tenant's last generated
  // token, leaves it to the tenant's waiting head instead: the head's turn
  // came first (a rate-limited tenant's tokens go round its streams and its
  // next request alike) and the tenant may start one more. Records the head
  // in yielded_to_.
  bool YieldsToWaiting(const Sequence& s, absl::Time now);
  void ScheduleWaiting(absl::Time now);
  // Grows `seq`'s blocks for n more tokens, preempting victims as needed.
  // False when it could not (the sequence is then preempted or finished).
  bool AllocateOrPreempt(Sequence* seq, int32_t n);
  // Starts the head of tenant t's queue, preempting requests of tenants
  // above their limit if that makes room; false (tenant blocked this step)
  // when its first chunk does not fit. In three steps:
  bool TryStart(int32_t t, absl::Time now);
  // 1. Finishes `s` when it can never start (deadline passed, tenant
  //    removed, over the tenant's new limit); true if it did.
  bool FinishIfItCannotStart(const Tenant& tenant, Sequence* s, absl::Time now);
  // 2. Finds its cached prefix (match_) and allocates the blocks of its
  //    first chunk (*n tokens), preempting over-limit tenants when the pool
  //    is short.
  enum class FirstChunk { kAllocated, kWait, kFailed /* finished */ };
  FirstChunk AllocateFirstChunk(Sequence* s, kvcache::KvSequence& kvseq,
                                int32_t* n);
  // 3. Moves it from its queue to the running set and into the plan.
  void StartRunning(Tenant& tenant, Sequence* s, kvcache::KvSequence kvseq,
                    int32_t n, absl::Time now);
  // The tenant whose waiting head goes next, or -1.
  int32_t PickWaitingTenant() const;
  void AddToPlan(Sequence* seq, int32_t n);
  void RemoveFromPlan(Sequence* seq);
  void Preempt(Sequence* seq);
  // Takes `seq` out of its queue (waiting or running), frees its blocks and
  // marks it finished.
  // Reports nothing: callers that finish it say how (FinishInPlan, or the
  // `cancelled` list of SetTenants).
  void Drop(Sequence* seq);
  void FinishInPlan(Sequence* seq, FinishReason reason, absl::Status error);
  void RemoveRunning(Sequence* seq);
  void UpdateActive(int32_t t);

  Options options_;
  kvcache::KvCacheManager* kv_;
  AdmissionControl* admission_;
  BatchPolicy batch_;
  CapacityPolicy capacity_;
  FairShare fair_;
  RateLimiter rate_;
  std::vector<Tenant> tenants_;
  std::vector<Sequence*> running_;
  int32_t num_waiting_ = 0;
  uint64_t next_arrival_ = 0;
  int64_t total_preemptions_ = 0;
  StepPlan plan_;
  // Step scratch, reused (no allocation per step).
  std::vector<Sequence*> order_;
  std::vector<uint8_t> blocked_;
  std::vector<Sequence*> yielded_to_;  // YieldsToWaiting's heads this step
  int32_t rate_idle_ = 0;       // running sequences sitting this step out for
                                // their tenant's rate (step 2, read by step 3)
  kvcache::PrefixMatch match_;  // of the request TryStart looks at (step 2,
                                // read by step 3)
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_SCHEDULER_H_
