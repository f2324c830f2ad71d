// Byte-level BPE: llama.cpp's tokenizer test vectors for four vocabularies,
// special tokens, end-of-generation ids, streaming and the loader's errors.

#include "engine/tokenizer/bpe_tokenizer.h"

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/gguf_tokenizer.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/spm_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/bpe_test_vocab.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/vocab_vectors.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::TinyBpeIds;
using ::kvasir::engine::testing::TinyBpeVocab;
using ::kvasir::testing::GgufWriter;
using ::kvasir::testing::GoldenPath;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ReadVocabCases;
using ::kvasir::testing::SharedDir;
using ::kvasir::testing::StatusIs;
using ::kvasir::testing::TempDir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr EncodeOptions kPlain = {.add_special = false, .parse_special = false};

std::string TestsPath(const std::string& name) {
  return SharedDir() + "/tokenizer-tests/" + name;
}

// Loading a 150k-token vocabulary takes a moment: once per file.
const Tokenizer& Load(const std::string& path) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto it = cache->find(path);
  if (it == cache->end()) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = LoadGgufTokenizer(path);
    EXPECT_OK(tok.status());
    if (!tok.ok()) {
      // Every test that uses it then fails on its own token ids (the load
      // error is reported above) instead of the whole binary stopping.
      tok = ByteTokenizer::Create(512);
    }
    it = cache->emplace(path, *std::move(tok)).first;
  }
  return *it->second;
}

const Tokenizer& Llama3() { return Load(ModelPath("synth/llama3-q8_0.gguf")); }
const Tokenizer& Qwen2() { return Load(ModelPath("synth/qwen2-q8_0.gguf")); }

struct VectorFile {
  const char* vectors;  // tokenizer-tests/<vectors>.inp/.out
  std::string vocab;    // the GGUF with the vocabulary
  size_t count;         // texts in the .inp file
};

class VocabVectorsTest : public ::testing::TestWithParam<VectorFile> {};

// Every text encodes exactly as llama.cpp encodes it (no BOS, special
// text not parsed) and decodes back to itself.
TEST_P(VocabVectorsTest, EncodeExactlyAndDecodeBack) {
  const VectorFile& f = GetParam();
  const auto cases = ReadVocabCases(TestsPath(f.vectors));
  ASSERT_EQ(cases.size(), f.count) << TestsPath(f.vectors);
  const Tokenizer& tok = Load(f.vocab);
  size_t passed = 0;
  for (const auto& c : cases) {
    ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> ids,
                         tok.Encode(c.text, kPlain));
    EXPECT_EQ(ids, c.ids) << "text: '" << c.text << "'";
    EXPECT_EQ(tok.DecodeBytes(ids), c.text);
    if (ids == c.ids && tok.DecodeBytes(ids) == c.text) ++passed;
  }
  std::cout << f.vectors << ": " << passed << "/" << cases.size()
            << " vectors pass\n";
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, VocabVectorsTest,
    ::testing::Values(
        VectorFile{"llama-bpe", ModelPath("synth/llama3-q8_0.gguf"), 46},
        VectorFile{"qwen2", ModelPath("synth/qwen2-q8_0.gguf"), 46},
        VectorFile{"gpt-2", TestsPath("gpt-2.gguf"), 46},
        VectorFile{"deepseek-llm", TestsPath("deepseek-llm.gguf"), 46}),
    [](const auto& info) {
      std::string name = info.param.vectors;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

// The synthetic models' reference runs (llama.cpp): every prompt encodes,
// BOS as the vocabulary wants, to the same ids, and the continuations
// decode to the same text.
TEST(BpeTokenizerTest, SynthGoldenPromptsTokenizeExactly) {
  for (const char* model :
       {"llama3-q8_0", "qwen2-q8_0", "qwen3-q8_0", "spm256-q4_0"}) {
    SCOPED_TRACE(model);
    const Tokenizer& tok =
        Load(ModelPath(absl::StrCat("synth/", model, ".gguf")));
    std::ifstream f(GoldenPath(absl::StrCat("synth/", model, ".jsonl")));
    ASSERT_TRUE(f);
    int n = 0;
    for (std::string line; std::getline(f, line);) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      const std::string prompt = j["prompt"];
      SCOPED_TRACE(prompt);
      ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(prompt, {}));
      EXPECT_EQ(ids, j["prompt_token_ids"].get<std::vector<int32_t>>());
      EXPECT_EQ(j["bos_id"].get<int>(), tok.bos_id());
      EXPECT_EQ(j["eos_id"].get<int>(), tok.eos_id());
      if (j["continuation_text_valid_utf8"].get<bool>()) {
        const auto cont =
            j["continuation_token_ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(tok.DecodeBytes(cont),
                  j["continuation_text"].get<std::string>());
      }
      ++n;
    }
    EXPECT_GT(n, 0);
  }
}

