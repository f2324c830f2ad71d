#include "common/logging.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/bounded_text.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace kvasir {
namespace {

// A log call whose payload is JSON members carries this file name in its
// source location, which text patterns never print.
constexpr char kFieldsMarker[] = "kvasir:json-fields";

constexpr char kTextPattern[] = "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v";

void Append(spdlog::memory_buf_t& dest, absl::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// The JSON string literal of `s`: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
std::string JsonString(absl::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The formatter `options` asks for. Call after ValidateLoggingOptions.
std::unique_ptr<spdlog::formatter> MakeFormatter(
    const LoggingOptions& options) {
  if (options.format == "json") return std::make_unique<JsonLogFormatter>();
  return std::make_unique<spdlog::pattern_formatter>(kTextPattern);
}

}  // namespace

absl::Status ValidateLoggingOptions(const LoggingOptions& options) {
  const spdlog::level::level_enum level =
      spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "logging.level: ", Quoted(options.level),
        " is not one of trace, debug, info, warn, error, critical, off"));
  }
  if (options.format != "text" && options.format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("logging.format: ", Quoted(options.format),
                     " is not one of text, json"));
  }
  return absl::OkStatus();
}

absl::Status InitLogging(const LoggingOptions& options) {
  if (absl::Status s = ValidateLoggingOptions(options); !s.ok()) return s;
  auto logger = std::make_shared<spdlog::logger>(
      "kvasir", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(MakeFormatter(options));
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

absl::Status ReconfigureLogging(const LoggingOptions& options) {
  if (absl::Status s = ValidateLoggingOptions(options); !s.ok()) return s;
  std::shared_ptr<spdlog::logger> logger = spdlog::default_logger();
  logger->set_level(spdlog::level::from_str(options.level));
  logger->set_formatter(MakeFormatter(options));
  return absl::OkStatus();
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg,
                              spdlog::memory_buf_t& dest) {
  const absl::Time time = absl::FromChrono(msg.time);
  Append(dest, "{\"time\":\"");
  Append(dest,
         absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()));
  Append(dest, "\",\"level\":");
  const auto& level = spdlog::level::to_string_view(msg.level);
  Append(dest, JsonString(absl::string_view(level.data(), level.size())));
  Append(dest, ",");
  const absl::string_view payload(msg.payload.data(), msg.payload.size());
  if (msg.source.filename != nullptr &&
      std::strcmp(msg.source.filename, kFieldsMarker) == 0) {
    Append(dest, payload);
  } else {
    Append(dest, "\"msg\":");
    Append(dest, JsonString(payload));
  }
  Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

void LogJsonFields(spdlog::level::level_enum level, absl::string_view members) {
  spdlog::default_logger_raw()->log(
      spdlog::source_loc{kFieldsMarker, 1, ""}, level,
      spdlog::string_view_t(members.data(), members.size()));
}

}  // namespace kvasir
