#ifndef KVASIR_TESTS_ENGINE_SCHED_SCHED_HARNESS_H_
#define KVASIR_TESTS_ENGINE_SCHED_SCHED_HARNESS_H_

// Drives a Scheduler the way the engine does, without a model: Schedule ->
// (model) -> Commit -> "sample" a token for every sequence that produced
// logits -> finish the ones that reached max_new_tokens. Requests have
// names; State() prints every request's state for table-driven tests.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/sched/admission_control.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/sequence.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine::sched::testing {

// 1 layer, 1 KV head, head_dim 4, f32, `block_size` tokens per block.
kvcache::KvLayout HarnessLayout(int32_t block_size);

// A tenant whose floor and limit are given in blocks of HarnessLayout.
TenantConfig BlocksTenant(std::string name, int64_t reserved_blocks,
                          int64_t limit_blocks, double weight = 1.0,
                          int32_t block_size = 4);

class SchedHarness {
 public:
  struct Options {
    int32_t num_blocks = 64;
    int32_t block_size = 4;
    int32_t max_batch_tokens = 16;
    int32_t max_running = 8;
    int32_t max_queued = 1000;
    bool prefix_caching = true;
  };

  // Fails the test (and leaves sched() null) when creation fails.
  SchedHarness(const Options& options, std::vector<TenantConfig> tenants);
  ~SchedHarness();

  // Queues request `name` through AdmissionControl then Scheduler::Add.
  // `prompt` empty: prompt_len fresh token ids unique to the request.
  absl::Status Submit(const std::string& name, const std::string& tenant,
                      int32_t prompt_len, int32_t max_new_tokens,
                      int32_t priority = 0,
                      absl::Time deadline = absl::InfiniteFuture(),
                      std::vector<int32_t> prompt = {});

  // One engine step; returns the plan as "a+8 b+1" (name + tokens, in the
  // runner's order; "-" when nothing ran).
  std::string Step();
  // Steps until nothing is queued or running (at most max_steps).
  int RunUntilIdle(int max_steps = 10000);
  // Finishes a request now (what the engine does on Cancel).
  void Cancel(const std::string& name);

  // Every request by name: "a:W" waiting (":W(p1)" after one preemption),
  // "a:P8" prefilling with 8 tokens computed, "a:D9" decoding, "a:F-length"
  // finished (reason).
  std::string State() const;

  // Expects every KV block back in the pool: free + cached == total and no
  // tenant holding blocks.
  void ExpectAllBlocksFree() const;

  Scheduler& sched() { return *sched_; }
  kvcache::KvCacheManager& kv() { return *kv_; }
  AdmissionControl& admission() { return *admission_; }
  FakeClock& clock() { return clock_; }
  const Sequence& seq(const std::string& name) const;
  FinishReason reason(const std::string& name) const;
  // Total tokens computed for tenant `name` so far.
  int64_t served(const std::string& tenant) const;
  int64_t used_blocks(const std::string& tenant) const;

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Sequence> seq;
    FinishReason reason = FinishReason::kLength;
    absl::Status error;
  };
  void RecordFinished(Sequence* s, FinishReason reason, absl::Status error);
  Entry* Find(const Sequence* s);

  Options options_;
  FakeClock clock_;
  std::unique_ptr<kvcache::KvCacheManager> kv_;
  std::unique_ptr<AdmissionControl> admission_;
  std::unique_ptr<Scheduler> sched_;
  std::map<std::string, Entry> entries_;
  int32_t next_token_base_ = 1000;
};

// One row of a scheduling table: what happens before the step, the plan
// the step must make ("a+8 b+1": request + tokens, in the runner's order)
// and every request's state after it (see SchedHarness::State).
struct Row {
  std::function<void(SchedHarness&)> before;
  std::string plan;
  std::string state;
};

// Runs the rows in order, expecting each step's plan and state.
void RunTable(SchedHarness& h, const std::vector<Row>& rows);

// Harness options with the given pool, token budget and running cap.
SchedHarness::Options Opts(int32_t num_blocks, int32_t max_batch_tokens,
                           int32_t max_running);

}  // namespace kvasir::engine::sched::testing

#endif  // KVASIR_TESTS_ENGINE_SCHED_SCHED_HARNESS_H_
