#include "engine/sched/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine::sched {

void StepPlan::Clear() {
  scheduled.clear();
  finished.clear();
  preempted.clear();
  num_tokens = 0;
  num_decode_tokens = 0;
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    const Options& options, kvcache::KvCacheManager* kv,
    AdmissionControl* admission, std::vector<TenantConfig> tenants) {
  if (options.max_batch_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_tokens ", options.max_batch_tokens, " must be >= 1"));
  }
  if (options.max_running < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_running ", options.max_running, " must be >= 1"));
  }
  if (options.clock == nullptr || kv == nullptr) {
    return absl::InvalidArgumentError(
        "scheduler: the clock and the KV cache manager are required");
  }
  std::unique_ptr<Scheduler> s(new Scheduler(options, kv, admission));
  std::vector<FinishedSeq> none;
  RETURN_IF_ERROR(s->SetTenants(std::move(tenants), &none));
  return s;
}

Scheduler::Scheduler(const Options& options, kvcache::KvCacheManager* kv,
                     AdmissionControl* admission)
    : options_(options),
      kv_(kv),
      admission_(admission),
      batch_({.max_batch_tokens = options.max_batch_tokens,
              .max_running = options.max_running}),
      capacity_(kv) {
  // Rate-idle sequences stay resident beside a full step's worth.
  const auto resident = static_cast<size_t>(BatchPolicy::kResidentFactor) *
                        static_cast<size_t>(options.max_running);
  running_.reserve(resident);
  order_.reserve(resident);
  plan_.scheduled.reserve(static_cast<size_t>(options.max_running));
}

int32_t Scheduler::FindTenant(absl::string_view name) const {
  for (size_t i = 0; i < tenants_.size(); ++i) {
    if (tenants_[i].info.configured && tenants_[i].info.name == name) {
      return static_cast<int32_t>(i);
    }
  }
  return -1;
}

absl::Status Scheduler::SetTenants(std::vector<TenantConfig> tenants,
                                   std::vector<FinishedSeq>* cancelled) {
  RETURN_IF_ERROR(ValidateTenantConfigs(tenants, kv_->capacity_bytes()));
  RETURN_IF_ERROR(kv_->SetBudgets(ToKvBudgets(tenants)));
  const absl::Time now = options_.clock->Now();
  for (Tenant& t : tenants_) t.info.configured = false;
  std::vector<AdmissionControl::TenantLimits> limits;
  for (const TenantConfig& c : tenants) {
    int32_t idx = -1;
    for (size_t i = 0; i < tenants_.size(); ++i) {
      if (tenants_[i].info.name == c.name) idx = static_cast<int32_t>(i);
    }
    if (idx < 0) {
      idx = fair_.AddTenant(c.weight);
      rate_.AddTenant();
      tenants_.emplace_back();
      tenants_.back().info.name = c.name;
    }
    Tenant& t = tenants_[idx];
    t.info.configured = true;
    t.info.weight = c.weight;
    t.info.max_concurrent = c.max_concurrent;
    fair_.SetWeight(idx, c.weight);
    // Validated above; running requests follow the new rates from now on.
    RETURN_IF_ERROR(rate_.SetLimit(idx, c.rate_limit, now));
    const std::optional<int32_t> kv_id = kv_->FindTenant(c.name);
    if (!kv_id.has_value()) {
      return absl::InternalError(absl::StrCat(
          "tenant '", c.name, "' is missing from the KV cache after update"));
    }
    t.info.kv_id = *kv_id;
    ASSIGN_OR_RETURN(const int64_t max_tokens, kv_->MaxTokens(*kv_id));
    limits.push_back(
        {c.name, c.max_queued, max_tokens, kv_->GetTenant(*kv_id).limit_bytes});
  }
  // Removed tenants: their waiting requests are cancelled now; running ones
  // go on to their end within the tenant's old limit (kvcache keeps it),
  // unless memory runs short and they are preempted (then they end).
  for (Tenant& t : tenants_) {
    if (t.info.configured) continue;
    while (!t.waiting.empty()) {
      Sequence* s = *t.waiting.begin();
      Drop(s);
      cancelled->push_back({s, FinishReason::kTenantRemoved, absl::OkStatus()});
    }
  }
  if (admission_ != nullptr) admission_->SetTenants(std::move(limits));
  return absl::OkStatus();
}

