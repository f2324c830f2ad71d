#ifndef KVASIR_COMMON_TEXT_FILE_H_
#define KVASIR_COMMON_TEXT_FILE_H_

// Reading a whole (small) file the operator named: a config, a template.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir {

// The bytes of the file at `path`. Errors say "<what> '<path>': <reason>":
// NotFound when it does not exist, InvalidArgument when it cannot be
// opened or read or is a directory.
absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         absl::string_view what);

}  // namespace kvasir

#endif  // KVASIR_COMMON_TEXT_FILE_H_
