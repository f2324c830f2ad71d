#include "server/logging_setup.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"

namespace kvasir::server {
namespace {

// A log call whose payload is JSON members carries this file name in its
// source location, which text patterns never print.
constexpr char kFieldsMarker[] = "kvasir:json-fields";

// The text pattern of kvasir::InitLogging (common/logging.cc).
constexpr char kTextPattern[] = "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v";

void Append(spdlog::memory_buf_t& dest, absl::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

}  // namespace

absl::Status InitServerLogging(const LoggingOptions& options) {
  absl::Status status = InitLogging(options);
  if (!status.ok()) return status;
  if (options.format == "json") {
    spdlog::default_logger()->set_formatter(std::make_unique<JsonFormatter>());
  }
  return absl::OkStatus();
}

absl::Status ReconfigureServerLogging(const LoggingOptions& options) {
  const spdlog::level::level_enum level =
      spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "logging.level: '", options.level,
        "' is not one of trace, debug, info, warn, error, critical, off"));
  }
  std::unique_ptr<spdlog::formatter> formatter;
  if (options.format == "json") {
    formatter = std::make_unique<JsonFormatter>();
  } else if (options.format == "text") {
    formatter = std::make_unique<spdlog::pattern_formatter>(kTextPattern);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "logging.format: '", options.format, "' is not one of text, json"));
  }
  std::shared_ptr<spdlog::logger> logger = spdlog::default_logger();
  logger->set_level(level);
  logger->set_formatter(std::move(formatter));
  return absl::OkStatus();
}

void JsonFormatter::format(const spdlog::details::log_msg& msg,
                           spdlog::memory_buf_t& dest) {
  const absl::Time time = absl::FromChrono(msg.time);
  Append(dest, "{\"time\":\"");
  Append(dest,
         absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()));
  Append(dest, "\",\"level\":\"");
  const auto& level = spdlog::level::to_string_view(msg.level);
  Append(dest, absl::string_view(level.data(), level.size()));
  Append(dest, "\",");
  const absl::string_view payload(msg.payload.data(), msg.payload.size());
  if (msg.source.filename != nullptr &&
      std::strcmp(msg.source.filename, kFieldsMarker) == 0) {
    Append(dest, payload);
  } else {
    Append(dest, "\"msg\":");
    Append(dest,
           nlohmann::json(std::string(payload))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  Append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const {
  return std::make_unique<JsonFormatter>();
}

void LogJsonFields(spdlog::level::level_enum level, absl::string_view members) {
  spdlog::default_logger_raw()->log(
      spdlog::source_loc{kFieldsMarker, 1, ""}, level,
      spdlog::string_view_t(members.data(), members.size()));
}

}  // namespace kvasir::server
