#ifndef KVASIR_SERVER_CONFIG_CONFIG_RELOADER_H_
#define KVASIR_SERVER_CONFIG_CONFIG_RELOADER_H_

// Live config reload: re-read the file, validate, apply what can change
// live, report what needs a restart. Triggered by SIGHUP, Admin.ReloadConfig
// and file changes; all of them run on the reloader's own thread, one at a
// time, never on the engine thread or a gRPC thread.
//
// Apply order (a failed step leaves the old config fully in place):
//   parse + command-line overrides + validate -> diff against the running
//   config -> validate the merged config -> build the new auth table ->
//   engine UpdateTenants (the engine validates budgets against its real
//   capacity) -> swap the auth table -> logging -> make it current.

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "server/auth.h"
#include "server/config/config.h"
#include "server/metrics.h"
#include "server/request_log.h"
#include "server/service_env.h"

namespace kvasir::server {

class ConfigReloader {
 public:
  using Done = std::function<void(absl::StatusOr<ReloadOutcome>)>;

  struct Hooks {
    // Applies a new tenant set (Engine::UpdateTenants). Required.
    std::function<absl::Status(std::vector<engine::TenantConfig>)>
        update_tenants;
    Authenticator* auth = nullptr;         // required; not owned
    RequestLogger* request_log = nullptr;  // optional; not owned
    Metrics* metrics = nullptr;            // optional; not owned
    // Applies a new server.metrics_api_key_sha256 (normalized hex, or empty
    // for none) to the metrics endpoint. Optional.
    std::function<void(const std::string&)> set_metrics_key;
    // Reconfigure spdlog's default logger when logging.* changes (off in
    // tests, where the test owns the logger).
    bool reconfigure_logging = false;
  };

  // `running` is the config the server started with (its `source` is the
  // file to re-read); `overrides` are re-applied after every read. Starts
  // the reload thread.
  ConfigReloader(ServerConfig running, ConfigOverrides overrides, Hooks hooks);
  ~ConfigReloader();  // Stop()

  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Reloads on the calling thread (serialized with other reloads).
  // InvalidArgument (file or config errors), NotFound (file gone), or the
  // engine's error; the old config stays in every error case. `trigger`
  // ("SIGHUP", "Admin.ReloadConfig", "file change") goes into the logs.
  absl::StatusOr<ReloadOutcome> ReloadNow(absl::string_view trigger);

  // Queues a reload on the reload thread; `done` (may be empty) receives the
  // outcome there. After Stop(), `done` gets Unavailable at once.
  void ReloadAsync(std::string trigger, Done done);

  // A reload that failed only because the engine was not attached yet (the
  // model was loading: update_tenants returned Unavailable) is queued again.
  // The server calls this right after it attaches the engine; a reload
  // racing with that is never lost (it either sees the engine or is
  // retried). update_tenants must read the engine with a seq_cst load.
  void RetryDeferred();

  // The config in effect (restart-only settings as started).
  ServerConfig current() const;

  // Fails queued reloads with Unavailable and joins the thread. Idempotent.
  void Stop();

 private:
  absl::StatusOr<ReloadOutcome> ReloadLocked(absl::string_view trigger)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  void Loop();

  const ConfigOverrides overrides_;
  const Hooks hooks_;

  absl::Mutex reload_mu_;  // serializes reloads; held across a reload
  mutable absl::Mutex config_mu_;
  ServerConfig current_ ABSL_GUARDED_BY(config_mu_);

  absl::Mutex queue_mu_;
  std::deque<std::pair<std::string, Done>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread thread_;
  // Set while a tenant update is in flight and after one found no engine;
  // seq_cst (see RetryDeferred).
  std::atomic<bool> deferred_{false};
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CONFIG_RELOADER_H_
