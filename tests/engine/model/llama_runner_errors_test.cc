// LlamaRunner's refusals: Step calls whose tokens, block tables, batch
// sizes, positions or arena do not fit write nothing; Create refuses bad
// options and models.

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/model/llama_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::MakeRunner;
using ::kvasir::engine::testing::RandomModel;
using ::kvasir::engine::testing::SmallOptions;
using ::kvasir::engine::testing::TinyShapes;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

class StepErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = RandomModel(TinyShapes()[1], 9);
    LlamaRunner::Options options = SmallOptions();
    options.max_batch_tokens = 16;
    options.max_seqs = 2;
    runner_ = MakeRunner(options, *model_);
    ASSERT_NE(runner_, nullptr);
    auto arena = kvcache::KvArena::Create(
        runner_->kv_layout(), runner_->kv_layout().BlockBytes() * 8);
    ASSERT_THAT(arena, IsOk());
    kv_ = std::make_unique<kvcache::KvArena>(std::move(arena).value());
    // Known bytes everywhere, to see that a failed step writes nothing.
    std::memset(kv_->block(0), 0x5a, kv_->layout().BlockBytes() * 8);
  }

  absl::Status Step(std::vector<SequenceStep> seqs) {
    return runner_->Step(seqs, *kv_);
  }

  bool ArenaUntouched() const {
    const auto* p = reinterpret_cast<const unsigned char*>(kv_->block(0));
    const size_t n = kv_->layout().BlockBytes() * 8;
    return std::all_of(p, p + n, [](unsigned char c) { return c == 0x5a; });
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<LlamaRunner> runner_;
  std::unique_ptr<kvcache::KvArena> kv_;
  const std::vector<int32_t> good_ = {1, 2, 3};
  const std::vector<int32_t> table_ = {0, 1};
};

TEST_F(StepErrorsTest, RejectsBadTokenIds) {
  const std::vector<int32_t> bad = {1, 101, 2};
  EXPECT_THAT(Step({{.tokens = good_, .block_table = table_},
                    {.tokens = bad, .block_table = {table_.data() + 1, 1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("seqs[1].tokens[1]: token id 101 is outside "
                                 "the vocabulary [0, 101)")));
  const std::vector<int32_t> negative = {-1};
  EXPECT_THAT(
      Step({{.tokens = negative, .block_table = table_}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token id -1")));
  EXPECT_TRUE(ArenaUntouched());
}

TEST_F(StepErrorsTest, RejectsShortBlockTablesAndForeignBlocks) {
  const std::vector<int32_t> one = {0};
  EXPECT_THAT(Step({{.tokens = good_, .start_pos = 2, .block_table = one}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("seqs[0].block_table has 1 blocks; positions "
                                 "[0, 5) need 2")));
  const std::vector<int32_t> outside = {0, 8};
  EXPECT_THAT(Step({{.tokens = good_, .start_pos = 2, .block_table = outside}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("seqs[0].block_table[1]: block 8 is outside "
                                 "the arena's 8 blocks")));
  const std::vector<int32_t> negative = {-3};
  EXPECT_THAT(
      Step({{.tokens = good_, .block_table = negative}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block -3")));
  EXPECT_TRUE(ArenaUntouched());
}

TEST_F(StepErrorsTest, RejectsTooManyTokensOrSequences) {
  const std::vector<int32_t> many(17, 3);
  const std::vector<int32_t> table = {0, 1, 2, 3, 4};
  EXPECT_THAT(Step({{.tokens = many, .block_table = table}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("17 tokens exceed max_batch_tokens 16")));
  const std::vector<int32_t> ten(10, 3);
  EXPECT_THAT(Step({{.tokens = ten, .block_table = table},
                    {.tokens = ten, .block_table = table}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("20 tokens exceed max_batch_tokens 16")));
  EXPECT_THAT(Step({{.tokens = good_, .block_table = table_},
                    {.tokens = good_, .block_table = table_},
                    {.tokens = good_, .block_table = table_}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 sequences exceed max_seqs 2")));
  EXPECT_THAT(Step({}), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("no sequences")));
  EXPECT_THAT(Step({{.tokens = {}, .block_table = table_}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("seqs[0].tokens is empty")));
  EXPECT_TRUE(ArenaUntouched());
}

TEST_F(StepErrorsTest, RejectsPositionsPastTheContext) {
  std::vector<int32_t> table(40, 0);
  EXPECT_THAT(Step({{.tokens = good_, .start_pos = 126, .block_table = table}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("start_pos 126 + 3 tokens = 129 exceeds the "
                                 "context length 128")));
  EXPECT_THAT(Step({{.tokens = good_, .start_pos = -1, .block_table = table}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("start_pos -1 is negative")));
  EXPECT_TRUE(ArenaUntouched());
}

TEST_F(StepErrorsTest, RejectsAnArenaOfAnotherLayout) {
  kvcache::KvLayout other = runner_->kv_layout();
  other.dtype = kvcache::KvDtype::kBF16;
  ASSERT_OK_AND_ASSIGN(kvcache::KvArena arena,
                       kvcache::KvArena::Create(other, other.BlockBytes() * 2));
  SequenceStep s{.tokens = good_, .block_table = table_};
  EXPECT_THAT(runner_->Step({&s, 1}, arena),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not the runner's kv_layout()")));
}

TEST(LlamaRunnerCreateTest, RejectsBadOptionsAndModels) {
  std::unique_ptr<Model> model = RandomModel(TinyShapes()[0], 1);
  std::shared_ptr<const Model> shared =
      ::kvasir::engine::testing::CopyModel(*model);
  LlamaRunner::Options options;
  options.max_batch_tokens = 0;
  EXPECT_THAT(LlamaRunner::Create(options, shared),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_batch_tokens 0")));
  options = LlamaRunner::Options();
  options.max_seqs = -2;
  EXPECT_THAT(
      LlamaRunner::Create(options, shared),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_seqs -2")));
  options = LlamaRunner::Options();
  options.block_size = 0;
  EXPECT_THAT(
      LlamaRunner::Create(options, shared),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block_size 0")));
  EXPECT_THAT(LlamaRunner::Create(LlamaRunner::Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("null")));

  auto bad = ::kvasir::engine::testing::CopyModel(*model);
  bad->weights.layers[1].wk = Tensor::Zeros({8, 64});
  EXPECT_THAT(LlamaRunner::CreateOwning(LlamaRunner::Options(), std::move(bad)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.1.wk has shape [8, 64], the config "
                                 "needs [64, 64]")));
  auto no_tok = ::kvasir::engine::testing::CopyModel(*model);
  no_tok->tokenizer.reset();
  EXPECT_THAT(
      LlamaRunner::CreateOwning(LlamaRunner::Options(), std::move(no_tok)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tokenizer")));
  auto odd = ::kvasir::engine::testing::CopyModel(*model);
  odd->config.n_kv_heads = 3;
  EXPECT_THAT(LlamaRunner::CreateOwning(LlamaRunner::Options(), std::move(odd)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("n_kv_heads 3 does not divide n_heads 4")));
}

}  // namespace
}  // namespace kvasir::engine
