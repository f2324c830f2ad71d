// `kvasir kv-report`: memory against quality for every attention mode and
// KV dtype of a model (tools/kv_report.h).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/text_file.h"
#include "common/units.h"
#include "engine/engine_builder.h"
#include "engine/model/kv_calibration.h"
#include "engine/model/kv_heads.h"
#include "engine/model/kv_heads_calibrated.h"
#include "kvcache/kv_layout.h"
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
  std::string calibration;  // empty: text the model generates
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
  if (flags.block_size < 1 || flags.block_size > kvcache::kMaxBlockSize) {
    return bad("--block-size", flags.block_size,
               absl::StrCat("must be in [1, ", kvcache::kMaxBlockSize, "]"));
  }
  std::string text;
  if (!flags.text.empty()) {
    absl::StatusOr<std::string> read = ReadTextFile(flags.text, "--text file");
    if (!read.ok()) return Fail(kCmd, read.status());
    text = *std::move(read);
    // An empty text would silently drop the perplexity columns.
    if (text.empty()) {
      return Fail(kCmd, absl::InvalidArgumentError(
                            absl::StrCat("--text file '", flags.text,
                                         "' is empty: perplexity needs text")));
    }
  }

  const engine::ModelSource base = ModelSourceFromFlags(flags);
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::LoadModelForEngine(base);
  if (!model.ok()) return Fail(kCmd, model.status());
  const std::vector<engine::KvConversion> methods = KvConversionMethods();
  std::vector<std::string> method_names;
  for (engine::KvConversion m : methods) {
    method_names.emplace_back(engine::KvConversionName(m));
  }
  KvReport report = BuildKvReport((*model)->config, *budget, flags.ctx,
                                  flags.block_size, method_names);

  if (!text.empty()) {
    report.text = flags.text;
    report.ppl_ctx = flags.ppl_ctx > 0 ? flags.ppl_ctx : flags.ctx;
    report.calibration = flags.calibration;
    // Before the calibration pass, with MeasurePerplexity's message.
    const int32_t max_ctx = (*model)->config.context_length;
    if (report.ppl_ctx < 3 || report.ppl_ctx > max_ctx) {
      return bad(
          flags.ppl_ctx > 0 ? "--ppl-ctx" : "--ctx", report.ppl_ctx,
          absl::StrCat("must be in [3, ", max_ctx,
                       "] (3: one scored token per chunk; ", max_ctx,
                       ": the context length of ", (*model)->config.name, ")"));
    }
    const bool tty = isatty(STDERR_FILENO) != 0;
    auto progress = [tty](const std::string& what) {
      if (!tty) return;
      std::fprintf(stderr, "\r\033[K%s ...", what.c_str());
      std::fflush(stderr);
    };
    // One calibration pass on the native model; its statistics (moments of
    // the attention inputs, independent of the head count) serve every row.
    progress("calibrating");
    engine::CalibrationOptions calibration;
    calibration.text_file = flags.calibration;
    calibration.num_threads = flags.threads;
    absl::StatusOr<std::vector<std::vector<int32_t>>> calibration_tokens =
        engine::CalibrationTokens(**model, calibration);
    if (!calibration_tokens.ok()) {
      return Fail(kCmd, calibration_tokens.status());
    }
    absl::StatusOr<engine::CalibrationStats> stats =
        engine::CollectCalibrationStats(**model, *calibration_tokens,
                                        flags.threads);
    if (!stats.ok()) return Fail(kCmd, stats.status());
    model->reset();  // each measurement converts its own copy

    for (KvReportRow& row : report.rows) {
      for (size_t m = 0; m < methods.size(); ++m) {
        // Duplication (and no change) is exact with either method: the
        // models are the same, so is their perplexity (column 0: mean).
        if (m > 0 && row.kv_heads >= report.native_kv_heads) {
          row.ppl[m] = row.ppl[0];
          continue;
        }
        progress(absl::StrCat("perplexity: ", row.mode, " ",
                              kvcache::KvDtypeName(row.dtype), ", ",
                              method_names[m]));
        absl::StatusOr<std::unique_ptr<engine::Model>> copy =
            engine::LoadModelForEngine(base);
        if (!copy.ok()) return Fail(kCmd, copy.status());
        const absl::Status converted =
            methods[m] == engine::KvConversion::kCalibrated
                ? engine::ConvertKvHeadsCalibrated(**copy, row.kv_heads, *stats)
                : engine::ConvertKvHeads(**copy, row.kv_heads);
        if (!converted.ok()) {
          if (methods[m] != engine::KvConversion::kCalibrated) {
            return Fail(kCmd, converted);
          }
          // A model the calibrated conversion does not take (per-head q/k
          // norms): its column stays "-", the rest of the table is useful.
          std::fprintf(stderr, "kv-report: %s: %s\n", row.mode.c_str(),
                       std::string(converted.message()).c_str());
          continue;
        }
        PerplexitySetup setup;
        setup.kv_dtype = row.dtype;
        setup.ctx = report.ppl_ctx;
        setup.ctx_flag = flags.ppl_ctx > 0 ? "--ppl-ctx" : "--ctx";
        setup.threads = flags.threads;
        absl::StatusOr<PerplexityRun> run =
            MeasurePerplexity(setup, *std::move(copy), text);
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
  cmd->add_option("--calibration", flags->calibration,
                  "calibrate the `calibrated` column on this text file "
                  "(default: text the model generates from its BOS); one "
                  "pass serves every KV-head count");
  cmd->add_option("--budget", flags->budget,
                  "KV bytes to fill with sequences (default 64MiB)");
  cmd->add_option("--ctx", flags->ctx, "tokens per sequence (default 512)");
  cmd->add_option("--ppl-ctx", flags->ppl_ctx,
                  "perplexity chunk size (default: --ctx)");
  cmd->add_option("--block-size", flags->block_size,
                  "tokens per KV block (default 16, as kv_cache.block_size)");
  AddThreadsFlag(cmd, &flags->threads);
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->callback([flags, exit_code] { *exit_code = RunKvReport(*flags); });
}

}  // namespace kvasir::tools
