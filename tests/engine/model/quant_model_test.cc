// Quantized GGUF models end to end: weights stay in their block format in
// memory (resident memory grows by about the file's tensor bytes, not the
// f32 size), and the loader's errors for what it cannot serve.

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

#if defined(__SANITIZE_ADDRESS__)
#define KVASIR_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVASIR_UNDER_ASAN 1
#endif
#endif

namespace kvasir::engine {
namespace {

using ::kvasir::testing::GgufWriter;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::kTinyLlamaVocab;
using ::kvasir::testing::MakeTinyLlamaGguf;
using ::kvasir::testing::StatusIs;
using ::kvasir::testing::TempDir;
using ::kvasir::testing::TinyLlamaSpec;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Resident set size of this process, bytes.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

class QuantModelTest : public ::testing::Test {
 protected:
  std::string WriteModel(const GgufWriter& w, const std::string& name) {
    const std::string path = dir_.File(name);
    EXPECT_THAT(w.WriteFile(path), IsOk());
    return path;
  }

  // A small GQA model whose matrices are of ggml type `type`, written to
  // `name`.
  std::string WriteSmallModel(uint32_t type, const std::string& name) {
    const TinyLlamaSpec spec{.dim = 64,
                             .hidden_dim = 96,
                             .n_heads = 4,
                             .n_kv_heads = 2,
                             .tensor_type = type};
    return WriteModel(MakeTinyLlamaGguf(spec), name);
  }

  TempDir dir_;
};

absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path) {
  LoadOptions options;
  options.path_or_spec = path;
  return LoadModel(options);
}

TEST_F(QuantModelTest, ResidentMemoryGrowsByAboutTheQuantizedTensorBytes) {
#ifdef KVASIR_UNDER_ASAN
  GTEST_SKIP() << "ASan's shadow memory and quarantine distort RSS";
#endif
  TinyLlamaSpec spec{
      .dim = 1024,
      .hidden_dim = 2816,
      .n_layers = 3,
      .n_heads = 16,
      .n_kv_heads = 4,
      .tensor_type = static_cast<uint32_t>(gguf::TensorType::kQ4_K)};
  const std::string path =
      WriteModel(MakeTinyLlamaGguf(spec), "q4k-memory.gguf");
  int64_t tensor_bytes = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto file, GgufFile::Open(path));
    for (const GgufTensorInfo& t : file->tensors()) tensor_bytes += t.n_bytes;
  }
  const int64_t before = ResidentBytes();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model, Load(path));
  LlamaRunner::Options o;
  o.max_batch_tokens = 16;
  o.max_seqs = 2;
  ASSERT_OK_AND_ASSIGN(auto runner,
                       LlamaRunner::CreateOwning(o, std::move(model)));
  const int64_t grown = ResidentBytes() - before;
  // The f32 weights would be 7x the Q4_K bytes; allow 1.2x plus 4 MiB for
  // the runner's step buffers and tables.
  EXPECT_LE(grown, tensor_bytes * 12 / 10 + (int64_t{4} << 20))
      << "tensor bytes " << tensor_bytes;
  EXPECT_GE(runner->weight_bytes(), tensor_bytes * 9 / 10);
  EXPECT_THAT(runner->matmul_impl(), HasSubstr("quant:"));
}

