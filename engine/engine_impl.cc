#include "engine/engine_impl.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/request_validation.h"
#include "engine/tenant_rules.h"
#include "kvcache/kv_layout.h"
#include "kvcache/tenant_budgets.h"
#include "spdlog/spdlog.h"

namespace kvasir::engine {
namespace {

// How often a loop that cannot make progress (rare: everything waits for
// memory or a cap) looks again, and how often a draining loop checks its
// deadline. Clock-independent so a FakeClock cannot stall it.
constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::Status ValidateOptions(const Engine::Options& o) {
  auto bad = [](absl::string_view field, int64_t value,
                absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine option ", field, " ", value, " ", rule));
  };
  if (o.max_batch_tokens < 1) {
    return bad("max_batch_tokens", o.max_batch_tokens, "must be >= 1");
  }
  if (o.max_running < 1)
    return bad("max_running", o.max_running, "must be >= 1");
  if (o.max_queued < 1) return bad("max_queued", o.max_queued, "must be >= 1");
  if (o.block_size < 1 || o.block_size > kvcache::kMaxBlockSize) {
    return bad("block_size", o.block_size,
               absl::StrCat("must be in [1, ", kvcache::kMaxBlockSize, "]"));
  }
  if (o.kv_capacity_bytes < 1) {
    return bad("kv_capacity_bytes", o.kv_capacity_bytes, "must be > 0");
  }
  const RequestLimits& l = o.request_limits;
  for (const auto& [field, value] :
       {std::pair<absl::string_view, int64_t>{"max_stop_sequence_bytes",
                                              l.max_stop_sequence_bytes},
        {"max_request_id_chars", l.max_request_id_chars},
        {"max_prompt_text_bytes", l.max_prompt_text_bytes},
        {"default_max_new_tokens", l.default_max_new_tokens}}) {
    if (value < 1) {
      return bad(absl::StrCat("request_limits.", field), value, "must be >= 1");
    }
  }
  if (l.max_stop_sequences < 0 || l.max_top_logprobs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine options request_limits.max_stop_sequences ",
                     l.max_stop_sequences, " and max_top_logprobs ",
                     l.max_top_logprobs, " must be >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> EngineImpl::Create(
    const Options& options, std::unique_ptr<ModelRunner> runner,
    std::vector<TenantConfig> tenants) {
  if (runner == nullptr) {
    return absl::InvalidArgumentError("engine: the model runner is null");
  }
  RETURN_IF_ERROR(ValidateOptions(options));
  RETURN_IF_ERROR(ValidateTenantConfigs(tenants, options.kv_capacity_bytes));
  const ModelConfig& mc = runner->config();
  const kvcache::KvLayout layout =
      mc.KvLayoutFor(options.kv_dtype, options.block_size);
  RETURN_IF_ERROR(layout.Validate());

  std::unique_ptr<EngineImpl> e(new EngineImpl(options, std::move(runner)));
  ASSIGN_OR_RETURN(e->kv_, kvcache::KvCacheManager::Create(
                               {.layout = layout,
                                .capacity_bytes = options.kv_capacity_bytes,
                                .prefix_caching = options.prefix_caching},
                               ToKvBudgets(tenants)));
  e->admission_ = std::make_unique<sched::AdmissionControl>(options.max_queued);
  ASSIGN_OR_RETURN(e->scheduler_,
                   sched::Scheduler::Create(
                       {.max_batch_tokens = options.max_batch_tokens,
                        .max_running = options.max_running,
                        .clock = e->clock_},
                       e->kv_.get(), e->admission_.get(), std::move(tenants)));
  ASSIGN_OR_RETURN(e->usage_, sched::UsageMeter::Create({.clock = e->clock_}));
  e->SyncUsageTenants();
  e->output_ = std::make_unique<OutputProcessor>(
      e->runner_->tokenizer().EndOfGenerationIds(), mc.context_length);
  e->block_bytes_ = e->kv_->block_bytes();
  e->total_blocks_ = e->kv_->total_blocks();
  absl::BitGen gen;
  e->seed_salt_ = absl::Uniform<uint64_t>(gen);
  e->steps_.reserve(static_cast<size_t>(options.max_running));
  e->PublishStats(nullptr, 0);
  EngineImpl* raw = e.get();
  e->thread_ = std::thread([raw] { raw->Loop(); });
  e->thread_id_ = e->thread_.get_id();
  return std::unique_ptr<Engine>(std::move(e));
}

EngineImpl::EngineImpl(const Options& options,
                       std::unique_ptr<ModelRunner> runner)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : &system_clock_),
      runner_(std::move(runner)) {}

EngineImpl::~EngineImpl() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<RequestId> EngineImpl::Submit(
    Request request, std::shared_ptr<RequestSink> sink) {
  std::string tenant = request.tenant;
  absl::StatusOr<RequestId> id = DoSubmit(std::move(request), std::move(sink));
  if (!id.ok()) ChargeRefusal(tenant, id.status());
  return id;
}

void EngineImpl::ChargeRefusal(absl::string_view tenant,
                               const absl::Status& error) {
  // Only names the meter knows count (a tenant configured now or before),
  // so a refused request cannot invent a tenant.
  const std::optional<Refusal> refusal = RefusalOf(error);
  if (refusal.has_value()) usage_->RecordRefusal(tenant, *refusal);
}

absl::StatusOr<RequestId> EngineImpl::DoSubmit(
    Request request, std::shared_ptr<RequestSink> sink) {
  if (sink == nullptr) {
    return absl::InvalidArgumentError("Submit: the sink is null");
  }
  const bool fill_room = request.stopping.fill_room &&
                         !request.stopping.max_new_tokens.has_value();
  RETURN_IF_ERROR(
      ValidateRequest(runner_->config(), options_.request_limits, request));
  if (fill_room) {
    // Down to what the tenant's limit holds. A prompt that alone does not
    // fit asks for one token, so that its refusal below counts the prompt
    // only.
    const int64_t fits = admission_->max_kv_tokens(request.tenant) -
                         static_cast<int64_t>(request.prompt.size()) + 1;
    int32_t& max = *request.stopping.max_new_tokens;
    max = static_cast<int32_t>(std::clamp<int64_t>(fits, 1, max));
  }
  static_assert(sizeof(RequestId) == sizeof(uint64_t));
  const int64_t kv_tokens = static_cast<int64_t>(request.prompt.size()) +
                            *request.stopping.max_new_tokens - 1;
  // Built outside the lock: this is where the request's memory is taken.
  RequestId id;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<EngineRequest> r,
      EngineRequest::Create(std::move(request), std::move(sink),
                            &runner_->tokenizer(), SplitMix64(seed_salt_ + id),
                            clock_->Now()));
  r->id = id;
  absl::MutexLock lock(&mu_);
  if (!accepting_) {
    return WithRefusal(absl::UnavailableError("the engine is shutting down"),
                       Refusal::kShuttingDown);
  }
  RETURN_IF_ERROR(admission_->TryEnqueue(r->tenant, kv_tokens));
  submits_.push_back(std::move(r));
  wake_ = true;
  return id;
}

void EngineImpl::Cancel(RequestId id) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  cancels_.push_back(id);
  wake_ = true;
}

