#ifndef KVASIR_ENGINE_SCHED_SEQUENCE_H_
#define KVASIR_ENGINE_SCHED_SEQUENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "kvcache/kv_sequence.h"

namespace kvasir::engine::sched {

// Where a request is in its life, in chronological order, so "has it
// reached decoding?" is `status >= SeqStatus::kDecoding`. A preempted
// request goes back to kWaiting (with its generated tokens kept).
enum class SeqStatus : uint8_t {
  kWaiting,     // queued, new or preempted; holds no KV blocks
  kPrefilling,  // running: computing its known tokens chunk by chunk (the
                // prompt; after a preemption, prompt + generated tokens)
  kDecoding,    // running: every known token computed, one new per step
  kFinished,    // done; holds no KV blocks
};
absl::string_view SeqStatusName(SeqStatus status);  // "waiting", ...

// The scheduling state of one request. The creator (the engine, or a test)
// owns it, fills the fields of the first block and keeps it alive from
// Scheduler::Add until the scheduler has finished it (Scheduler::Finish, or
// a StepPlan::finished entry). The scheduler owns the rest.
//
// Not thread-safe: the engine thread only.
struct Sequence {
  // --- Set before Scheduler::Add.
  RequestId id = 0;
  std::string tenant;
  int32_t priority = 0;  // higher first, within the tenant
  absl::Time deadline = absl::InfiniteFuture();
  // The prompt followed by the generated tokens. The caller appends each
  // sampled token (AppendToken); the scheduler never changes it.
  std::vector<int32_t> tokens;
  int32_t prompt_len = 0;      // >= 1; tokens[0, prompt_len) is the prompt
  int32_t max_new_tokens = 1;  // >= 1, for the KV admission check

  // --- Owned by the scheduler.
  SeqStatus status = SeqStatus::kWaiting;
  int32_t tenant_index = -1;  // into the scheduler's tenant table
  uint64_t arrival = 0;       // order of Add, across tenants
  // Last tie-break among running sequences: arrival, except that a
  // rate-limited tenant's sequence goes to the back each time it is
  // served (or started), so that the tenant's few tokens go round its
  // streams; its waiting head takes its turn among them (YieldsToWaiting).
  uint64_t turn = 0;
  absl::Time arrival_time;  // clock time of Add
  // The KV blocks while running; empty while waiting and once finished.
  // Its num_tokens() is the number of computed tokens.
  kvcache::KvSequence kv;
  int32_t preemptions = 0;
  // Prompt tokens served from the prefix cache at the first admission.
  int32_t cached_prompt_tokens = 0;
  bool started = false;  // scheduled at least once
  absl::Time first_scheduled_time;

  // Tokens whose K/V is in the cache (0 while waiting).
  int32_t num_computed() const { return kv.valid() ? kv.num_tokens() : 0; }
  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t num_generated() const { return num_tokens() - prompt_len; }
  bool running() const {
    return status == SeqStatus::kPrefilling || status == SeqStatus::kDecoding;
  }
  // Most tokens this request ever holds in the KV cache: the last sampled
  // token is never fed back.
  int64_t max_kv_tokens() const {
    return int64_t{prompt_len} + max_new_tokens - 1;
  }
  void AppendToken(int32_t token) { tokens.push_back(token); }

  // Set while the scheduler builds a step (its index in the plan, or -1).
  int32_t plan_index = -1;
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_SEQUENCE_H_
