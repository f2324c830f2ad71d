#include "server/logging_setup.h"

#include <cstring>
#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace kvasir::server {
namespace {

// A log call whose payload is JSON members carries this file name in its
// source location, which text patterns never print.
constexpr char kFieldsMarker[] = "kvasir:json-fields";

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