absl::Status EngineImpl::UpdateTenants(std::vector<TenantConfig> tenants) {
  RETURN_IF_ERROR(ValidateTenantConfigs(tenants, options_.kv_capacity_bytes));
  // The block rules are checked here too, so the engine thread only has to
  // apply them.
  RETURN_IF_ERROR(kvcache::TenantBudgets::Validate(
      {.block_bytes = block_bytes_, .total_blocks = total_blocks_},
      ToKvBudgets(tenants)));
  if (std::this_thread::get_id() == thread_id_) {
    return absl::FailedPreconditionError(
        "UpdateTenants must not be called from a request sink (the engine "
        "thread)");
  }
  TenantUpdate update;
  update.tenants = std::move(tenants);
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::UnavailableError("the engine has stopped");
    updates_.push_back(&update);
    wake_ = true;
  }
  update.done.WaitForNotification();
  return update.result;
}

EngineStats EngineImpl::Stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

void EngineImpl::Shutdown(absl::Duration drain) {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = clock_->Now() + drain;
    drain_deadline_ =
        stopping_ ? std::min(drain_deadline_, deadline) : deadline;
    stopping_ = true;
    accepting_ = false;
    wake_ = true;
  }
  // From a sink the loop finishes the job by itself.
  if (std::this_thread::get_id() == thread_id_) return;
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

void EngineImpl::Loop() {
  bool progressed = true;
  while (true) {
    bool stopping;
    absl::Time drain_deadline;
    {
      absl::MutexLock lock(&mu_);
      if (!progressed && !wake_) {
        if (scheduler_->idle() && !stopping_) {
          mu_.Await(absl::Condition(this, &EngineImpl::HasWork));
        } else {
          // Requests exist but none could run: look again at the next
          // deadline or token-rate refill, or soon (memory or caps may
          // free up).
          absl::Duration wait = kPollInterval;
          if (!scheduler_->idle()) {
            wait = std::min(
                wait, std::max(absl::ZeroDuration(),
                               scheduler_->NextWakeTime() - clock_->Now()));
          }
          mu_.AwaitWithTimeout(absl::Condition(this, &EngineImpl::HasWork),
                               wait);
        }
      }
      wake_ = false;
      local_submits_.swap(submits_);
      local_cancels_.swap(cancels_);
      local_updates_.swap(updates_);
      stopping = stopping_;
      drain_deadline = drain_deadline_;
    }
    ApplyInbox();
    if (stopping) {
      if (scheduler_->idle() && requests_.empty()) break;
      if (clock_->Now() >= drain_deadline) {
        FinishAll(FinishReason::kDrainTimeout);
        break;
      }
    }
    progressed = RunStep();
  }
  std::vector<TenantUpdate*> pending;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    pending.swap(updates_);
  }
  for (TenantUpdate* u : pending) {
    u->result = absl::UnavailableError("the engine has stopped");
    u->done.Notify();
  }
  PublishStats(nullptr, 0);
}

