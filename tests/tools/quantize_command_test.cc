// Runs the real `kvasir quantize` binary (built before this test, see
// tests/tools/CMakeLists.txt) and checks the files it writes at the GgufFile
// level, plus the per-tensor type rules of quant_mix.h.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/dummy_model.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/mapped_file.h"
#include "engine/model/quant_mix.h"
#include "engine/ops/quant/quant_formats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::ModelPath;
using ::testing::HasSubstr;

using T = gguf::TensorType;
uint32_t Id(T t) { return static_cast<uint32_t>(t); }

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class QuantizeCommandTest : public ::testing::Test {
 protected:
  RunResult Run(const std::string& args) {
    const std::string cmd = kvasir::testing::BinaryDir() +
                            "/tools/kvasir quantize " + args + " >" +
                            dir_.File("stdout") + " 2>" + dir_.File("stderr");
    const int status = std::system(cmd.c_str());
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(dir_.File("stdout"));
    r.err = Slurp(dir_.File("stderr"));
    return r;
  }

  kvasir::testing::TempDir dir_;
};

// The f32 values of tensor `info` of `file` (any type quant_formats.h
// decodes), read from the file's bytes.
std::vector<float> Decode(const GgufFile& file, const MappedFile& bytes,
                          const GgufTensorInfo& info) {
  std::vector<float> out(info.n_elements);
  const int64_t ne0 = static_cast<int64_t>(info.ne[0]);
  const int64_t rows = static_cast<int64_t>(info.n_elements) / ne0;
  const uint8_t* p = bytes.data() + file.data_offset() + info.offset;
  for (int64_t r = 0; r < rows; ++r) {
    quant::DequantizeRow(info.type, p + r * quant::RowBytes(info.type, ne0),
                         ne0, out.data() + r * ne0);
  }
  return out;
}

