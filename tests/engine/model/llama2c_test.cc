#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model/gguf_loader.h"
#include "engine/model/llama2c_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::ModelPath;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool SameTensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 ||
          std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0);
}

// Every weight of `a` equals the same weight of `b`, bit for bit.
void ExpectSameWeights(const Model& a, const Model& b) {
  const ModelWeights& x = a.weights;
  const ModelWeights& y = b.weights;
  EXPECT_TRUE(SameTensor(x.tok_embeddings, y.tok_embeddings));
  EXPECT_TRUE(SameTensor(x.final_norm, y.final_norm));
  EXPECT_EQ(x.tied_output(), y.tied_output());
  EXPECT_TRUE(SameTensor(x.output, y.output));
  ASSERT_EQ(x.layers.size(), y.layers.size());
  for (size_t l = 0; l < x.layers.size(); ++l) {
    SCOPED_TRACE(absl::StrCat("layer ", l));
    const LayerWeights& p = x.layers[l];
    const LayerWeights& q = y.layers[l];
    EXPECT_TRUE(SameTensor(p.attn_norm, q.attn_norm));
    EXPECT_TRUE(SameTensor(p.wq, q.wq));
    EXPECT_TRUE(SameTensor(p.wk, q.wk));
    EXPECT_TRUE(SameTensor(p.wv, q.wv));
    EXPECT_TRUE(SameTensor(p.wo, q.wo));
    EXPECT_TRUE(SameTensor(p.ffn_norm, q.ffn_norm));
    EXPECT_TRUE(SameTensor(p.w_gate, q.w_gate));
    EXPECT_TRUE(SameTensor(p.w_up, q.w_up));
    EXPECT_TRUE(SameTensor(p.w_down, q.w_down));
  }
}

class Llama2cTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_.File(name);
    std::filesystem::remove(path);
    EXPECT_OK(kvasir::testing::WriteBytes(path, bytes));
    return path;
  }
  kvasir::testing::TempDir dir_;
};

TEST(Llama2cRealFileTest, Stories260KEqualsItsGgufCopy) {
  ASSERT_OK_AND_ASSIGN(auto bin, LoadLlama2cModel(ModelPath("stories260K.bin"),
                                                  ModelPath("tok512.bin")));
  const ModelConfig& c = bin->config;
  EXPECT_EQ(c.name, "stories260K.bin");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_TRUE(bin->weights.tied_output());
  EXPECT_EQ(bin->tokenizer->vocab_size(), 512);
  EXPECT_EQ(c.ParameterCount(true), 260032);

  ASSERT_OK_AND_ASSIGN(auto gguf, LoadGgufModel(ModelPath("stories260K.gguf")));
  ExpectSameWeights(*bin, *gguf);
}

TEST(Llama2cRealFileTest, BabyLlamaEqualsItsGgufCopy) {
  ASSERT_OK_AND_ASSIGN(auto bin,
                       LoadLlama2cModel(ModelPath("babyllama5000.bin"),
                                        ModelPath("tok105.bin")));
  EXPECT_EQ(bin->config.dim, 128);
  EXPECT_EQ(bin->config.hidden_dim, 352);
  EXPECT_EQ(bin->config.vocab_size, 105);
  EXPECT_EQ(bin->config.context_length, 256);
  ASSERT_OK_AND_ASSIGN(auto gguf,
                       LoadGgufModel(ModelPath("babyllama5000.gguf")));
  ExpectSameWeights(*bin, *gguf);
}

TEST_F(Llama2cTest, TruncatedAndOversizedFiles) {
  const std::string bytes = ReadFile(ModelPath("stories260K.bin"));
  const std::string tok = ModelPath("tok512.bin");
  EXPECT_THAT(
      LoadLlama2cModel(Write("short.bin", bytes.substr(0, 20)), tok),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("short.bin"), HasSubstr("28-byte header"))));
  EXPECT_THAT(LoadLlama2cModel(
                  Write("cut.bin", bytes.substr(0, bytes.size() / 2)), tok),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("cut.bin"), HasSubstr("1056540 bytes"),
                             HasSubstr("truncated"))));
  EXPECT_THAT(LoadLlama2cModel(Write("long.bin", bytes + "junk"), tok),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("long.bin"), HasSubstr("1056544 bytes"),
                             HasSubstr("needs 1056540 bytes"))));
}

