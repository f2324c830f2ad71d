#ifndef KVASIR_SERVER_HTTP_METRICS_HTTP_H_
#define KVASIR_SERVER_HTTP_METRICS_HTTP_H_

// The Prometheus scrape endpoint: GET /metrics over HTTP (cpp-httplib) on a
// port of its own, served from one background thread.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/sha256.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kvasir::server {

// The SHA-256 of the token a scrape must send, or none: set at start and
// by config reloads. Thread-safe.
class ScrapeToken {
 public:
  void Set(std::optional<Sha256Digest> sha256) {
    absl::MutexLock lock(&mu_);
    sha256_ = sha256;
  }
  std::optional<Sha256Digest> Get() const {
    absl::MutexLock lock(&mu_);
    return sha256_;
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<Sha256Digest> sha256_ ABSL_GUARDED_BY(mu_);
};

class MetricsHttpServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free one) and serves
  // `render()` (called per scrape, from the server's thread) as
  // text/plain; version=0.0.4. While `token` (not owned; must outlive the
  // server; null: none) holds a hash, a scrape must send `Authorization:
  // Bearer <token>` whose SHA-256 it is (401 otherwise, as Prometheus'
  // `authorization` scrape setting expects). Unavailable when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render,
      const ScrapeToken* token = nullptr);

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