void EngineImpl::ApplyInbox() {
  const bool any = !local_submits_.empty() || !local_cancels_.empty() ||
                   !local_updates_.empty();
  for (std::unique_ptr<EngineRequest>& r : local_submits_) {
    EngineRequest* raw = r.get();
    const absl::Status s = scheduler_->Add(raw);
    if (!s.ok()) {
      // Its tenant was removed after Submit accepted it.
      admission_->Dequeued(raw->tenant);
      output_->Finish(*raw, FinishReason::kTenantRemoved, absl::OkStatus(),
                      clock_->Now(), usage_.get());
      continue;
    }
    requests_.emplace(raw->id, std::move(r));
  }
  local_submits_.clear();
  // (The clock only when there is a cancel: this runs every step.)
  const absl::Time now =
      local_cancels_.empty() ? absl::InfinitePast() : clock_->Now();
  for (RequestId id : local_cancels_) {
    auto it = requests_.find(id);
    if (it != requests_.end()) {
      // A cancel at or after the request's own deadline (gRPC cancels a
      // call whose deadline passed) is that deadline: the same event ends
      // `deadline` whether the cancel or the step's expiry comes first.
      EngineRequest* r = it->second.get();
      FinishRequest(r,
                    r->deadline <= now ? FinishReason::kDeadline
                                       : FinishReason::kCancelled,
                    absl::OkStatus());
    }
  }
  local_cancels_.clear();
  for (TenantUpdate* u : local_updates_) {
    cancelled_.clear();
    u->result = scheduler_->SetTenants(std::move(u->tenants), &cancelled_);
    if (u->result.ok()) SyncUsageTenants();
    for (const sched::FinishedSeq& f : cancelled_) {
      FinishRequest(static_cast<EngineRequest*>(f.seq), f.reason, f.error);
    }
  }
  if (any) PublishStats(nullptr, 0);
  // After the snapshot: a caller's Stats() right after UpdateTenants sees
  // the new tenants.
  for (TenantUpdate* u : local_updates_) u->done.Notify();
  local_updates_.clear();
}

void EngineImpl::FinishRequest(EngineRequest* r, FinishReason reason,
                               const absl::Status& error) {
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("request {} ('{}', tenant '{}') finished: {}, {} tokens{}",
                  r->id, r->request_id, r->tenant,
                  std::string(FinishReasonName(reason)), r->num_generated(),
                  error.ok() ? "" : absl::StrCat(", ", error.ToString()));
  }
  output_->Finish(*r, reason, error, clock_->Now(), usage_.get());
  scheduler_->Finish(r);
  requests_.erase(r->id);
}

void EngineImpl::FinishAll(FinishReason reason) {
  std::vector<EngineRequest*> all;
  all.reserve(requests_.size());
  for (auto& [id, r] : requests_) all.push_back(r.get());
  for (EngineRequest* r : all) FinishRequest(r, reason, absl::OkStatus());
}

