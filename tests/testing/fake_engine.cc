#include "tests/testing/fake_engine.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kvasir::testing {

absl::StatusOr<std::unique_ptr<FakeEngine>> FakeEngine::Create(
    const Options& options, std::vector<engine::TenantConfig> tenants) {
  if (options.context_length < 2 || options.block_size < 1 ||
      options.capacity_blocks < 1 || options.max_running < 1 ||
      options.max_queued < 1 || options.tokens_per_step < 1) {
    return absl::InvalidArgumentError("FakeEngine: bad options");
  }
  std::unique_ptr<FakeEngine> e(new FakeEngine(options, options.clock));
  absl::Status s = e->ValidateTenants(tenants);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&e->mu_);
    for (engine::TenantConfig& t : tenants) {
      std::string name = t.name;
      e->tenants_[name].config = std::move(t);
    }
    e->paused_ = options.start_paused;
  }
  FakeEngine* raw = e.get();
  e->thread_ = std::thread([raw] { raw->Loop(); });
  return e;
}

FakeEngine::FakeEngine(const Options& options, Clock* clock)
    : options_(options), clock_(clock != nullptr ? clock : &system_clock_) {
  model_.architecture = "llama";
  model_.name = "fake:ascii";
  model_.dim = 32;
  model_.hidden_dim = 64;
  model_.n_layers = 2;
  model_.n_heads = 4;
  model_.n_kv_heads = 2;
  model_.head_dim = 8;
  model_.vocab_size = AsciiTokenizer::kVocabSize;
  model_.context_length = options.context_length;
  layout_.n_layers = model_.n_layers;
  layout_.n_kv_heads = model_.n_kv_heads;
  layout_.head_dim = model_.head_dim;
  layout_.block_size = options.block_size;
  layout_.dtype = kvcache::KvDtype::kF32;
}

FakeEngine::~FakeEngine() { Shutdown(absl::ZeroDuration()); }

int64_t FakeEngine::BlocksFor(const engine::Request& r) const {
  const int64_t tokens =
      static_cast<int64_t>(r.prompt.size()) + r.stopping.max_new_tokens;
  return (tokens + options_.block_size - 1) / options_.block_size;
}

int64_t FakeEngine::LimitBlocks(const engine::TenantConfig& t) const {
  return t.limit_bytes / layout_.BlockBytes();
}

absl::Status FakeEngine::ValidateTenants(
    const std::vector<engine::TenantConfig>& tenants) const {
  const int64_t capacity = options_.capacity_blocks * layout_.BlockBytes();
  int64_t reserved = 0;
  std::set<std::string> names;
  for (const engine::TenantConfig& t : tenants) {
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate tenant '", t.name, "'"));
    }
    if (t.reserved_bytes > t.limit_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("tenant '", t.name, "': reserved ", t.reserved_bytes,
                       " exceeds limit ", t.limit_bytes));
    }
    reserved += t.reserved_bytes;
  }
  if (reserved > capacity) {
    return absl::InvalidArgumentError(absl::StrCat(
        "reserved bytes ", reserved, " exceed the capacity ", capacity));
  }
  return absl::OkStatus();
}

