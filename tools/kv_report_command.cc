// `kvasir kv-report`: memory against quality for every attention mode and
// KV dtype of a model (tools/kv_report.h).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/text_file.h"
#include "common/units.h"
#include "engine/engine_builder.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/kv_report.h"
#include "tools/perplexity_eval.h"

namespace kvasir::tools {
namespace {

struct KvReportFlags {
  std::string model;
  std::string tokenizer;
  std::string text;
  std::string budget = "64MiB";
  int32_t ctx = 512;
  int32_t ppl_ctx = 0;  // 0: --ctx
  int32_t block_size = 16;
  int32_t threads = 0;
  bool json = false;
  // ModelSourceFromFlags reads these; the report converts per row.
  int32_t kv_heads = 0;
  bool has_kv_heads = false;
};

int RunKvReport(const KvReportFlags& flags) {
  constexpr absl::string_view kCmd = "kv-report";
  absl::StatusOr<int64_t> budget = ParseByteSize(flags.budget, "--budget");
  if (!budget.ok()) return Fail(kCmd, budget.status());
  auto bad = [&](absl::string_view flag, int64_t value,
                 absl::string_view rule) {
    return Fail(kCmd, absl::InvalidArgumentError(
                          absl::StrCat(flag, " ", value, " ", rule)));
  };
  if (*budget < 1) return bad("--budget", *budget, "must be positive");
  if (flags.ctx < 1) return bad("--ctx", flags.ctx, "must be at least 1");
  if (flags.block_size < 1 || flags.block_size > 1024) {
    return bad("--block-size", flags.block_size, "must be in [1, 1024]");
  }
  if (flags.threads < 0) {
    return bad("--threads", flags.threads, "must be >= 0 (0: all cores)");
  }
  std::string text;
  if (!flags.text.empty()) {
    absl::StatusOr<std::string> read = ReadTextFile(flags.text, "--text file");
    if (!read.ok()) return Fail(kCmd, read.status());
    text = *std::move(read);
  }

  const engine::ModelSource base = ModelSourceFromFlags(flags);
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::LoadModelForEngine(base);
  if (!model.ok()) return Fail(kCmd, model.status());
  KvReport report = BuildKvReport((*model)->config, *budget, flags.ctx,
                                  flags.block_size, KvConversionMethods());
  model->reset();  // each measurement loads its own converted copy

  if (!text.empty()) {
    report.text = flags.text;
    report.ppl_ctx = flags.ppl_ctx > 0 ? flags.ppl_ctx : flags.ctx;
    const bool tty = isatty(STDERR_FILENO) != 0;
    for (KvReportRow& row : report.rows) {
      for (size_t m = 0; m < report.methods.size(); ++m) {
        PerplexitySetup setup;
        setup.model = base;
        setup.model.kv_heads = row.kv_heads;
        absl::Status applied =
            ApplyKvConversion(report.methods[m], "--kv-convert", setup.model);
        if (!applied.ok()) return Fail(kCmd, applied);
        setup.kv_dtype = row.dtype;
        setup.ctx = report.ppl_ctx;
        setup.ctx_flag = flags.ppl_ctx > 0 ? "--ppl-ctx" : "--ctx";
        setup.threads = flags.threads;
        if (tty) {
          std::fprintf(stderr, "\r\033[Kperplexity: %s %s, %s ...",
                       row.mode.c_str(),
                       std::string(kvcache::KvDtypeName(row.dtype)).c_str(),
                       report.methods[m].c_str());
          std::fflush(stderr);
        }
        absl::StatusOr<PerplexityRun> run = MeasurePerplexity(setup, text);
        if (!run.ok()) return Fail(kCmd, run.status());
        row.ppl[m] = run->result.ppl;
      }
    }
    if (tty) std::fprintf(stderr, "\r\033[K");
  }
  if (flags.json) {
    std::printf("%s\n", KvReportJson(report).dump().c_str());
  } else {
    std::fputs(FormatKvReport(report).c_str(), stdout);
  }
  return 0;
}

}  // namespace

void AddKvReportCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<KvReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "kv-report",
      "KV bytes, sequences per budget and perplexity for every attention "
      "mode (MHA ... GQA ... MQA) and KV dtype of a model");
  cmd->add_option("--model", flags->model,
                  "GGUF file, llama2.c .bin checkpoint or dummy:<preset>")
      ->required();
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "llama2.c tokenizer .bin (needed for .bin checkpoints)");
  cmd->add_option("--text", flags->text,
                  "measure perplexity on this text file (as `kvasir "
                  "perplexity`) for every row and conversion method");
  cmd->add_option("--budget", flags->budget,
                  "KV bytes to fill with sequences (default 64MiB)");
  cmd->add_option("--ctx", flags->ctx, "tokens per sequence (default 512)");
  cmd->add_option("--ppl-ctx", flags->ppl_ctx,
                  "perplexity chunk size (default: --ctx)");
  cmd->add_option("--block-size", flags->block_size,
                  "tokens per KV block (default 16, as kv_cache.block_size)");
  cmd->add_option("--threads", flags->threads, "0 = all cores");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->callback([flags, exit_code] { *exit_code = RunKvReport(*flags); });
}

}  // namespace kvasir::tools
