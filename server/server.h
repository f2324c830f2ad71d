#ifndef KVASIR_SERVER_SERVER_H_
#define KVASIR_SERVER_SERVER_H_

// The Kvasir server: kvasir.v1.Generation, kvasir.v1.Admin,
// grpc.health.v1.Health and server reflection on one port, the
// OpenAI-compatible HTTP API (http/openai_server.h) on another, Prometheus
// metrics on a third, live config reload, and a draining shutdown. gRPC
// and HTTP share one ServiceEnv: engine, tenants, metrics, request log.
//
// Lifecycle: Create -> Start (listening; health NOT_SERVING until an engine
// is attached) -> SetEngine (SERVING) -> Shutdown (new calls UNAVAILABLE,
// health NOT_SERVING, engine drains for server.drain_timeout, then gRPC
// stops, then the HTTP API) -> Wait returns. The engine is not owned and must
// outlive the Server object.
//
// Thread-safe: every method may be called from any thread.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "server/config/config.h"
#include "server/http/metrics_http.h"
#include "server/service_env.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace kvasir::server {

class AdminService;
class ConfigFileWatcher;
class ConfigReloader;
class GenerationService;
class OpenAiHttpServer;

class Server {
 public:
  struct Options {
    Clock* clock = nullptr;  // not owned; nullptr = the system clock
    // Re-applied to the file after every reload.
    ConfigOverrides overrides;
    // How often the config file is checked for changes; <= 0 turns the
    // check off (SIGHUP and Admin.ReloadConfig still work).
    absl::Duration config_poll_interval = absl::Seconds(1);
    // After the drain, how long the finished requests' last writes may take
    // before gRPC cancels them.
    absl::Duration grpc_shutdown_grace = absl::Seconds(5);
    // Then how long the connections stay open for clients to read the last
    // statuses; calls still open after it (health watchers) are cancelled.
    absl::Duration grpc_flush_grace = absl::Seconds(1);
    // Reloads re-initialize spdlog when logging.* changes (kvasir serve).
    bool reconfigure_logging = false;
  };

  // Validates `config` and builds the server. `engine` may be nullptr and
  // attached later with SetEngine (the model is loading meanwhile).
  static absl::StatusOr<std::unique_ptr<Server>> Create(Options options,
                                                        engine::Engine* engine,
                                                        ServerConfig config);
  ~Server();  // Shutdown()

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds server.listen (and server.http_listen, server.metrics_listen) and
  // starts serving.
  // Unavailable when an address cannot be bound.
  absl::Status Start();

  // Attaches the engine: generation calls are admitted from now on and
  // health turns SERVING. Call once.
  void SetEngine(engine::Engine* engine);

  // Reloads the config file now (what SIGHUP queues): see
  // config/config_reloader.h.
  absl::StatusOr<ReloadOutcome> Reload(absl::string_view trigger);
  // Queues a reload on the reload thread and returns at once.
  void ReloadAsync(absl::string_view trigger);

  // Drains and stops (see above). Blocks until done; concurrent and repeated
  // calls wait for the first one. Safe before Start.
  void Shutdown();
  // Blocks until Shutdown has finished.
  void Wait();

  bool draining() const { return env_->draining(); }
  // The bound ports (after Start); metrics_port() is 0 without metrics,
  // http_port() 0 without the HTTP API.
  int port() const { return port_; }
  int metrics_port() const;
  int http_port() const;
  // The config in effect.
  ServerConfig config() const;

 private:
  Server(Options options, ServerConfig config);
  void UpdateHealth() ABSL_LOCKS_EXCLUDED(health_mu_);
  std::string RenderMetrics() const;
  // scrape_token_ from server.metrics_api_key_sha256 (empty: none).
  absl::Status SetScrapeToken(const std::string& hex);

  const Options options_;
  const ServerConfig initial_config_;
  SystemClock system_clock_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RequestLogger> request_log_;
  std::unique_ptr<ServiceEnv> env_;
  std::unique_ptr<ConfigReloader> reloader_;
  std::unique_ptr<GenerationService> generation_;
  std::unique_ptr<AdminService> admin_;
  ScrapeToken scrape_token_;  // read by metrics_http_, set by reloads
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<OpenAiHttpServer> openai_http_;
  std::unique_ptr<ConfigFileWatcher> watcher_;
  // Declared last: destroyed first, before the services and the env that
  // its calls use.
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;

  absl::Mutex health_mu_;  // orders health updates

  absl::Mutex shutdown_mu_;
  bool shutdown_started_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  absl::Notification shutdown_done_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_SERVER_H_