TEST_F(Llama2cTest, CheckpointWithoutFreqCisBlockLoads) {
  const std::string bytes = ReadFile(ModelPath("stories260K.bin"));
  const size_t freq_bytes = 512 * 8 * sizeof(float);  // seq_len * head_size
  const std::string path =
      Write("nofreq.bin", bytes.substr(0, bytes.size() - freq_bytes));
  ASSERT_OK_AND_ASSIGN(auto a, LoadLlama2cModel(path, ModelPath("tok512.bin")));
  ASSERT_OK_AND_ASSIGN(auto b, LoadLlama2cModel(ModelPath("stories260K.bin"),
                                                ModelPath("tok512.bin")));
  ExpectSameWeights(*a, *b);
}

TEST_F(Llama2cTest, NegativeVocabMeansSeparateClassifier) {
  std::string bytes = ReadFile(ModelPath("stories260K.bin"));
  const int32_t vocab = -512;
  std::memcpy(bytes.data() + 5 * sizeof(int32_t), &vocab, sizeof(vocab));
  std::vector<float> wcls(512 * 64);
  for (size_t i = 0; i < wcls.size(); ++i) wcls[i] = 0.001f * (i % 997);
  bytes.append(reinterpret_cast<const char*>(wcls.data()),
               wcls.size() * sizeof(float));
  ASSERT_OK_AND_ASSIGN(auto model, LoadLlama2cModel(Write("wcls.bin", bytes),
                                                    ModelPath("tok512.bin")));
  EXPECT_FALSE(model->weights.tied_output());
  ASSERT_EQ(model->weights.output.numel(), 512 * 64);
  EXPECT_EQ(std::memcmp(model->weights.output.data(), wcls.data(),
                        wcls.size() * sizeof(float)),
            0);
  EXPECT_EQ(model->config.vocab_size, 512);
  // Without the classifier bytes the same header is a truncated file.
  EXPECT_THAT(
      LoadLlama2cModel(
          Write("nowcls.bin", bytes.substr(0, bytes.size() - wcls.size() * 4)),
          ModelPath("tok512.bin")),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
}

TEST_F(Llama2cTest, BadHeaders) {
  const std::string bytes = ReadFile(ModelPath("stories260K.bin"));
  std::string zero = bytes;
  std::memset(zero.data(), 0, 4);  // dim 0
  EXPECT_THAT(
      LoadLlama2cModel(Write("zero.bin", zero), ModelPath("tok512.bin")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("zero.bin"), HasSubstr("dim 0"))));
  std::string heads = bytes;
  const int32_t kv = 3;
  std::memcpy(heads.data() + 4 * sizeof(int32_t), &kv, 4);
  EXPECT_THAT(
      LoadLlama2cModel(Write("heads.bin", heads), ModelPath("tok512.bin")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("not a multiple of n_kv_heads 3")));
  std::string huge = bytes;
  const int32_t big = 1 << 30;
  for (int k = 0; k < 3; ++k) std::memcpy(huge.data() + 4 * k, &big, 4);
  EXPECT_THAT(
      LoadLlama2cModel(Write("huge.bin", huge), ModelPath("tok512.bin")),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
  std::string v1 = bytes;
  std::memcpy(v1.data(), "24ka", 4);
  EXPECT_THAT(
      LoadLlama2cModel(Write("v1.bin", v1), ModelPath("tok512.bin")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version 1/2")));
}

TEST_F(Llama2cTest, TokenizerMustMatchTheCheckpoint) {
  EXPECT_THAT(
      LoadLlama2cModel(ModelPath("stories260K.bin"), ModelPath("tok105.bin")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tok105.bin has 105 tokens"),
                     HasSubstr("stories260K.bin has vocab_size 512"))));
  EXPECT_THAT(
      LoadLlama2cModel(ModelPath("stories260K.bin"),
                       dir_.File("missing-tok.bin")),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing-tok.bin")));
}

}  // namespace
}  // namespace kvasir::engine
