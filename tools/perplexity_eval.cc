#include "tools/perplexity_eval.h"

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/llama_runner.h"
#include "kvcache/kv_arena.h"

namespace kvasir::tools {

std::vector<engine::KvConversion> KvConversionMethods() {
  return {engine::KvConversion::kMean, engine::KvConversion::kCalibrated};
}

absl::StatusOr<PerplexityRun> MeasurePerplexity(
    const PerplexitySetup& setup, absl::string_view text,
    const engine::PerplexityProgress& progress) {
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Model> model,
                   engine::LoadModelForEngine(setup.model));
  return MeasurePerplexity(setup, std::move(model), text, progress);
}

absl::StatusOr<PerplexityRun> MeasurePerplexity(
    const PerplexitySetup& setup, std::unique_ptr<engine::Model> model,
    absl::string_view text, const engine::PerplexityProgress& progress) {
  const engine::Tokenizer& tok = *model->tokenizer;
  ASSIGN_OR_RETURN(
      std::vector<int32_t> tokens,
      tok.Encode(text, {.add_special = true, .parse_special = false}));
  // With special tokens parsed as text, a leading BOS can only come from
  // the vocabulary adding one: then every chunk starts with BOS too.
  const bool adds_bos =
      tok.bos_id() >= 0 && !tokens.empty() && tokens[0] == tok.bos_id();

  PerplexityRun run;
  run.model_name = model->config.name;
  run.n_heads = model->config.n_heads;
  run.n_kv_heads = model->config.n_kv_heads;
  engine::PerplexityOptions po;
  po.ctx = setup.ctx;
  po.bos_id = adds_bos ? tok.bos_id() : -1;
  po.ctx_name = setup.ctx_flag;
  // Checked before the runner is sized from ctx.
  if (po.ctx < 3 || po.ctx > model->config.context_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        setup.ctx_flag, " ", po.ctx, " must be in [3, ",
        model->config.context_length, "] (3: one scored token per chunk; ",
        model->config.context_length, ": the context length of ",
        model->config.name, ")"));
  }

  engine::LlamaRunner::Options ro;
  ro.max_batch_tokens = po.ctx;  // one chunk per step
  ro.max_seqs = 1;
  ro.max_logit_rows = po.ctx - po.ctx / 2;
  ro.kv_dtype = setup.kv_dtype;
  ro.num_threads = setup.threads;
  ASSIGN_OR_RETURN(std::unique_ptr<engine::LlamaRunner> runner,
                   engine::LlamaRunner::CreateOwning(ro, std::move(model)));
  const kvcache::KvLayout layout = runner->kv_layout();
  ASSIGN_OR_RETURN(
      kvcache::KvArena kv,
      kvcache::KvArena::Create(
          layout, layout.BlocksForTokens(po.ctx) * layout.BlockBytes()));

  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(
      run.result, engine::ComputePerplexity(*runner, kv, tokens, po, progress));
  run.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return run;
}

}  // namespace kvasir::tools
