// engine::ComputePerplexity against values computed by hand, on a model
// whose logits are known in closed form.
#include "engine/model/perplexity.h"

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kVocab = 4;
constexpr int32_t kBos = 1;

// A 4-token model with closed-form logits: at position p of a sequence it
// predicts token (t_0 + ... + t_p) mod 4 with logit ln 5, every other token
// logit 0. So p(predicted) = 5/8 and p(any other) = 1/8, and the first
// token (BOS or not) changes every later prediction. Whole sequences only
// (start_pos 0, one per step), as perplexity runs them; it keeps no K/V.
class PrefixSumModel final : public ModelRunner {
 public:
  PrefixSumModel() : tokenizer_(*ByteTokenizer::Create(259)) {
    config_.name = "prefix-sum";
    config_.vocab_size = kVocab;
    config_.context_length = 16;
    config_.n_layers = 1;
    config_.n_heads = 1;
    config_.n_kv_heads = 1;
    config_.head_dim = 2;
  }
  const ModelConfig& config() const override { return config_; }
  // Not used by ComputePerplexity (the caller tokenizes).
  const Tokenizer& tokenizer() const override { return *tokenizer_; }

  absl::Status Step(absl::Span<const SequenceStep> seqs,
                    kvcache::KvArena&) override {
    if (seqs.size() != 1 || seqs[0].start_pos != 0) {
      return absl::InvalidArgumentError("one whole sequence per step");
    }
    const SequenceStep& s = seqs[0];
    rows_.clear();
    ++steps_;
    if (!s.compute_logits) return absl::OkStatus();
    const int n = static_cast<int>(s.tokens.size());
    int32_t sum = 0;
    for (int p = 0; p < n; ++p) {
      sum = (sum + s.tokens[p]) % kVocab;
      if (p < n - s.logits_last_n) continue;
      std::vector<float> row(kVocab, 0.0f);
      row[sum] = std::log(5.0f);
      rows_.push_back(std::move(row));
    }
    return absl::OkStatus();
  }
  absl::Span<const float> logits(int i) const override {
    if (i < 0 || i >= static_cast<int>(rows_.size())) return {};
    return rows_[i];
  }
  int steps() const { return steps_; }

 private:
  ModelConfig config_;
  std::unique_ptr<ByteTokenizer> tokenizer_;
  std::vector<std::vector<float>> rows_;
  int steps_ = 0;
};

class PerplexityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kvcache::KvLayout layout{.n_layers = 1,
                             .n_kv_heads = 1,
                             .head_dim = 2,
                             .block_size = 4,
                             .dtype = kvcache::KvDtype::kF32};
    auto arena = kvcache::KvArena::Create(layout, layout.BlockBytes() * 4);
    ASSERT_THAT(arena, IsOk());
    kv_ = std::make_unique<kvcache::KvArena>(std::move(arena).value());
  }

  absl::StatusOr<PerplexityResult> Run(const std::vector<int32_t>& tokens,
                                       int32_t ctx, int32_t bos = kBos) {
    PerplexityOptions o;
    o.ctx = ctx;
    o.bos_id = bos;
    o.ctx_name = "--ctx";
    return ComputePerplexity(model_, *kv_, tokens, o);
  }

  PrefixSumModel model_;
  std::unique_ptr<kvcache::KvArena> kv_;
};

// ctx 4: first = 2, so in each chunk only the logits at position 2 count,
// predicting the token at position 3.
//   chunk 0: [1 2 3 0]: sum(1, 2, 3) = 6 = 2 mod 4, token 0: p = 1/8.
//   chunk 1: [2 2 1 0] -> [BOS 2 1 0]: sum(1, 2, 1) = 0, token 0: p = 5/8.
//   (Without the BOS: sum(2, 2, 1) = 1, token 0: p = 1/8.)
// The tail [3 3] is not a whole chunk and is dropped.
const std::vector<int32_t> kText = {1, 2, 3, 0, 2, 2, 1, 0, 3, 3};

