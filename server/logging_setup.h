#ifndef KVASIR_SERVER_LOGGING_SETUP_H_
#define KVASIR_SERVER_LOGGING_SETUP_H_

// The server's logging: spdlog's default logger to stderr, as text lines or
// as JSON lines that are real JSON (every string escaped, invalid UTF-8
// replaced), one object per line:
//   {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"..."}
// Lines logged with LogJsonFields carry their fields as members of that
// object instead of a "msg" text.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {

// Like kvasir::InitLogging (same validation and messages), with the JSON
// formatter below in "json" mode. Safe to call again (config reload).
absl::Status InitServerLogging(const LoggingOptions& options);

// Applies `options` to the running default logger in place (level and
// line format) without replacing it, so threads that log meanwhile are
// safe: what a config reload uses. Same validation as InitServerLogging.
absl::Status ReconfigureServerLogging(const LoggingOptions& options);

// Formats log lines as JSON objects (spdlog formatter).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Logs `members`, the inside of a JSON object (`"k":"v","n":1`, built with
// a JSON library so that it is well-formed), through spdlog's default
// logger; the JsonFormatter adds "time" and "level". Only meaningful in
// JSON mode (a text formatter would print `members` as they are).
void LogJsonFields(spdlog::level::level_enum level, absl::string_view members);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_LOGGING_SETUP_H_
