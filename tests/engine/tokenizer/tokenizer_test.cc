#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/gguf_tokenizer.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "engine/tokenizer/spm_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/vocab_vectors.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::GoldenPath;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ReadVocabCases;
using ::kvasir::testing::StatusIs;
using ::kvasir::testing::VocabCase;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The SentencePiece tokenizer a "llama" GGUF vocabulary loads as.
const SpmTokenizer& AsSpm(const Tokenizer& tok) {
  const auto* spm = dynamic_cast<const SpmTokenizer*>(&tok);
  EXPECT_NE(spm, nullptr);
  return *spm;
}

void ExpectVocabVectorsPass(const Tokenizer& tok) {
  const auto cases = ReadVocabCases(ModelPath("ggml-vocab-llama-spm.gguf"));
  ASSERT_EQ(cases.size(), 46u);  // every text of the .inp file
  for (const VocabCase& c : cases) {
    ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(c.text, {.add_special = false}));
    EXPECT_EQ(ids, c.ids) << "text: '" << c.text << "'";
  }
}

TEST(SpmTokenizerTest, LlamaVocabTestVectorsFromGguf) {
  ASSERT_OK_AND_ASSIGN(
      auto tok, LoadGgufTokenizer(ModelPath("ggml-vocab-llama-spm.gguf")));
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_TRUE(AsSpm(*tok).has_byte_fallback());
  ExpectVocabVectorsPass(*tok);
}

TEST(SpmTokenizerTest, LlamaVocabTestVectorsFromLlama2cFormat) {
  ASSERT_OK_AND_ASSIGN(auto tok,
                       LoadLlama2cTokenizer(ModelPath("llama2-tokenizer.bin")));
  EXPECT_EQ(tok->vocab_size(), 32000);
  ExpectVocabVectorsPass(*tok);
}

