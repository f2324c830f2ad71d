#include "server/http/metrics_http.h"

#include <chrono>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "httplib.h"
#include "server/config/config.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  ASSIGN_OR_RETURN(const HostPort split,
                   SplitListenAddress(address, "server.metrics_listen"));
  const std::string& host = split.host;
  int port = split.port;
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  try {
    server->http_ = std::make_unique<httplib::Server>();
    httplib::Server& http = *server->http_;
    // Scrapes are rare and cheap: one worker is plenty.
    http.new_task_queue = [] { return new httplib::ThreadPool(1); };
    http.Get("/metrics", [render = std::move(render)](const httplib::Request&,
                                                      httplib::Response& res) {
      res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("Kvasir metrics: /metrics\n", "text/plain");
    });
    if (port == 0) {
      port = http.bind_to_any_port(host);
    } else if (!http.bind_to_port(host, port)) {
      port = -1;
    }
    if (port < 0) {
      return absl::UnavailableError(
          absl::StrCat("server.metrics_listen: cannot listen on '", address,
                       "' (address in use or not local?)"));
    }
    server->port_ = port;
    server->thread_ = std::thread([&http] { http.listen_after_bind(); });
    // stop() only takes effect once the loop runs; wait for it.
    const auto give_up =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!http.is_running() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("metrics endpoint on '", address, "': ", e.what()));
  }
  return server;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kvasir::server