TEST(BpeTokenizerTest, Llama3AddsBosQwen2DoesNot) {
  ASSERT_OK_AND_ASSIGN(auto llama, Llama3().Encode("Hello", {}));
  EXPECT_EQ(llama.front(), 128000);
  EXPECT_EQ(Llama3().bos_id(), 128000);
  ASSERT_OK_AND_ASSIGN(auto llama_plain, Llama3().Encode("Hello", kPlain));
  EXPECT_EQ(llama.size(), llama_plain.size() + 1);
  ASSERT_OK_AND_ASSIGN(auto qwen, Qwen2().Encode("Hello", {}));
  ASSERT_OK_AND_ASSIGN(auto qwen_plain, Qwen2().Encode("Hello", kPlain));
  EXPECT_EQ(qwen, qwen_plain);
  ASSERT_OK_AND_ASSIGN(auto empty, Llama3().Encode("", {}));
  EXPECT_THAT(empty, ElementsAre(128000));
  ASSERT_OK_AND_ASSIGN(auto nothing, Qwen2().Encode("", {}));
  EXPECT_THAT(nothing, IsEmpty());
}

TEST(BpeTokenizerTest, EndOfGenerationIds) {
  // Llama 3.0: <|end_of_text|> (EOS) and <|eot_id|>; the file has no eot
  // key, so it is found by name (3.0 has no <|eom_id|>: 128008 is
  // reserved).
  EXPECT_THAT(Llama3().EndOfGenerationIds(), ElementsAre(128001, 128009));
  EXPECT_FALSE(Llama3().IsEndOfGeneration(128008));
  EXPECT_TRUE(Llama3().IsEndOfGeneration(128009));
  EXPECT_FALSE(Llama3().IsEndOfGeneration(128000));
  EXPECT_EQ(Llama3().Piece(128009), "<|eot_id|>");
  // Qwen2: <|endoftext|> (EOS) and <|im_end|>.
  EXPECT_THAT(Qwen2().EndOfGenerationIds(), ElementsAre(151643, 151645));
  EXPECT_EQ(Qwen2().Piece(151645), "<|im_end|>");
}

TEST(BpeTokenizerTest, ParseSpecialOnAndOffLlama3) {
  const std::string text = "<|begin_of_text|>Hello<|eot_id|>";
  ASSERT_OK_AND_ASSIGN(
      auto parsed,
      Llama3().Encode(text, {.add_special = false, .parse_special = true}));
  ASSERT_OK_AND_ASSIGN(auto hello, Llama3().Encode("Hello", kPlain));
  std::vector<int32_t> want = {128000};
  want.insert(want.end(), hello.begin(), hello.end());
  want.push_back(128009);
  EXPECT_EQ(parsed, want);
  // Control tokens add no text.
  EXPECT_EQ(Llama3().DecodeBytes(parsed), "Hello");

  ASSERT_OK_AND_ASSIGN(auto plain, Llama3().Encode(text, kPlain));
  EXPECT_THAT(plain, Not(Contains(128000)));
  EXPECT_THAT(plain, Not(Contains(128009)));
  EXPECT_EQ(Llama3().DecodeBytes(plain), text);

  // With add_special, BOS comes first, before the parsed one.
  ASSERT_OK_AND_ASSIGN(auto both,
                       Llama3().Encode(text, {.parse_special = true}));
  EXPECT_EQ(both.size(), want.size() + 1);
  EXPECT_EQ(both[0], 128000);
  EXPECT_EQ(both[1], 128000);
}

TEST(BpeTokenizerTest, ParseSpecialQwen2ChatTurn) {
  const std::string text = "<|im_start|>user\nHi<|im_end|>\n";
  ASSERT_OK_AND_ASSIGN(auto ids, Qwen2().Encode(text, {.parse_special = true}));
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_THAT(ids, Contains(151645));
  EXPECT_EQ(Qwen2().DecodeBytes(ids), "user\nHi\n");
}

