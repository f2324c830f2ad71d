// HTTP side of `kvasir bench serve` (bench_serve_client.h): POST
// /v1/completions with "stream": true, read as Server-Sent Events in the
// OpenAI wire format (`data: {chunk}` events, `data: [DONE]` at the end).
//
// cpp-httplib's client (the project's HTTP library) with a content
// receiver: it decodes the chunked transfer encoding and hands each piece
// of the body over as it is read from the socket, so an event is timed when
// it arrives, not when the response ends. Each worker keeps one client (one
// keep-alive connection), as OpenAI client libraries pool theirs; HTTP/1.1
// holds a connection per in-flight stream anyway.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tools/bench_serve_client.h"
#include "tools/sse_parser.h"

namespace kvasir::tools {
namespace {

using Json = nlohmann::json;

std::string ErrorMessage(const std::string& body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    return j["error"]["message"].get<std::string>();
  }
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

// httplib's error names, said as what happened.
std::string Describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "reading the response failed (connection closed or --timeout)";
    case httplib::Error::Write:
      return "sending the request failed";
    default:
      return absl::StrCat("HTTP client error ", httplib::to_string(error));
  }
}

struct Target {
  std::string host;
  int port = 0;
};

absl::StatusOr<Target> ParseAddr(std::string addr) {
  absl::string_view a = addr;
  absl::ConsumePrefix(&a, "http://");
  absl::ConsumeSuffix(&a, "/");
  const size_t colon = a.rfind(':');
  Target t;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(a.substr(colon + 1), &t.port) || t.port <= 0 ||
      t.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--addr '", addr, "' must be host:port or http://host:port"));
  }
  t.host = std::string(a.substr(0, colon));
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') {
    t.host = t.host.substr(1, t.host.size() - 2);  // [::1]
  }
  return t;
}

std::unique_ptr<httplib::Client> NewClient(const Target& t, double timeout_s) {
  auto client = std::make_unique<httplib::Client>(t.host, t.port);
  client->set_connection_timeout(10, 0);
  const auto timeout =
      std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6));
  client->set_read_timeout(timeout);
  client->set_write_timeout(timeout);
  client->set_keep_alive(true);
  // Request headers and body go out in separate writes: with Nagle's
  // algorithm the body would wait for the server's delayed ACK (40 ms on
  // Linux) and every TTFT would carry it. OpenAI client libraries set
  // TCP_NODELAY too.
  client->set_tcp_nodelay(true);
  return client;
}

httplib::Headers Headers(const std::string& api_key) {
  httplib::Headers h = {
      {"Accept", "text/event-stream"},
      // No compression: a compressing server would hold events back in its
      // deflate buffer and the latencies would measure that.
      {"Accept-Encoding", "identity"}};
  if (!api_key.empty()) h.emplace("Authorization", "Bearer " + api_key);
  return h;
}

