#ifndef KVASIR_COMMON_FIELD_ERROR_H_
#define KVASIR_COMMON_FIELD_ERROR_H_

// Errors that name the field of a request they are about.
//
// The engine validates requests in its own vocabulary (the path of the
// field in engine::Request, e.g. "stopping.max_new_tokens", "prompt[3]");
// each front end speaks another ("token_ids.ids[3]" in gRPC, "prompt" or
// "max_tokens" in OpenAI's JSON). The path travels as a payload of the
// status, so a front end renames it without parsing the message.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kvasir {

// InvalidArgument "<path>: <message>", with `path` attached.
absl::Status FieldError(absl::string_view path, absl::string_view message);

// The path FieldError attached, if any.
std::optional<std::string> FieldOf(const absl::Status& status);

// `status` with its field renamed to `path` (the message's leading path
// too); other statuses are returned as they are.
absl::Status RenameField(const absl::Status& status, absl::string_view path);

}  // namespace kvasir

#endif  // KVASIR_COMMON_FIELD_ERROR_H_
