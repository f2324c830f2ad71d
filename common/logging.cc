#include "common/logging.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace kvasir {

absl::Status InitLogging(const LoggingOptions& options) {
  spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "logging.level: '", options.level,
        "' is not one of trace, debug, info, warn, error, critical, off"));
  }
  std::string pattern;
  if (options.format == "text") {
    pattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v";
  } else if (options.format == "json") {
    // Messages logged in JSON mode are plain text; the pattern escapes
    // nothing, so callers that log structured fields pass JSON-safe text.
    pattern =
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "logging.format: '", options.format, "' is not one of text, json"));
  }
  auto logger = std::make_shared<spdlog::logger>(
      "kvasir", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern(pattern);
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace kvasir
