// The pre-tokenizers' splits, checked directly: the families without test
// vectors (smollm, tekken, default) and the differences between the others.

#include "engine/tokenizer/bpe_pretokenizer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> SplitWith(const std::string& pre,
                                   const std::string& text) {
  absl::StatusOr<std::unique_ptr<PreTokenizer>> p = PreTokenizer::Create(pre);
  EXPECT_OK(p.status());
  if (!p.ok()) return {};
  std::vector<absl::string_view> words;
  EXPECT_OK((*p)->Split(text, &words));
  std::string joined;
  for (absl::string_view w : words) {
    EXPECT_FALSE(w.empty());
    joined.append(w.data(), w.size());
  }
  EXPECT_EQ(joined, text);  // pieces always concatenate to the input
  return std::vector<std::string>(words.begin(), words.end());
}

TEST(PreTokenizerTest, SmollmSplitsEveryDigit) {
  EXPECT_THAT(SplitWith("smollm", "abc 1234 x's"),
              ElementsAre("abc", " ", "1", "2", "3", "4", " x", "'s"));
  EXPECT_THAT(SplitWith("smollm", "v2.0"), ElementsAre("v", "2", ".", "0"));
}

TEST(PreTokenizerTest, TekkenSplitsWordsByCase) {
  EXPECT_THAT(SplitWith("tekken", "HelloWorld camelCase ABCdef"),
              ElementsAre("Hello", "World", " camel", "Case", " ABCdef"));
  // An all-caps run keeps its trailing lowercase; digits stand alone;
  // '/' joins the punctuation run before it.
  EXPECT_THAT(SplitWith("tekken", "URLs 2024 a+/b"),
              ElementsAre("URLs", " ", "2", "0", "2", "4", " a", "+/", "b"));
  // Non-ASCII letters by their Unicode case: É is upper, é lower.
  EXPECT_THAT(SplitWith("tekken", "ÉcoleÉté"), ElementsAre("École", "Été"));
  // No English contractions rule: the apostrophe leads the next word.
  EXPECT_THAT(SplitWith("tekken", "don't"), ElementsAre("don", "'t"));
}

TEST(PreTokenizerTest, DigitGroupsDifferByFamily) {
  EXPECT_THAT(SplitWith("llama-bpe", "x 1234567"),
              ElementsAre("x", " ", "123", "456", "7"));
  EXPECT_THAT(SplitWith("qwen2", "x 1234"),
              ElementsAre("x", " ", "1", "2", "3", "4"));
  EXPECT_THAT(SplitWith("gpt-2", "x 1234"), ElementsAre("x", " 1234"));
  // default: punctuation first, then GPT-2, then digit runs in threes.
  EXPECT_THAT(SplitWith("default", "a+b=12345"),
              ElementsAre("a", "+", "b", "=", "123", "45"));
}

TEST(PreTokenizerTest, Llama3Contractions) {
  // "(?i:'s|...)" is matched case-insensitively on ASCII only.
  EXPECT_THAT(SplitWith("llama3", "I'M here's"),
              ElementsAre("I", "'M", " here", "'s"));
  EXPECT_THAT(SplitWith("llama-v3", "\xC5\xBF'\xC5\xBF"),  // ſ'ſ
              ElementsAre("\xC5\xBF", "'\xC5\xBF"));
}

TEST(PreTokenizerTest, WhitespaceRuns) {
  // The last space of a run joins the next word.
  EXPECT_THAT(SplitWith("gpt-2", "a   b\n\n"),
              ElementsAre("a", "  ", " b", "\n\n"));
  EXPECT_THAT(SplitWith("llama-bpe", "a  \n\n b"),
              ElementsAre("a", "  \n\n", " b"));
}

TEST(PreTokenizerTest, DeepseekAppliesItsRegexesInSequence) {
  // Newlines alone, letters with one leading space, CJK runs, digit runs.
  EXPECT_THAT(SplitWith("deepseek-llm", "Hi 你好\nabc 123"),
              ElementsAre("Hi", " ", "你好", "\n", "abc", " ", "123"));
}

TEST(PreTokenizerTest, InvalidUtf8StaysInThePieces) {
  EXPECT_THAT(SplitWith("qwen2", "ab\xFF\xFE cd"),
              ElementsAre("ab", "\xFF\xFE", " cd"));
  EXPECT_THAT(SplitWith("tekken", "\xC3"), ElementsAre("\xC3"));
  EXPECT_THAT(SplitWith("gpt-2", ""), IsEmpty());
}

TEST(PreTokenizerTest, LongInputs) {
  // Long runs stay within PCRE2's JIT stack and split correctly.
  const std::string spaces(200000, ' ');
  EXPECT_THAT(SplitWith("llama-bpe", spaces + "x"),
              ElementsAre(std::string(199999, ' '), " x"));
  std::string words;
  for (int i = 0; i < 20000; ++i) words += " word";
  EXPECT_EQ(SplitWith("qwen2", words).size(), 20000u);
}

TEST(PreTokenizerTest, UnknownNameListsTheSupportedOnes) {
  EXPECT_THAT(PreTokenizer::Create("falcon"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokenizer.ggml.pre 'falcon'"),
                             HasSubstr("default, gpt-2, llama-bpe"),
                             HasSubstr("tekken"))));
  for (const std::string& name : PreTokenizer::SupportedNames()) {
    SCOPED_TRACE(name);
    EXPECT_OK(PreTokenizer::Create(name).status());
  }
  ASSERT_OK_AND_ASSIGN(auto llama, PreTokenizer::Create("llama3"));
  EXPECT_TRUE(llama->traits().ignore_merges);
  EXPECT_TRUE(llama->traits().add_bos);
  ASSERT_OK_AND_ASSIGN(auto qwen, PreTokenizer::Create("qwen2"));
  EXPECT_FALSE(qwen->traits().ignore_merges);
  EXPECT_FALSE(qwen->traits().add_bos);
}

}  // namespace
}  // namespace kvasir::engine
