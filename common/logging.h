#ifndef KVASIR_COMMON_LOGGING_H_
#define KVASIR_COMMON_LOGGING_H_

// spdlog's default logger (stderr) for every Kvasir binary, as text lines
// or as JSON lines that are real JSON (every string escaped, invalid UTF-8
// replaced), one object per line:
//   {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"..."}
// Lines logged with LogJsonFields carry their fields as members of that
// object instead of a "msg" text.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/common.h"
#include "spdlog/formatter.h"

namespace kvasir {

struct LoggingOptions {
  // trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // "text": human-readable lines; "json": one JSON object per line.
  std::string format = "text";
};

// InvalidArgument naming the field (logging.level, logging.format) and the
// allowed values when `options` has an unknown level or format.
absl::Status ValidateLoggingOptions(const LoggingOptions& options);

// Configures spdlog's default logger (stderr). Call once from main(); code
// then logs with spdlog::info(...) etc. Safe to call again. Returns
// ValidateLoggingOptions' error and changes nothing then.
absl::Status InitLogging(const LoggingOptions& options);

// Applies `options` to the running default logger in place (level and
// line format) without replacing it, so threads that log meanwhile are
// safe: what a config reload uses. Same validation as InitLogging.
absl::Status ReconfigureLogging(const LoggingOptions& options);

// Formats log lines as JSON objects (the "json" format).
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Logs `members`, the inside of a JSON object (`"k":"v","n":1`, built with
// a JSON library so that it is well-formed), through spdlog's default
// logger; the JsonLogFormatter adds "time" and "level". Only meaningful in
// JSON mode (a text formatter would print `members` as they are).
void LogJsonFields(spdlog::level::level_enum level, absl::string_view members);

}  // namespace kvasir

#endif  // KVASIR_COMMON_LOGGING_H_