// Every projection and embedding matrix of `model` expanded to f32.
void ExpandToF32(Model& model) {
  ModelWeights& w = model.weights;
  w.tok_embeddings = w.tok_embeddings.ToF32();
  if (!w.output.empty()) w.output = w.output.ToF32();
  for (LayerWeights& l : w.layers) {
    for (Tensor* t :
         {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      *t = t->ToF32();
    }
  }
}

// A runner of one sequence of up to 16 tokens over `model`.
absl::StatusOr<std::unique_ptr<LlamaRunner>> SmallRunner(
    std::unique_ptr<Model> model, WeightsDtype dtype) {
  LlamaRunner::Options o;
  o.max_batch_tokens = 16;
  o.max_seqs = 1;
  o.weights_dtype = dtype;
  return LlamaRunner::CreateOwning(o, std::move(model));
}

// The logits of the last token of a fixed 6-token prompt.
std::vector<float> LastLogits(LlamaRunner& runner) {
  testing::Batch batch(runner, 1, 16);
  std::vector<std::vector<float>> logits =
      batch.Step({{1, 5, 9, 260, 261, 7}}, {0});
  return logits.empty() ? std::vector<float>() : logits[0];
}

std::vector<float> LastLogits(std::unique_ptr<Model> model,
                              WeightsDtype dtype) {
  auto runner = SmallRunner(std::move(model), dtype);
  EXPECT_THAT(runner, IsOk());
  if (!runner.ok()) return {};
  return LastLogits(**runner);
}

// CreateOwning copies a quantized model's blocks into the runner's own
// (huge-page) memory and frees the model's matrices, as it frees f32 ones;
// the logits are those of a runner that reads the shared model's blocks in
// place, bit for bit. A tied output keeps reading the embeddings.
TEST_F(QuantModelTest, CreateOwningCopiesBlocksAndMatchesCreate) {
  for (uint32_t type : {static_cast<uint32_t>(gguf::TensorType::kQ4_K),
                        static_cast<uint32_t>(gguf::TensorType::kQ8_0)}) {
    SCOPED_TRACE(type);
    // K-quant rows are whole super-blocks of 256 values.
    const TinyLlamaSpec spec{.dim = 256,
                             .hidden_dim = 256,
                             .n_heads = 4,
                             .n_kv_heads = 2,
                             .tensor_type = type};
    const std::string path = WriteModel(MakeTinyLlamaGguf(spec), "own.gguf");
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> shared_model, Load(path));
    const std::shared_ptr<const Model> shared = std::move(shared_model);
    LlamaRunner::Options o;
    o.max_batch_tokens = 16;
    o.max_seqs = 1;
    ASSERT_OK_AND_ASSIGN(auto reading, LlamaRunner::Create(o, shared));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> owned, Load(path));
    ASSERT_OK_AND_ASSIGN(auto owning,
                         LlamaRunner::CreateOwning(o, std::move(owned)));
    EXPECT_EQ(shared->weights.layers[0].wq.type(), type);
    for (const LayerWeights& lw : owning->model().weights.layers) {
      EXPECT_TRUE(lw.wq.empty() && lw.wk.empty() && lw.wv.empty() &&
                  lw.wo.empty() && lw.w_gate.empty() && lw.w_up.empty() &&
                  lw.w_down.empty());
    }
    const ModelWeights& w = owning->model().weights;
    EXPECT_FALSE(w.tok_embeddings.empty());
    if (!shared->weights.tied_output()) {
      EXPECT_TRUE(w.output.empty());
    }
    EXPECT_EQ(owning->weight_bytes(), reading->weight_bytes());
    EXPECT_EQ(owning->matmul_impl(), reading->matmul_impl());
    const std::vector<float> want = LastLogits(*reading);
    const std::vector<float> got = LastLogits(*owning);
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(got, want);
  }
}

TEST_F(QuantModelTest, F16WeightsStay16BitAndComputeAsTheirF32Expansion) {
  const std::string path = WriteSmallModel(1, "f16.gguf");  // F16
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> kept, Load(path));
  EXPECT_EQ(kept->weights.layers[0].wq.type(), 1u);
  EXPECT_EQ(kept->weights.layers[0].wq.nbytes(), 64 * 64 * 2);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> expanded, Load(path));
  ExpandToF32(*expanded);
  const std::vector<float> want =
      LastLogits(std::move(expanded), WeightsDtype::kF32);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LlamaRunner> runner,
                       SmallRunner(std::move(kept), WeightsDtype::kF32));
  // The projections run on Kvasir's f16 GEMV (their own f16 copy), not on
  // the dense dot kernels.
  EXPECT_EQ(runner->matmul_impl().rfind("kvasir_gemv:f16:", 0), 0u)
      << runner->matmul_impl();
  const std::vector<float> got = LastLogits(*runner);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_FALSE(got.empty());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-3 * (1.0 + std::fabs(want[i]))) << i;
  }
  // weights_dtype bf16 takes the 16-bit matrices to oneDNN's bf16 matmul.
  if (ops::Linear::IsSupported(WeightsDtype::kBF16)) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> bf16, Load(path));
    const std::vector<float> b =
        LastLogits(std::move(bf16), WeightsDtype::kBF16);
    ASSERT_EQ(b.size(), want.size());
    for (size_t i = 0; i < b.size(); ++i) {
      EXPECT_NEAR(b[i], want[i], 0.05 * (1.0 + std::fabs(want[i]))) << i;
    }
  }
}