TEST(BpeTokenizerTest, PiecesAndTokenBytes) {
  const Tokenizer& tok = Llama3();
  EXPECT_EQ(tok.Piece(128000), "<|begin_of_text|>");
  EXPECT_EQ(tok.TokenBytes(128000), "");  // control tokens give no text
  ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(" Hello\n", kPlain));
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(tok.Piece(ids[0]), "\xC4\xA0Hello");  // "ĠHello"
  EXPECT_EQ(tok.TokenBytes(ids[0]), " Hello");
  EXPECT_EQ(tok.Piece(ids[1]), "\xC4\x8A");  // "Ċ"
  EXPECT_EQ(tok.TokenBytes(ids[1]), "\n");
  EXPECT_EQ(tok.TokenBytes(-1), "");
  EXPECT_EQ(tok.Piece(tok.vocab_size()), "");
}

TEST(BpeTokenizerTest, AnyBytesRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string texts[] = {all, "x\xFF\xC3", "\xE2\x82", "\r\n\t \x0B"};
  for (const Tokenizer* tok : {&Llama3(), &Qwen2()}) {
    for (const std::string& text : texts) {
      ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode(text, kPlain));
      EXPECT_EQ(tok->DecodeBytes(ids), text);
    }
  }
}

// Byte-level tokens split characters anywhere; the incremental decoder
// must still emit whole, valid characters only.
TEST(BpeTokenizerTest, StreamingNeverEmitsPartialCharacters) {
  const std::string text =
      "Hi \xF0\x9F\xA6\x99 and \xE4\xB8\x96\xE7\x95\x8C, "
      "\xF0\x9F\x9A\x80\xF0\x9F\x9A\x80 n\xC3\xA9";
  for (const char* vocab : {"gpt-2.gguf", "deepseek-llm.gguf"}) {
    SCOPED_TRACE(vocab);
    const Tokenizer& tok = Load(TestsPath(vocab));
    ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(text, kPlain));
    IncrementalDecoder dec(&tok);
    std::string streamed;
    int held_back = 0;
    for (int32_t id : ids) {
      const std::string piece = dec.Add(id);
      EXPECT_TRUE(utf8::IsValid(piece)) << id;
      if (dec.pending_bytes() > 0) ++held_back;
      streamed += piece;
    }
    streamed += dec.Flush();
    EXPECT_EQ(streamed, text);
    EXPECT_GT(held_back, 0);  // some token really ended mid-character
  }
}

