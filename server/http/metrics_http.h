#ifndef KVASIR_SERVER_HTTP_METRICS_HTTP_H_
#define KVASIR_SERVER_HTTP_METRICS_HTTP_H_

// The Prometheus scrape endpoint: GET /metrics over HTTP (cpp-httplib) on a
// port of its own, served from one background thread.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/sha256.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kvasir::server {

class MetricsHttpServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free one) and serves
  // `render()` (called per scrape, from the server's thread) as
  // text/plain; version=0.0.4. With `token_sha256`, a scrape must send
  // `Authorization: Bearer <token>` whose SHA-256 it is (401 otherwise,
  // as Prometheus' `authorization` scrape setting expects). Unavailable
  // when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render,
      std::optional<Sha256Digest> token_sha256 = std::nullopt);

  ~MetricsHttpServer();  // Stop()

  // Stops listening and joins the thread. Idempotent.
  void Stop();

  // The bound port.
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_METRICS_HTTP_H_