// A BF16 file's projections go to oneDNN's bf16 matmul (an exact copy of
// the file's values; its brgemm and the batched GEMV are the fast paths at
// every m) whatever weights_dtype says, where the CPU has one; else
// Kvasir's dense kernels read them as stored. Either way the logits are
// those of the f32 expansion within bf16's rounding of the activations.
TEST_F(QuantModelTest,
       Bf16WeightsRunOnTheBf16MatmulAndComputeAsTheirF32Expansion) {
  const std::string path = WriteSmallModel(30, "bf16.gguf");  // BF16
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> expanded, Load(path));
  ExpandToF32(*expanded);
  const std::vector<float> want =
      LastLogits(std::move(expanded), WeightsDtype::kF32);
  ASSERT_FALSE(want.empty());

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> kept, Load(path));
  EXPECT_EQ(kept->weights.layers[0].wq.type(), 30u);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LlamaRunner> runner,
                       SmallRunner(std::move(kept), WeightsDtype::kF32));
  const bool onednn_bf16 = ops::Linear::IsSupported(WeightsDtype::kBF16);
  EXPECT_EQ(runner->matmul_impl().rfind("quant:", 0) == 0, !onednn_bf16)
      << runner->matmul_impl();
  const std::vector<float> logits = LastLogits(*runner);
  ASSERT_EQ(logits.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(logits[i], want[i], 0.05 * (1.0 + std::fabs(want[i]))) << i;
  }
}

// A decode step in one parallel region (LlamaRunner::Options::decode_team)
// gives the bits of one region per op: quantized weights on the AVX-512 and
// AVX2 kernels, f32, bf16 and f16 weights on the dense GEMV, 1 to 4 rows, with
// contexts long enough that attention splits over both threads; and steps
// of 8 rows or more (row ops split over the team), among them steps with
// 10 sampled rows, whose logits' input every thread prepares a share of.
TEST_F(QuantModelTest, DecodeTeamMatchesOneRegionPerOp) {
  struct Case {
    uint32_t type;  // ggml type of the file's matrices
    WeightsDtype dtype;
    quant::Isa isa;
  };
  const std::vector<Case> cases = {
      {8, WeightsDtype::kF32, quant::Isa::kAuto},   // Q8_0
      {8, WeightsDtype::kF32, quant::Isa::kAvx2},   // Q8_0
      {12, WeightsDtype::kF32, quant::Isa::kAuto},  // Q4_K
      {14, WeightsDtype::kF32, quant::Isa::kAvx2},  // Q6_K
      {0, WeightsDtype::kF32, quant::Isa::kAuto},   // F32
      {0, WeightsDtype::kBF16, quant::Isa::kAuto},  // F32 as bf16
      {1, WeightsDtype::kF32, quant::Isa::kAuto},   // F16 (the f16 GEMV)
  };
  constexpr int kContext = 1024, kPrefill = 640, kChunk = 32;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(3, kTinyLlamaVocab - 1);
  // Sequences 0 and 1, per step: a prefill chunk each, then decode steps
  // of 1 and of 3 + 1 rows; then 8 more sequences join with 4 tokens each
  // (34 rows, 10 logits) and all 10 decode (10 rows, 10 logits).
  constexpr int kSeqs = 10;
  std::vector<std::vector<std::vector<int32_t>>> steps;
  for (int p = 0; p < kPrefill; p += kChunk) {
    steps.push_back({{}, {}});
    for (auto& seq : steps.back()) {
      for (int i = 0; i < kChunk; ++i) seq.push_back(token(rng));
    }
  }
  for (int s = 0; s < 6; ++s) {
    steps.push_back({{token(rng)}, {token(rng)}});
    if (s == 3) steps.back()[0] = {token(rng), token(rng), token(rng)};
  }
  for (int joined : {4, 1, 1}) {
    steps.emplace_back(kSeqs);
    for (int i = 0; i < kSeqs; ++i) {
      for (int j = 0; j < (i < 2 ? 1 : joined); ++j) {
        steps.back()[i].push_back(token(rng));
      }
    }
  }
  size_t n_logits = 0;
  for (const auto& step : steps) n_logits += step.size();
  for (const Case& c : cases) {
    if (!quant::IsaSupported(c.isa) || !ops::Linear::IsSupported(c.dtype)) {
      continue;
    }
    const std::string path =
        WriteModel(MakeTinyLlamaGguf({.dim = 256,
                                      .hidden_dim = 256,
                                      .n_heads = 4,
                                      .n_kv_heads = 2,
                                      .context_length = kContext,
                                      .tensor_type = c.type}),
                   "team.gguf");
    std::vector<std::vector<float>> logits[2];
    for (bool team : {false, true}) {
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model, Load(path));
      LlamaRunner::Options o;
      o.max_batch_tokens = 2 * kChunk;
      o.max_seqs = kSeqs;
      o.num_threads = 2;
      o.weights_dtype = c.dtype;
      o.quant_isa = c.isa;
      o.decode_team = team;
      ASSERT_OK_AND_ASSIGN(auto runner,
                           LlamaRunner::CreateOwning(o, std::move(model)));
      testing::Batch batch(*runner, kSeqs, kContext);
      std::vector<int32_t> pos(kSeqs, 0);
      for (const auto& step : steps) {
        for (const std::vector<float>& l : batch.Step(step, pos)) {
          logits[team].push_back(l);
        }
        for (size_t i = 0; i < step.size(); ++i) {
          pos[i] += static_cast<int32_t>(step[i].size());
        }
      }
    }
    ASSERT_EQ(logits[0].size(), n_logits) << c.type;
    ASSERT_EQ(logits[1].size(), logits[0].size());
    for (size_t i = 0; i < logits[0].size(); ++i) {
      EXPECT_EQ(logits[1][i], logits[0][i])
          << "type " << c.type << " isa " << quant::IsaName(c.isa) << " "
          << WeightsDtypeName(c.dtype) << " logits " << i;
    }
  }
}