TEST(BpeTokenizerTest, ManyThreadsEncodeAlike) {
  const Tokenizer& tok = Qwen2();
  std::vector<std::string> texts;
  for (int i = 0; i < 8; ++i) {
    texts.push_back(absl::StrCat("Thread ", i, " says héllo 世界 ", i * 12345,
                                 "   \n\n  spaces"));
  }
  std::vector<std::vector<int32_t>> want;
  for (const auto& t : texts) {
    ASSERT_OK_AND_ASSIGN(auto ids, tok.Encode(t, kPlain));
    want.push_back(ids);
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(texts.size(), 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 50; ++rep) {
        auto ids = tok.Encode(texts[i], kPlain);
        if (!ids.ok() || *ids != want[i]) ++mismatches[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(BpeTokenizerTest, MergesByLowestRankThenLeftmost) {
  using Ids = TinyBpeIds;
  ASSERT_OK_AND_ASSIGN(auto tok, BpeTokenizer::Create(TinyBpeVocab(), "tiny"));
  ASSERT_OK_AND_ASSIGN(auto hello, tok->Encode("hello", kPlain));
  EXPECT_THAT(hello, ElementsAre(Ids::kHello));
  // "aaa": one merge "a a"; the leftmost pair merges first.
  ASSERT_OK_AND_ASSIGN(auto aaa, tok->Encode("aaa", kPlain));
  EXPECT_THAT(aaa, ElementsAre(Ids::kAa, 'a'));
  // "hell" without "o": "h e" (rank 0) and "l l" (rank 1), then "he ll".
  ASSERT_OK_AND_ASSIGN(auto hell, tok->Encode("shell", kPlain));
  EXPECT_THAT(hell, ElementsAre('s', Ids::kHell));
  // Words do not merge across the pre-tokenizer's boundaries.
  ASSERT_OK_AND_ASSIGN(auto two, tok->Encode("he llo", kPlain));
  EXPECT_THAT(two, ElementsAre(Ids::kHe, ' ', Ids::kLl, 'o'));
  EXPECT_FALSE(tok->add_bos());
  EXPECT_THAT(tok->EndOfGenerationIds(),
              ElementsAre(Ids::kEndOfText, Ids::kImEnd));
}

// Llama 3 and Tekken emit a word that is itself a token whole, even when
// the merges would not build it; they also add BOS by default.
TEST(BpeTokenizerTest, IgnoreMergesEmitsWholeWordTokens) {
  using Ids = TinyBpeIds;
  for (const char* pre : {"tekken", "llama-bpe", "qwen2"}) {
    SCOPED_TRACE(pre);
    BpeVocab v = TinyBpeVocab(pre);
    v.pieces.push_back("hel");  // no merge builds it
    v.types.push_back(TokenType::kNormal);
    const int32_t hel = Ids::kSize;
    ASSERT_OK_AND_ASSIGN(auto tok, BpeTokenizer::Create(v, "tiny"));
    const bool ignore_merges = std::string(pre) != "qwen2";
    EXPECT_EQ(tok->add_bos(), ignore_merges);
    ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode("hel", kPlain));
    if (ignore_merges) {
      EXPECT_THAT(ids, ElementsAre(hel));
    } else {
      EXPECT_THAT(ids, ElementsAre(Ids::kHe, 'l'));
    }
    ASSERT_OK_AND_ASSIGN(auto with_bos, tok->Encode("hel", {}));
    EXPECT_EQ(with_bos.size(), ids.size() + (ignore_merges ? 1 : 0));
  }
}

TEST(BpeTokenizerTest, UserDefinedTokensOnlyWithParseSpecial) {
  using Ids = TinyBpeIds;
  ASSERT_OK_AND_ASSIGN(auto tok, BpeTokenizer::Create(TinyBpeVocab(), "tiny"));
  const std::string text = "<tool>hello<|im_end|>";
  ASSERT_OK_AND_ASSIGN(auto parsed, tok->Encode(text, {.add_special = false,
                                                       .parse_special = true}));
  EXPECT_THAT(parsed, ElementsAre(Ids::kTool, Ids::kHello, Ids::kImEnd));
  // User-defined tokens keep their text; control tokens have none.
  EXPECT_EQ(tok->DecodeBytes(parsed), "<tool>hello");
  ASSERT_OK_AND_ASSIGN(auto plain, tok->Encode(text, kPlain));
  EXPECT_THAT(plain, Not(Contains(Ids::kTool)));
  EXPECT_THAT(plain, Not(Contains(Ids::kImEnd)));
  EXPECT_EQ(tok->DecodeBytes(plain), text);
}

TEST(BpeTokenizerTest, CreateValidatesTheVocab) {
  BpeVocab v = TinyBpeVocab();
  v.merges.push_back("hello");
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("t.gguf"),
                             HasSubstr("tokenizer.ggml.merges[5] 'hello'"),
                             HasSubstr("not two pieces"))));
  v = TinyBpeVocab();
  v.merges.push_back("h zz");  // "zz" is not a token
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokenizer.ggml.merges[5] 'h zz'"),
                             HasSubstr("'zz' is not a normal token"))));
  v = TinyBpeVocab();
  v.merges.push_back("o o");  // "oo" is not a token
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the merged piece 'oo'")));
  v = TinyBpeVocab();
  v.pre = "klingon";
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokenizer.ggml.pre 'klingon'"),
                             HasSubstr("llama-bpe"), HasSubstr("qwen2"),
                             HasSubstr("deepseek-llm"), HasSubstr("tekken"))));
  v = TinyBpeVocab();
  v.eot_id = TinyBpeIds::kSize;
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokenizer.ggml.eot_token_id 265")));
  v = TinyBpeVocab();
  v.bos_id = -1;
  v.add_bos = true;
  EXPECT_THAT(BpeTokenizer::Create(v, "t.gguf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no tokenizer.ggml.bos_token_id")));
}

class GgufTokenizerTest : public ::testing::Test {
 protected:
  // A vocab-only GGUF of the tiny vocabulary, written to a temp file.
  std::string WriteTinyGguf(const std::string& name,
                            void (*edit)(GgufWriter&)) {
    const BpeVocab v = TinyBpeVocab();
    GgufWriter w;
    w.AddString("tokenizer.ggml.model", "gpt2");
    w.AddString("tokenizer.ggml.pre", "qwen2");
    w.AddStringArray("tokenizer.ggml.tokens", v.pieces);
    std::vector<int32_t> types;
    for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
    w.AddInt32Array("tokenizer.ggml.token_type", types);
    w.AddStringArray("tokenizer.ggml.merges", v.merges);
    w.AddUint32("tokenizer.ggml.eos_token_id", TinyBpeIds::kEndOfText);
    edit(w);
    const std::string path = dir_.File(name);
    EXPECT_OK(w.WriteFile(path));
    return path;
  }

