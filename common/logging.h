#ifndef KVASIR_COMMON_LOGGING_H_
#define KVASIR_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include <string>

#include "absl/strings/string_view.h"

namespace kvasir {

struct LoggingOptions {
  // trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // "text": human-readable lines; "json": one JSON object per line.
  std::string format = "text";
};

// Configures spdlog's default logger (stderr). Call once from main(); code
// then logs with spdlog::info(...) etc. Returns InvalidArgument naming the
// field for an unknown level or format.
absl::Status InitLogging(const LoggingOptions& options);

}  // namespace kvasir

#endif  // KVASIR_COMMON_LOGGING_H_
