#include "server/protobuf_log.h"

#include <string>

#include "google/protobuf/stubs/logging.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

void LogThroughSpdlog(google::protobuf::LogLevel level, const char* filename,
                      int line, const std::string& message) {
  spdlog::level::level_enum to = spdlog::level::info;
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      to = spdlog::level::info;
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      to = spdlog::level::warn;
      break;
    case google::protobuf::LOGLEVEL_ERROR:
      // In a server protobuf logs errors about data a client sent (invalid
      // UTF-8 in a string field), which the call's INVALID_ARGUMENT already
      // reports: at error level any client could flood the error log.
      to = spdlog::level::warn;
      break;
    case google::protobuf::LOGLEVEL_FATAL:
      to = spdlog::level::critical;
      break;
  }
  spdlog::log(to, "protobuf: {} ({}:{})", message,
              filename != nullptr ? filename : "?", line);
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&LogThroughSpdlog); }

}  // namespace kvasir::server