absl::StatusOr<engine::RequestId> FakeEngine::Submit(
    engine::Request request, std::shared_ptr<engine::RequestSink> sink) {
  absl::MutexLock lock(&mu_);
  submitted_.push_back(request);
  if (!accepting_) return absl::UnavailableError("engine is shutting down");
  auto t = tenants_.find(request.tenant);
  if (t == tenants_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no tenant named '", request.tenant, "'"));
  }
  if (request.prompt.empty()) {
    return absl::InvalidArgumentError("prompt is empty");
  }
  if (request.stopping.max_new_tokens < 1 ||
      static_cast<int64_t>(request.prompt.size()) +
              request.stopping.max_new_tokens >
          model_.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt + max_new_tokens exceeds the context length ",
                     model_.context_length));
  }
  absl::Status sampling = request.sampling.Validate();
  if (!sampling.ok()) return sampling;
  const engine::TenantConfig& tenant = t->second.config;
  const int64_t need = BlocksFor(request);
  if (need > LimitBlocks(tenant)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "request too large for tenant '", tenant.name, "': it needs ", need,
        " KV blocks but the tenant's limit is ", LimitBlocks(tenant),
        " blocks"));
  }
  int queued_tenant = 0;
  int queued_all = 0;
  for (const auto& [id, a] : active_) {
    if (a.running) continue;
    ++queued_all;
    if (a.request.tenant == request.tenant) ++queued_tenant;
  }
  if (tenant.max_queued > 0 && queued_tenant >= tenant.max_queued) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tenant '", tenant.name, "' queue is full (max_queued ",
                     tenant.max_queued, ")"));
  }
  if (queued_all >= options_.max_queued) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "server queue is full (max_queued ", options_.max_queued, ")"));
  }
  const engine::RequestId id = next_id_++;
  Active& a = active_[id];
  a.request = std::move(request);
  a.sink = std::move(sink);
  a.last_token = a.request.prompt.back();
  a.submitted = clock_->Now();
  return id;
}

void FakeEngine::Cancel(engine::RequestId id) {
  absl::MutexLock lock(&mu_);
  cancel_calls_.push_back(id);
  auto it = active_.find(id);
  if (it != active_.end()) it->second.cancel = true;
}

absl::Status FakeEngine::UpdateTenants(
    std::vector<engine::TenantConfig> tenants) {
  absl::MutexLock lock(&mu_);
  if (fail_next_update_.has_value()) {
    absl::Status s = *fail_next_update_;
    fail_next_update_.reset();
    return s;
  }
  absl::Status s = ValidateTenants(tenants);
  if (!s.ok()) return s;
  tenant_updates_.push_back(tenants);
  std::map<std::string, TenantState> next;
  for (engine::TenantConfig& t : tenants) {
    auto old = tenants_.find(t.name);
    TenantState state = old != tenants_.end() ? old->second : TenantState();
    state.config = t;
    next[t.name] = std::move(state);
  }
  tenants_ = std::move(next);
  for (auto& [id, a] : active_) {
    if (!a.running && tenants_.count(a.request.tenant) == 0) a.cancel = true;
  }
  return absl::OkStatus();
}

engine::EngineStats FakeEngine::Stats() const {
  absl::MutexLock lock(&mu_);
  engine::EngineStats s;
  s.total_blocks = options_.capacity_blocks;
  s.block_size = options_.block_size;
  s.block_bytes = layout_.BlockBytes();
  s.kv_bytes_per_token = layout_.BytesPerToken();
  s.steps = steps_;
  int64_t used = 0;
  for (const auto& [name, t] : tenants_) {
    engine::TenantStats ts;
    ts.name = name;
    ts.kv.reserved_blocks = t.config.reserved_bytes / layout_.BlockBytes();
    ts.kv.limit_blocks = LimitBlocks(t.config);
    ts.sched.prompt_tokens_served = t.prompt_tokens;
    ts.sched.generated_tokens = t.generated_tokens;
    for (const auto& [id, a] : active_) {
      if (a.request.tenant != name) continue;
      if (a.running) {
        ++ts.sched.running;
        ts.kv.used_blocks += a.blocks;
      } else {
        ++ts.queued;
      }
    }
    ts.kv.used_bytes = ts.kv.used_blocks * layout_.BlockBytes();
    ts.kv.reserved_bytes = t.config.reserved_bytes;
    ts.kv.limit_bytes = t.config.limit_bytes;
    used += ts.kv.used_blocks;
    s.running += ts.sched.running;
    s.queued += ts.queued;
    s.tenants.push_back(std::move(ts));
  }
  s.free_blocks = options_.capacity_blocks - used;
  return s;
}

