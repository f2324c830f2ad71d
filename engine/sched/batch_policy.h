#ifndef KVASIR_ENGINE_SCHED_BATCH_POLICY_H_
#define KVASIR_ENGINE_SCHED_BATCH_POLICY_H_

#include <algorithm>
#include <cstdint>

namespace kvasir::engine::sched {

// The per-step budget (vLLM's token_budget and max_num_seqs; TensorRT-LLM's
// batch policy): how many tokens a step may compute over all sequences,
// how many sequences may run, and how big a sequence's chunk is. It knows
// nothing about memory (CapacityPolicy does).
//
// Not thread-safe.
class BatchPolicy {
 public:
  struct Options {
    int32_t max_batch_tokens = 512;  // >= 1: tokens per step
    int32_t max_running = 64;        // >= 1: running sequences
  };

  explicit BatchPolicy(const Options& options) : options_(options) {}

  // Restores the full token budget for a new step.
  void StartStep() { tokens_left_ = options_.max_batch_tokens; }

  // Tokens to schedule for a sequence with `pending` tokens left to
  // compute: all of them when they fit, else the rest of the budget (a
  // chunk; a long prompt is split over steps). 0 when the budget is spent.
  int32_t ChunkFor(int32_t pending) const {
    return std::max(0, std::min(pending, tokens_left_));
  }
  void Take(int32_t n) { tokens_left_ -= n; }
  void GiveBack(int32_t n) { tokens_left_ += n; }

  int32_t tokens_left() const { return tokens_left_; }
  // Whether one more sequence may start running next to `running` others,
  // `idle` of which sit this step out for their tenant's token rate.
  // max_running bounds the sequences a step computes, so rate-idle ones
  // leave their slot to others (a throttled tenant must not lock the rest
  // out); they stay resident (their KV blocks are within their tenant's
  // own limit), up to kResidentFactor x max_running in all.
  bool CanStart(int32_t running, int32_t idle = 0) const {
    return running - idle < options_.max_running &&
           running < kResidentFactor * options_.max_running;
  }
  // Whether a step that already schedules `scheduled` sequences is full.
  bool StepFull(int32_t scheduled) const {
    return scheduled >= options_.max_running;
  }
  static constexpr int32_t kResidentFactor = 2;
  const Options& options() const { return options_; }

 private:
  Options options_;
  int32_t tokens_left_ = 0;
};

}  // namespace kvasir::engine::sched

#endif  // KVASIR_ENGINE_SCHED_BATCH_POLICY_H_
