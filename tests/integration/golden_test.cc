// Greedy output of the real server (kvasir serve with stories260K.gguf)
// through Generation.Generate and Generation.GenerateStream, against
// llama.cpp's reference in ../shared/golden/stories260K.jsonl: the prompt
// ids, all 64 continuation ids and the text of every line.
#include "tests/testing/golden.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/live_server.h"
#include "tests/testing/paths.h"

namespace kvasir::integration {
namespace {

using ::kvasir::testing::GoldenCase;
using ::kvasir::testing::StepsBeforeNearTie;
using ::testing::ElementsAreArray;

// The golden request: greedy, 64 tokens, EOS honoured (the references
// never stop early). The empty prompt cannot go as text (the API refuses an
// empty prompt), so it goes as its token ids: [BOS].
v1::GenerateRequest GoldenRequest(const GoldenCase& c) {
  v1::GenerateRequest r;
  if (c.prompt.empty()) {
    r.mutable_token_ids()->add_ids(c.prompt_ids.at(0));
  } else {
    r.set_text(c.prompt);
  }
  r.mutable_stopping()->set_max_new_tokens(
      static_cast<int32_t>(c.continuation.size()));
  r.mutable_response()->set_token_ids(true);
  r.mutable_response()->set_prompt_token_ids(true);
  return r;
}

void ExpectGolden(const GoldenCase& c, const Outcome& out) {
  SCOPED_TRACE("prompt '" + c.prompt + "'");
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_THAT(out.prompt_ids, ElementsAreArray(c.prompt_ids));
  EXPECT_THAT(out.ids, ElementsAreArray(c.continuation));
  EXPECT_EQ(out.text, c.continuation_text);
  EXPECT_EQ(out.finish, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.usage.prompt_tokens(), static_cast<int>(c.prompt_ids.size()));
  EXPECT_EQ(out.usage.generated_tokens(),
            static_cast<int>(c.continuation.size()));
}

class GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = testing::ReadGolden("stories260K.jsonl");
    ASSERT_EQ(cases_.size(), 6u) << testing::GoldenPath("stories260K.jsonl");
    absl::StatusOr<std::unique_ptr<LiveServer>> s =
        LiveServer::Start(TwoTenantConfig());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  std::vector<GoldenCase> cases_;
  std::unique_ptr<LiveServer> server_;
};

TEST_F(GoldenTest, GenerateMatchesLlamaCpp) {
  auto stub = server_->Generation();
  for (const GoldenCase& c : cases_) {
    ExpectGolden(c, RunUnary(*stub, kAlphaKey, GoldenRequest(c)));
  }
}

TEST_F(GoldenTest, GenerateStreamMatchesLlamaCpp) {
  auto stub = server_->Generation();
  for (const GoldenCase& c : cases_) {
    const Outcome out = RunStream(*stub, kBetaKey, GoldenRequest(c));
    ExpectGolden(c, out);
    EXPECT_GE(out.messages, 1);
  }
}

// All twelve calls at once: the scheduler batches them into shared steps,
// and each one's output is still the reference.
TEST_F(GoldenTest, ConcurrentCallsOfBothKindsMatchLlamaCpp) {
  auto stub = server_->Generation();
  std::vector<Outcome> unary(cases_.size());
  std::vector<Outcome> stream(cases_.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases_.size(); ++i) {
    threads.emplace_back([&, i] {
      unary[i] = RunUnary(*stub, kAlphaKey, GoldenRequest(cases_[i]));
    });
    threads.emplace_back([&, i] {
      stream[i] = RunStream(*stub, kBetaKey, GoldenRequest(cases_[i]));
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < cases_.size(); ++i) {
    ExpectGolden(cases_[i], unary[i]);
    ExpectGolden(cases_[i], stream[i]);
  }
}

// A download-shaped model through the real server: Qwen2's byte-level BPE
// (no BOS), MQA, q/k/v biases, Q8_0 weights. Special-token text is plain
// unless the request sets parse_special; greedy ids follow llama.cpp's
// reference up to its first near-tie (../shared/golden/synth/README.md).
TEST(SynthServerTest, Qwen2TokenizesAndGeneratesLikeLlamaCpp) {
  ConfigSpec spec = TwoTenantConfig();
  spec.model = testing::ModelPath("synth/qwen2-q8_0.gguf");
  absl::StatusOr<std::unique_ptr<LiveServer>> server = LiveServer::Start(spec);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->Generation();

  v1::TokenizeRequest tokenize;
  tokenize.set_text("<|im_start|>Hello");
  v1::TokenizeResponse plain;
  grpc::Status st = stub->Tokenize(Context(kAlphaKey).get(), tokenize, &plain);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_THAT(plain.token_ids(),
              ElementsAreArray({27, 91, 318, 4906, 91, 29, 9707}));
  tokenize.set_parse_special(true);
  v1::TokenizeResponse special;
  st = stub->Tokenize(Context(kAlphaKey).get(), tokenize, &special);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_THAT(special.token_ids(), ElementsAreArray({151644, 9707}));

  const std::vector<GoldenCase> cases =
      testing::ReadGolden("synth/qwen2-q8_0.jsonl");
  ASSERT_FALSE(cases.empty());
  int compared = 0;
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE("prompt '" + c.prompt + "'");
    const Outcome out = RunStream(*stub, kBetaKey, GoldenRequest(c));
    ASSERT_TRUE(out.status.ok()) << out.status.error_message();
    EXPECT_THAT(out.prompt_ids, ElementsAreArray(c.prompt_ids));
    for (size_t k = 0; k < StepsBeforeNearTie(c, 1.0f); ++k) {
      ASSERT_LT(k, out.ids.size());
      EXPECT_EQ(out.ids[k], c.continuation[k]) << "step " << k;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace kvasir::integration
