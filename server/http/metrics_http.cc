#include "server/http/metrics_http.h"

#include <chrono>
#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "httplib.h"
#include "server/auth.h"
#include "server/config/config.h"
#include "server/http/http_listen.h"
#include "server/http/peer_socket.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

absl::Status ScrapeAllowed(const httplib::Request& req,
                           const Sha256Digest& token_sha256) {
  const auto [begin, end] = req.headers.equal_range("Authorization");
  std::vector<absl::string_view> values;
  for (auto it = begin; it != end; ++it) values.emplace_back(it->second);
  ASSIGN_OR_RETURN(const std::optional<absl::string_view> authorization,
                   SingleAuthorization(values, "Authorization"));
  return CheckBearerToken(authorization, token_sha256, "the metrics endpoint");
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render,
    const ScrapeToken* token) {
  ASSIGN_OR_RETURN(const HostPort split,
                   SplitListenAddress(address, "server.metrics_listen"));
  const std::string& host = split.host;
  const int port = split.port;
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  try {
    server->http_ = std::make_unique<httplib::Server>();
    httplib::Server& http = *server->http_;
    // Scrapes are rare and cheap, but one idle or trickling connection
    // holds a worker for its read timeout (5 s) or longer: a few workers
    // keep a scrape from waiting behind it.
    http.new_task_queue = [] { return new httplib::ThreadPool(4); };
    http.Get("/metrics", [render = std::move(render), token](
                             const httplib::Request& req,
                             httplib::Response& res) {
      const std::optional<Sha256Digest> token_sha256 =
          token != nullptr ? token->Get() : std::nullopt;
      if (token_sha256.has_value()) {
        absl::Status s = ScrapeAllowed(req, *token_sha256);
        if (!s.ok()) {
          res.status = 401;
          res.set_header("WWW-Authenticate", "Bearer realm=\"kvasir-metrics\"");
          res.set_content(absl::StrCat(s.message(), "\n"), "text/plain");
          return;
        }
      }
      res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("Kvasir metrics: /metrics\n", "text/plain");
    });
    ASSIGN_OR_RETURN(server->port_,
                     BindAndServe(http, host, port, "server.metrics_listen",
                                  address, &server->thread_));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("metrics endpoint on '", address, "': ", e.what()));
  }
  return server;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (http_ != nullptr) http_->stop();
  // A scrape connection trickling bytes would hold the join (see
  // OpenAiHttpServer::Stop).
  if (port_ > 0) ShutdownConnections(port_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace kvasir::server
