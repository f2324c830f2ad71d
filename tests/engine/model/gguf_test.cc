#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model/gguf_dequant.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::GgufWriter;
using ::kvasir::testing::MakeTinyLlamaGguf;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::StatusIs;
using ::kvasir::testing::TinyLlamaSpec;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6,
                   kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10, kBF16 = 30;

class GgufTest : public ::testing::Test {
 protected:
  // Writes `bytes` to a fresh file in the temp dir and returns its path.
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.File(name);
    // Replace rather than truncate: ext4 flushes truncated-and-rewritten
    // files on close, which makes loops over many files slow.
    std::filesystem::remove(path);
    EXPECT_OK(kvasir::testing::WriteBytes(path, bytes));
    return path;
  }
  std::string Write(const std::string& name, const GgufWriter& w) {
    return Write(name, w.Build());
  }

  kvasir::testing::TempDir dir_;
};

TEST(GgufRealFileTest, Stories260KConfigAndWeights) {
  ASSERT_OK_AND_ASSIGN(auto file,
                       GgufFile::Open(ModelPath("stories260K.gguf")));
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->tensors().size(), 48u);
  EXPECT_EQ(*file->GetString("general.architecture"), "llama");

  ASSERT_OK_AND_ASSIGN(auto model, ModelFromGguf(*file));
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.name, "stories260K.gguf");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 2048);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(c.attention_mode(), AttentionMode::kGQA);
  EXPECT_EQ(c.group_size(), 2);

  const ModelWeights& w = model->weights;
  // The file's output.weight is a byte copy of token_embd: stored once.
  EXPECT_TRUE(w.tied_output());
  EXPECT_THAT(w.tok_embeddings.shape(), ElementsAre(512, 64));
  ASSERT_EQ(w.layers.size(), 5u);
  EXPECT_THAT(w.layers[0].wq.shape(), ElementsAre(64, 64));
  EXPECT_THAT(w.layers[0].wk.shape(), ElementsAre(32, 64));
  EXPECT_THAT(w.layers[0].wv.shape(), ElementsAre(32, 64));
  EXPECT_THAT(w.layers[0].wo.shape(), ElementsAre(64, 64));
  EXPECT_THAT(w.layers[4].w_gate.shape(), ElementsAre(172, 64));
  EXPECT_THAT(w.layers[4].w_up.shape(), ElementsAre(172, 64));
  EXPECT_THAT(w.layers[4].w_down.shape(), ElementsAre(64, 172));
  EXPECT_THAT(w.final_norm.shape(), ElementsAre(64));
  // Weights are the file's bytes: the first embedding row, exactly.
  const GgufTensorInfo* embd = file->FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(std::memcmp(w.tok_embeddings.data(), embd->data, 64 * 4), 0);

  EXPECT_EQ(model->tokenizer->vocab_size(), 512);
  EXPECT_EQ(model->tokenizer->bos_id(), 1);
  EXPECT_EQ(model->tokenizer->eos_id(), 2);
}

TEST(GgufRealFileTest, BabyLlamaConfig) {
  ASSERT_OK_AND_ASSIGN(auto model,
                       LoadGgufModel(ModelPath("babyllama5000.gguf")));
  const ModelConfig& c = model->config;
  EXPECT_EQ(c.dim, 128);
  EXPECT_EQ(c.hidden_dim, 352);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 105);
  EXPECT_EQ(c.context_length, 128);  // what the metadata says
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_TRUE(model->weights.tied_output());
  EXPECT_EQ(model->tokenizer->vocab_size(), 105);
}