  TempDir dir_;
};

TEST_F(GgufTokenizerTest, LoadsByteLevelBpeAndReportsItsErrors) {
  ASSERT_OK_AND_ASSIGN(
      auto tok, LoadGgufTokenizer(WriteTinyGguf("ok.gguf", [](auto&) {})));
  EXPECT_NE(dynamic_cast<const BpeTokenizer*>(tok.get()), nullptr);
  ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode("hello", {}));
  EXPECT_THAT(ids, ElementsAre(TinyBpeIds::kHello));  // qwen2: no BOS
  // eot found by name: <|im_end|>.
  EXPECT_THAT(tok->EndOfGenerationIds(),
              ElementsAre(TinyBpeIds::kEndOfText, TinyBpeIds::kImEnd));

  EXPECT_THAT(LoadGgufTokenizer(WriteTinyGguf(
                  "nomerges.gguf",
                  [](GgufWriter& w) { w.RemoveKey("tokenizer.ggml.merges"); })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("nomerges.gguf"),
                             HasSubstr("'tokenizer.ggml.merges' is missing"))));
  EXPECT_THAT(LoadGgufTokenizer(
                  WriteTinyGguf("model.gguf",
                                [](GgufWriter& w) {
                                  w.RemoveKey("tokenizer.ggml.model");
                                  w.AddString("tokenizer.ggml.model", "bert");
                                })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokenizer.ggml.model 'bert'"),
                             HasSubstr("llama"), HasSubstr("gpt2"))));
  EXPECT_THAT(LoadGgufTokenizer(
                  WriteTinyGguf("pre.gguf",
                                [](GgufWriter& w) {
                                  w.RemoveKey("tokenizer.ggml.pre");
                                  w.AddString("tokenizer.ggml.pre", "jais-2");
                                })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("pre.gguf"),
                             HasSubstr("tokenizer.ggml.pre 'jais-2'"),
                             HasSubstr("supported: "))));
  // Explicit keys are honoured, and named end tokens (<|im_end|>) still end
  // generation, as in llama.cpp; add_bos_token is honoured.
  ASSERT_OK_AND_ASSIGN(
      auto keyed,
      LoadGgufTokenizer(WriteTinyGguf("keys.gguf", [](GgufWriter& w) {
        w.AddUint32("tokenizer.ggml.eot_token_id", TinyBpeIds::kImStart);
        w.AddUint32("tokenizer.ggml.bos_token_id", TinyBpeIds::kImStart);
        w.AddBool("tokenizer.ggml.add_bos_token", true);
      })));
  EXPECT_THAT(keyed->EndOfGenerationIds(),
              ElementsAre(TinyBpeIds::kEndOfText, TinyBpeIds::kImStart,
                          TinyBpeIds::kImEnd));
  ASSERT_OK_AND_ASSIGN(auto with_bos, keyed->Encode("he", {}));
  EXPECT_THAT(with_bos, ElementsAre(TinyBpeIds::kImStart, TinyBpeIds::kHe));
}

TEST(SpmTokenizerTest, ParseSpecialMatchesControlTokens) {
  ASSERT_OK_AND_ASSIGN(
      auto tok, LoadGgufTokenizer(ModelPath("ggml-vocab-llama-spm.gguf")));
  const std::string text = "<s>Hello</s>";
  ASSERT_OK_AND_ASSIGN(auto parsed, tok->Encode(text, {.add_special = false,
                                                       .parse_special = true}));
  // A text run after a special token gets the dummy-prefix space.
  EXPECT_THAT(parsed, ElementsAre(1, 15043, 2));
  ASSERT_OK_AND_ASSIGN(auto with_bos,
                       tok->Encode(text, {.parse_special = true}));
  EXPECT_THAT(with_bos, ElementsAre(1, 1, 15043, 2));
  ASSERT_OK_AND_ASSIGN(auto plain, tok->Encode(text, kPlain));
  EXPECT_THAT(plain, AllOf(Not(Contains(1)), Not(Contains(2))));
  EXPECT_EQ(tok->DecodeBytes(plain), " " + text);
  EXPECT_THAT(tok->EndOfGenerationIds(), ElementsAre(2));
}

}  // namespace
}  // namespace kvasir::engine
