#ifndef KVASIR_TOOLS_COMMAND_UTIL_H_
#define KVASIR_TOOLS_COMMAND_UTIL_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/engine_builder.h"
#include "engine/model/kv_heads.h"

namespace kvasir::tools {

// How --kv-heads merges heads: `--kv-convert mean|calibrated` and
// `--calibration FILE` (the text `calibrated` fits to; none: text the model
// samples from its BOS). A command adds them with AddKvConvertFlags and
// keeps them as a member `kv_convert` of its flags, where
// ModelSourceFromFlags finds them.
struct KvConvertFlags {
  std::string method = "mean";  // checked by CLI11 against the valid names
  std::string calibration;
};
void AddKvConvertFlags(CLI::App* cmd, KvConvertFlags* flags);

// --threads (0: all cores), checked against engine::kMaxNumThreads: a
// usage error, not a crash in the OpenMP runtime.
void AddThreadsFlag(CLI::App* cmd, int32_t* threads,
                    const std::string& help = "0 = all cores");

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
// --tokenizer and --kv-heads flags (`has_kv_heads`: --kv-heads was given),
// and --kv-convert / --calibration when the flags have a `kv_convert`.
template <typename Flags>
engine::ModelSource ModelSourceFromFlags(const Flags& flags) {
  engine::ModelSource source;
  source.path = flags.model;
  source.tokenizer = flags.tokenizer;
  if (flags.has_kv_heads) source.kv_heads = flags.kv_heads;
  if constexpr (requires { flags.kv_convert.method; }) {
    // CLI11 already refused other names.
    source.kv_conversion =
        engine::ParseKvConversion(flags.kv_convert.method, "--kv-convert")
            .value_or(engine::KvConversion::kMean);
    source.calibration_text = flags.kv_convert.calibration;
  }
  return source;
}

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMAND_UTIL_H_