TEST(GgufRealFileTest, MissingFileIsNotFound) {
  EXPECT_THAT(GgufFile::Open("/nonexistent/model.gguf"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/model.gguf")));
}

TEST_F(GgufTest, TinyModelRoundTripsInEveryTensorType) {
  for (uint32_t type : {kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1}) {
    SCOPED_TRACE(absl::StrCat("type ", type));
    TinyLlamaSpec spec;
    spec.tensor_type = type;
    const std::string path = Write("tiny.gguf", MakeTinyLlamaGguf(spec));
    ASSERT_OK_AND_ASSIGN(auto model, LoadGgufModel(path));
    EXPECT_EQ(model->config.dim, 32);
    EXPECT_EQ(model->config.n_kv_heads, 2);
    EXPECT_EQ(model->config.vocab_size, kvasir::testing::kTinyLlamaVocab);
    EXPECT_FALSE(model->weights.tied_output());
    // Matrices stay as stored: 16-bit and block types are never expanded.
    const Tensor& w_down = model->weights.layers[1].w_down;
    EXPECT_EQ(w_down.type(), type);
    // Values are within the writer's range [-0.1, 0.1] after dequantizing.
    const Tensor values = w_down.ToF32();
    for (float x : values.span()) {
      ASSERT_LE(std::fabs(x), 0.1001f);
    }
  }
}

TEST_F(GgufTest, MissingOrIdenticalOutputIsTied) {
  TinyLlamaSpec spec;
  spec.with_output = false;
  ASSERT_OK_AND_ASSIGN(auto absent,
                       LoadGgufModel(Write("a.gguf", MakeTinyLlamaGguf(spec))));
  EXPECT_TRUE(absent->weights.tied_output());
  EXPECT_EQ(absent->weights.output.numel(), 0);
}

TEST_F(GgufTest, HeadCountKvDefaultsToHeadCount) {
  TinyLlamaSpec spec;
  spec.n_kv_heads = 4;
  GgufWriter w = MakeTinyLlamaGguf(spec);
  w.RemoveKey("llama.attention.head_count_kv")
      .RemoveKey("llama.rope.freq_base");
  ASSERT_OK_AND_ASSIGN(auto model, LoadGgufModel(Write("mha.gguf", w)));
  EXPECT_EQ(model->config.n_kv_heads, 4);
  EXPECT_EQ(model->config.attention_mode(), AttentionMode::kMHA);
  EXPECT_FLOAT_EQ(model->config.rope_theta, 10000.0f);
}

TEST_F(GgufTest, DequantizesF16Bf16AndQ8_0) {
  // Values exactly representable in f16 and bf16, incl. an f16 subnormal.
  const std::vector<float> exact = {1.0f, -2.0f, 0.5f,     65504.0f,
                                    0.0f, -0.0f, 0x1p-24f, 3.140625f};
  const std::vector<float> bf_exact = {
      1.0f, -2.0f, 0.5f, 1e30f * 0.0f, 3.140625f, -65536.0f, 0x1p-100f, 7.0f};
  // Q8_0 block with a known scale: d = 0.5 (exact in f16), q = -64..63 step
  // ... written by hand so the expected values are exact.
  std::string q8;
  const uint16_t d = gguf::FloatToHalf(0.5f);
  q8.append(reinterpret_cast<const char*>(&d), 2);
  std::vector<float> q8_expected;
  for (int j = 0; j < 32; ++j) {
    const int8_t q = static_cast<int8_t>(j * 8 - 127);
    q8.push_back(static_cast<char>(q));
    q8_expected.push_back(0.5f * q);
  }
  // And a quantized row of 64 arbitrary values through the writer.
  std::vector<float> row(64);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (float& x : row) x = dist(rng);

  GgufWriter w;
  w.AddString("general.architecture", "llama")
      .AddTensorF16("f16", {2, 4}, exact)
      .AddTensorBF16("bf16", {8}, bf_exact)
      .AddTensorRaw("q8", {32}, kQ8_0, q8)
      .AddTensorQ8_0("q8row", {1, 64}, row);
  ASSERT_OK_AND_ASSIGN(auto file, GgufFile::Open(Write("dq.gguf", w)));

  ASSERT_OK_AND_ASSIGN(Tensor f16, file->ReadTensor("f16", {2, 4}));
  EXPECT_THAT(f16.span(), ::testing::ElementsAreArray(exact));
  EXPECT_TRUE(std::signbit(f16.data()[5]));
  ASSERT_OK_AND_ASSIGN(Tensor bf16, file->ReadTensor("bf16", {8}));
  EXPECT_THAT(bf16.span(), ::testing::ElementsAreArray(bf_exact));
  ASSERT_OK_AND_ASSIGN(Tensor q, file->ReadTensor("q8", {32}));
  EXPECT_THAT(q.span(), ::testing::ElementsAreArray(q8_expected));
  ASSERT_OK_AND_ASSIGN(Tensor qr, file->ReadTensor("q8row", {1, 64}));
  for (int i = 0; i < 64; ++i) {
    // Quantization error: half a step (max|x| / 127 / 2) plus f16 scale
    // rounding.
    EXPECT_NEAR(qr.data()[i], row[i], 3.0f / 127.0f / 2.0f * 1.01f) << i;
  }
}

TEST(GgufDequantTest, HalfConversions) {
  EXPECT_EQ(gguf::HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(gguf::HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(gguf::HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(gguf::HalfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(gguf::HalfToFloat(0x0400), 0x1p-14f);
  EXPECT_TRUE(std::isinf(gguf::HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(gguf::HalfToFloat(0x7E00)));
  EXPECT_EQ(gguf::FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(gguf::FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(gguf::FloatToHalf(65520.0f), 0x7C00);         // rounds up to inf
  EXPECT_EQ(gguf::FloatToHalf(1.0f + 0x1p-11f), 0x3C00);  // tie -> even
  EXPECT_EQ(gguf::FloatToHalf(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie -> even
  EXPECT_EQ(gguf::FloatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(gguf::FloatToHalf(-0.0f), 0x8000);
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // every finite positive half
    ASSERT_EQ(gguf::FloatToHalf(gguf::HalfToFloat(h)), h);
  }
  EXPECT_EQ(gguf::FloatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(gguf::Bf16ToFloat(0xC000), -2.0f);
  EXPECT_TRUE(std::isnan(gguf::Bf16ToFloat(gguf::FloatToBf16(NAN))));
}

// ---- Error paths, on files made here. ----

TEST_F(GgufTest, BadMagic) {
  std::string bytes = MakeTinyLlamaGguf({}).Build();
  bytes.replace(0, 4, "GGML");
  EXPECT_THAT(GgufFile::Open(Write("m.gguf", bytes)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("m.gguf"), HasSubstr("bad magic"))));
  EXPECT_THAT(GgufFile::Open(Write("empty.gguf", "")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
}

TEST_F(GgufTest, UnsupportedVersion) {
  for (uint32_t version : {1u, 4u, 0x03000000u}) {
    GgufWriter w = MakeTinyLlamaGguf({});
    w.SetVersion(version);
    EXPECT_THAT(GgufFile::Open(Write("v.gguf", w)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("unsupported GGUF version"),
                               HasSubstr(absl::StrCat(version)))));
  }
  GgufWriter v2 = MakeTinyLlamaGguf({});
  v2.SetVersion(2);
  EXPECT_OK(LoadGgufModel(Write("v2.gguf", v2)));
}

TEST_F(GgufTest, TruncatedHeaderMetadataInfosAndData) {
  GgufWriter::Layout layout;
  const std::string bytes = MakeTinyLlamaGguf({}).Build(&layout);
  struct Case {
    size_t size;
    const char* expected;
  };
  const Case cases[] = {
      {12, "tensor count"},
      {layout.metadata_begin + 20, "metadata"},
      {layout.tensor_infos_begin + 10, "tensor"},
      {layout.data_begin + 100, "extends past the end of the file"},
      {bytes.size() - 1, "output.weight"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.size);
    EXPECT_THAT(GgufFile::Open(Write("t.gguf", bytes.substr(0, c.size))),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr("t.gguf"), HasSubstr(c.expected))));
  }
}

TEST_F(GgufTest, EveryTruncationIsAnErrorNeverACrash) {
  TinyLlamaSpec spec;
  spec.dim = 8;
  spec.hidden_dim = 8;
  spec.n_layers = 1;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  const std::string bytes = MakeTinyLlamaGguf(spec).Build();
  ASSERT_OK(GgufFile::Open(Write("full.gguf", bytes)));
  for (size_t n = 0; n < bytes.size(); n += 7) {
    ASSERT_FALSE(GgufFile::Open(Write("cut.gguf", bytes.substr(0, n))).ok())
        << n;
  }
}

TEST_F(GgufTest, CorruptBytesNeverCrash) {
  TinyLlamaSpec spec;
  spec.dim = 8;
  spec.hidden_dim = 8;
  spec.n_layers = 1;
  spec.n_heads = 2;
  spec.n_kv_heads = 1;
  GgufWriter::Layout layout;
  const std::string bytes = MakeTinyLlamaGguf(spec).Build(&layout);
  std::mt19937 rng(123);
  for (int trial = 0; trial < 300; ++trial) {
    std::string corrupt = bytes;
    for (int k = 0; k < 4; ++k) {
      // Corrupt the header and tensor infos, where lengths and offsets live.
      const size_t pos = rng() % layout.data_begin;
      corrupt[pos] = static_cast<char>(rng());
    }
    // Any outcome but a crash (or a sanitizer report) is fine.
    auto file = GgufFile::Open(Write("c.gguf", corrupt));
    if (file.ok()) (void)ModelFromGguf(**file);
  }
}

TEST_F(GgufTest, HugeLengthsAndCountsAreRejected) {
  // A string key whose length runs far past the end of the file.
  std::string bytes = "GGUF";
  auto put64 = [&](uint64_t v) {
    bytes.append(reinterpret_cast<char*>(&v), 8);
  };
  auto put32 = [&](uint32_t v) {
    bytes.append(reinterpret_cast<char*>(&v), 4);
  };
  put32(3);
  put64(0);
  put64(1);
  put64(~uint64_t{0});  // key length
  bytes.append(32, 'x');
  EXPECT_THAT(GgufFile::Open(Write("s.gguf", bytes)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("metadata key")));

  // A metadata count no file could hold.
  bytes = "GGUF";
  put32(3);
  put64(0);
  put64(uint64_t{1} << 60);
  EXPECT_THAT(GgufFile::Open(Write("n.gguf", bytes)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("metadata")));

  // An array whose element count overflows count * size.
  GgufWriter w;
  std::string arr;
  const uint32_t elem = 5;  // int32
  const uint64_t count = (uint64_t{1} << 62) + 1;
  arr.append(reinterpret_cast<const char*>(&elem), 4);
  arr.append(reinterpret_cast<const char*>(&count), 8);
  w.AddRawValue("big", 9, arr);
  EXPECT_THAT(GgufFile::Open(Write("a.gguf", w)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'big'")));
}

TEST_F(GgufTest, DeeplyNestedArraysAreRejected) {
  std::string nested;
  const uint32_t array_type = 9;
  const uint64_t one = 1;
  for (int depth = 0; depth < 20; ++depth) {
    nested.append(reinterpret_cast<const char*>(&array_type), 4);
    nested.append(reinterpret_cast<const char*>(&one), 8);
  }
  GgufWriter w;
  w.AddRawValue("deep", 9, nested);
  EXPECT_THAT(
      GgufFile::Open(Write("d.gguf", w)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nests arrays")));
}

TEST_F(GgufTest, UnknownValueTypeAndDuplicateKey) {
  GgufWriter w;
  w.AddRawValue("weird", 77, "");
  EXPECT_THAT(GgufFile::Open(Write("u.gguf", w)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown value type 77")));
  GgufWriter d;
  d.AddUint32("k", 1).AddUint32("k", 2);
  EXPECT_THAT(GgufFile::Open(Write("d.gguf", d)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate metadata key 'k'")));
}

// A corrupt length that still fits in the file must not put its bytes
// into the message: keys and tensor names over 256 bytes are refused by
// length alone.
TEST_F(GgufTest, OverlongKeysAndTensorNamesAreRefusedWithAShortMessage) {
  GgufWriter k;
  k.AddUint32(std::string(300, 'k'), 1);
  const absl::Status key = GgufFile::Open(Write("k.gguf", k)).status();
  EXPECT_THAT(key, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("metadata key #0 is 300 bytes (at most "
                                      "256")));
  EXPECT_LT(key.message().size(), 300u);
  GgufWriter t;
  t.AddTensorF32(std::string(300, 't'), {1}, {1.0f});
  const absl::Status name = GgufFile::Open(Write("t.gguf", t)).status();
  EXPECT_THAT(name, StatusIs(absl::StatusCode::kInvalidArgument,
                             HasSubstr("the name of tensor #0 is 300 bytes")));
  EXPECT_LT(name.message().size(), 300u);
}

TEST_F(GgufTest, UnsupportedTensorType) {
  GgufWriter w = MakeTinyLlamaGguf({.dim = 256, .hidden_dim = 256});
  // Q2_K (no kernel here): blocks of 256 values in 84 bytes.
  w.RemoveTensor("blk.0.attn_q.weight")
      .AddTensorRaw("blk.0.attn_q.weight", {256, 256}, kQ2_K,
                    std::string(256 * 84, '\0'));
  EXPECT_THAT(
      LoadGgufModel(Write("q2.gguf", w)),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("q2.gguf"), HasSubstr("blk.0.attn_q.weight"),
                HasSubstr("Q2_K"), HasSubstr("no kernel"), HasSubstr("Q4_K"))));
}

TEST_F(GgufTest, TensorSizeThatDoesNotMatchItsShape) {
  GgufWriter w;
  // Claims 16x16 f32 (1024 bytes) but the next tensor starts 64 bytes later.
  w.AddTensorRaw("a", {16, 16}, kF32, std::string(64, '\0'), 0)
      .AddTensorRaw("b", {512}, kF32, std::string(2048, '\0'), 64);
  EXPECT_THAT(GgufFile::Open(Write("s.gguf", w)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tensor 'a'"), HasSubstr("1024 bytes"),
                             HasSubstr("does not match its shape"))));
  // Q8_0 rows must be whole blocks.
  GgufWriter q;
  q.AddTensorRaw("q", {20}, kQ8_0, std::string(34, '\0'));
  EXPECT_THAT(GgufFile::Open(Write("q.gguf", q)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'q'"), HasSubstr("multiple"))));
}

TEST_F(GgufTest, TensorPastTheEndOfTheFile) {
  GgufWriter w;
  w.AddTensorRaw("far", {4}, kF32, "", uint64_t{1} << 40);
  EXPECT_THAT(GgufFile::Open(Write("p.gguf", w)),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("'far'"), HasSubstr("past the end"))));
  // Offsets near 2^64 must not wrap around.
  GgufWriter o;
  o.AddTensorRaw("wrap", {4}, kF32, "", ~uint64_t{31});
  EXPECT_THAT(GgufFile::Open(Write("o.gguf", o)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'wrap'")));
}

TEST_F(GgufTest, BadTensorHeaders) {
  GgufWriter misaligned;
  misaligned.AddTensorRaw("m", {4}, kF32, std::string(16, '\0'), 4);
  EXPECT_THAT(GgufFile::Open(Write("m.gguf", misaligned)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a multiple of the alignment")));
  GgufWriter overflow;
  overflow.AddTensorRaw("big", {uint64_t{1} << 40, uint64_t{1} << 40}, kF32,
                        "");
  EXPECT_THAT(
      GgufFile::Open(Write("big.gguf", overflow)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
  GgufWriter dims;
  dims.AddTensorRaw("five", {1, 1, 1, 1, 1}, kF32, std::string(4, '\0'));
  EXPECT_THAT(
      GgufFile::Open(Write("dims.gguf", dims)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("5 dimensions")));
  GgufWriter dup;
  dup.AddTensorF32("t", {1}, {1.0f}).AddTensorF32("t", {1}, {2.0f});
  EXPECT_THAT(GgufFile::Open(Write("dup.gguf", dup)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate tensor name 't'")));
  GgufWriter align;
  align.AddUint32("general.alignment", 24);
  EXPECT_THAT(
      GgufFile::Open(Write("al.gguf", align)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("power of two")));
}

TEST_F(GgufTest, CustomAlignmentIsHonoured) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.AddUint32("general.alignment", 64).SetAlignment(64);
  ASSERT_OK_AND_ASSIGN(auto file, GgufFile::Open(Write("a64.gguf", w)));
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset() % 64, 0u);
  EXPECT_OK(ModelFromGguf(*file));
}

TEST_F(GgufTest, WrongShapedTensor) {
  TinyLlamaSpec spec;
  GgufWriter w = MakeTinyLlamaGguf(spec);
  w.RemoveTensor("blk.1.attn_k.weight")
      .AddTensorF32("blk.1.attn_k.weight", {32, 32},
                    std::vector<float>(32 * 32, 0.0f));
  EXPECT_THAT(LoadGgufModel(Write("shape.gguf", w)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("blk.1.attn_k.weight"),
                             HasSubstr("[32, 32]"), HasSubstr("[16, 32]"))));
}

TEST_F(GgufTest, MissingTensor) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.RemoveTensor("blk.1.ffn_down.weight");
  EXPECT_THAT(LoadGgufModel(Write("missing.gguf", w)),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("missing.gguf"),
                             HasSubstr("blk.1.ffn_down.weight"))));
}

TEST_F(GgufTest, UnknownArchitecture) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.RemoveKey("general.architecture").AddString("general.architecture", "gpt2");
  EXPECT_THAT(LoadGgufModel(Write("arch.gguf", w)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unsupported architecture 'gpt2'"),
                             HasSubstr("llama"))));
}

TEST_F(GgufTest, AbsurdBlockCountFailsOnTheFirstMissingLayer) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.RemoveKey("llama.block_count").AddUint32("llama.block_count", 2000000000);
  EXPECT_THAT(LoadGgufModel(Write("layers.gguf", w)),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("blk.2.attn_norm.weight")));
}

TEST_F(GgufTest, MissingOrBadHyperparameters) {
  GgufWriter missing = MakeTinyLlamaGguf({});
  missing.RemoveKey("llama.block_count");
  EXPECT_THAT(LoadGgufModel(Write("a.gguf", missing)),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("'llama.block_count' is missing")));
  GgufWriter typed = MakeTinyLlamaGguf({});
  typed.RemoveKey("llama.embedding_length")
      .AddString("llama.embedding_length", "32");
  EXPECT_THAT(LoadGgufModel(Write("b.gguf", typed)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("llama.embedding_length"),
                             HasSubstr("string"))));
  GgufWriter heads = MakeTinyLlamaGguf({});
  heads.RemoveKey("llama.attention.head_count_kv")
      .AddUint32("llama.attention.head_count_kv", 3);
  EXPECT_THAT(
      LoadGgufModel(Write("c.gguf", heads)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("n_heads 4 is not a multiple of n_kv_heads 3")));
  GgufWriter rope = MakeTinyLlamaGguf({});
  rope.AddUint32("llama.rope.dimension_count", 4);
  EXPECT_THAT(LoadGgufModel(Write("d.gguf", rope)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("partial rotary")));
  GgufWriter tok = MakeTinyLlamaGguf({});
  tok.RemoveKey("tokenizer.ggml.model")
      .AddString("tokenizer.ggml.model", "gpt2");
  EXPECT_THAT(LoadGgufModel(Write("e.gguf", tok)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokenizer.ggml.model 'gpt2'")));
}

}  // namespace
}  // namespace kvasir::engine
