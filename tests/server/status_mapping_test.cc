#include "server/status_mapping.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir::server {
namespace {

TEST(StatusMappingTest, CodesAndMessagesCarryOver) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const struct {
    absl::Status in;
    grpc::StatusCode code;
  } cases[] = {
      {absl::InvalidArgumentError("top_p 2 must be in (0, 1]"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {absl::UnauthenticatedError("missing API key"),
       grpc::StatusCode::UNAUTHENTICATED},
      {absl::ResourceExhaustedError("queue full"),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::DeadlineExceededError("late"),
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::CancelledError("gone"), grpc::StatusCode::CANCELLED},
      {absl::UnavailableError("draining"), grpc::StatusCode::UNAVAILABLE},
      {absl::PermissionDeniedError("no"), grpc::StatusCode::PERMISSION_DENIED},
      {absl::NotFoundError("x"), grpc::StatusCode::NOT_FOUND},
      {absl::InternalError("bug"), grpc::StatusCode::INTERNAL},
      {absl::FailedPreconditionError("p"),
       grpc::StatusCode::FAILED_PRECONDITION},
  };
  for (const auto& c : cases) {
    const grpc::Status s = ToGrpcStatus(c.in);
    EXPECT_EQ(s.error_code(), c.code) << c.in;
    EXPECT_EQ(s.error_message(), std::string(c.in.message()));
  }
}

TEST(StatusMappingTest, UnknownCodeBecomesUnknown) {
  // absl keeps codes it does not know as kUnknown; so does the mapping.
  const grpc::Status s =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("odd"));
}

}  // namespace
}  // namespace kvasir::server
