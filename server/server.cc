#include "server/server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/config/config_engine.h"
#include "server/config/config_reloader.h"
#include "server/config/config_watcher.h"
#include "server/fmt_absl.h"
#include "server/http/metrics_http.h"
#include "server/http/openai_server.h"
#include "server/protobuf_log.h"
#include "server/rpc/admin_service.h"
#include "server/rpc/generation_service.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

// Health-checked service names besides the overall "".
constexpr const char* kHealthServices[] = {"kvasir.v1.Generation",
                                           "kvasir.v1.Admin"};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(Options options,
                                                       engine::Engine* engine,
                                                       ServerConfig config) {
  RETURN_IF_ERROR(ValidateConfig(config));
  std::unique_ptr<Server> s(new Server(std::move(options), config));
  // Before the reloader exists: a reload's token is never overwritten by
  // the initial one.
  RETURN_IF_ERROR(s->SetScrapeToken(config.server.metrics_api_key_sha256));
  ASSIGN_OR_RETURN(std::shared_ptr<const AuthTable> table,
                   AuthTable::Create(config));
  s->auth_ = std::make_unique<Authenticator>(std::move(table));
  ASSIGN_OR_RETURN(s->metrics_, Metrics::Create());
  s->request_log_ =
      std::make_unique<RequestLogger>(config.logging.format == "json");
  Clock* clock =
      s->options_.clock != nullptr ? s->options_.clock : &s->system_clock_;
  s->env_ = std::make_unique<ServiceEnv>(
      clock, s->auth_.get(), s->metrics_.get(), s->request_log_.get());
  s->env_->set_engine(engine);

  ConfigReloader::Hooks hooks;
  Server* self = s.get();
  hooks.update_tenants =
      [self](std::vector<engine::TenantConfig> tenants) -> absl::Status {
    engine::Engine* e = self->env_->engine();
    if (e == nullptr) {
      return absl::UnavailableError(
          "the model is still loading; reload again once the server is "
          "ready");
    }
    return e->UpdateTenants(std::move(tenants));
  };
  hooks.auth = s->auth_.get();
  hooks.request_log = s->request_log_.get();
  hooks.metrics = s->metrics_.get();
  hooks.reconfigure_logging = s->options_.reconfigure_logging;
  hooks.set_metrics_key = [self](const std::string& hex) {
    // Validated by the reload: 64 hex digits or empty.
    if (absl::Status st = self->SetScrapeToken(hex); !st.ok()) {
      spdlog::error("{}", st.message());
    } else if (hex.empty()) {
      spdlog::warn(
          "server.metrics_api_key_sha256 removed: /metrics (every tenant's "
          "numbers) now answers without a token");
    }
  };
  s->reloader_ = std::make_unique<ConfigReloader>(
      std::move(config), s->options_.overrides, std::move(hooks));
  ConfigReloader* reloader = s->reloader_.get();
  s->env_->reload = [reloader](ServiceEnv::ReloadDone done) {
    reloader->ReloadAsync("Admin.ReloadConfig", std::move(done));
  };
  s->generation_ = std::make_unique<GenerationService>(s->env_.get());
  s->admin_ = std::make_unique<AdminService>(s->env_.get());
  return s;
}

Server::Server(Options options, ServerConfig config)
    : options_(std::move(options)), initial_config_(std::move(config)) {}

Server::~Server() { Shutdown(); }

absl::Status Server::Start() {
  const ServerConfig& config = initial_config_;
  RouteProtobufLogs();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC turns SO_REUSEPORT on by default: a second server started on a
  // busy port would then silently share its connections. Fail to bind
  // instead, with the error below.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config.server.listen,
                           grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(generation_.get());
  builder.RegisterService(admin_.get());
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || port_ == 0) {
    grpc_.reset();
    return absl::UnavailableError(
        absl::StrCat("server.listen: cannot listen on '", config.server.listen,
                     "' (address in use, or not an address of this machine?)"));
  }
  // gRPC starts the overall service SERVING; correct it at once.
  UpdateHealth();
  if (!config.server.http_listen.empty()) {
    OpenAiHttpServer::Options http;
    http.address = config.server.http_listen;
    http.max_body_bytes = config.server.http_max_body_bytes;
    http.max_connections = config.server.http_max_connections;
    http.model_id = ServedModelId(config.model.path, config.model.name);
    ASSIGN_OR_RETURN(openai_http_,
                     OpenAiHttpServer::Start(std::move(http), env_.get()));
  }
  if (!config.server.metrics_listen.empty()) {
    ASSIGN_OR_RETURN(metrics_http_,
                     MetricsHttpServer::Start(
                         config.server.metrics_listen,
                         [this] { return RenderMetrics(); }, &scrape_token_));
  }
  if (!config.source.empty() &&
      options_.config_poll_interval > absl::ZeroDuration()) {
    ConfigReloader* reloader = reloader_.get();
    watcher_ = std::make_unique<ConfigFileWatcher>(
        config.source, options_.config_poll_interval,
        [reloader] { reloader->ReloadAsync("file change", nullptr); });
  }
  spdlog::info(
      "serving gRPC on {} (port {}){}{}", config.server.listen, port_,
      openai_http_ != nullptr
          ? absl::StrCat(", OpenAI HTTP on ", config.server.http_listen,
                         " (port ", openai_http_->port(), ")")
          : std::string(),
      metrics_http_ != nullptr
          ? absl::StrCat(", metrics on ", config.server.metrics_listen,
                         " (port ", metrics_http_->port(), ")/metrics")
          : std::string());
  return absl::OkStatus();
}

