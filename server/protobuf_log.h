#ifndef KVASIR_SERVER_PROTOBUF_LOG_H_
#define KVASIR_SERVER_PROTOBUF_LOG_H_

// Protobuf writes its own log lines ("[libprotobuf ERROR ...] String field
// ... contains invalid UTF-8 data") straight to stderr, which breaks a JSON
// log. RouteProtobufLogs hands them to spdlog's default logger instead, so
// they come out in the server's format ("protobuf: <message>
// (<file>:<line>)"). Protobuf's handler is process-wide: the server installs
// it at start; calling it again changes nothing.

namespace kvasir::server {

void RouteProtobufLogs();

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_PROTOBUF_LOG_H_
