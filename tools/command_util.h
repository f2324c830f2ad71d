#ifndef KVASIR_TOOLS_COMMAND_UTIL_H_
#define KVASIR_TOOLS_COMMAND_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/engine_builder.h"

namespace kvasir::tools {

// Exit status of a command that failed with `status`: 2 when the input was
// bad (a missing or malformed file, a bad flag value), 1 otherwise. The same
// convention as CLI usage errors (see main.cc), so scripts can tell "fix your
// command" from "something broke".
int ExitCodeFor(const absl::Status& status);

// Prints "kvasir <command>: <message>" to stderr and returns
// ExitCodeFor(status).
int Fail(absl::string_view command, const absl::Status& status);

// "f32 (default), bf16, ...": every kvcache::KvDtype, for --kv-dtype's
// help.
std::string KvDtypeHelp();

// The model `generate` and `bench` load, from their shared --model,
// --tokenizer and --kv-heads flags (`has_kv_heads`: --kv-heads was given).
template <typename Flags>
engine::ModelSource ModelSourceFromFlags(const Flags& flags) {
  engine::ModelSource source;
  source.path = flags.model;
  source.tokenizer = flags.tokenizer;
  if (flags.has_kv_heads) source.kv_heads = flags.kv_heads;
  return source;
}

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMAND_UTIL_H_