absl::Status Scheduler::Add(Sequence* seq) {
  const int32_t t = FindTenant(seq->tenant);
  if (t < 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown tenant '", seq->tenant, "'"));
  }
  if (seq->prompt_len < 1 || seq->num_tokens() < seq->prompt_len ||
      seq->max_new_tokens < 1 || seq->status != SeqStatus::kWaiting ||
      seq->kv.valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler: malformed sequence ", seq->id, " (prompt_len ",
        seq->prompt_len, ", ", seq->num_tokens(), " tokens, max_new_tokens ",
        seq->max_new_tokens, ", status ", SeqStatusName(seq->status), ")"));
  }
  seq->tenant_index = t;
  seq->arrival = next_arrival_++;
  seq->turn = seq->arrival;
  seq->arrival_time = options_.clock->Now();
  seq->plan_index = -1;
  tenants_[t].waiting.insert(seq);
  ++num_waiting_;
  UpdateActive(t);
  return absl::OkStatus();
}

void Scheduler::UpdateActive(int32_t t) {
  const Tenant& tenant = tenants_[t];
  if (tenant.info.stats.running > 0 || !tenant.waiting.empty()) {
    fair_.Activate(t);
  } else {
    fair_.Deactivate(t);
  }
}

absl::Time Scheduler::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (const Sequence* s : running_) next = std::min(next, s->deadline);
  for (const Tenant& t : tenants_) {
    for (const Sequence* s : t.waiting) next = std::min(next, s->deadline);
  }
  return next;
}

const StepPlan& Scheduler::Schedule() {
  plan_.Clear();
  const absl::Time now = options_.clock->Now();
  batch_.StartStep();
  rate_.StartStep();
  ExpireDeadlines(now);
  ScheduleRunning(now);
  // As vLLM: a step that had to preempt is short of memory; starting more
  // requests now would only thrash.
  if (plan_.preempted.empty()) ScheduleWaiting(now);
  // A waiting request a running stream left its tenant's token to but that
  // did not start (memory, the step's budget, its prompt rate) goes behind
  // that stream: the next token is the stream's, so neither starves the
  // other. The token is still there: the next step comes at once.
  for (Sequence* w : yielded_to_) {
    if (w->status != SeqStatus::kWaiting) continue;
    w->turn = next_arrival_++;
    rate_.WakeBy(now);
  }
  yielded_to_.clear();
  for (const ScheduledSeq& e : plan_.scheduled) e.seq->plan_index = -1;
  return plan_;
}

void Scheduler::ExpireDeadlines(absl::Time now) {
  for (size_t i = 0; i < running_.size();) {
    Sequence* s = running_[i];
    if (s->deadline <= now) {
      FinishInPlan(s, FinishReason::kDeadline, absl::OkStatus());
    } else {
      ++i;
    }
  }
  for (Tenant& t : tenants_) {
    for (auto it = t.waiting.begin(); it != t.waiting.end();) {
      Sequence* s = *it++;
      if (s->deadline <= now) {
        FinishInPlan(s, FinishReason::kDeadline, absl::OkStatus());
      }
    }
  }
}

void Scheduler::ScheduleRunning(absl::Time now) {
  order_.assign(running_.begin(), running_.end());
  // Decodes first, then prompt chunks; fair-share order inside each, so a
  // tight token budget is shared by weight.
  std::sort(order_.begin(), order_.end(),
            [this](const Sequence* a, const Sequence* b) {
              const bool da = a->status == SeqStatus::kDecoding;
              const bool db = b->status == SeqStatus::kDecoding;
              if (da != db) return da;
              const double ca = fair_.counter(a->tenant_index);
              const double cb = fair_.counter(b->tenant_index);
              if (ca != cb) return ca < cb;
              if (a->priority != b->priority) return a->priority > b->priority;
              return a->turn < b->turn;
            });
  rate_idle_ = 0;
  for (Sequence* s : order_) {
    if (batch_.tokens_left() <= 0) break;
    if (batch_.StepFull(static_cast<int32_t>(plan_.scheduled.size()))) break;
    // A victim preempted earlier in this loop is no longer running.
    if (!s->running()) continue;
    const int32_t n = batch_.ChunkFor(s->num_tokens() - s->num_computed());
    if (n <= 0) continue;
    // A step that yields logits generates a token: a tenant over its rate
    // has the sequence sit this step out (it slows down, never fails) and
    // leave its slot to others (ScheduleWaiting).
    const bool logits = s->num_computed() + n == s->num_tokens();
    if (logits && YieldsToWaiting(*s, now)) {
      ++rate_idle_;
      continue;
    }
    if (logits && !rate_.TakeGenerated(s->tenant_index, now)) {
      ++rate_idle_;
      continue;
    }
    if (logits && rate_.limited(s->tenant_index)) s->turn = next_arrival_++;
    if (!AllocateOrPreempt(s, n)) {
      if (logits) rate_.GiveBackGenerated(s->tenant_index);
      continue;
    }
    AddToPlan(s, n);
  }
}

