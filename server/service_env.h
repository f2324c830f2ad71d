#ifndef KVASIR_SERVER_SERVICE_ENV_H_
#define KVASIR_SERVER_SERVICE_ENV_H_

// What the gRPC services share: the engine (once ready), the draining flag,
// auth, metrics, the request log and the reload entry point. Owned by
// server::Server, which outlives every call. Free of gRPC types.

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/request_log.h"

namespace kvasir::server {

// The result of a successful reload (Admin.ReloadConfig, SIGHUP, file
// change).
struct ReloadOutcome {
  std::string config_path;
  std::vector<std::string> applied;
  std::vector<std::string> restart_required;
};

class ServiceEnv {
 public:
  ServiceEnv(Clock* clock, Authenticator* auth, Metrics* metrics,
             RequestLogger* request_log)
      : clock_(clock),
        auth_(auth),
        metrics_(metrics),
        request_log_(request_log),
        instance_(NewInstanceTag()) {}

  Clock* clock() const { return clock_; }
  Authenticator* auth() const { return auth_; }
  Metrics* metrics() const { return metrics_; }
  RequestLogger* request_log() const { return request_log_; }

  // The engine for a new call: Unavailable while draining or while the
  // model is loading.
  absl::StatusOr<engine::Engine*> AdmitEngine() const {
    if (draining()) {
      return absl::UnavailableError(
          "the server is shutting down (draining); retry on another replica");
    }
    engine::Engine* e = engine_.load();
    if (e == nullptr) {
      return absl::UnavailableError("the model is still loading; retry soon");
    }
    return e;
  }
  // The engine if attached, even while draining (stats); else nullptr.
  // Sequentially consistent, so that a reload deferred while the engine
  // was missing is never lost (ConfigReloader::RetryDeferred).
  engine::Engine* engine() const { return engine_.load(); }
  void set_engine(engine::Engine* e) { engine_.store(e); }

  bool draining() const { return draining_.load(std::memory_order_acquire); }
  void set_draining() { draining_.store(true, std::memory_order_release); }
  // The drain the shutdown gives running requests (set before the engine
  // drains; requests it cancels name it).
  absl::Duration drain_timeout() const {
    absl::MutexLock lock(&drain_mu_);
    return drain_timeout_;
  }
  void set_drain_timeout(absl::Duration d) {
    absl::MutexLock lock(&drain_mu_);
    drain_timeout_ = d;
  }

  // Generate calls alive (created, OnDone not yet run). Shutdown waits for
  // them after the drain, so their last writes go out before gRPC stops.
  void CallStarted() {
    absl::MutexLock lock(&calls_mu_);
    ++live_calls_;
  }
  void CallDone() {
    absl::MutexLock lock(&calls_mu_);
    --live_calls_;
  }
  // True when no call is alive within `timeout`.
  bool WaitForCalls(absl::Duration timeout) {
    absl::MutexLock lock(&calls_mu_);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(calls_mu_) {
      return live_calls_ == 0;
    };
    return calls_mu_.AwaitWithTimeout(absl::Condition(&none), timeout);
  }

  // A server-assigned request id for requests that bring none:
  // "kv-<8 random hex digits of this process>-<n>": not repeated after a
  // restart or on another replica (but for a 1 in 2^32 chance per pair).
  std::string NewRequestId() { return "kv-" + NewUniqueSuffix(); }
  // "<instance>-<n>": what OpenAI response ids ("cmpl-...") end with,
  // whatever X-Request-Id the client sent.
  std::string NewUniqueSuffix() {
    return instance_ + "-" +
           std::to_string(
               next_request_id_.fetch_add(1, std::memory_order_relaxed));
  }

  // Admin.ReloadConfig: starts a reload off the calling thread and calls
  // `done` with its outcome when finished (from the reload thread). Set by
  // the server before it starts; empty when there is nothing to reload.
  using ReloadDone = std::function<void(absl::StatusOr<ReloadOutcome>)>;
  std::function<void(ReloadDone done)> reload;

 private:
  Clock* const clock_;
  Authenticator* const auth_;
  Metrics* const metrics_;
  RequestLogger* const request_log_;
  std::atomic<engine::Engine*> engine_{nullptr};
  std::atomic<bool> draining_{false};
  mutable absl::Mutex drain_mu_;
  absl::Duration drain_timeout_ ABSL_GUARDED_BY(drain_mu_);
  static std::string NewInstanceTag() {
    std::random_device device;
    return absl::StrFormat("%08x", device());
  }
  const std::string instance_;
  std::atomic<uint64_t> next_request_id_{1};
  absl::Mutex calls_mu_;
  int64_t live_calls_ ABSL_GUARDED_BY(calls_mu_) = 0;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_SERVICE_ENV_H_
