// Quality of the int8 KV cache: stories260K's perplexity on
// ../shared/eval/stories-eval.txt with an int8 cache stays within 1% of the
// f32 cache's. Perplexity as llama.cpp's llama-perplexity computes it: the
// text tokenized once, cut into chunks of kCtx tokens whose first token is
// replaced by BOS, only the second half of each chunk scored. Each chunk is
// fed one token per step, so every position's logits come from the cache.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "gtest/gtest.h"
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

// exp(mean NLL) over the scored tokens of every whole chunk.
double Perplexity(kvcache::KvDtype dtype, const std::vector<int32_t>& ids) {
  LoadOptions load;
  load.path_or_spec = ::kvasir::testing::ModelPath("stories260K.gguf");
  auto model = LoadModel(load);
  EXPECT_OK(model);
  if (!model.ok()) return NAN;
  const int32_t bos = (*model)->tokenizer->bos_id();
  LlamaRunner::Options o;
  o.max_batch_tokens = 1;
  o.max_seqs = 1;
  o.block_size = kBlockSize;
  o.kv_dtype = dtype;
  // One token per step of a 260K-parameter model: a parallel region would
  // cost more than the work.
  o.num_threads = 1;
  auto runner = LlamaRunner::CreateOwning(o, *std::move(model));
  EXPECT_OK(runner);
  if (!runner.ok()) return NAN;
  const kvcache::KvLayout layout = (*runner)->kv_layout();
  const int blocks = kCtx / kBlockSize;
  auto kv = kvcache::KvArena::Create(layout, layout.BlockBytes() * blocks);
  EXPECT_OK(kv);
  if (!kv.ok()) return NAN;
  std::vector<int32_t> table(blocks);
  for (int b = 0; b < blocks; ++b) table[b] = b;

  double nll = 0;
  int64_t scored = 0;
  for (size_t begin = 0; begin + kCtx <= ids.size(); begin += kCtx) {
    for (int p = 0; p + 1 < kCtx; ++p) {
      const int32_t token = p == 0 ? bos : ids[begin + p];
      SequenceStep s{.tokens = {&token, 1},
                     .start_pos = p,
                     .block_table = table,
                     .compute_logits = p >= kCtx / 2 - 1};
      EXPECT_OK((*runner)->Step({&s, 1}, *kv));
      if (!s.compute_logits) continue;
      const absl::Span<const float> logits = (*runner)->logits(0);
      double mx = -1e300;
      for (float x : logits) mx = std::max(mx, double{x});
      double sum = 0;
      for (float x : logits) sum += std::exp(double{x} - mx);
      nll += mx + std::log(sum) - logits[ids[begin + p + 1]];
      ++scored;
    }
  }
  EXPECT_GT(scored, 0);
  return std::exp(nll / static_cast<double>(scored));
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
