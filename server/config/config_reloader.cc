#include "server/config/config_reloader.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/config/config_diff.h"
#include "server/config/config_engine.h"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {

ConfigReloader::ConfigReloader(ServerConfig running, ConfigOverrides overrides,
                               Hooks hooks)
    : overrides_(std::move(overrides)),
      hooks_(std::move(hooks)),
      current_(std::move(running)) {
  thread_ = std::thread([this] { Loop(); });
}

ConfigReloader::~ConfigReloader() { Stop(); }

ServerConfig ConfigReloader::current() const {
  absl::MutexLock lock(&config_mu_);
  return current_;
}

absl::StatusOr<ReloadOutcome> ConfigReloader::ReloadNow(
    absl::string_view trigger) {
  absl::MutexLock lock(&reload_mu_);
  absl::StatusOr<ReloadOutcome> outcome = ReloadLocked(trigger);
  if (hooks_.metrics != nullptr) hooks_.metrics->RecordReload(outcome.ok());
  if (!outcome.ok()) {
    // The message is bounded (it goes back to an Admin client too); the
    // listing it left out goes to the log only.
    LogDetail(outcome.status(),
              absl::StrCat("config reload (", trigger, ") rejected"));
    spdlog::error("config reload ({}) rejected; the current config stays: {}",
                  trigger, outcome.status().message());
  }
  return outcome;
}

absl::StatusOr<ReloadOutcome> ConfigReloader::ReloadLocked(
    absl::string_view trigger) {
  const ServerConfig running = current();
  if (running.source.empty()) {
    return absl::FailedPreconditionError(
        "the server was not started from a config file; nothing to reload");
  }
  ASSIGN_OR_RETURN(ServerConfig loaded, LoadConfigFile(running.source));
  RETURN_IF_ERROR(overrides_.ApplyTo(&loaded));
  const ConfigChanges changes = DiffConfigs(running, loaded);
  ServerConfig merged = MergeLiveChanges(running, loaded);
  absl::Status valid = ValidateConfig(merged);
  if (!valid.ok()) {
    return WithMessage(
        valid, absl::StrCat(valid.message(),
                            " (checked against the running server's settings; "
                            "changes that need a restart are not applied)"));
  }
  std::shared_ptr<const AuthTable> auth;
  if (changes.auth_changed) {
    ASSIGN_OR_RETURN(auth, AuthTable::Create(merged));
  }
  if (changes.tenants_changed) {
    // Marked deferred *before* the engine is asked. A server that attaches
    // its engine meanwhile (SetEngine, then RetryDeferred) either attached
    // it before update_tenants looked (and the update goes through) or
    // finds the mark and queues this reload again. Marking after a refusal
    // would lose the reload when RetryDeferred runs in between.
    deferred_.store(true);
    absl::Status s = hooks_.update_tenants(ToTenantConfigs(merged));
    // A reload that reached the engine (applied or refused on its merits)
    // has seen the newest file: nothing is left to retry.
    if (s.code() != absl::StatusCode::kUnavailable) deferred_.store(false);
    if (!s.ok()) {
      // The block rules (a limit under one KV block, floors rounding up
      // past the capacity) are checked by the engine, which knows the
      // block size: pointed at the file's line like the others.
      if (std::optional<absl::Status> bad = EngineTenantRuleError(merged, s)) {
        return *std::move(bad);
      }
      return WithMessage(
          s, absl::StrCat("the engine refused the new tenants: ", s.message()));
    }
  }
  if (auth != nullptr) hooks_.auth->Swap(std::move(auth));
  if (changes.metrics_key_changed && hooks_.set_metrics_key) {
    hooks_.set_metrics_key(merged.server.metrics_api_key_sha256);
  }
  if (changes.logging_changed) {
    if (hooks_.reconfigure_logging) {
      absl::Status s = ReconfigureLogging(merged.logging);
      if (!s.ok()) spdlog::error("logging: {}", s.message());
    }
    if (hooks_.request_log != nullptr) {
      hooks_.request_log->set_json(merged.logging.format == "json");
    }
  }
  {
    absl::MutexLock lock(&config_mu_);
    current_ = merged;
  }
  ReloadOutcome outcome;
  outcome.config_path = running.source;
  outcome.applied = changes.live;
  outcome.restart_required = changes.restart;
  if (changes.empty()) {
    spdlog::info("config reload ({}): {} unchanged", trigger, running.source);
  }
  for (const std::string& c : changes.live) {
    spdlog::info("config reload ({}): applied {}", trigger, c);
  }
  for (const std::string& c : changes.restart) {
    spdlog::warn("config reload ({}): NOT applied, {}", trigger, c);
  }
  return outcome;
}

void ConfigReloader::RetryDeferred() {
  if (deferred_.exchange(false)) ReloadAsync("model loaded", nullptr);
}

void ConfigReloader::ReloadAsync(std::string trigger, Done done) {
  {
    absl::MutexLock lock(&queue_mu_);
    if (!stopping_) {
      queue_.emplace_back(std::move(trigger), std::move(done));
      return;
    }
  }
  if (done) done(absl::UnavailableError("the server is shutting down"));
}

void ConfigReloader::Loop() {
  while (true) {
    std::pair<std::string, Done> job;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return stopping_ || !queue_.empty();
      };
      queue_mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::StatusOr<ReloadOutcome> outcome = ReloadNow(job.first);
    if (job.second) job.second(std::move(outcome));
  }
}

void ConfigReloader::Stop() {
  std::deque<std::pair<std::string, Done>> left;
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  for (auto& job : left) {
    if (job.second) {
      job.second(absl::UnavailableError("the server is shutting down"));
    }
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace kvasir::server
