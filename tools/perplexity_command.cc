// `kvasir perplexity`: llama.cpp's llama-perplexity on Kvasir's runner (see
// engine/model/perplexity.h for the exact rules).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "common/text_file.h"
#include "kvcache/kv_layout.h"
#include "nlohmann/json.hpp"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/perplexity_eval.h"

namespace kvasir::tools {
namespace {

struct PerplexityFlags {
  std::string model;
  std::string tokenizer;
  std::string text;
  int32_t ctx = 512;
  int32_t kv_heads = 0;
  bool has_kv_heads = false;
  std::string kv_dtype = "f32";
  int32_t threads = 0;
  bool json = false;
  KvConvertFlags kv_convert;  // read by ModelSourceFromFlags
};

// A one-line bar on stderr, redrawn in place; only on a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void Update(int32_t done, int32_t total, double ppl) {
    if (!enabled_ || total <= 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(int64_t{kWidth} * done / total);
    std::fprintf(stderr, "\r[%s%s] %d/%d chunks, PPL %.4f",
                 std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total, ppl);
    std::fflush(stderr);
  }
  void Clear() {
    if (enabled_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
};

int RunPerplexity(const PerplexityFlags& flags) {
  PerplexitySetup setup;
  absl::StatusOr<kvcache::KvDtype> kv_dtype =
      kvcache::ParseKvDtype(flags.kv_dtype, "--kv-dtype");
  if (!kv_dtype.ok()) return Fail("perplexity", kv_dtype.status());
  setup.kv_dtype = *kv_dtype;
  setup.model = ModelSourceFromFlags(flags);
  setup.ctx = flags.ctx;
  setup.threads = flags.threads;
  setup.ctx_flag = "--ctx";
  absl::StatusOr<std::string> text = ReadTextFile(flags.text, "--text file");
  if (!text.ok()) return Fail("perplexity", text.status());

  ProgressBar bar(isatty(STDERR_FILENO) != 0);
  absl::StatusOr<PerplexityRun> run = MeasurePerplexity(
      setup, *text, [&bar](int32_t done, int32_t total, double ppl) {
        bar.Update(done, total, ppl);
      });
  bar.Clear();
  if (!run.ok()) return Fail("perplexity", run.status());
  const engine::PerplexityResult& r = run->result;
  if (flags.json) {
    nlohmann::json j;
    j["model"] = flags.model;
    j["text"] = flags.text;
    j["ctx"] = r.ctx;
    j["n_heads"] = run->n_heads;
    j["kv_heads"] = run->n_kv_heads;
    j["kv_dtype"] = std::string(kvcache::KvDtypeName(setup.kv_dtype));
    j["kv_convert"] = flags.kv_convert.method;
    j["tokens"] = r.n_tokens;
    j["chunks"] = r.n_chunks;
    j["scored_tokens"] = r.n_scored;
    j["chunk_ppl"] = r.chunk_ppl;
    j["mean_nll"] = r.mean_nll;
    j["ppl"] = r.ppl;
    j["ppl_error"] = r.ppl_error;
    j["seconds"] = run->seconds;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%s: %lld tokens, %d chunks of %d, %d KV heads (of %d), %s KV\n",
              run->model_name.c_str(), static_cast<long long>(r.n_tokens),
              r.n_chunks, r.ctx, run->n_kv_heads, run->n_heads,
              std::string(kvcache::KvDtypeName(setup.kv_dtype)).c_str());
  for (size_t i = 0; i < r.chunk_ppl.size(); ++i) {
    std::printf("[%zu]%.4f,", i + 1, r.chunk_ppl[i]);
  }
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_error);
  std::fprintf(stderr, "[%lld scored tokens in %.2f s]\n",
               static_cast<long long>(r.n_scored), run->seconds);
  return 0;
}

}  // namespace

void AddPerplexityCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<PerplexityFlags>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a text, computed as llama.cpp's llama-perplexity does");
  cmd->add_option("--model", flags->model,
                  "GGUF file, llama2.c .bin checkpoint or dummy:<preset>")
      ->required();
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "llama2.c tokenizer .bin (needed for .bin checkpoints)");
  cmd->add_option("--text", flags->text, "the text file to score")->required();
  cmd->add_option("--ctx", flags->ctx,
                  "tokens per chunk (default 512); the second half of each "
                  "chunk is scored, the text needs 2 * ctx tokens");
  CLI::Option* kv_heads =
      cmd->add_option("--kv-heads", flags->kv_heads,
                      "convert the model to this many K/V heads at load");
  AddKvConvertFlags(cmd, &flags->kv_convert);
  cmd->add_option("--kv-dtype", flags->kv_dtype, KvDtypeHelp());
  AddThreadsFlag(cmd, &flags->threads);
  cmd->add_flag("--json", flags->json,
                "print one JSON object: ppl, ppl_error, chunk_ppl, tokens");
  cmd->callback([flags, exit_code, kv_heads] {
    flags->has_kv_heads = kv_heads->count() > 0;
    *exit_code = RunPerplexity(*flags);
  });
}

}  // namespace kvasir::tools
