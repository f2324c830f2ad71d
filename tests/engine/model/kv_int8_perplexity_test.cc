// Quality of the int8 KV cache: stories260K's perplexity on
// ../shared/eval/stories-eval.txt with an int8 cache stays within 1% of the
// f32 cache's, perplexity computed by engine::ComputePerplexity (llama.cpp's
// llama-perplexity rules).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "engine/model/perplexity.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

constexpr int kCtx = 128;
constexpr int kBlockSize = 16;

std::string ReadEvalText() {
  std::ifstream in(::kvasir::testing::SharedDir() + "/eval/stories-eval.txt");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// engine::ComputePerplexity (llama.cpp's rules) with a `dtype` cache. Each
// chunk is one prefill step whose attention reads K/V back from the cache
// (the step writes them first), so the scored logits see the quantized
// values.
double Perplexity(kvcache::KvDtype dtype, const std::vector<int32_t>& ids) {
  LoadOptions load;
  load.path_or_spec = ::kvasir::testing::ModelPath("stories260K.gguf");
  auto model = LoadModel(load);
  EXPECT_OK(model);
  if (!model.ok()) return NAN;
  PerplexityOptions po;
  po.ctx = kCtx;
  po.bos_id = (*model)->tokenizer->bos_id();
  LlamaRunner::Options o;
  o.max_batch_tokens = kCtx;
  o.max_seqs = 1;
  o.max_logit_rows = kCtx - kCtx / 2;
  o.block_size = kBlockSize;
  o.kv_dtype = dtype;
  // A 260K-parameter model: a parallel region would cost more than the
  // work.
  o.num_threads = 1;
  auto runner = LlamaRunner::CreateOwning(o, *std::move(model));
  EXPECT_OK(runner);
  if (!runner.ok()) return NAN;
  const kvcache::KvLayout layout = (*runner)->kv_layout();
  auto kv = kvcache::KvArena::Create(
      layout, layout.BlockBytes() * layout.BlocksForTokens(kCtx));
  EXPECT_OK(kv);
  if (!kv.ok()) return NAN;
  auto result = ComputePerplexity(**runner, *kv, ids, po);
  EXPECT_OK(result);
  if (!result.ok()) return NAN;
  EXPECT_GT(result->n_scored, 0);
  return result->ppl;
}

TEST(KvInt8PerplexityTest, WithinOnePercentOfF32OnStories260K) {
  LoadOptions load;
  load.path_or_spec = ::kvasir::testing::ModelPath("stories260K.gguf");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model, LoadModel(load));
  const std::string text = ReadEvalText();
  ASSERT_GT(text.size(), 1000u);
  ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids,
                       model->tokenizer->Encode(text, EncodeOptions{}));
  ASSERT_GE(ids.size(), size_t{2 * kCtx});

  const double f32 = Perplexity(kvcache::KvDtype::kF32, ids);
  const double int8 = Perplexity(kvcache::KvDtype::kInt8, ids);
  std::printf(
      "perplexity (ctx %d, %zu tokens): f32 %.4f, int8 %.4f (%+.3f%%)\n", kCtx,
      ids.size(), f32, int8, 100 * (int8 / f32 - 1));
  // A model that has learned the text's style, not noise.
  EXPECT_LT(f32, 20.0);
  EXPECT_LE(std::abs(int8 / f32 - 1), 0.01);
}

}  // namespace
}  // namespace kvasir::engine