Json CompletionBody(const BenchRequest& request, bool stream) {
  Json body;
  if (!request.token_ids.empty()) {
    body["prompt"] = request.token_ids;
  } else {
    body["prompt"] = request.text;
  }
  body["max_tokens"] = request.max_tokens;
  body["temperature"] = 0;
  if (request.ignore_eos) body["ignore_eos"] = true;
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

class HttpSession final : public BenchSession {
 public:
  HttpSession(const Target& target, double timeout_s)
      : client_(NewClient(target, timeout_s)) {}

  BenchResult Run(const BenchRequest& request,
                  std::atomic<int64_t>* live_tokens) override {
    BenchResult result;
    TokenTimer timer(&result, live_tokens);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.headers = Headers(request.api_key);
    req.headers.emplace("Content-Type", "application/json");
    req.body = CompletionBody(request, /*stream=*/true).dump();

    int status = 0;
    std::string error_body;    // the body of a non-200 response
    std::string stream_error;  // an error event after the stream started
    bool done = false;
    bool bad_event = false;
    SseParser sse;
    req.response_handler = [&](const httplib::Response& response) {
      status = response.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (status != 200) {
        error_body.append(data, n);
        return true;
      }
      const BenchClock::time_point now = BenchClock::now();
      return sse.Feed(absl::string_view(data, n), [&](const std::string& d) {
        if (d == "[DONE]") {
          done = true;
          return true;
        }
        const Json chunk = Json::parse(d, nullptr, false);
        if (!chunk.is_object()) {
          bad_event = true;
          stream_error = "an SSE event that is not JSON: " + d.substr(0, 200);
          return false;
        }
        if (chunk.contains("error")) {
          stream_error = ErrorMessage(d);
          return true;
        }
        const auto choices = chunk.find("choices");
        if (choices != chunk.end() && choices->is_array() &&
            !choices->empty()) {
          const Json& c = (*choices)[0];
          const bool has_text =
              c.contains("text") && c["text"].is_string() &&
              !c["text"].get_ref<const std::string&>().empty();
          const bool finished =
              c.contains("finish_reason") && !c["finish_reason"].is_null();
          // A chunk is one token arrival unless it only says "finished".
          if (has_text || !finished) timer.Arrived(now, 1);
        }
        const auto usage = chunk.find("usage");
        if (usage != chunk.end() && usage->is_object()) {
          result.prompt_tokens = usage->value("prompt_tokens", int64_t{0});
          result.output_tokens = usage->value("completion_tokens", int64_t{0});
        }
        return true;
      });
    };
    timer.Sent(BenchClock::now());
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client_->send(req, response, error);
    timer.Ended(BenchClock::now());
    if (!sent && status == 0) {
      result.status = "TRANSPORT";
      result.error = Describe(error);
    } else if (status != 200) {
      result.status = absl::StrCat("HTTP ", status);
      result.error = ErrorMessage(error_body);
    } else if (!stream_error.empty() || bad_event) {
      result.status = "STREAM_ERROR";
      result.error = stream_error;
    } else if (!sent) {
      result.status = "TRANSPORT";
      result.error = absl::StrCat("the stream broke off: ", Describe(error));
    } else if (!done) {
      result.status = "STREAM_ERROR";
      result.error = "the stream ended without data: [DONE]";
    } else if (result.output_tokens == 0 && timer.tokens_seen() > 0) {
      result.status = "STREAM_ERROR";
      result.error = "no usage chunk (stream_options.include_usage)";
    } else {
      timer.Settle(result.output_tokens);
      result.ok = true;
    }
    return result;
  }

 private:
  std::unique_ptr<httplib::Client> client_;
};

class HttpClient final : public BenchClient {
 public:
  HttpClient(Target target, double timeout_s)
      : target_(std::move(target)), timeout_s_(timeout_s) {}

  absl::StatusOr<ServerFacts> Preflight(
      const std::vector<std::string>& api_keys) override {
    const std::string where =
        absl::StrCat("server http://", target_.host, ":", target_.port);
    std::unique_ptr<httplib::Client> client = NewClient(target_, 10);
    httplib::Result models = client->Get("/v1/models");
    if (!models) {
      return absl::UnavailableError(
          absl::StrCat(where, ": ", Describe(models.error())));
    }
    if (models->status != 200) {
      return absl::UnavailableError(
          absl::StrCat(where, ": GET /v1/models: HTTP ", models->status, ": ",
                       ErrorMessage(models->body)));
    }
    ServerFacts facts;
    const Json j = Json::parse(models->body, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array() &&
        !j["data"].empty() && j["data"][0].contains("id") &&
        j["data"][0]["id"].is_string()) {
      facts.model = j["data"][0]["id"].get<std::string>();
    }
    // Every key on one token: a refused key fails here with its position
    // rather than as every request of the run.
    BenchRequest probe;
    probe.token_ids = {3};
    probe.max_tokens = 1;
    const std::vector<std::string> keys =
        api_keys.empty() ? std::vector<std::string>{""} : api_keys;
    for (size_t i = 0; i < keys.size(); ++i) {
      httplib::Result r = client->Post(
          "/v1/completions", Headers(keys[i]),
          CompletionBody(probe, /*stream=*/false).dump(), "application/json");
      if (!r) {
        return absl::UnavailableError(
            absl::StrCat(where, ": ", Describe(r.error())));
      }
      if (r->status != 200) {
        const std::string who = api_keys.empty()
                                    ? std::string("no --api-key")
                                    : absl::StrCat("--api-key #", i + 1);
        return absl::Status(r->status == 401
                                ? absl::StatusCode::kUnauthenticated
                                : absl::StatusCode::kFailedPrecondition,
                            absl::StrCat(who, ": HTTP ", r->status, ": ",
                                         ErrorMessage(r->body)));
      }
    }
    return facts;
  }

  std::unique_ptr<BenchSession> NewSession() override {
    return std::make_unique<HttpSession>(target_, timeout_s_);
  }

 private:
  Target target_;
  double timeout_s_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BenchClient>> MakeHttpBenchClient(
    const std::string& addr, double timeout_s) {
  absl::StatusOr<Target> target = ParseAddr(addr);
  if (!target.ok()) return target.status();
  return std::make_unique<HttpClient>(*std::move(target), timeout_s);
}

}  // namespace kvasir::tools
