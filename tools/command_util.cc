#include "tools/command_util.h"

#include <cstdio>
#include <string>

#include "engine/model/llama_runner.h"
#include "kvcache/kv_layout.h"

namespace kvasir::tools {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

std::string KvDtypeHelp() {
  std::string help;
  for (kvcache::KvDtype d : kvcache::AllKvDtypes()) {
    if (!help.empty()) help += ", ";
    help += std::string(kvcache::KvDtypeName(d));
    if (d == kvcache::KvDtype::kF32) help += " (default)";
  }
  return "KV cache element type: " + help;
}

void AddThreadsFlag(CLI::App* cmd, int32_t* threads, const std::string& help) {
  cmd->add_option("--threads", *threads, help)
      ->check(CLI::Range(0, engine::kMaxNumThreads));
}

void AddKvConvertFlags(CLI::App* cmd, KvConvertFlags* flags) {
  cmd->add_option("--kv-convert", flags->method,
                  "how --kv-heads merges K/V heads: mean (default) or "
                  "calibrated (fitted on --calibration text)")
      ->check(CLI::IsMember(
          {std::string(engine::KvConversionName(engine::KvConversion::kMean)),
           std::string(
               engine::KvConversionName(engine::KvConversion::kCalibrated))}));
  cmd->add_option("--calibration", flags->calibration,
                  "text file --kv-convert calibrated fits to (default: text "
                  "the model samples from its BOS)");
}

int Fail(absl::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "kvasir %s: %s\n", std::string(command).c_str(),
               std::string(status.message()).c_str());
  return ExitCodeFor(status);
}

}  // namespace kvasir::tools
