#ifndef KVASIR_SERVER_HTTP_OPENAI_SERVER_H_
#define KVASIR_SERVER_HTTP_OPENAI_SERVER_H_

// The OpenAI-compatible HTTP API (cpp-httplib) beside gRPC, on the same
// ServiceEnv: one engine and scheduler, the same tenants and keys, metrics
// and request log.
//
//   POST /v1/completions         openai_call.h (unary and SSE streaming)
//   POST /v1/chat/completions    the same, the prompt rendered from
//                                `messages` by the model's chat template
//   GET  /v1/models              the one served model; no key needed
//   GET  /v1/models/{id}         it, or 404
//   GET  /health                 200 {"status":"ok"}; 503 while the model
//                                loads or the server drains; no key needed
// Anything else is a 404 in OpenAI's error shape; bodies over
// `max_body_bytes` a 413.
//
// Connections run on an HttpThreadPool of at most `max_connections`
// threads (see http_thread_pool.h for why a stream needs its own thread).
// Thread-safe; Stop() is idempotent.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/http/openai_call.h"
#include "server/service_env.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kvasir::server {

class OpenAiHttpServer {
 public:
  struct Options {
    std::string address;  // host:port (port 0: any free port)
    int64_t max_body_bytes = int64_t{4} << 20;
    int32_t max_connections = 512;
    std::string model_id;
    absl::Duration keep_alive = absl::Seconds(1);  // see openai_call.h
  };

  // Binds and starts serving from a thread of its own. Unavailable when
  // the address cannot be bound. `env` is not owned and outlives the
  // server.
  static absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> Start(
      Options options, ServiceEnv* env);

  ~OpenAiHttpServer();  // Stop()

  // Stops listening, lets the connection threads end (streams still open
  // are cut: Server::Shutdown calls this after the drain) and joins them.
  void Stop();

  int port() const { return port_; }

 private:
  OpenAiHttpServer(Options options, ServiceEnv* env);
  void Route();

  const Options options_;
  ServiceEnv* const env_;
  const int64_t created_;  // Unix seconds, for GET /v1/models
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

// The id GET /v1/models lists: `name` when set, else the model file's name
// (its path's last component; "dummy:15m" as it is).
std::string ServedModelId(const std::string& model_path,
                          const std::string& name);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_OPENAI_SERVER_H_