bool Scheduler::YieldsToWaiting(const Sequence& s, absl::Time now) {
  const int32_t t = s.tenant_index;
  const Tenant& tenant = tenants_[t];
  const std::optional<TokenBucket>& bucket = rate_.generated(t);
  if (!bucket.has_value() || tenant.waiting.empty()) return false;
  Sequence* w = *tenant.waiting.begin();
  // (Has(2) would say yes to a full bucket of burst 1: bigger asks wait
  // for a full bucket.)
  if (w->turn > s.turn || !bucket->Has(1, now) || bucket->Level(now) >= 2) {
    return false;
  }
  if (tenant.info.max_concurrent > 0 &&
      tenant.info.stats.running >= tenant.info.max_concurrent) {
    return false;
  }
  if (std::find(yielded_to_.begin(), yielded_to_.end(), w) ==
      yielded_to_.end()) {
    yielded_to_.push_back(w);
  }
  return true;
}

bool Scheduler::AllocateOrPreempt(Sequence* seq, int32_t n) {
  while (true) {
    absl::StatusOr<kvcache::AllocationResult> r = kv_->Allocate(seq->kv, n);
    if (!r.ok()) {
      FinishInPlan(seq, FinishReason::kError, r.status());
      return false;
    }
    if (r->ok()) return true;
    Sequence* victim = capacity_.PickVictim(*seq, r->status, running_);
    Preempt(victim);
    if (victim == seq) return false;
  }
}

