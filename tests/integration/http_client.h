#ifndef KVASIR_TESTS_INTEGRATION_HTTP_CLIENT_H_
#define KVASIR_TESTS_INTEGRATION_HTTP_CLIENT_H_

// A plain HTTP/1.1 client (cpp-httplib) for the OpenAI-compatible API of
// the real server: unary JSON calls and Server-Sent Events streams parsed
// into their events.

#include <functional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace kvasir::integration {

struct HttpReply {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  nlohmann::json json;  // the body parsed, when it is JSON
};

// `key` empty: no Authorization header. `headers` are added as given.
HttpReply HttpGet(int port, const std::string& path,
                  const std::string& key = "");
HttpReply HttpPost(
    int port, const std::string& path, const std::string& key,
    const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers = {});

struct SseStream {
  int status = 0;
  std::string raw;                     // everything received
  std::vector<nlohmann::json> events;  // the `data:` JSON events, in order
  bool done = false;                   // `data: [DONE]` arrived
  // The text of the choices' `text` (completions) or `delta.content`.
  std::string Text() const;
  // The first event with an "error" member, or null.
  nlohmann::json Error() const;
};

// The value of the sample `name{labels}` in a Prometheus text exposition
// (as GET /metrics returns it); -1 when it is not there. `labels` as the
// server writes them, in name order: finish_reason="length",tenant="alpha".
double MetricSample(const std::string& text, const std::string& name,
                    const std::string& labels);

// POSTs `body` and reads the event stream. `on_event` (optional) sees each
// event as it is parsed; returning false closes the connection there (the
// client goes away mid-stream).
SseStream HttpStream(
    int port, const std::string& path, const std::string& key,
    const std::string& body,
    const std::function<bool(const nlohmann::json&)>& on_event = nullptr,
    const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace kvasir::integration

#endif  // KVASIR_TESTS_INTEGRATION_HTTP_CLIENT_H_
