#ifndef KVASIR_ENGINE_SCHED_ADMISSION_CONTROL_H_
#define KVASIR_ENGINE_SCHED_ADMISSION_CONTROL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace kvasir::engine::sched {

// Back-pressure at the door: the bounded waiting queues (per tenant and
// global) and the "could this request ever fit in its tenant's KV limit"
// check, answered at once on the submitting thread instead of letting a
// queue grow (TF Serving's explicit back-pressure).
//
// "Queued" counts requests that wait to run: accepted and not yet started
// (in the engine's inbox or the scheduler's queue), and preempted ones
// waiting to resume. This class owns those counts: the scheduler keeps the
// queue itself and tells it when a request leaves or re-enters, and the
// engine's stats read them here. The limits apply to new requests only; a
// preempted request always gets back in line.
//
// Thread-safe: TryEnqueue runs on submitting threads, the rest on the
// engine thread.
class AdmissionControl {
 public:
  struct TenantLimits {
    std::string name;
    int32_t max_queued = 0;     // 0 = only the global cap
    int64_t max_kv_tokens = 0;  // the most tokens one sequence can hold
    int64_t limit_bytes = 0;    // for messages
  };

  // max_queued >= 1: waiting requests over all tenants.
  explicit AdmissionControl(int32_t max_queued) : max_queued_(max_queued) {}

  AdmissionControl(const AdmissionControl&) = delete;
  AdmissionControl& operator=(const AdmissionControl&) = delete;

  // Replaces the configured tenants. Counts are kept by name; a removed
  // tenant gets NotFound from then on (its queued requests are released by
  // the scheduler as it cancels them).
  void SetTenants(std::vector<TenantLimits> tenants);

  // Counts one more queued request of `tenant` that will hold up to
  // `kv_tokens` tokens of KV cache, or says why not: NotFound (no such
  // tenant), ResourceExhausted when the request could never fit in the
  // tenant's KV limit (with the numbers), or when the tenant's or the global
  // queue is full (naming which).
  absl::Status TryEnqueue(absl::string_view tenant, int64_t kv_tokens);

  // A request of `tenant` left the queue (started running, or finished
  // while waiting). Precondition: counted by TryEnqueue or Requeued.
  void Dequeued(absl::string_view tenant);
  // A preempted request of `tenant` is waiting again (no limit applies).
  void Requeued(absl::string_view tenant);

  int32_t queued(absl::string_view tenant) const;
  int32_t queued_total() const;
  // The most tokens one sequence of `tenant` can hold (0: no such tenant).
  int64_t max_kv_tokens(absl::string_view tenant) const;

 private:
  struct Entry {
    bool configured = false;
    int32_t max_queued = 0;
    int64_t max_kv_tokens = 0;
    int64_t limit_bytes = 0;
    int32_t queued = 0;
  };

  mutable absl::Mutex mu_;
  const int32_t max_queued_;
  int32_t queued_total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Entry> tenants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_ADMISSION_CONTROL_H_