// Every prompt of a golden file encodes to its prompt_token_ids.
void ExpectGoldenPrompts(const Tokenizer& tok, const std::string& golden) {
  std::ifstream f(GoldenPath(golden));
  ASSERT_TRUE(f) << GoldenPath(golden);
  int n = 0;
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string prompt = j["prompt"];
    SCOPED_TRACE(prompt);
    ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(prompt, {.add_special = true}));
    EXPECT_EQ(ids, j["prompt_token_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(j["bos_id"].get<int>(), tok.bos_id());
    EXPECT_EQ(j["eos_id"].get<int>(), tok.eos_id());
    // Decoding the continuation gives its text (pieces, "▁" -> " ").
    const auto cont = j["continuation_token_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.DecodeBytes(cont), j["continuation_text"].get<std::string>());
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST(SpmTokenizerTest, GoldenPromptsStories260K) {
  ASSERT_OK_AND_ASSIGN(auto gguf,
                       LoadGgufTokenizer(ModelPath("stories260K.gguf")));
  ExpectGoldenPrompts(*gguf, "stories260K.jsonl");
  ASSERT_OK_AND_ASSIGN(auto bin, LoadLlama2cTokenizer(ModelPath("tok512.bin")));
  ExpectGoldenPrompts(*bin, "stories260K.jsonl");
}

TEST(SpmTokenizerTest, GoldenPromptsBabyLlama) {
  ASSERT_OK_AND_ASSIGN(auto gguf,
                       LoadGgufTokenizer(ModelPath("babyllama5000.gguf")));
  ExpectGoldenPrompts(*gguf, "babyllama.jsonl");
  ASSERT_OK_AND_ASSIGN(auto bin, LoadLlama2cTokenizer(ModelPath("tok105.bin")));
  ExpectGoldenPrompts(*bin, "babyllama.jsonl");
}

TEST(SpmTokenizerTest, Llama2cFormatReadsLikeItsGgufTwin) {
  const std::pair<const char*, const char*> pairs[] = {
      {"stories260K.gguf", "tok512.bin"},
      {"babyllama5000.gguf", "tok105.bin"},
      {"ggml-vocab-llama-spm.gguf", "llama2-tokenizer.bin"}};
  for (const auto& [gguf_name, bin_name] : pairs) {
    SCOPED_TRACE(bin_name);
    ASSERT_OK_AND_ASSIGN(auto g, LoadGgufTokenizer(ModelPath(gguf_name)));
    ASSERT_OK_AND_ASSIGN(auto b, LoadLlama2cTokenizer(ModelPath(bin_name)));
    EXPECT_EQ(b->vocab().pieces, AsSpm(*g).vocab().pieces);
    EXPECT_EQ(b->vocab().scores, AsSpm(*g).vocab().scores);
    EXPECT_EQ(b->vocab().types, AsSpm(*g).vocab().types);
    EXPECT_EQ(b->bos_id(), g->bos_id());
    EXPECT_EQ(b->eos_id(), g->eos_id());
  }
}

TEST(SpmTokenizerTest, PiecesAndTokenBytes) {
  ASSERT_OK_AND_ASSIGN(
      auto tok, LoadGgufTokenizer(ModelPath("ggml-vocab-llama-spm.gguf")));
  EXPECT_EQ(tok->Piece(1), "<s>");
  EXPECT_EQ(tok->TokenBytes(1), "");  // control tokens produce no text
  EXPECT_EQ(tok->TokenBytes(2), "");
  EXPECT_EQ(tok->TokenBytes(0), "");
  EXPECT_EQ(tok->Piece(13), "<0x0A>");
  EXPECT_EQ(tok->TokenBytes(13), "\n");
  EXPECT_EQ(tok->Piece(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(tok->TokenBytes(15043), " Hello");
  EXPECT_EQ(tok->TokenBytes(-1), "");
  EXPECT_EQ(tok->TokenBytes(32000), "");
  EXPECT_EQ(tok->Piece(32000), "");
  ASSERT_OK_AND_ASSIGN(auto empty, tok->Encode("", {}));
  EXPECT_THAT(empty, ElementsAre(1));
  ASSERT_OK_AND_ASSIGN(auto nothing, tok->Encode("", {.add_special = false}));
  EXPECT_THAT(nothing, IsEmpty());
}

TEST(SpmTokenizerTest, DecodeRoundTrips) {
  ASSERT_OK_AND_ASSIGN(
      auto llama, LoadGgufTokenizer(ModelPath("ggml-vocab-llama-spm.gguf")));
  ASSERT_OK_AND_ASSIGN(auto tok512,
                       LoadLlama2cTokenizer(ModelPath("tok512.bin")));
  const std::string texts[] = {
      "Hello world",
      "  leading spaces and trailing  ",
      "tabs\tand\nnewlines\n\n",
      "Ünïcödé: нещо на Български, 我想在apple工作, "
      "🦙🚀",
      "bytes \x01\x7f",
  };
  for (const Tokenizer* tok : {static_cast<const Tokenizer*>(llama.get()),
                               static_cast<const Tokenizer*>(tok512.get())}) {
    for (const std::string& text : texts) {
      ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode(text, {}));
      EXPECT_EQ(ids.front(), 1);
      EXPECT_EQ(tok->DecodeBytes(ids), " " + text);
    }
  }
}

TEST(SpmTokenizerTest, BabyLlamaRejectsTextOutsideItsVocab) {
  ASSERT_OK_AND_ASSIGN(auto gguf,
                       LoadGgufTokenizer(ModelPath("babyllama5000.gguf")));
  ASSERT_OK_AND_ASSIGN(auto bin, LoadLlama2cTokenizer(ModelPath("tok105.bin")));
  for (const SpmTokenizer* tok :
       {&AsSpm(*gguf), static_cast<const SpmTokenizer*>(bin.get())}) {
    EXPECT_FALSE(tok->has_byte_fallback());
    EXPECT_THAT(tok->Encode("Once upon a time in Z\xC3\xBCrich", {}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("'\xC3\xBC' (U+00FC)"),
                               HasSubstr("byte offset 21"),
                               HasSubstr("no byte fallback"))));
    EXPECT_THAT(tok->Encode("tab\there", {.add_special = false}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("'\\t' (U+0009)"),
                               HasSubstr("byte offset 3"))));
    EXPECT_THAT(tok->Encode("x\xFF", {.add_special = false}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("byte 0xFF (invalid UTF-8)")));
    EXPECT_OK(tok->Encode("Lily and Ben went to the park.", {}));
  }
}

TEST(SpmTokenizerTest, CreateValidatesTheVocab) {
  SpmVocab v;
  EXPECT_THAT(SpmTokenizer::Create(v, "x.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("x.bin"), HasSubstr("no tokens"))));
  v.pieces = {"<unk>", "<s>", "</s>", "<0xZZ>"};
  v.scores = {0, 0, 0};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl,
             TokenType::kByte};
  EXPECT_THAT(SpmTokenizer::Create(v, "x.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("4 tokens but 3 scores")));
  v.scores.push_back(0);
  EXPECT_THAT(SpmTokenizer::Create(v, "x.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'<0xZZ>' is not <0xNN>")));
  v.pieces[3] = "a";
  v.types[3] = TokenType::kNormal;
  v.eos_id = 9;
  EXPECT_THAT(
      SpmTokenizer::Create(v, "x.bin"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("EOS id 9")));
}

TEST(Llama2cTokenizerTest, TruncatedAndMalformedFiles) {
  const std::string bytes = ReadFile(ModelPath("tok512.bin"));
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_THAT(ParseLlama2cTokenizer(bytes.substr(0, 2), "t.bin"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("t.bin")));
  EXPECT_THAT(ParseLlama2cTokenizer(bytes.substr(0, bytes.size() - 1), "t.bin"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("token 511"), HasSubstr("truncated"))));
  std::string negative = bytes;
  const int32_t len = -5;
  std::memcpy(negative.data() + 8, &len, 4);  // token 0's length
  EXPECT_THAT(ParseLlama2cTokenizer(negative, "t.bin"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("negative length")));
  EXPECT_THAT(LoadLlama2cTokenizer("/nonexistent/tok.bin"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("tok.bin")));
}

TEST(ByteTokenizerTest, EncodesBytesAndDecodesThem) {
  EXPECT_THAT(ByteTokenizer::Create(100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("259")));
  ASSERT_OK_AND_ASSIGN(auto tok, ByteTokenizer::Create(512));
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode("h\xC3\xA9", {}));
  EXPECT_THAT(ids, ElementsAre(1, 3 + 'h', 3 + 0xC3, 3 + 0xA9));
  EXPECT_EQ(tok->DecodeBytes(ids), "h\xC3\xA9");
  EXPECT_EQ(tok->Piece(3 + 0x0A), "<0x0A>");
  EXPECT_EQ(tok->Piece(259), "<unused_0>");
  EXPECT_EQ(tok->TokenBytes(259), "");
  EXPECT_EQ(tok->TokenBytes(511), "");
  EXPECT_EQ(tok->Piece(512), "");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  ASSERT_OK_AND_ASSIGN(auto all_ids, tok->Encode(all, {.add_special = false}));
  EXPECT_EQ(tok->DecodeBytes(all_ids), all);
}

TEST(IncrementalDecoderTest, HoldsBackASplitCharacter) {
  ASSERT_OK_AND_ASSIGN(auto tok, ByteTokenizer::Create(300));
  IncrementalDecoder dec(tok.get());
  auto byte = [](int b) { return ByteTokenizer::kFirstByteId + b; };
  EXPECT_EQ(dec.Add(byte('a')), "a");
  EXPECT_EQ(dec.Add(byte(0xE2)), "");  // "€" = E2 82 AC
  EXPECT_EQ(dec.pending_bytes(), 1u);
  EXPECT_EQ(dec.Add(byte(0x82)), "");
  EXPECT_EQ(dec.Add(byte(0xAC)), "\xE2\x82\xAC");
  EXPECT_EQ(dec.pending_bytes(), 0u);
  EXPECT_EQ(dec.Add(ByteTokenizer::kBosId), "");
  EXPECT_EQ(dec.Add(byte('b')), "b");
  EXPECT_EQ(dec.Flush(), "");
}

TEST(IncrementalDecoderTest, InvalidBytesBecomeReplacementCharacters) {
  ASSERT_OK_AND_ASSIGN(auto tok, ByteTokenizer::Create(300));
  IncrementalDecoder dec(tok.get());
  auto byte = [](int b) { return ByteTokenizer::kFirstByteId + b; };
  EXPECT_EQ(dec.Add(byte(0xE2)), "");
  EXPECT_EQ(dec.Add(byte('x')), "\xEF\xBF\xBDx");  // E2 cannot precede 'x'
  EXPECT_EQ(dec.Add(byte(0xFF)), "\xEF\xBF\xBD");  // never valid
  EXPECT_EQ(dec.Add(byte(0xF0)), "");
  EXPECT_EQ(dec.Add(byte(0x9F)), "");
  EXPECT_EQ(dec.Flush(), "\xEF\xBF\xBD");  // a cut-off character
  EXPECT_EQ(dec.pending_bytes(), 0u);
  EXPECT_EQ(dec.Add(byte('z')), "z");
}

TEST(IncrementalDecoderTest, ByteFallbackEmojiStreamsWhole) {
  ASSERT_OK_AND_ASSIGN(
      auto tok, LoadGgufTokenizer(ModelPath("ggml-vocab-llama-spm.gguf")));
  const std::string text = "Hi 🦙 and 🚀 (né)";
  ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode(text, {}));
  IncrementalDecoder dec(tok.get());
  std::string streamed;
  int split_chars = 0;
  for (int32_t id : ids) {
    const std::string piece = dec.Add(id);
    EXPECT_TRUE(utf8::IsValid(piece)) << id;
    if (piece.empty() && dec.pending_bytes() > 0) ++split_chars;
    streamed += piece;
  }
  streamed += dec.Flush();
  EXPECT_EQ(streamed, " " + text);
  EXPECT_GT(split_chars, 0);  // the emoji really were split over tokens
}

TEST(Utf8Test, AppendValidFollowsMaximalSubparts) {
  std::string out;
  EXPECT_EQ(utf8::AppendValid("a\xED\xA0\x80z", true, &out), 5u);  // surrogate
  EXPECT_EQ(out, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
  out.clear();
  EXPECT_EQ(utf8::AppendValid("\xC0\x80", true, &out), 2u);  // overlong
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD");
  out.clear();
  EXPECT_EQ(utf8::AppendValid("ok\xF0\x9F\xA6", false, &out), 2u);
  EXPECT_EQ(out, "ok");
  EXPECT_TRUE(utf8::IsValid("🦙 é"));
  EXPECT_FALSE(utf8::IsValid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(utf8::DescribeCharAt("a\nb", 1), "'\\n' (U+000A)");
}

}  // namespace
}  // namespace kvasir::engine
