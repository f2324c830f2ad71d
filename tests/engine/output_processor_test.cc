// OutputProcessor ends a request on every end-of-generation token of the
// vocabulary (EOS, end of turn, end of message), not only on EOS.

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "engine/engine_output.h"
#include "engine/engine_request.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/bpe_test_vocab.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::TinyBpeIds;
using ::kvasir::engine::testing::TinyBpeVocab;
using ::kvasir::testing::RecordingSink;

// Greedy logits whose best token is `id`.
std::vector<float> Prefer(int32_t id) {
  std::vector<float> logits(TinyBpeIds::kSize, 0.0f);
  logits[id] = 10.0f;
  return logits;
}

class OutputProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(tokenizer_,
                         BpeTokenizer::Create(TinyBpeVocab(), "tiny"));
  }

  std::unique_ptr<EngineRequest> MakeRequest(bool ignore_eos) {
    Request request;
    request.tenant = "t";
    request.prompt = {'h'};
    request.stopping.max_new_tokens = 8;
    request.stopping.ignore_eos = ignore_eos;
    sink_ = std::make_shared<RecordingSink>();
    absl::StatusOr<std::unique_ptr<EngineRequest>> r = EngineRequest::Create(
        std::move(request), sink_, tokenizer_.get(), 1, absl::Now());
    EXPECT_OK(r.status());
    return r.ok() ? *std::move(r) : nullptr;
  }

  std::unique_ptr<BpeTokenizer> tokenizer_;
  std::shared_ptr<RecordingSink> sink_;
};

TEST_F(OutputProcessorTest, EndOfTurnFinishesLikeEos) {
  OutputProcessor out(tokenizer_->EndOfGenerationIds(), 64);
  for (int32_t end : {TinyBpeIds::kEndOfText, TinyBpeIds::kImEnd}) {
    SCOPED_TRACE(end);
    std::unique_ptr<EngineRequest> r = MakeRequest(/*ignore_eos=*/false);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(out.OnLogits(*r, Prefer(TinyBpeIds::kHello), absl::Now()),
              std::nullopt);
    EXPECT_EQ(out.OnLogits(*r, Prefer(end), absl::Now()), FinishReason::kEos);
    out.Finish(*r, FinishReason::kEos, absl::OkStatus(), absl::Now());
    EXPECT_EQ(sink_->text(), "hello");  // the end token adds no text
    EXPECT_THAT(sink_->token_ids(),
                ::testing::ElementsAre(TinyBpeIds::kHello, end));
    EXPECT_EQ(sink_->info().reason, FinishReason::kEos);
  }
}

TEST_F(OutputProcessorTest, OtherControlTokensDoNotFinish) {
  OutputProcessor out(tokenizer_->EndOfGenerationIds(), 64);
  std::unique_ptr<EngineRequest> r = MakeRequest(/*ignore_eos=*/false);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(out.OnLogits(*r, Prefer(TinyBpeIds::kImStart), absl::Now()),
            std::nullopt);
}

TEST_F(OutputProcessorTest, IgnoreEosIgnoresEveryEndToken) {
  OutputProcessor out(tokenizer_->EndOfGenerationIds(), 64);
  std::unique_ptr<EngineRequest> r = MakeRequest(/*ignore_eos=*/true);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(out.OnLogits(*r, Prefer(TinyBpeIds::kImEnd), absl::Now()),
            std::nullopt);
  EXPECT_EQ(out.OnLogits(*r, Prefer(TinyBpeIds::kEndOfText), absl::Now()),
            std::nullopt);
  EXPECT_EQ(out.OnLogits(*r, Prefer(TinyBpeIds::kHe), absl::Now()),
            std::nullopt);
  EXPECT_EQ(sink_->text(), "he");
}

}  // namespace
}  // namespace kvasir::engine