void Server::SetEngine(engine::Engine* engine) {
  env_->set_engine(engine);
  UpdateHealth();
  reloader_->RetryDeferred();
}

void Server::UpdateHealth() {
  absl::MutexLock lock(&health_mu_);
  if (grpc_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = grpc_->GetHealthCheckService();
  if (health == nullptr) return;
  const bool serving = env_->engine() != nullptr && !env_->draining();
  health->SetServingStatus("", serving);
  for (const char* name : kHealthServices) {
    health->SetServingStatus(name, serving);
  }
}

absl::StatusOr<ReloadOutcome> Server::Reload(absl::string_view trigger) {
  return reloader_->ReloadNow(trigger);
}

void Server::ReloadAsync(absl::string_view trigger) {
  reloader_->ReloadAsync(std::string(trigger), nullptr);
}

void Server::Shutdown() {
  bool first = false;
  {
    absl::MutexLock lock(&shutdown_mu_);
    first = !shutdown_started_;
    shutdown_started_ = true;
  }
  if (!first) {
    shutdown_done_.WaitForNotification();
    return;
  }
  env_->set_draining();
  UpdateHealth();
  if (watcher_ != nullptr) watcher_->Stop();
  reloader_->Stop();
  const absl::Duration drain = reloader_->current().server.drain_timeout;
  env_->set_drain_timeout(drain);
  if (engine::Engine* engine = env_->engine(); engine != nullptr) {
    spdlog::info("draining: running requests get up to {} to finish",
                 absl::FormatDuration(drain));
    engine->Shutdown(drain);
  }
  if (grpc_ != nullptr) {
    // Every request has finished; wait for their calls to complete (their
    // last messages handed to the transport).
    absl::Time deadline = absl::Now();
    if (env_->WaitForCalls(options_.grpc_shutdown_grace)) {
      deadline = absl::Now() + options_.grpc_flush_grace;
    } else {
      spdlog::warn("some calls did not complete within {}; cancelling them",
                   absl::FormatDuration(options_.grpc_shutdown_grace));
    }
    // Not a deadline of now: once the deadline passes gRPC cancels the calls
    // left and force-closes every connection, and a forced close can reset
    // a connection whose client has not yet read the status of a call that
    // completed a moment ago (the client then sees that call fail). With no
    // call left Shutdown returns at once; only calls that never end by
    // themselves (health watchers) keep it until the deadline.
    grpc_->Shutdown(absl::ToChronoTime(deadline));
  }
  // After WaitForCalls: the drained HTTP streams have written their last
  // events (they are live calls too).
  if (openai_http_ != nullptr) openai_http_->Stop();
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  spdlog::info("server stopped");
  shutdown_done_.Notify();
}

void Server::Wait() { shutdown_done_.WaitForNotification(); }

int Server::metrics_port() const {
  return metrics_http_ != nullptr ? metrics_http_->port() : 0;
}

int Server::http_port() const {
  return openai_http_ != nullptr ? openai_http_->port() : 0;
}

ServerConfig Server::config() const { return reloader_->current(); }

absl::Status Server::SetScrapeToken(const std::string& hex) {
  if (hex.empty()) {
    scrape_token_.Set(std::nullopt);
    return absl::OkStatus();
  }
  Sha256Digest digest;
  if (!HexToDigest(hex, &digest)) {
    return absl::InvalidArgumentError(
        "server.metrics_api_key_sha256: not 64 hex digits");
  }
  scrape_token_.Set(digest);
  return absl::OkStatus();
}

std::string Server::RenderMetrics() const {
  engine::Engine* engine = env_->engine();
  if (engine == nullptr) {
    return metrics_->Render(nullptr, /*ready=*/false, env_->draining());
  }
  const engine::EngineStats stats = engine->Stats();
  const engine::UsageReport usage = engine->UsageSinceStart();
  return metrics_->Render(&stats, /*ready=*/true, env_->draining(), &usage);
}

}  // namespace kvasir::server
