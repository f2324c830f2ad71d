#include "server/rpc/status_mapping.h"

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

TEST(StatusMappingTest, EveryFinishReasonHasItsStatus) {
  using engine::FinishReason;
  const struct {
    FinishReason reason;
    absl::StatusCode code;
    const char* says;
  } cases[] = {
      {FinishReason::kLength, absl::StatusCode::kOk, ""},
      {FinishReason::kEos, absl::StatusCode::kOk, ""},
      {FinishReason::kStop, absl::StatusCode::kOk, ""},
      {FinishReason::kCancelled, absl::StatusCode::kCancelled,
       "the client cancelled or went away"},
      {FinishReason::kTenantRemoved, absl::StatusCode::kCancelled,
       "a config reload removed its tenant"},
      {FinishReason::kDrainTimeout, absl::StatusCode::kUnavailable,
       "server.drain_timeout 5s"},
      {FinishReason::kDeadline, absl::StatusCode::kDeadlineExceeded,
       "deadline passed"},
  };
  for (const auto& c : cases) {
    engine::FinishInfo info;
    info.reason = c.reason;
    info.generated_tokens = 3;
    const absl::Status s = FinishStatus(info, absl::Seconds(5));
    EXPECT_EQ(s.code(), c.code) << engine::FinishReasonName(c.reason);
    EXPECT_THAT(s.message(), ::testing::HasSubstr(c.says)) << s;
  }
  engine::FinishInfo failed;
  failed.reason = FinishReason::kError;
  failed.error = absl::ResourceExhaustedError("can never fit now");
  EXPECT_EQ(FinishStatus(failed, absl::Seconds(5)), failed.error);
}

TEST(StatusMappingTest, RefusalsKeepTheirCodeButAnUnknownTenant) {
  const absl::Status gone =
      engine::WithRefusal(absl::NotFoundError("unknown tenant 'b'"),
                          engine::Refusal::kUnknownTenant);
  const absl::Status s = RefusalStatus(gone);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(s.message(),
              ::testing::AllOf(::testing::HasSubstr("no longer configured"),
                               ::testing::HasSubstr("unknown tenant 'b'")));
  for (const engine::Refusal r :
       {engine::Refusal::kNeverFits, engine::Refusal::kTenantQueueFull,
        engine::Refusal::kQueueFull}) {
    const absl::Status full =
        engine::WithRefusal(absl::ResourceExhaustedError("full"), r);
    EXPECT_EQ(RefusalStatus(full), full) << engine::RefusalName(r);
  }
  const absl::Status down = engine::WithRefusal(absl::UnavailableError("down"),
                                                engine::Refusal::kShuttingDown);
  EXPECT_EQ(RefusalStatus(down), down);
}

// The HTTP column of the table: the same absl::Status (from RefusalStatus
// and FinishStatus) gives the gRPC code and the HTTP status.
TEST(StatusMappingTest, HttpStatusOfEveryOutcome) {
  using engine::Refusal;
  using engine::WithRefusal;
  const struct {
    absl::Status in;
    int status;
    const char* type;
    const char* code;
  } cases[] = {
      {absl::InvalidArgumentError("temperature: -1"), 400,
       "invalid_request_error", "invalid_value"},
      {WithRefusal(absl::InvalidArgumentError("prompt: has 3000 tokens"),
                   Refusal::kPromptTooLong),
       400, "invalid_request_error", "context_length_exceeded"},
      {BodyTooLargeError(10, 5), 413, "invalid_request_error",
       "request_too_large"},
      {absl::FailedPreconditionError("no chat template"), 400,
       "invalid_request_error", "unsupported"},
      {absl::UnauthenticatedError("unknown API key"), 401,
       "authentication_error", "invalid_api_key"},
      {absl::NotFoundError("model 'x'"), 404, "invalid_request_error",
       "not_found"},
      {WithRefusal(absl::ResourceExhaustedError("queue"),
                   Refusal::kTenantQueueFull),
       429, "rate_limit_error", "tenant_queue_full"},
      {WithRefusal(absl::ResourceExhaustedError("never"), Refusal::kNeverFits),
       429, "rate_limit_error", "never_fits"},
      {WithRefusal(absl::ResourceExhaustedError("queue"), Refusal::kQueueFull),
       429, "rate_limit_error", "queue_full"},
      {WithRefusal(absl::UnavailableError("down"), Refusal::kShuttingDown), 503,
       "service_unavailable_error", "shutting_down"},
      {absl::UnavailableError("draining"), 503, "service_unavailable_error",
       "unavailable"},
      {absl::DeadlineExceededError("late"), 504, "timeout_error",
       "deadline_exceeded"},
      {absl::CancelledError("gone"), 499, "request_cancelled", "cancelled"},
      {absl::InternalError("bug"), 500, "server_error", "internal_error"},
  };
  for (const auto& c : cases) {
    const HttpError e = ToHttpError(c.in);
    EXPECT_EQ(e.status, c.status) << c.in;
    EXPECT_EQ(e.type, c.type) << c.in;
    EXPECT_EQ(e.code, c.code) << c.in;
  }
  // Finishes: a deadline is 504, a drain timeout 503, like gRPC's codes.
  engine::FinishInfo late;
  late.reason = engine::FinishReason::kDeadline;
  EXPECT_EQ(ToHttpError(FinishStatus(late, absl::Seconds(1))).status, 504);
  engine::FinishInfo drained;
  drained.reason = engine::FinishReason::kDrainTimeout;
  EXPECT_EQ(ToHttpError(FinishStatus(drained, absl::Seconds(1))).status, 503);
  EXPECT_THAT(std::string(BodyTooLargeError(-1, 5).message()),
              ::testing::HasSubstr("server.http_max_body_bytes"));
}

}  // namespace
}  // namespace kvasir::server