TEST_F(QuantModelTest, RopeScalingFollowsLlamaCpp) {
  struct Case {
    const char* type;  // nullptr: no type key
    const char* factor_key;
    float want_scale;
  };
  for (const Case& c : {Case{nullptr, "llama.rope.scaling.factor", 0.25f},
                        Case{"linear", "llama.rope.scale_linear", 0.25f},
                        Case{"none", "llama.rope.scaling.factor", 1.0f}}) {
    GgufWriter w = MakeTinyLlamaGguf({});
    if (c.type != nullptr) w.AddString("llama.rope.scaling.type", c.type);
    w.AddFloat32(c.factor_key, 4.0f);
    ASSERT_OK_AND_ASSIGN(auto model, Load(WriteModel(w, "scaled.gguf")));
    EXPECT_EQ(model->config.rope_freq_scale, c.want_scale) << c.factor_key;
  }
}

TEST_F(QuantModelTest, UnknownArchitectureIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.RemoveKey("general.architecture").AddString("general.architecture", "gpt4");
  EXPECT_THAT(Load(WriteModel(w, "arch.gguf")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unsupported architecture 'gpt4'"),
                             HasSubstr("llama, qwen2, qwen3"))));
}

TEST_F(QuantModelTest, TensorTypeWithoutKernelIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({.dim = 256, .hidden_dim = 256});
  // Q2_K (type 10, no kernel here): 84 bytes per 256 values.
  w.RemoveTensor("blk.0.ffn_up.weight");
  w.AddTensorRaw("blk.0.ffn_up.weight", {256, 256}, 10,
                 std::string(256 * 84, '\0'));
  EXPECT_THAT(
      Load(WriteModel(w, "q2k.gguf")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("blk.0.ffn_up.weight"), HasSubstr("Q2_K"))));
}

TEST_F(QuantModelTest, UnsupportedRopeScalingIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.AddString("llama.rope.scaling.type", "yarn");
  EXPECT_THAT(Load(WriteModel(w, "yarn.gguf")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("rope.scaling.type 'yarn'"),
                             HasSubstr("none, linear"))));
}

}  // namespace
}  // namespace kvasir::engine
