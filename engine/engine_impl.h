#ifndef KVASIR_ENGINE_ENGINE_IMPL_H_
#define KVASIR_ENGINE_ENGINE_IMPL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/engine_output.h"
#include "engine/engine_request.h"
#include "engine/model/model_runner.h"
#include "engine/sched/admission_control.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/usage_meter.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine {

// The Engine (engine.h): one engine thread runs the step loop
//
//   drain the inbox (submits, cancels, tenant updates) -> Scheduler::
//   Schedule() (deadlines, decodes, chunked prefill, preemption) ->
//   ModelRunner::Step -> Scheduler::Commit (tokens into the KV cache and
//   the prefix cache) -> per request: sample, detokenize, stop sequences,
//   sink -> finished requests give their blocks back -> Stats snapshot
//
// and sleeps on a condition variable when there is nothing to do. Submit and
// Cancel only validate and put work in the inbox under a mutex; they never
// wait for a step. Sinks run on the engine thread without any engine lock
// held, so they may call Submit and Cancel (not UpdateTenants or Shutdown).
class EngineImpl final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const Options& options, std::unique_ptr<ModelRunner> runner,
      std::vector<TenantConfig> tenants);

  ~EngineImpl() override;

  absl::StatusOr<RequestId> Submit(Request request,
                                   std::shared_ptr<RequestSink> sink) override;
  void Cancel(RequestId id) override;
  absl::Status UpdateTenants(std::vector<TenantConfig> tenants) override;
  EngineStats Stats() const override;
  void ChargeRefusal(absl::string_view tenant,
                     const absl::Status& error) override;
  UsageReport Usage(bool reset) override { return usage_->Report(reset); }
  UsageReport UsageSinceStart() const override {
    return usage_->ReportSinceStart();
  }
  void Shutdown(absl::Duration drain) override;

  const ModelConfig& model_config() const override { return runner_->config(); }
  const Tokenizer& tokenizer() const override { return runner_->tokenizer(); }
  const kvcache::KvLayout& kv_layout() const override { return kv_->layout(); }
  int64_t kv_capacity_blocks() const override { return kv_->total_blocks(); }
  const RequestLimits& request_limits() const override {
    return options_.request_limits;
  }
  const chat::ChatTemplate* chat_template() const override {
    return options_.chat_template.get();
  }

 private:
  // A tenant update waiting for the engine thread.
  struct TenantUpdate {
    std::vector<TenantConfig> tenants;
    absl::Status result;
    absl::Notification done;
  };

  EngineImpl(const Options& options, std::unique_ptr<ModelRunner> runner);

  // Submit's work; Submit charges its refusals to the tenant.
  absl::StatusOr<RequestId> DoSubmit(Request request,
                                     std::shared_ptr<RequestSink> sink);
  void Loop();
  // Applies what Submit/Cancel/UpdateTenants left in the inbox.
  void ApplyInbox();
  // One scheduling step; false when it changed nothing (nothing could run
  // and nothing finished).
  bool RunStep();
  // Delivers the finish and forgets the request (its blocks are freed).
  void FinishRequest(EngineRequest* r, FinishReason reason,
                     const absl::Status& error);
  void FinishAll(FinishReason reason);
  void PublishStats(const sched::StepPlan* plan, int64_t step_ns);
  // Tells the usage meter the scheduler's tenants (after each SetTenants).
  void SyncUsageTenants();
  // A KV accounting point: each tenant's held bytes, from the KV cache.
  void AccrueUsage();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; }

  Options options_;
  SystemClock system_clock_;
  Clock* clock_;  // options_.clock or &system_clock_
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<kvcache::KvCacheManager> kv_;
  std::unique_ptr<sched::AdmissionControl> admission_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  std::unique_ptr<OutputProcessor> output_;
  std::unique_ptr<sched::UsageMeter> usage_;
  uint64_t seed_salt_ = 0;  // per-engine salt for requests without a seed
  int64_t block_bytes_ = 0;
  int32_t total_blocks_ = 0;

  // Engine thread only.
  absl::flat_hash_map<RequestId, std::unique_ptr<EngineRequest>> requests_;
  std::vector<std::unique_ptr<EngineRequest>> local_submits_;
  std::vector<RequestId> local_cancels_;
  std::vector<TenantUpdate*> local_updates_;
  std::vector<SequenceStep> steps_;
  std::vector<sched::FinishedSeq> cancelled_;
  std::vector<int32_t> usage_slots_;                // by scheduler tenant index
  std::vector<sched::UsageMeter::KvHeld> kv_held_;  // step scratch

  // The inbox.
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<EngineRequest>> submits_ ABSL_GUARDED_BY(mu_);
  std::vector<RequestId> cancels_ ABSL_GUARDED_BY(mu_);
  std::vector<TenantUpdate*> updates_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // the loop has exited
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;

  std::thread thread_;
  std::thread::id thread_id_;
  std::mutex join_mu_;

  mutable absl::Mutex stats_mu_;
  EngineStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_ENGINE_IMPL_H_
