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
      to = spdlog::level::err;
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