bool EngineImpl::RunStep() {
  const auto t0 = std::chrono::steady_clock::now();
  const sched::StepPlan& plan = scheduler_->Schedule();
  // The blocks this step runs with (allocated, or freed by preemption and
  // deadlines) are held from now: a KV accounting point.
  AccrueUsage();
  const bool changed = !plan.finished.empty() || !plan.preempted.empty();
  for (const sched::FinishedSeq& f : plan.finished) {
    FinishRequest(static_cast<EngineRequest*>(f.seq), f.reason, f.error);
  }
  if (plan.scheduled.empty()) {
    if (changed) PublishStats(&plan, 0);
    return changed;
  }
  steps_.clear();
  for (const sched::ScheduledSeq& e : plan.scheduled) {
    SequenceStep s;
    s.tokens = absl::MakeConstSpan(e.seq->tokens)
                   .subspan(static_cast<size_t>(e.start_pos),
                            static_cast<size_t>(e.num_tokens));
    s.start_pos = e.start_pos;
    s.block_table = e.seq->kv.block_table();
    s.compute_logits = e.compute_logits;
    steps_.push_back(s);
  }
  const absl::Status st = runner_->Step(steps_, kv_->arena());
  if (!st.ok()) {
    // Nothing was recorded in the KV cache; these requests cannot go on.
    spdlog::error("engine: model step over {} sequences failed: {}",
                  plan.scheduled.size(), st.ToString());
    for (const sched::ScheduledSeq& e : plan.scheduled) {
      FinishRequest(static_cast<EngineRequest*>(e.seq), FinishReason::kError,
                    st);
    }
    PublishStats(&plan, 0);
    return true;
  }
  const size_t finished_before = plan.finished.size();
  scheduler_->Commit();
  const absl::Time now = clock_->Now();
  int logits_index = 0;
  for (const sched::ScheduledSeq& e : plan.scheduled) {
    if (!e.compute_logits) continue;
    const int i = logits_index++;
    auto* r = static_cast<EngineRequest*>(e.seq);
    if (r->status == sched::SeqStatus::kFinished) continue;  // Commit failed
    const std::optional<FinishReason> done =
        output_->OnLogits(*r, runner_->logits(i), now);
    if (done.has_value()) FinishRequest(r, *done, absl::OkStatus());
  }
  for (size_t k = finished_before; k < plan.finished.size(); ++k) {
    const sched::FinishedSeq& f = plan.finished[k];
    FinishRequest(static_cast<EngineRequest*>(f.seq), f.reason, f.error);
  }
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - t0)
                         .count();
  PublishStats(&plan, ns);
  return true;
}

void EngineImpl::SyncUsageTenants() {
  std::vector<std::string> names;
  for (int32_t i = 0; i < scheduler_->num_tenants(); ++i) {
    const sched::TenantSched& t = scheduler_->tenant(i);
    if (t.configured) names.push_back(t.name);
  }
  usage_->SetTenants(names);
  // Removed tenants keep their slot (they were configured before).
  usage_slots_.resize(static_cast<size_t>(scheduler_->num_tenants()));
  for (int32_t i = 0; i < scheduler_->num_tenants(); ++i) {
    usage_slots_[static_cast<size_t>(i)] =
        usage_->Slot(scheduler_->tenant(i).name);
  }
  kv_held_.reserve(usage_slots_.size());
}

void EngineImpl::AccrueUsage() {
  kv_held_.clear();
  for (int32_t i = 0; i < scheduler_->num_tenants(); ++i) {
    const int64_t bytes =
        kv_->GetTenant(scheduler_->tenant(i).kv_id).used_bytes;
    if (bytes > 0) {
      kv_held_.push_back({usage_slots_[static_cast<size_t>(i)], bytes});
    }
  }
  usage_->AccrueKv(kv_held_);
}

void EngineImpl::PublishStats(const sched::StepPlan* plan, int64_t step_ns) {
  // Every other change of the blocks tenants hold (a step's end, a finish,
  // a cancel, a tenant update) ends in PublishStats: an accounting point.
  AccrueUsage();
  const kvcache::KvCacheStats kv = kv_->Stats();
  absl::MutexLock lock(&stats_mu_);
  EngineStats& s = stats_;
  s.kv = kv;
  s.running = scheduler_->num_running();
  s.queued = admission_->queued_total();
  s.preemptions = scheduler_->total_preemptions();
  if (plan != nullptr && !plan->scheduled.empty()) {
    ++s.steps;
    const int64_t decode = plan->num_decode_tokens;
    s.prefill_tokens += plan->num_tokens - decode;
    s.decode_tokens += decode;
    const StepTimings t = runner_->last_timings();
    if (decode == plan->num_tokens) {
      s.decode_step_ns += step_ns;
      ++s.decode_steps;
      s.decode_step_tokens += decode;
      s.decode_timings += t;
    } else {
      s.prefill_step_ns += step_ns;
    }
    s.step_timings += t;
  }
  // Configured tenants, and removed ones that still run or hold blocks.
  // (Every step: by id and numbers only, no name copied.)
  size_t n = 0;
  for (int32_t i = 0; i < scheduler_->num_tenants(); ++i) {
    const sched::TenantSched& info = scheduler_->tenant(i);
    const kvcache::TenantKvStats kvs = kv_->GetTenant(info.kv_id);
    if (!info.configured && info.stats.running == 0 && kvs.used_blocks == 0) {
      continue;
    }
    if (s.tenants.size() <= n) s.tenants.emplace_back();
    TenantStats& t = s.tenants[n++];
    if (t.name != info.name) t.name = info.name;
    t.kv = kvs;
    t.sched = info.stats;
    t.queued = admission_->queued(info.name);
  }
  s.tenants.resize(n);
}

}  // namespace kvasir::engine
