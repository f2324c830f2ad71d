#include "server/rpc/status_mapping.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace kvasir::server {

absl::Status RefusalStatus(const absl::Status& submit_error) {
  const std::optional<engine::Refusal> refusal =
      engine::RefusalOf(submit_error);
  if (refusal == engine::Refusal::kUnknownTenant) {
    return absl::UnauthenticatedError(
        absl::StrCat("the API key's tenant is no longer configured (a config "
                     "reload removed it): ",
                     submit_error.message()));
  }
  return submit_error;
}

absl::Status FinishStatus(const engine::FinishInfo& info,
                          absl::Duration drain_timeout) {
  switch (info.reason) {
    case engine::FinishReason::kLength:
    case engine::FinishReason::kEos:
    case engine::FinishReason::kStop:
      return absl::OkStatus();
    case engine::FinishReason::kCancelled:
      return absl::CancelledError(absl::StrCat(
          "the call was cancelled (the client cancelled or went away, or "
          "its deadline passed) after ",
          info.generated_tokens, " generated tokens"));
    case engine::FinishReason::kTenantRemoved:
      return absl::CancelledError(absl::StrCat(
          "request cancelled by the server after ", info.generated_tokens,
          " generated tokens: a config reload removed its tenant"));
    case engine::FinishReason::kDrainTimeout:
      return absl::UnavailableError(absl::StrCat(
          "the server is shutting down: the request was cancelled after ",
          info.generated_tokens,
          " generated tokens because it did not finish within the drain "
          "timeout (server.drain_timeout ",
          absl::FormatDuration(drain_timeout), "); retry on another replica"));
    case engine::FinishReason::kDeadline:
      return absl::DeadlineExceededError(
          absl::StrCat("the request's deadline passed after ",
                       absl::FormatDuration(info.total_time), " (",
                       info.generated_tokens, " tokens generated, queued for ",
                       absl::FormatDuration(info.queue_time), ")"));
    case engine::FinishReason::kError:
      break;
  }
  if (!info.error.ok()) return info.error;
  return absl::InternalError("the request failed without an error message");
}

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

HttpError ToHttpError(const absl::Status& status) {
  const std::optional<engine::Refusal> refusal = engine::RefusalOf(status);
  const std::string refusal_name =
      refusal.has_value() ? std::string(engine::RefusalName(*refusal)) : "";
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return {200, "", ""};
    case absl::StatusCode::kInvalidArgument:
      if (refusal == engine::Refusal::kPromptTooLong) {
        // 400, as OpenAI's and vLLM's (their SDKs raise BadRequestError).
        return {400, "invalid_request_error", "context_length_exceeded"};
      }
      return {400, "invalid_request_error", "invalid_value"};
    case absl::StatusCode::kFailedPrecondition:
      return {400, "invalid_request_error", "unsupported"};
    case absl::StatusCode::kOutOfRange:
      return {413, "invalid_request_error", "request_too_large"};
    case absl::StatusCode::kUnauthenticated:
      return {401, "authentication_error", "invalid_api_key"};
    case absl::StatusCode::kPermissionDenied:
      return {403, "permission_error", "permission_denied"};
    case absl::StatusCode::kNotFound:
      return {404, "invalid_request_error", "not_found"};
    case absl::StatusCode::kResourceExhausted:
      return {429, "rate_limit_error",
              refusal_name.empty() ? "resource_exhausted" : refusal_name};
    case absl::StatusCode::kCancelled:
      return {499, "request_cancelled", "cancelled"};
    case absl::StatusCode::kUnavailable:
      return {503, "service_unavailable_error",
              refusal_name.empty() ? "unavailable" : refusal_name};
    case absl::StatusCode::kDeadlineExceeded:
      return {504, "timeout_error", "deadline_exceeded"};
    case absl::StatusCode::kUnimplemented:
      return {501, "server_error", "unimplemented"};
    default:
      break;
  }
  return {500, "server_error", "internal_error"};
}

absl::Status BodyTooLargeError(int64_t size, int64_t max_bytes) {
  return absl::OutOfRangeError(absl::StrCat(
      "the request body", size >= 0 ? absl::StrCat(" (", size, " bytes)") : "",
      " is over the server's limit of ", max_bytes,
      " bytes (server.http_max_body_bytes)"));
}

}  // namespace kvasir::server
