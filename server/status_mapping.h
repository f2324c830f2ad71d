#ifndef KVASIR_SERVER_STATUS_MAPPING_H_
#define KVASIR_SERVER_STATUS_MAPPING_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace kvasir::server {

// THE mapping of absl::Status to grpc::Status: same code (the two enums
// share their numbering), same message. Codes gRPC does not know become
// UNKNOWN with the original code named in the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_STATUS_MAPPING_H_