void FakeEngine::Shutdown(absl::Duration drain) {
  absl::MutexLock serial(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    ++shutdown_calls_;
    if (stop_) return;
    accepting_ = false;
    auto idle = [this]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return active_.empty(); };
    mu_.AwaitWithTimeout(absl::Condition(&idle), drain);
    cancel_all_ = true;
    mu_.Await(absl::Condition(&idle));
    stop_ = true;
  }
  // The engine thread delivers its last events before it exits.
  if (thread_.joinable()) thread_.join();
}

void FakeEngine::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void FakeEngine::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

void FakeEngine::FailNextUpdateTenants(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_next_update_ = std::move(status);
}

std::vector<engine::Request> FakeEngine::submitted() const {
  absl::MutexLock lock(&mu_);
  return submitted_;
}

std::vector<engine::RequestId> FakeEngine::cancel_calls() const {
  absl::MutexLock lock(&mu_);
  return cancel_calls_;
}

std::vector<std::vector<engine::TenantConfig>> FakeEngine::tenant_updates()
    const {
  absl::MutexLock lock(&mu_);
  return tenant_updates_;
}

std::vector<engine::TenantConfig> FakeEngine::tenants() const {
  absl::MutexLock lock(&mu_);
  std::vector<engine::TenantConfig> out;
  for (const auto& [name, t] : tenants_) out.push_back(t.config);
  return out;
}

std::vector<std::pair<engine::RequestId, engine::FinishInfo>>
FakeEngine::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

int FakeEngine::shutdown_calls() const {
  absl::MutexLock lock(&mu_);
  return shutdown_calls_;
}

int FakeEngine::active_requests() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

bool FakeEngine::WaitUntil(const std::function<bool()>& condition,
                           absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

void FakeEngine::Loop() {
  while (true) {
    std::vector<Event> events;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.step_interval);
      if (stop_) break;
      StepLocked(&events);
    }
    // Sinks run without the engine lock held, as the real engine does.
    for (Event& e : events) {
      if (!e.tokens.empty() || !e.text.empty()) {
        e.sink->OnTokens(e.tokens, e.text);
      }
      if (e.finish.has_value()) e.sink->OnFinish(*e.finish);
    }
  }
}

