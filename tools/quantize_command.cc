// `kvasir quantize IN OUT --type T`: re-encodes a GGUF llama model (or a
// dummy:<preset> with a real vocabulary) to another tensor type, with
// llama.cpp's per-tensor mixes. The work is engine::QuantizeModel; this file
// parses flags and prints progress.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "common/units.h"
#include "engine/model/gguf_types.h"
#include "engine/model/quant_mix.h"
#include "engine/model/quantize_model.h"
#include "tools/command_util.h"
#include "tools/commands.h"

namespace kvasir::tools {
namespace {

struct QuantizeFlags {
  std::string input;
  std::string output;
  std::string type;
  std::string vocab_from;
  uint64_t seed = 0;
};

// "[ 3/57] blk.0.attn_v.weight [288, 288] F32 -> Q8_0 (Q6_K needs rows of
// 256)" on stderr, so stdout stays free for scripts.
void PrintProgress(const engine::QuantizedTensor& t) {
  std::string note;
  if (t.wanted_type != t.type) {
    note = absl::StrFormat(" (%s needs rows that are a multiple of its block)",
                           engine::gguf::TensorTypeName(t.wanted_type));
  }
  const int width = static_cast<int>(absl::StrFormat("%d", t.count).size());
  std::fprintf(stderr, "[%*d/%d] %-28s %-14s %5s -> %-5s %10s%s\n", width,
               t.index + 1, t.count, t.name.c_str(), t.shape.c_str(),
               engine::gguf::TensorTypeName(t.from_type).c_str(),
               engine::gguf::TensorTypeName(t.type).c_str(),
               FormatByteSize(static_cast<int64_t>(t.bytes)).c_str(),
               note.c_str());
}

int RunQuantize(const QuantizeFlags& flags) {
  engine::QuantizeOptions options;
  options.input = flags.input;
  options.output = flags.output;
  options.type = flags.type;
  options.vocab_from = flags.vocab_from;
  options.seed = flags.seed;
  absl::StatusOr<engine::QuantizeSummary> summary =
      engine::QuantizeModel(options, PrintProgress);
  if (!summary.ok()) return Fail("quantize", summary.status());
  const auto in = static_cast<int64_t>(summary->input_bytes);
  const auto out = static_cast<int64_t>(summary->output_bytes);
  std::fprintf(
      stderr,
      "quantized %s (%s) -> %s (%s): %s, %.2f bits per weight, "
      "%.2fx smaller, general.file_type %u\n",
      flags.input.c_str(), FormatByteSize(in).c_str(), flags.output.c_str(),
      FormatByteSize(out).c_str(), flags.type.c_str(), summary->BitsPerWeight(),
      out > 0 ? static_cast<double>(in) / out : 0.0, summary->file_type);
  return 0;
}

}  // namespace

void AddQuantizeCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Re-encode a GGUF llama model (or a dummy:<preset>) to another tensor "
      "type, with llama.cpp's per-tensor mixes");
  cmd->add_option("IN", flags->input,
                  "GGUF file, or dummy:<preset> (15m, 110m, 1b) with "
                  "--vocab-from")
      ->required();
  cmd->add_option("OUT", flags->output, "GGUF file to write")->required();
  cmd->add_option("--type", flags->type,
                  "tensor type: " + engine::QuantMixNames() +
                      " (_m: Q6_K for the output and for attn_v/ffn_down of "
                      "some layers)")
      ->required();
  cmd->add_option("--vocab-from", flags->vocab_from,
                  "GGUF file whose tokenizer metadata a dummy model gets "
                  "(its token count must equal the preset's vocab size)");
  cmd->add_option("--seed", flags->seed, "seed of a dummy model's weights");
  cmd->callback([flags, exit_code] { *exit_code = RunQuantize(*flags); });
}

}  // namespace kvasir::tools