TEST_F(PerplexityTest, MatchesTheHandComputedValue) {
  ASSERT_OK_AND_ASSIGN(PerplexityResult r, Run(kText, 4));
  EXPECT_EQ(r.n_tokens, 10);
  EXPECT_EQ(r.n_chunks, 2);
  EXPECT_EQ(r.n_scored, 2);
  EXPECT_EQ(model_.steps(), 2);  // one prefill per chunk
  // NLLs ln 8 and ln 1.6: PPL = sqrt(8 * 1.6); running: 8, then that.
  const double ppl = std::sqrt(12.8);
  EXPECT_NEAR(r.ppl, ppl, 1e-5);
  EXPECT_NEAR(r.mean_nll, (std::log(8.0) + std::log(1.6)) / 2, 1e-6);
  ASSERT_EQ(r.chunk_ppl.size(), 2u);
  EXPECT_NEAR(r.chunk_ppl[0], 8.0, 1e-5);
  EXPECT_NEAR(r.chunk_ppl[1], ppl, 1e-5);
  // llama.cpp: sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)) * PPL; the
  // two NLLs differ by ln 5, so the deviation is ln 5 / 2.
  EXPECT_NEAR(r.ppl_error, std::log(5.0) / 2 * ppl, 1e-5);
}

TEST_F(PerplexityTest, KeepsTheFirstTokenWhenTheVocabularyAddsNoBos) {
  ASSERT_OK_AND_ASSIGN(PerplexityResult r, Run(kText, 4, /*bos=*/-1));
  EXPECT_NEAR(r.ppl, 8.0, 1e-5);  // both chunks miss
}

TEST_F(PerplexityTest, ScoresOnlyTheSecondHalfLessTheLastToken) {
  // ctx 6: first = 3; positions 3 and 4 predict tokens 4 and 5.
  //   [1 0 0 3 0 1]: sums at 3, 4: (1+0+0+3) = 0, 0 -> tokens 0, 1:
  //   5/8 then 1/8. Positions 0 .. 2 all predict wrongly, so scoring any
  //   of them would change the result.
  const std::vector<int32_t> text = {1, 0, 0, 3, 0, 1, 1, 0, 0, 3, 0, 1};
  ASSERT_OK_AND_ASSIGN(PerplexityResult r, Run(text, 6));
  EXPECT_EQ(r.n_scored, 4);
  EXPECT_NEAR(r.ppl, std::sqrt(8.0 * 1.6), 1e-5);
  EXPECT_THAT(r.chunk_ppl.size(), 2u);
}

TEST_F(PerplexityTest, ReportsProgressPerChunk) {
  std::vector<std::pair<int32_t, int32_t>> seen;
  PerplexityOptions o;
  o.ctx = 4;
  o.bos_id = kBos;
  ASSERT_THAT(ComputePerplexity(model_, *kv_, kText, o,
                                [&](int32_t done, int32_t total, double) {
                                  seen.emplace_back(done, total);
                                }),
              IsOk());
  EXPECT_THAT(seen, ElementsAre(std::pair(1, 2), std::pair(2, 2)));
}

TEST_F(PerplexityTest, RejectsBadContextsAndShortTexts) {
  EXPECT_THAT(Run(kText, 2), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("--ctx 2 must be at least 3")));
  EXPECT_THAT(Run(std::vector<int32_t>(40, 1), 17),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--ctx 17 exceeds the model's context "
                                 "length 16")));
  EXPECT_THAT(Run(kText, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the text is 10 tokens; --ctx 6 needs at "
                                 "least 12")));
  EXPECT_EQ(model_.steps(), 0);
}

TEST(LogSoftmaxAtTest, IsTheLogOfTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(LogSoftmaxAt(logits, 0), std::log(std::exp(1.0) / z), 1e-6);
  EXPECT_NEAR(LogSoftmaxAt(logits, 2), std::log(std::exp(3.0) / z), 1e-6);
}

}  // namespace
}  // namespace kvasir::engine