float MaxAbs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST_F(QuantizeCommandTest, Stories260KToQ8_0KeepsMetadataAndFollowsTheRules) {
  const std::string in = ModelPath("stories260K.gguf");
  const std::string out = dir_.File("q8.gguf");
  const RunResult r = Run(in + " " + out + " --type q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("token_embd.weight"));
  EXPECT_THAT(r.err, HasSubstr("bits per weight"));

  ASSERT_OK_AND_ASSIGN(auto src, GgufFile::Open(in));
  ASSERT_OK_AND_ASSIGN(auto dst, GgufFile::Open(out));
  // Every key of the source, same order and bytes, except the two quantize
  // sets; nothing else added.
  std::vector<std::string> src_keys, dst_keys;
  for (const auto& [key, value] : src->metadata()) {
    if (key == "general.file_type" || key == "general.quantization_version") {
      continue;
    }
    src_keys.push_back(key);
    const GgufValue* got = dst->FindValue(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(*gguf::EncodeValue(key, *got), *gguf::EncodeValue(key, value))
        << key;
  }
  for (const auto& [key, value] : dst->metadata()) {
    if (key != "general.file_type" && key != "general.quantization_version") {
      dst_keys.push_back(key);
    }
  }
  EXPECT_EQ(dst_keys, src_keys);
  EXPECT_EQ(*dst->GetInt("general.file_type"), 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  EXPECT_EQ(*dst->GetInt("general.quantization_version"), 2);

  ASSERT_EQ(dst->tensors().size(), src->tensors().size());
  for (size_t i = 0; i < src->tensors().size(); ++i) {
    const GgufTensorInfo& s = src->tensors()[i];
    const GgufTensorInfo& d = dst->tensors()[i];
    EXPECT_EQ(d.name, s.name);
    EXPECT_EQ(d.ne, s.ne);
    uint32_t want = Id(T::kQ8_0);
    if (s.ne.size() == 1) want = Id(T::kF32);
    // ffn_down has rows of 172 values, not a multiple of 32.
    else if (s.ne[0] % 32 != 0)
      want = Id(T::kF16);
    EXPECT_EQ(gguf::TensorTypeName(d.type), gguf::TensorTypeName(want))
        << d.name;
    // Values survive within the Q8_0 bound (half a step of 1/127 of the
    // largest magnitude, plus the f16 scale's rounding).
    ASSERT_OK_AND_ASSIGN(Tensor a, src->ReadTensor(s));
    ASSERT_OK_AND_ASSIGN(Tensor b, dst->ReadTensor(d));
    float amax = 0.0f, err = 0.0f;
    for (int64_t k = 0; k < a.numel(); ++k) {
      amax = std::max(amax, std::fabs(a.data()[k]));
      err = std::max(err, std::fabs(a.data()[k] - b.data()[k]));
    }
    EXPECT_LE(err, amax * 0.0045f) << d.name;
  }
  // Q8_0 and F16 are types the loader reads: the model loads as before.
  const RunResult inspect_src = [&] {
    const std::string cmd = kvasir::testing::BinaryDir() +
                            "/tools/kvasir inspect --json --model " + out +
                            " >" + dir_.path() + "/inspect 2>&1";
    RunResult rr;
    rr.exit_code = WEXITSTATUS(std::system(cmd.c_str()));
    rr.out = Slurp(dir_.File("inspect"));
    return rr;
  }();
  EXPECT_EQ(inspect_src.exit_code, 0) << inspect_src.out;
  EXPECT_THAT(inspect_src.out, HasSubstr("\"parameters\":260032"));
  // About 8.5 bits per weight instead of 32.
  EXPECT_LT(std::filesystem::file_size(out),
            std::filesystem::file_size(in) * 0.4);
}

// dummy:15m (D 288, F 768, 6 layers, vocab 32000 tied) to q4_k_m: rows of
// 288 values are not a multiple of 256, so the Q4_K and Q6_K choices for
// them fall back to Q5_0 and Q8_0; ffn_down's rows of 768 keep the K-types.
// use_more_bits(i, 6) picks layers 2 and 5.
TEST_F(QuantizeCommandTest, Dummy15mToQ4_K_MFollowsTheMix) {
  const std::string vocab = ModelPath("ggml-vocab-llama-spm.gguf");
  const std::string out = dir_.File("q4km.gguf");
  const RunResult r = Run("dummy:15m " + out + " --type q4_k_m --seed 7 " +
                          "--vocab-from " + vocab);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_OK_AND_ASSIGN(auto dst, GgufFile::Open(out));
  ASSERT_OK_AND_ASSIGN(auto voc, GgufFile::Open(vocab));
  EXPECT_EQ(*dst->GetString("general.architecture"), "llama");
  EXPECT_EQ(*dst->GetString("general.name"), "dummy:15m");
  EXPECT_EQ(*dst->GetInt("general.file_type"), 15);  // Q4_K_M
  EXPECT_EQ(*dst->GetInt("llama.embedding_length"), 288);
  EXPECT_EQ(*dst->GetInt("llama.feed_forward_length"), 768);
  EXPECT_EQ(*dst->GetInt("llama.block_count"), 6);
  EXPECT_EQ(*dst->GetInt("llama.attention.head_count"), 6);
  EXPECT_EQ(*dst->GetInt("llama.attention.head_count_kv"), 6);
  EXPECT_EQ(*dst->GetInt("llama.context_length"), 2048);
  EXPECT_EQ(*dst->GetInt("llama.rope.dimension_count"), 48);
  EXPECT_FLOAT_EQ(*dst->GetFloat("llama.rope.freq_base"), 10000.0f);
  EXPECT_FLOAT_EQ(*dst->GetFloat("llama.attention.layer_norm_rms_epsilon"),
                  1e-5f);
  for (const auto& [key, value] : voc->metadata()) {
    if (!absl::StartsWith(key, "tokenizer.ggml.")) continue;
    const GgufValue* got = dst->FindValue(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(*gguf::EncodeValue(key, *got), *gguf::EncodeValue(key, value));
  }

  const std::set<int> more_bits = {2, 5};
  std::vector<std::string> names;
  for (const GgufTensorInfo& t : dst->tensors()) {
    std::string want;
    const int layer = LayerIndexOf(t.name);
    if (t.ne.size() == 1) {
      want = "F32";
    } else if (t.name == "token_embd.weight") {
      want = "Q8_0";  // Q6_K (tied output), rows of 288
    } else if (absl::EndsWith(t.name, "attn_v.weight")) {
      want = more_bits.count(layer) ? "Q8_0" : "Q5_0";
    } else if (absl::EndsWith(t.name, "ffn_down.weight")) {
      want = more_bits.count(layer) ? "Q6_K" : "Q4_K";
    } else {
      want = "Q5_0";  // Q4_K, rows of 288
    }
    EXPECT_EQ(gguf::TensorTypeName(t.type), want) << t.name;
    names.push_back(t.name);
  }
  EXPECT_EQ(names.size(), 1u + 6 * 9 + 1);  // tied: no output.weight
  EXPECT_EQ(dst->FindTensor("output.weight"), nullptr);

  // The values are the dummy model's, within each type's error.
  ASSERT_OK_AND_ASSIGN(auto model, CreateDummyModel("15m", 7));
  ASSERT_OK_AND_ASSIGN(auto bytes, MappedFile::Open(out));
  struct Check {
    const char* name;
    const Tensor* want;
    float rel;  // max error / max |value|
  };
  const LayerWeights& l2 = model->weights.layers[2];
  const LayerWeights& l3 = model->weights.layers[3];
  for (const Check& c :
       {Check{"token_embd.weight", &model->weights.tok_embeddings, 0.0045f},
        Check{"blk.2.attn_v.weight", &l2.wv, 0.0045f},
        Check{"blk.3.attn_q.weight", &l3.wq, 0.07f},
        Check{"blk.2.ffn_down.weight", &l2.w_down, 0.022f},
        Check{"blk.3.ffn_down.weight", &l3.w_down, 0.09f},
        Check{"blk.3.ffn_norm.weight", &l3.ffn_norm, 0.0f}}) {
    const GgufTensorInfo* info = dst->FindTensor(c.name);
    ASSERT_NE(info, nullptr) << c.name;
    const std::vector<float> got = Decode(*dst, *bytes, *info);
    ASSERT_EQ(static_cast<int64_t>(got.size()), c.want->numel());
    float err = 0.0f;
    for (size_t k = 0; k < got.size(); ++k) {
      err = std::max(err, std::fabs(got[k] - c.want->data()[k]));
    }
    const std::vector<float> want(c.want->data(),
                                  c.want->data() + c.want->numel());
    EXPECT_LE(err, c.rel * MaxAbs(want)) << c.name;
  }
}

// The bytes of tensor `info` as stored in `file`.
absl::string_view RawBytes(const GgufFile& file, const MappedFile& bytes,
                           const GgufTensorInfo& info) {
  const int64_t ne0 = static_cast<int64_t>(info.ne[0]);
  const int64_t size = quant::RowBytes(info.type, ne0) *
                       (static_cast<int64_t>(info.n_elements) / ne0);
  return absl::string_view(reinterpret_cast<const char*>(
                               bytes.data() + file.data_offset() + info.offset),
                           size);
}

// Files llama.cpp's llama-quantize wrote (../shared/models/synth), decoded
// to f32 and quantized again with the same --type: Q8_0 and Q4_0 come back
// byte for byte (their scale is fixed by the block's largest value, which
// decoding keeps exactly), and every tensor gets the type llama-quantize
// chose for it.
struct LlamaCppFile {
  const char* name;
  const char* type;
  bool same_bytes;  // every tensor of the base type is byte-identical
};

class QuantizeMatchesLlamaCppTest
    : public QuantizeCommandTest,
      public ::testing::WithParamInterface<LlamaCppFile> {};

TEST_P(QuantizeMatchesLlamaCppTest, RequantizedFileMatches) {
  const LlamaCppFile p = GetParam();
  const std::string ref_path =
      kvasir::testing::SharedDir() + "/models/synth/" + p.name;
  const std::string f32 = dir_.File("f32.gguf"), out = dir_.File("out.gguf");
  RunResult r = Run(ref_path + " " + f32 + " --type f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run(f32 + " " + out + " --type " + p.type);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  ASSERT_OK_AND_ASSIGN(auto ref, GgufFile::Open(ref_path));
  ASSERT_OK_AND_ASSIGN(auto ref_bytes, MappedFile::Open(ref_path));
  ASSERT_OK_AND_ASSIGN(auto got, GgufFile::Open(out));
  ASSERT_OK_AND_ASSIGN(auto got_bytes, MappedFile::Open(out));
  EXPECT_EQ(std::filesystem::file_size(out),
            std::filesystem::file_size(ref_path));
  ASSERT_OK_AND_ASSIGN(QuantMix mix, FindQuantMix(p.type));
  ASSERT_EQ(got->tensors().size(), ref->tensors().size());
  for (size_t i = 0; i < ref->tensors().size(); ++i) {
    const GgufTensorInfo& want = ref->tensors()[i];
    const GgufTensorInfo& have = got->tensors()[i];
    ASSERT_EQ(have.name, want.name);
    EXPECT_EQ(gguf::TensorTypeName(have.type), gguf::TensorTypeName(want.type))
        << have.name;
    EXPECT_EQ(have.offset, want.offset) << have.name;
    if (p.same_bytes && want.type == mix.base_type) {
      EXPECT_TRUE(RawBytes(*got, *got_bytes, have) ==
                  RawBytes(*ref, *ref_bytes, want))
          << have.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Synth, QuantizeMatchesLlamaCppTest,
    ::testing::Values(LlamaCppFile{"llama3-q8_0.gguf", "q8_0", true},
                      LlamaCppFile{"spm256-q4_0.gguf", "q4_0", true},
                      LlamaCppFile{"spm256-q4_k_m.gguf", "q4_k_m", false},
                      LlamaCppFile{"spm256-q5_k_m.gguf", "q5_k_m", false}),
    [](const ::testing::TestParamInfo<LlamaCppFile>& info) {
      std::string name = info.param.type;
      return name;
    });

TEST_F(QuantizeCommandTest, UnknownTypeListsTheValidOnes) {
  const RunResult r = Run(ModelPath("stories260K.gguf") + " " + dir_.path() +
                          "/x.gguf --type q3_k");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--type 'q3_k'"));
  EXPECT_THAT(r.err, HasSubstr(QuantMixNames()));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("x.gguf")));
}

TEST_F(QuantizeCommandTest, MissingInputIsAUsageError) {
  const RunResult r =
      Run(dir_.path() + "/nope.gguf " + dir_.path() + "/x.gguf --type q8_0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nope.gguf"));
}

TEST_F(QuantizeCommandTest, UnwritableOutputIsAUsageError) {
  const RunResult r = Run(ModelPath("stories260K.gguf") + " " + dir_.path() +
                          "/no/such/dir/x.gguf --type q8_0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no/such/dir/x.gguf"));
}

// The output is renamed into place: a path that is not a regular file (a
// FIFO, a symlink, a directory; as root, /dev/null) is refused, not
// replaced.
TEST_F(QuantizeCommandTest, OutputThatIsNotARegularFileIsRefused) {
  const std::string fifo = dir_.File("fifo.gguf");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string target = dir_.File("target.gguf");
  std::ofstream(target) << "original";
  const std::string link = dir_.File("link.gguf");
  std::filesystem::create_symlink(target, link);
  std::filesystem::create_directory(dir_.File("dir.gguf"));
  for (const std::string& out : {fifo, link, dir_.File("dir.gguf")}) {
    SCOPED_TRACE(out);
    const RunResult r =
        Run(ModelPath("stories260K.gguf") + " " + out + " --type q8_0");
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr("exists and is not a regular file"));
  }
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(Slurp(target), "original");
}

TEST_F(QuantizeCommandTest, DummyNeedsVocabFrom) {
  const RunResult r = Run("dummy:15m " + dir_.path() + "/x.gguf --type q8_0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--vocab-from"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("x.gguf")));
}

TEST_F(QuantizeCommandTest, VocabSizeMustMatchThePreset) {
  // dummy:tiny has 512 tokens, llama's vocabulary 32000.
  const RunResult r =
      Run("dummy:tiny " + dir_.path() + "/x.gguf --type q8_0 " +
          "--vocab-from " + ModelPath("ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("has 32000 tokens"));
  EXPECT_THAT(r.err, HasSubstr("vocabulary of 512"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("x.gguf")));
}

TEST_F(QuantizeCommandTest, VocabFromOnlyAppliesToDummies) {
  const RunResult r = Run(ModelPath("stories260K.gguf") + " " + dir_.path() +
                          "/x.gguf --type q8_0" + " --vocab-from " +
                          ModelPath("ggml-vocab-llama-spm.gguf"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--vocab-from applies only to dummy"));
}

TEST_F(QuantizeCommandTest, MissingTypeIsAUsageError) {
  const RunResult r = Run(ModelPath("stories260K.gguf") + " " + dir_.File("x"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--type"));
}

// ---- the mix rules without files

TEST(QuantMixTest, UseMoreBitsMatchesLlamaCpp) {
  std::vector<int> picked;
  for (int i = 0; i < 22; ++i) {
    if (UseMoreBits(i, 22)) picked.push_back(i);
  }
  // n/8 = 2, 7n/8 = 19: 0, 1, then every third from 4, then 19..21.
  EXPECT_EQ(picked, (std::vector<int>{0, 1, 4, 7, 10, 13, 16, 19, 20, 21}));
}

TEST(QuantMixTest, TypesPerTensor) {
  const MixContext untied{22, 22, true};
  const MixContext tied{22, 22, false};
  const std::vector<uint64_t> square = {2048, 2048}, norm = {2048};
  ASSERT_OK_AND_ASSIGN(QuantMix q4km, FindQuantMix("Q4_K_M"));
  ASSERT_OK_AND_ASSIGN(QuantMix q4k, FindQuantMix("q4_k"));
  ASSERT_OK_AND_ASSIGN(QuantMix q8, FindQuantMix("q8_0"));
  auto name = [](const QuantMix& m, const MixContext& c, const char* tensor,
                 const std::vector<uint64_t>& ne) {
    return gguf::TensorTypeName(TensorTypeFor(m, c, tensor, ne));
  };
  EXPECT_EQ(name(q4km, untied, "output.weight", square), "Q6_K");
  EXPECT_EQ(name(q4km, untied, "token_embd.weight", square), "Q4_K");
  EXPECT_EQ(name(q4km, tied, "token_embd.weight", square), "Q6_K");
  EXPECT_EQ(name(q4km, untied, "blk.1.attn_v.weight", square), "Q6_K");
  EXPECT_EQ(name(q4km, untied, "blk.2.attn_v.weight", square), "Q4_K");
  EXPECT_EQ(name(q4km, untied, "blk.4.ffn_down.weight", square), "Q6_K");
  EXPECT_EQ(name(q4km, untied, "blk.4.attn_q.weight", square), "Q4_K");
  EXPECT_EQ(name(q4km, untied, "blk.4.attn_norm.weight", norm), "F32");
  EXPECT_EQ(name(q4km, untied, "rope_freqs.weight", square), "F32");
  EXPECT_EQ(name(q4k, untied, "blk.1.attn_v.weight", square), "Q4_K");
  EXPECT_EQ(name(q4k, untied, "output.weight", square), "Q6_K");
  EXPECT_EQ(name(q8, untied, "output.weight", square), "Q8_0");
  // Row-length fallbacks.
  EXPECT_EQ(name(q4k, untied, "blk.0.attn_q.weight", {288, 288}), "Q5_0");
  EXPECT_EQ(name(q4k, untied, "output.weight", {288, 288}), "Q8_0");
  EXPECT_EQ(name(q4k, untied, "blk.0.ffn_down.weight", {172, 64}), "F16");
  ASSERT_OK_AND_ASSIGN(QuantMix q5k, FindQuantMix("q5_k"));
  EXPECT_EQ(name(q5k, untied, "blk.0.attn_q.weight", {288, 288}), "Q5_1");
  EXPECT_EQ(name(q8, untied, "blk.0.ffn_down.weight", {172, 64}), "F16");
}

TEST(QuantMixTest, FileTypesAreLlamaCppFtypes) {
  const std::vector<std::pair<std::string, uint32_t>> want = {
      {"f32", 0},   {"f16", 1},     {"bf16", 32},  {"q8_0", 7},  {"q4_0", 2},
      {"q4_1", 3},  {"q5_0", 8},    {"q5_1", 9},   {"q4_k", 14}, {"q5_k", 16},
      {"q6_k", 18}, {"q4_k_m", 15}, {"q5_k_m", 17}};
  for (const auto& [n, ftype] : want) {
    ASSERT_OK_AND_ASSIGN(QuantMix m, FindQuantMix(n));
    EXPECT_EQ(m.file_type, ftype) << n;
  }
  EXPECT_EQ(QuantMixes().size(), want.size());
}

}  // namespace
}  // namespace kvasir::engine