int32_t Scheduler::PickWaitingTenant() const {
  int32_t best = -1;
  for (size_t i = 0; i < tenants_.size(); ++i) {
    const Tenant& t = tenants_[i];
    if (t.waiting.empty() || blocked_[i] != 0) continue;
    if (t.info.max_concurrent > 0 &&
        t.info.stats.running >= t.info.max_concurrent) {
      continue;
    }
    if (best < 0) {
      best = static_cast<int32_t>(i);
      continue;
    }
    const double c = fair_.counter(static_cast<int32_t>(i));
    const double cb = fair_.counter(best);
    if (c < cb || (c == cb && (*t.waiting.begin())->arrival <
                                  (*tenants_[best].waiting.begin())->arrival)) {
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

void Scheduler::ScheduleWaiting(absl::Time now) {
  blocked_.assign(tenants_.size(), 0);
  // A sequence preempted this step may have been rate-idle, so rate_idle_
  // can overcount; no start follows a preempting step (Schedule).
  while (batch_.tokens_left() > 0 &&
         batch_.CanStart(num_running(), rate_idle_)) {
    const int32_t t = PickWaitingTenant();
    if (t < 0) break;
    if (!TryStart(t, now)) blocked_[t] = 1;
  }
}

bool Scheduler::TryStart(int32_t t, absl::Time now) {
  Tenant& tenant = tenants_[t];
  Sequence* s = *tenant.waiting.begin();
  if (FinishIfItCannotStart(tenant, s, now)) return true;
  // Over its rate the tenant waits like a tenant short of memory (its
  // deadline still applies). The prompt is charged once, at the first
  // start: a preempted request's recompute is the server's doing.
  const int32_t prompt_charge = s->started ? 0 : s->prompt_len;
  if (!rate_.MayStart(t, prompt_charge, now)) return false;
  absl::StatusOr<kvcache::KvSequence> kvseq =
      kv_->NewSequence(tenant.info.kv_id);
  if (!kvseq.ok()) {
    FinishInPlan(s, FinishReason::kTenantRemoved, absl::OkStatus());
    return true;
  }
  int32_t n = 0;
  switch (AllocateFirstChunk(s, *kvseq, &n)) {
    case FirstChunk::kAllocated:
      break;
    case FirstChunk::kWait:
      return false;
    case FirstChunk::kFailed:
      return true;
  }
  StartRunning(tenant, s, *std::move(kvseq), n, now);
  rate_.TakePrompt(t, prompt_charge, now);
  // MayStart saw a generated token there, so this take succeeds; the
  // tenant's next token goes to its other streams first.
  if (plan_.scheduled.back().compute_logits) {
    rate_.TakeGenerated(t, now);
    if (rate_.limited(t)) s->turn = next_arrival_++;
  }
  return true;
}

bool Scheduler::FinishIfItCannotStart(const Tenant& tenant, Sequence* s,
                                      absl::Time now) {
  if (s->deadline <= now) {
    // Already expired at the head of the queue: never starts prefill.
    FinishInPlan(s, FinishReason::kDeadline, absl::OkStatus());
    return true;
  }
  const absl::StatusOr<int64_t> max_tokens = kv_->MaxTokens(tenant.info.kv_id);
  if (!max_tokens.ok()) {
    FinishInPlan(s, FinishReason::kTenantRemoved, absl::OkStatus());
    return true;
  }
  if (s->max_kv_tokens() > *max_tokens) {
    // Possible after a budget change: it could never run now.
    FinishInPlan(s, FinishReason::kError,
                 absl::ResourceExhaustedError(
                     absl::StrCat("the request needs ", s->max_kv_tokens(),
                                  " tokens of KV cache but tenant '",
                                  tenant.info.name, "' can now hold at most ",
                                  *max_tokens, " tokens in one sequence")));
    return true;
  }
  return false;
}

Scheduler::FirstChunk Scheduler::AllocateFirstChunk(Sequence* s,
                                                    kvcache::KvSequence& kvseq,
                                                    int32_t* n) {
  while (true) {
    // (Looked up again after a preemption: the match must be fresh, and a
    // victim taken out of the plan gives its tokens back.)
    const absl::Status found = kv_->FindCachedPrefix(kvseq, s->tokens, &match_);
    if (!found.ok()) {
      FinishInPlan(s, FinishReason::kError, found);
      return FirstChunk::kFailed;
    }
    *n = batch_.ChunkFor(s->num_tokens() - match_.num_tokens);
    absl::StatusOr<kvcache::AllocationResult> r =
        kv_->Allocate(kvseq, *n, match_);
    if (!r.ok()) {
      FinishInPlan(s, FinishReason::kError, r.status());
      return FirstChunk::kFailed;
    }
    if (r->ok()) return FirstChunk::kAllocated;
    // Does not fit: it waits, and so do its tenant's later requests, this
    // step. Over its own limit nothing else helps. Short of pool blocks, a
    // tenant above its (shrunk) limit gives its blocks up first; otherwise
    // a waiting request never preempts a running one.
    if (r->status == kvcache::AllocStatus::kTenantLimit)
      return FirstChunk::kWait;
    Sequence* victim =
        capacity_.PickOverLimitVictim(kvseq.tenant_id(), running_);
    if (victim == nullptr) return FirstChunk::kWait;
    Preempt(victim);
  }
}

void Scheduler::StartRunning(Tenant& tenant, Sequence* s,
                             kvcache::KvSequence kvseq, int32_t n,
                             absl::Time now) {
  tenant.waiting.erase(tenant.waiting.begin());
  --num_waiting_;
  if (admission_ != nullptr) admission_->Dequeued(tenant.info.name);
  s->kv = std::move(kvseq);
  s->status = SeqStatus::kPrefilling;
  running_.push_back(s);
  ++tenant.info.stats.running;
  if (!s->started) {
    s->started = true;
    s->first_scheduled_time = now;
    s->cached_prompt_tokens = std::min(match_.num_tokens, s->prompt_len);
    tenant.info.stats.cached_prompt_tokens += s->cached_prompt_tokens;
  }
  AddToPlan(s, n);
}

void Scheduler::AddToPlan(Sequence* seq, int32_t n) {
  const int32_t start = seq->num_computed();
  ScheduledSeq e;
  e.seq = seq;
  e.start_pos = start;
  e.num_tokens = n;
  e.compute_logits = start + n == seq->num_tokens();
  seq->plan_index = static_cast<int32_t>(plan_.scheduled.size());
  plan_.scheduled.push_back(e);
  batch_.Take(n);
  fair_.Charge(seq->tenant_index, n);
  plan_.num_tokens += n;
  if (seq->status == SeqStatus::kDecoding) plan_.num_decode_tokens += n;
}

void Scheduler::RemoveFromPlan(Sequence* seq) {
  const int32_t idx = seq->plan_index;
  if (idx < 0) return;
  const ScheduledSeq e = plan_.scheduled[idx];
  batch_.GiveBack(e.num_tokens);
  fair_.Refund(seq->tenant_index, e.num_tokens);
  if (e.compute_logits) rate_.GiveBackGenerated(seq->tenant_index);
  plan_.num_tokens -= e.num_tokens;
  if (seq->status == SeqStatus::kDecoding) {
    plan_.num_decode_tokens -= e.num_tokens;
  }
  plan_.scheduled.erase(plan_.scheduled.begin() + idx);
  for (size_t i = static_cast<size_t>(idx); i < plan_.scheduled.size(); ++i) {
    plan_.scheduled[i].seq->plan_index = static_cast<int32_t>(i);
  }
  seq->plan_index = -1;
}

void Scheduler::RemoveRunning(Sequence* seq) {
  auto it = std::find(running_.begin(), running_.end(), seq);
  if (it != running_.end()) running_.erase(it);
  --tenants_[seq->tenant_index].info.stats.running;
}

void Scheduler::Preempt(Sequence* seq) {
  RemoveFromPlan(seq);
  RemoveRunning(seq);
  seq->kv.Free();
  Tenant& tenant = tenants_[seq->tenant_index];
  if (!tenant.info.configured) {
    // Its tenant was removed: it cannot start again, so it ends here (a
    // removal, not a preemption it would come back from).
    seq->status = SeqStatus::kFinished;
    plan_.finished.push_back(
        {seq, FinishReason::kTenantRemoved, absl::OkStatus()});
    UpdateActive(seq->tenant_index);
    return;
  }
  seq->status = SeqStatus::kWaiting;
  ++seq->preemptions;
  ++total_preemptions_;
  ++tenant.info.stats.preemptions;
  plan_.preempted.push_back(seq);
  // Back in line with its original arrival: ahead of later requests.
  tenant.waiting.insert(seq);
  ++num_waiting_;
  if (admission_ != nullptr) admission_->Requeued(tenant.info.name);
}

void Scheduler::Drop(Sequence* seq) {
  if (seq->status == SeqStatus::kFinished) return;
  const int32_t t = seq->tenant_index;
  Tenant& tenant = tenants_[t];
  if (seq->running()) {
    RemoveFromPlan(seq);
    RemoveRunning(seq);
  } else if (tenant.waiting.erase(seq) > 0) {
    --num_waiting_;
    if (admission_ != nullptr) admission_->Dequeued(tenant.info.name);
  }
  seq->kv.Free();
  seq->status = SeqStatus::kFinished;
  UpdateActive(t);
}

void Scheduler::FinishInPlan(Sequence* seq, FinishReason reason,
                             absl::Status error) {
  Drop(seq);
  plan_.finished.push_back({seq, reason, std::move(error)});
}

void Scheduler::Finish(Sequence* seq) {
  // Outside Schedule() plan indices are reset, so the plan stays intact
  // for the caller iterating it.
  Drop(seq);
}

void Scheduler::Commit() {
  for (const ScheduledSeq& e : plan_.scheduled) {
    Sequence* s = e.seq;
    if (!s->running()) continue;
    const bool prefill = s->status == SeqStatus::kPrefilling;
    const absl::Status st =
        kv_->AppendTokens(s->kv, absl::MakeConstSpan(s->tokens).subspan(
                                     static_cast<size_t>(e.start_pos),
                                     static_cast<size_t>(e.num_tokens)));
    if (!st.ok()) {
      FinishInPlan(
          s, FinishReason::kError,
          absl::InternalError(absl::StrCat(
              "recording the step in the KV cache failed: ", st.message())));
      continue;
    }
    TenantSchedStats& stats = tenants_[s->tenant_index].info.stats;
    stats.served_tokens += e.num_tokens;
    if (prefill) stats.prompt_tokens_served += e.num_tokens;
    if (e.compute_logits) ++stats.generated_tokens;
    if (s->num_computed() == s->num_tokens()) {
      s->status = SeqStatus::kDecoding;
    }
  }
}

}  // namespace kvasir::engine::sched
