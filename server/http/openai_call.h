#ifndef KVASIR_SERVER_HTTP_OPENAI_CALL_H_
#define KVASIR_SERVER_HTTP_OPENAI_CALL_H_

// One OpenAI generation request over HTTP, from admission to the last
// byte: the HTTP twin of rpc/generate_calls.h, on the same ServiceEnv
// (engine, draining flag, auth, metrics, request log, live-call count).
//
// Admission, in order: 503 while draining or loading, 401 for a missing or
// unknown key (`Authorization: Bearer <key>`, the same lookup as gRPC),
// 400 for a body that is not JSON, 404 for another model, 400 naming the
// field, then Engine::Submit and its refusals (status_mapping.h has the
// table). The handler blocks its connection thread until the request ends:
//   unary: waits for the engine's finish, then answers 200 with the
//     completion or the error status of the finish (504 deadline, ...).
//   stream: answers 200 with text/event-stream at once; the connection
//     thread waits for output and writes it as SSE chunks (tokens that
//     arrive while a write is in flight go out together), then the finish
//     chunk, the usage chunk (stream_options.include_usage) and
//     `data: [DONE]`. An error after the stream started is a last event
//     {"error": {...}}, then the stream ends. While nothing is written for
//     `keep_alive`, a comment line is sent: a client that went away is
//     noticed by the failed write, its request cancelled (its KV blocks
//     freed) whether it was running or queued.
// Each request counts as a live call of the env from admission to its last
// write, so that Server::Shutdown lets the drained streams end cleanly.
// A unary request's connection thread checks every `client_check`
// whether its client went away (peer_socket.h), and cancels the request
// if so.

#include <string>

#include "absl/time/time.h"
#include "httplib.h"
#include "server/http/openai_request.h"
#include "server/service_env.h"

namespace kvasir::server {

struct OpenAiCallOptions {
  std::string model_id;  // what `model` must equal, and responses carry
  // A stream silent this long gets a comment line (see above).
  absl::Duration keep_alive = absl::Seconds(1);
  // A unary request's client is checked this often (a poll(2) each).
  absl::Duration client_check = absl::Milliseconds(100);
};

// Serves POST /v1/completions (kCompletions) or /v1/chat/completions on the
// connection's thread; `body` is the request's body (read by the caller:
// see openai_server.cc). `env` outlives the call.
void HandleOpenAiGenerate(ServiceEnv* env, const OpenAiCallOptions& options,
                          OpenAiEndpoint endpoint, const httplib::Request& req,
                          absl::string_view body, httplib::Response& res);

// Sets `res` to OpenAI's error object for `status` with the HTTP status
// of ToHttpError.
void WriteOpenAiError(const absl::Status& status, httplib::Response& res);

// The value of the `X-Request-Timeout` header (seconds, > 0) as a deadline
// on `clock`; InfiniteFuture without the header. InvalidArgument naming
// the header otherwise.
absl::StatusOr<absl::Time> RequestDeadline(const httplib::Request& req,
                                           Clock* clock);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_OPENAI_CALL_H_
