#include "tests/integration/http_client.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace kvasir::integration {
namespace {

using json = nlohmann::json;

httplib::Headers Headers(
    const std::string& key,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  for (const auto& [name, value] : extra) h.emplace(name, value);
  return h;
}

std::unique_ptr<httplib::Client> Client(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  // Generous: the ASan build is several times slower.
  c->set_read_timeout(120, 0);
  c->set_write_timeout(120, 0);
  return c;
}

HttpReply ToReply(const httplib::Result& r) {
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.json = json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  return out;
}

}  // namespace

HttpReply HttpGet(int port, const std::string& path, const std::string& key) {
  return ToReply(Client(port)->Get(path.c_str(), Headers(key, {})));
}

HttpReply HttpPost(
    int port, const std::string& path, const std::string& key,
    const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  return ToReply(Client(port)->Post(path.c_str(), Headers(key, headers), body,
                                    "application/json"));
}

std::string SseStream::Text() const {
  std::string text;
  for (const json& e : events) {
    if (!e.contains("choices")) continue;
    for (const json& c : e["choices"]) {
      if (c.contains("text")) text += c["text"].get<std::string>();
      if (c.contains("delta") && c["delta"].contains("content") &&
          c["delta"]["content"].is_string()) {
        text += c["delta"]["content"].get<std::string>();
      }
    }
  }
  return text;
}

json SseStream::Error() const {
  for (const json& e : events) {
    if (e.contains("error")) return e;
  }
  return nullptr;
}

SseStream HttpStream(
    int port, const std::string& path, const std::string& key,
    const std::string& body, const std::function<bool(const json&)>& on_event,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  SseStream out;
  std::string pending;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = Headers(key, headers);
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.raw.append(data, n);
    pending.append(data, n);
    for (size_t end = pending.find("\n\n"); end != std::string::npos;
         end = pending.find("\n\n")) {
      const std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;  // a comment line
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        out.done = true;
        continue;
      }
      out.events.push_back(json::parse(payload, nullptr, false));
      if (on_event && !on_event(out.events.back())) return false;
    }
    return true;
  };
  const httplib::Result r = Client(port)->send(req);
  if (r) {
    out.status = r->status;
    // Error replies (not a stream) come as a plain body.
    if (out.raw.empty()) out.raw = r->body;
  }
  return out;
}

double MetricSample(const std::string& text, const std::string& name,
                    const std::string& labels) {
  const std::string key = absl::StrCat(name, "{", labels, "} ");
  const size_t p = text.find(key);
  if (p == std::string::npos) return -1;
  const size_t start = p + key.size();
  const size_t end = text.find('\n', start);
  double v = -1;
  if (!absl::SimpleAtod(text.substr(start, end - start), &v)) return -1;
  return v;
}

}  // namespace kvasir::integration
