#include "common/field_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kvasir {
namespace {

constexpr absl::string_view kFieldPayload = "type.kvasir.dev/field";

}  // namespace

absl::Status FieldError(absl::string_view path, absl::string_view message) {
  absl::Status status =
      absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
  status.SetPayload(kFieldPayload, absl::Cord(path));
  return status;
}

std::optional<std::string> FieldOf(const absl::Status& status) {
  const auto path = status.GetPayload(kFieldPayload);
  if (!path.has_value()) return std::nullopt;
  return std::string(*path);
}

absl::Status RenameField(const absl::Status& status, absl::string_view path) {
  const std::optional<std::string> old = FieldOf(status);
  if (!old.has_value()) return status;
  absl::string_view message = status.message();
  const std::string prefix = absl::StrCat(*old, ": ");
  if (absl::StartsWith(message, prefix)) message.remove_prefix(prefix.size());
  absl::Status renamed = FieldError(path, message);
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (url != kFieldPayload) renamed.SetPayload(url, value);
  });
  return renamed;
}

}  // namespace kvasir
