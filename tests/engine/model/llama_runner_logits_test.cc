// SequenceStep::logits_last_n: the logits of every scored position of a
// prefill in one step (what `kvasir perplexity` needs) equal the logits the
// same positions get one step at a time (what serving computes).
#include <memory>
#include <utility>
#include <vector>

#include "engine/model/llama_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::CopyModel;
using ::kvasir::engine::testing::MaxRelError;
using ::kvasir::engine::testing::RandomModel;
using ::kvasir::engine::testing::RandomTokens;
using ::kvasir::engine::testing::TinyShapes;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kTokens = 12;

class LogitsLastNTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = RandomModel(TinyShapes()[1], 5);
    LlamaRunner::Options o;
    o.max_batch_tokens = 32;
    o.max_seqs = 2;
    o.max_logit_rows = 16;
    o.block_size = 4;
    auto runner = LlamaRunner::CreateOwning(o, CopyModel(*model_));
    ASSERT_THAT(runner, IsOk());
    runner_ = std::move(runner).value();
    auto arena = kvcache::KvArena::Create(
        runner_->kv_layout(), runner_->kv_layout().BlockBytes() * 8);
    ASSERT_THAT(arena, IsOk());
    kv_ = std::make_unique<kvcache::KvArena>(std::move(arena).value());
    tokens_ = RandomTokens(kTokens, model_->config.vocab_size, 3);
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<LlamaRunner> runner_;
  std::unique_ptr<kvcache::KvArena> kv_;
  std::vector<int32_t> tokens_;
  const std::vector<int32_t> table_ = {0, 1, 2};
  const std::vector<int32_t> table2_ = {3, 4, 5};
};

TEST_F(LogitsLastNTest, RowsEqualOneTokenSteps) {
  // Serving's way: one token per step, logits of the last each time.
  std::vector<std::vector<float>> want;
  for (int p = 0; p < kTokens; ++p) {
    SequenceStep s;
    s.tokens = absl::MakeConstSpan(tokens_).subspan(p, 1);
    s.start_pos = p;
    s.block_table = table_;
    s.compute_logits = true;
    ASSERT_THAT(runner_->Step({&s, 1}, *kv_), IsOk());
    absl::Span<const float> l = runner_->logits(0);
    want.emplace_back(l.begin(), l.end());
  }
  // One prefill asking for the last 7 positions, next to a second sequence
  // asking for its last row only: rows are in sequence order.
  SequenceStep all;
  all.tokens = tokens_;
  all.block_table = table_;
  all.compute_logits = true;
  all.logits_last_n = 7;
  SequenceStep other;
  other.tokens = absl::MakeConstSpan(tokens_).subspan(0, 5);
  other.block_table = table2_;
  other.compute_logits = true;
  const SequenceStep both[] = {all, other};
  ASSERT_THAT(runner_->Step(both, *kv_), IsOk());
  for (int r = 0; r < 7; ++r) {
    const int pos = kTokens - 7 + r;
    EXPECT_LT(MaxRelError(runner_->logits(r), want[pos]), 1e-4) << pos;
  }
  EXPECT_LT(MaxRelError(runner_->logits(7), want[4]), 1e-4);
  EXPECT_TRUE(runner_->logits(8).empty());
}

TEST_F(LogitsLastNTest, RejectsBadCounts) {
  SequenceStep s;
  s.tokens = tokens_;
  s.block_table = table_;
  s.compute_logits = true;
  s.logits_last_n = kTokens + 1;
  EXPECT_THAT(
      runner_->Step({&s, 1}, *kv_),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("seqs[0].logits_last_n 13 must be in [1, 12]")));
  s.logits_last_n = 0;
  EXPECT_THAT(runner_->Step({&s, 1}, *kv_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logits_last_n 0")));
  // 10 + 10 rows: more than the 16 the runner was made for.
  s.logits_last_n = 10;
  const SequenceStep two[] = {s,
                              {.tokens = tokens_,
                               .block_table = table2_,
                               .compute_logits = true,
                               .logits_last_n = 10}};
  EXPECT_THAT(runner_->Step(two, *kv_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceed max_logit_rows 16")));
  // Without compute_logits the count is ignored.
  s.compute_logits = false;
  s.logits_last_n = 0;
  EXPECT_THAT(runner_->Step({&s, 1}, *kv_), IsOk());
}

TEST(LogitsLastNCreateTest, DefaultsToOneRowPerSequence) {
  std::unique_ptr<Model> model = RandomModel(TinyShapes()[0], 1);
  LlamaRunner::Options o;
  o.max_seqs = 3;
  auto runner = LlamaRunner::CreateOwning(o, CopyModel(*model));
  ASSERT_THAT(runner, IsOk());
  EXPECT_EQ((*runner)->max_logit_rows(), 3);
  o.max_logit_rows = -1;
  EXPECT_THAT(LlamaRunner::CreateOwning(o, CopyModel(*model)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_logit_rows -1")));
}

}  // namespace
}  // namespace kvasir::engine
