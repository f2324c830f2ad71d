#ifndef KVASIR_SERVER_RPC_PARSED_REQUEST_H_
#define KVASIR_SERVER_RPC_PARSED_REQUEST_H_

// Requests the services parse themselves.
//
// When gRPC's callback handler cannot parse a request (invalid UTF-8 in a
// proto3 string field, bytes that are not protobuf), grpc++ 1.51 ends the
// call with UNIMPLEMENTED and an empty message (server_callback_handlers.h)
// before any code of ours runs. The services therefore register their
// methods with Parsed<Request> as the request type: its SerializationTraits
// (below) always hand the call to the service, with the parse error in
// `status`, and the service finishes the call with INVALID_ARGUMENT saying
// what could not be parsed (UnparsedStatus; the handlers below). Responses are
// the generated messages, serialized by gRPC as usual.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/impl/codegen/serialization_traits.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "server/rpc/status_mapping.h"

namespace kvasir::server {

// A request as the service receives it: `message` is valid only when
// `status` is OK.
template <typename Message>
struct Parsed {
  Message message;
  absl::Status status;
};

// Parses `buffer` (consumed, as gRPC's own deserializer does) into
// `message`. InvalidArgument when it cannot, saying why: which string field
// is not valid UTF-8 (by its path, "stop_sequences"), or that the bytes are
// not protobuf wire data, or no message at all.
absl::Status ParseRequestBuffer(grpc::ByteBuffer* buffer,
                                google::protobuf::Message* message);

// The status a call whose request could not be parsed ends with:
// InvalidArgument "<method>: the request could not be parsed as a
// <type>: <why>". `method` is the full name ("kvasir.v1.Generation/Generate").
absl::Status UnparsedStatus(const absl::Status& parse_error,
                            absl::string_view method,
                            absl::string_view type_name);

// A server-streaming reactor that ends its call at once with `status`
// (for a request that could not be parsed). Deletes itself when done.
template <typename Response>
class FinishedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FinishedWriteReactor(const grpc::Status& status) {
    this->Finish(status);
  }
  void OnDone() override { delete this; }
};

// The handlers a service registers (grpc::Service::MarkMethodCallback) for
// the method `name` ("kvasir.v1.Generation/Generate"): each parses the
// request and calls `method` with it, or ends the call with
// UnparsedStatus. `method` is what the generated CallbackService would
// call: (context, const Request*, Response*) -> ServerUnaryReactor* for a
// unary method, (context, const Request*) -> ServerWriteReactor<Response>*
// for a server-streaming one.
template <typename Request, typename Response, typename Method>
grpc::internal::MethodHandler* ParsingUnaryHandler(absl::string_view name,
                                                   Method method) {
  return new grpc::internal::CallbackUnaryHandler<Parsed<Request>, Response>(
      [name, method](grpc::CallbackServerContext* context,
                     const Parsed<Request>* request, Response* response) {
        if (request->status.ok()) {
          return method(context, &request->message, response);
        }
        grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
        reactor->Finish(ToGrpcStatus(UnparsedStatus(
            request->status, name, Request::descriptor()->full_name())));
        return reactor;
      });
}

template <typename Request, typename Response, typename Method>
grpc::internal::MethodHandler* ParsingStreamHandler(absl::string_view name,
                                                    Method method) {
  return new grpc::internal::CallbackServerStreamingHandler<Parsed<Request>,
                                                            Response>(
      [name, method](grpc::CallbackServerContext* context,
                     const Parsed<Request>* request)
          -> grpc::ServerWriteReactor<Response>* {
        if (request->status.ok()) return method(context, &request->message);
        return new FinishedWriteReactor<Response>(ToGrpcStatus(UnparsedStatus(
            request->status, name, Request::descriptor()->full_name())));
      });
}

}  // namespace kvasir::server

namespace grpc {

// Hands every request to the service: a parse failure is recorded in
// Parsed::status instead of failing the call inside gRPC.
template <typename Message>
class SerializationTraits<kvasir::server::Parsed<Message>, void> {
 public:
  static Status Serialize(const kvasir::server::Parsed<Message>& parsed,
                          ByteBuffer* buffer, bool* own_buffer) {
    return SerializationTraits<Message>::Serialize(parsed.message, buffer,
                                                   own_buffer);
  }
  static Status Deserialize(ByteBuffer* buffer,
                            kvasir::server::Parsed<Message>* parsed) {
    parsed->status =
        kvasir::server::ParseRequestBuffer(buffer, &parsed->message);
    return Status::OK;
  }
};

}  // namespace grpc

#endif  // KVASIR_SERVER_RPC_PARSED_REQUEST_H_
