#include "server/http/openai_server.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "httplib.h"
#include "server/config/config.h"
#include "server/http/http_listen.h"
#include "server/http/http_thread_pool.h"
#include "server/http/openai_response.h"
#include "server/http/peer_socket.h"
#include "server/rpc/status_mapping.h"

namespace kvasir::server {
namespace {

using json = nlohmann::json;

void SetJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

// The Content-Length header's value; -1 without one (a chunked body).
int64_t ContentLength(const httplib::Request& req) {
  const std::string length = req.get_header_value("Content-Length");
  int64_t size = -1;
  if (length.empty() || !absl::SimpleAtoi(length, &size)) return -1;
  return size;
}

// InvalidArgument when the request's Content-Length headers are not one
// number of digits (RFC 9110 section 8.6: "2, 999", "+33", "33abc"),
// disagree, or come with a Transfer-Encoding.
absl::Status CheckFraming(const httplib::Request& req) {
  const size_t n = req.get_header_value_count("Content-Length");
  if (n == 0) return absl::OkStatus();
  if (req.has_header("Transfer-Encoding")) {
    return FieldError("Content-Length", "not allowed with Transfer-Encoding");
  }
  const std::string first = req.get_header_value("Content-Length", 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string other = req.get_header_value("Content-Length", i);
    if (other.empty() || !std::all_of(other.begin(), other.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      return FieldError("Content-Length", absl::StrCat(Quoted(other),
                                                       " is not a number of "
                                                       "bytes (digits only)"));
    }
    if (other != first) {
      return FieldError("Content-Length",
                        absl::StrCat("conflicting values ", Quoted(first),
                                     " and ", Quoted(other)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string ServedModelId(const std::string& model_path,
                          const std::string& name) {
  if (!name.empty()) return name;
  const size_t slash = model_path.rfind('/');
  return slash == std::string::npos ? model_path : model_path.substr(slash + 1);
}

OpenAiHttpServer::OpenAiHttpServer(Options options, ServiceEnv* env)
    : options_(std::move(options)),
      env_(env),
      created_(absl::ToUnixSeconds(env->clock()->Now())) {}

OpenAiHttpServer::~OpenAiHttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> OpenAiHttpServer::Start(
    Options options, ServiceEnv* env) {
  ASSIGN_OR_RETURN(const HostPort split,
                   SplitListenAddress(options.address, "server.http_listen"));
  // A client that goes away mid-stream makes the next write fail with
  // EPIPE; httplib 0.11 sends without MSG_NOSIGNAL, so the signal would kill
  // the process. gRPC never raises it; ignoring it is what servers do.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<OpenAiHttpServer> s(
      new OpenAiHttpServer(std::move(options), env));
  const std::string& address = s->options_.address;
  try {
    s->http_ = std::make_unique<httplib::Server>();
    httplib::Server& http = *s->http_;
    const size_t max_threads = static_cast<size_t>(s->options_.max_connections);
    http.new_task_queue = [max_threads] {
      return new HttpThreadPool(max_threads);
    };
    http.set_payload_max_length(
        static_cast<size_t>(s->options_.max_body_bytes));
    // A streaming client may stop reading for a while (a paused UI); a
    // write blocked longer than this ends its stream (and its request).
    // httplib's default is 5 s.
    http.set_write_timeout(30, 0);
    // Each SSE event is a small write: with Nagle's algorithm on (httplib's
    // default) it waits for the client's delayed ACK, ~40 ms per event.
    http.set_tcp_nodelay(true);
    s->Route();
    ASSIGN_OR_RETURN(s->port_,
                     BindAndServe(http, split.host, split.port,
                                  "server.http_listen", address, &s->thread_));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("HTTP API on '", address, "': ", e.what()));
  }
  return s;
}

void OpenAiHttpServer::Route() {
  httplib::Server& http = *http_;
  ServiceEnv* env = env_;
  OpenAiCallOptions call;
  call.model_id = options_.model_id;
  call.keep_alive = options_.keep_alive;

  // The body is read here rather than by httplib: httplib caps bodies
  // sent as application/x-www-form-urlencoded (what `curl -d` sends unless
  // told otherwise) at 8 KiB and parses them as a form. The cap
  // (set_payload_max_length) still applies: a longer body fails the read
  // with status 413.
  const int64_t max_body = options_.max_body_bytes;
  auto generate = [env, call, max_body](OpenAiEndpoint endpoint) {
    return [env, call, max_body, endpoint](
               const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& reader) {
      // Conflicting lengths frame the body two ways (a proxy in front may
      // take the other one): RFC 9112 section 6.3 says refuse, before the
      // body is read. `Connection: close` tells the client to close (httplib
      // 0.11 itself would keep the connection).
      if (absl::Status framing = CheckFraming(req); !framing.ok()) {
        res.set_header("Connection", "close");
        WriteOpenAiError(framing, res);
        return;
      }
      std::string body;
      bool too_large = false;
      const bool read = reader([&](const char* data, size_t n) {
        // httplib checks a Content-Length against the cap but not the
        // length of a chunked body.
        if (static_cast<int64_t>(body.size() + n) > max_body) {
          too_large = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
      if (!read || too_large) {
        WriteOpenAiError(
            res.status == 413 || too_large
                ? BodyTooLargeError(ContentLength(req), max_body)
                : absl::InvalidArgumentError(
                      "the request body could not be read (cut short?)"),
            res);
        return;
      }
      HandleOpenAiGenerate(env, call, endpoint, req, body, res);
    };
  };
  http.Post("/v1/completions", generate(OpenAiEndpoint::kCompletions));
  http.Post("/v1/chat/completions", generate(OpenAiEndpoint::kChatCompletions));

  auto model_json = [this] {
    json m;
    m["id"] = options_.model_id;
    m["object"] = "model";
    m["created"] = created_;
    m["owned_by"] = "kvasir";
    if (engine::Engine* e = env_->engine(); e != nullptr) {
      m["max_model_len"] = e->model_config().context_length;
    }
    return m;
  };
  http.Get("/v1/models", [model_json](const httplib::Request&,
                                      httplib::Response& res) {
    SetJson(res, 200,
            {{"object", "list"}, {"data", json::array({model_json()})}});
  });
  http.Get("/v1/models/(.+)", [this, model_json](const httplib::Request& req,
                                                 httplib::Response& res) {
    if (req.matches[1] == options_.model_id) {
      SetJson(res, 200, model_json());
      return;
    }
    WriteOpenAiError(
        absl::NotFoundError(absl::StrCat("model ", Quoted(req.matches[1].str()),
                                         " is not served here; this server "
                                         "serves '",
                                         options_.model_id, "'")),
        res);
  });
  // The GET endpoints answer other methods with 405 and an Allow header.
  for (const char* path : {"/v1/models", "/v1/models/(.+)", "/health"}) {
    auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", "GET");
      WriteOpenAiError(absl::InvalidArgumentError(absl::StrCat(
                           req.method, " ", req.path,
                           " is not allowed: this endpoint takes GET")),
                       res);
      res.status = 405;
    };
    http.Post(path, not_allowed);
    http.Put(path, not_allowed);
    http.Delete(path, not_allowed);
  }
  http.Get("/health", [env](const httplib::Request&, httplib::Response& res) {
    if (env->draining()) {
      SetJson(res, 503, {{"status", "draining"}});
    } else if (env->engine() == nullptr) {
      SetJson(res, 503, {{"status", "loading"}});
    } else {
      SetJson(res, 200, {{"status", "ok"}});
    }
  });

  // httplib's own errors (no route: 404; a body over the cap: 413; a
  // malformed request: 400) come with an empty body: give them OpenAI's
  // error object. Handlers' errors already have one.
  http.set_error_handler(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        absl::Status status;
        switch (res.status) {
          case 404:
            status = absl::NotFoundError(absl::StrCat(
                "no such endpoint: ", req.method, " ", req.path,
                " (this server has POST /v1/completions, POST "
                "/v1/chat/completions, GET /v1/models and GET /health)"));
            break;
          case 413:
            status = BodyTooLargeError(ContentLength(req), max_body);
            break;
          default:
            status = absl::InvalidArgumentError(absl::StrCat(
                "the HTTP request was refused (status ", res.status, ")"));
            break;
        }
        const int code = res.status;
        WriteOpenAiError(status, res);
        res.status = code;  // keep httplib's status (405, 414, ...)
      });
}

void OpenAiHttpServer::Stop() {
  if (http_ != nullptr) http_->stop();
  // The listener is closed: no connection comes after this. The requests
  // have ended (the server drains first); their answers may still be on
  // their way out, which the read-side shutdown leaves alone. A client
  // trickling header bytes would otherwise hold its thread, and so this
  // join, for as long as it kept trickling.
  if (port_ > 0) ShutdownConnections(port_);
  if (thread_.joinable()) thread_.join();
}

}  // namespace kvasir::server
