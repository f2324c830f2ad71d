#ifndef KVASIR_SERVER_REQUEST_LOG_H_
#define KVASIR_SERVER_REQUEST_LOG_H_

// One log line per finished request (tenant, request id, token counts,
// finish reason, status, time to first token, duration), as text or as
// JSON fields (see common/logging.h).

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "engine/engine.h"

namespace kvasir::server {

struct RequestRecord {
  // "Generate", "GenerateStream", "POST /v1/completions (stream)", ...
  std::string method;
  std::string tenant;
  std::string request_id;
  std::string user;  // the OpenAI API's `user` field; logged when set
  engine::FinishInfo info;
  absl::Status status;  // how the RPC ended
};

// Thread-safe.
class RequestLogger {
 public:
  explicit RequestLogger(bool json) : json_(json) {}

  // Follows logging.format on reload.
  void set_json(bool json) { json_.store(json, std::memory_order_relaxed); }
  bool json() const { return json_.load(std::memory_order_relaxed); }

  // Logs the record at info level through spdlog's default logger.
  void Log(const RequestRecord& record) const;

  // What Log writes: "request finished tenant=... " text, or the JSON
  // members `"msg":"request finished","tenant":...` in JSON mode.
  static std::string FormatText(const RequestRecord& record);
  static std::string FormatJsonMembers(const RequestRecord& record);

 private:
  std::atomic<bool> json_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_REQUEST_LOG_H_
