#include "server/status_mapping.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace kvasir::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  std::string message(status.message());
  if (code < static_cast<int>(grpc::StatusCode::CANCELLED) ||
      code > static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)) {
    return grpc::Status(grpc::StatusCode::UNKNOWN,
                        absl::StrCat("(status code ", code, ") ", message));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::move(message));
}

}  // namespace kvasir::server
