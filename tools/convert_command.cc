// `kvasir convert IN OUT --kv-heads N [--kv-convert mean|calibrated]
// [--calibration FILE]`: writes a GGUF model with another number of K/V
// heads, so the conversion (and a calibration pass) runs once instead of at
// every load. The work is engine::ConvertModelFile; this file parses flags
// and reports.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "common/units.h"
#include "engine/model/convert_model.h"
#include "tools/command_util.h"
#include "tools/commands.h"

namespace kvasir::tools {
namespace {

struct ConvertFlags {
  std::string input;
  std::string output;
  int32_t kv_heads = 0;
  KvConvertFlags kv_convert;
  int32_t threads = 0;
};

int RunConvert(const ConvertFlags& flags) {
  engine::ConvertOptions options;
  options.input = flags.input;
  options.output = flags.output;
  options.kv_heads = flags.kv_heads;
  // CLI11 already refused other names.
  options.method =
      engine::ParseKvConversion(flags.kv_convert.method, "--kv-convert")
          .value_or(engine::KvConversion::kMean);
  options.calibration.text_file = flags.kv_convert.calibration;
  options.calibration.num_threads = flags.threads;
  absl::StatusOr<engine::ConvertSummary> summary =
      engine::ConvertModelFile(options);
  if (!summary.ok()) return Fail("convert", summary.status());
  std::fprintf(
      stderr,
      "converted %s -> %s: %d -> %d KV heads (%s), %d tensors "
      "rewritten, %s\n",
      flags.input.c_str(), flags.output.c_str(), summary->from_kv_heads,
      summary->to_kv_heads, flags.kv_convert.method.c_str(),
      summary->rewritten_tensors,
      FormatByteSize(static_cast<int64_t>(summary->output_bytes)).c_str());
  return 0;
}

}  // namespace

void AddConvertCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ConvertFlags>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Write a GGUF model with another number of K/V heads (MHA/GQA/MQA), "
      "mean-pooled or calibrated");
  cmd->add_option("IN", flags->input, "GGUF model file")->required();
  cmd->add_option("OUT", flags->output, "GGUF file to write")->required();
  cmd->add_option("--kv-heads", flags->kv_heads,
                  "K/V heads of the output: a divisor of the model's (merge) "
                  "or a multiple of it that divides the query heads "
                  "(duplicate)")
      ->required();
  AddKvConvertFlags(cmd, &flags->kv_convert);
  AddThreadsFlag(cmd, &flags->threads,
                 "threads of the calibration pass; 0 = all cores");
  cmd->callback([flags, exit_code] { *exit_code = RunConvert(*flags); });
}

}  // namespace kvasir::tools