void FakeEngine::StepLocked(std::vector<Event>* events) {
  ++steps_;
  const absl::Time now = clock_->Now();
  for (auto it = active_.begin(); it != active_.end();) {
    Active& a = it->second;
    std::optional<engine::FinishReason> reason;
    if (a.cancel || cancel_all_) {
      reason = engine::FinishReason::kCancelled;
    } else if (now >= a.request.deadline) {
      reason = engine::FinishReason::kDeadline;
    }
    if (!reason.has_value()) {
      ++it;
      continue;
    }
    Event e;
    FinishLocked(it->first, a, *reason, now, &e);
    events->push_back(std::move(e));
    it = active_.erase(it);
  }
  if (paused_) return;
  StartRequestsLocked(now);
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second.running &&
        GenerateLocked(it->first, it->second, now, events)) {
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

void FakeEngine::StartRequestsLocked(absl::Time now) {
  int running = 0;
  int64_t used = 0;
  std::map<std::string, int> tenant_running;
  std::map<std::string, int64_t> tenant_used;
  std::vector<std::pair<int32_t, engine::RequestId>> waiting;
  for (const auto& [id, a] : active_) {
    if (a.running) {
      ++running;
      used += a.blocks;
      ++tenant_running[a.request.tenant];
      tenant_used[a.request.tenant] += a.blocks;
    } else {
      waiting.push_back({-a.request.priority, id});
    }
  }
  std::sort(waiting.begin(), waiting.end());  // priority, then FIFO
  for (const auto& [neg_priority, id] : waiting) {
    if (running >= options_.max_running) break;
    Active& a = active_[id];
    const engine::TenantConfig& t = tenants_[a.request.tenant].config;
    const int64_t need = BlocksFor(a.request);
    if (t.max_concurrent > 0 && tenant_running[t.name] >= t.max_concurrent) {
      continue;
    }
    if (tenant_used[t.name] + need > LimitBlocks(t) ||
        used + need > options_.capacity_blocks) {
      continue;
    }
    a.running = true;
    a.blocks = need;
    a.scheduled = now;
    ++running;
    used += need;
    ++tenant_running[t.name];
    tenant_used[t.name] += need;
    tenants_[t.name].prompt_tokens +=
        static_cast<int64_t>(a.request.prompt.size());
  }
}

bool FakeEngine::GenerateLocked(engine::RequestId id, Active& a, absl::Time now,
                                std::vector<Event>* events) {
  Event e;
  e.sink = a.sink;
  std::optional<engine::FinishReason> reason;
  size_t emit_to = a.emitted;
  for (int k = 0; k < options_.tokens_per_step && !reason.has_value(); ++k) {
    const int32_t token = (a.last_token + 1) % model_.vocab_size;
    a.last_token = token;
    ++a.generated;
    ++tenants_[a.request.tenant].generated_tokens;
    if (!a.first_token.has_value()) a.first_token = now;
    engine::GeneratedToken g;
    g.token = token;
    if (a.request.top_logprobs >= 0) {
      g.logprob = -0.25f;
      for (int i = 0; i < a.request.top_logprobs; ++i) {
        g.top.push_back({(token + 1 + i) % model_.vocab_size, -1.0f - i});
      }
    }
    e.tokens.push_back(std::move(g));
    if (tokenizer_.IsEndOfGeneration(token) && !a.request.stopping.ignore_eos) {
      reason = engine::FinishReason::kEos;
      emit_to = a.text.size();
      break;
    }
    absl::string_view bytes = tokenizer_.TokenBytes(token);
    a.text.append(bytes.data(), bytes.size());
    // The earliest stop sequence in the text ends the request.
    size_t stop_at = std::string::npos;
    size_t stop_end = 0;
    for (const std::string& s : a.request.stopping.stop) {
      const size_t p = a.text.find(s);
      if (p != std::string::npos && p < stop_at) {
        stop_at = p;
        stop_end = a.request.stopping.include_stop ? p + s.size() : p;
      }
    }
    if (stop_at != std::string::npos) {
      reason = engine::FinishReason::kStop;
      a.text.resize(stop_end);
      emit_to = stop_end;
      break;
    }
    if (a.generated >= a.request.stopping.max_new_tokens) {
      reason = engine::FinishReason::kLength;
      emit_to = a.text.size();
      break;
    }
    // Hold back a tail that could still become a stop sequence.
    size_t hold = 0;
    for (const std::string& s : a.request.stopping.stop) {
      if (s.empty()) continue;
      for (size_t n = std::min(s.size() - 1, a.text.size()); n > hold; --n) {
        if (a.text.compare(a.text.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
      }
    }
    emit_to = a.text.size() - hold;
  }
  if (emit_to > a.emitted) {
    e.text = a.text.substr(a.emitted, emit_to - a.emitted);
    a.emitted = emit_to;
  }
  if (reason.has_value()) {
    Event finish;
    FinishLocked(id, a, *reason, now, &finish);
    e.finish = std::move(finish.finish);
  }
  const bool done = e.finish.has_value();
  events->push_back(std::move(e));
  return done;
}

void FakeEngine::FinishLocked(engine::RequestId id, Active& a,
                              engine::FinishReason reason, absl::Time now,
                              Event* event) {
  engine::FinishInfo info;
  info.reason = reason;
  info.prompt_tokens = static_cast<int32_t>(a.request.prompt.size());
  info.generated_tokens = a.generated;
  info.queue_time = a.scheduled.value_or(now) - a.submitted;
  info.time_to_first_token = a.first_token.has_value()
                                 ? *a.first_token - a.submitted
                                 : absl::ZeroDuration();
  info.total_time = now - a.submitted;
  event->sink = a.sink;
  event->finish = info;
  finished_.push_back({id, info});
}

}  // namespace kvasir::testing
