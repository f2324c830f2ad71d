#include "engine/model/dummy_model.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/model/loader_util.h"
#include "engine/tokenizer/byte_tokenizer.h"

namespace kvasir::engine {
namespace {

constexpr float kWeightStd = 0.02f;
constexpr int64_t kParallelMin = int64_t{1} << 18;

DummyPreset MakePreset(std::string name, std::string description, int dim,
                       int hidden, int layers, int heads, int kv_heads,
                       int vocab, int context, bool tied) {
  DummyPreset p;
  p.name = name;
  p.description = std::move(description);
  p.tied_output = tied;
  ModelConfig& c = p.config;
  c.architecture = "llama";
  c.name = absl::StrCat("dummy:", name);
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = dim / heads;
  c.vocab_size = vocab;
  c.context_length = context;
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  return p;
}

// SplitMix64's output function: a strong 64-bit mix, used as a
// counter-based generator (value i of a stream = Mix(key + i)).
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Fills `t` with approximately normal values of standard deviation `std`.
// Each 64-bit hash gives two values; each value is the sum of four random
// bytes (Irwin-Hall with n = 4, mean 510, standard deviation 147.8 for
// bytes 0..255), centred and scaled: bell-shaped, bounded by ~3.45 sigma.
// Element i depends only on (key, i), not on how threads split the work.
void FillNormal(Tensor& t, uint64_t key, float std) {
  constexpr float kByteSumMean = 510.0f;
  const float scale = std / 147.80138f;  // sqrt(4 * (256^2 - 1) / 12)
  auto byte_sum = [](uint32_t x) {
    const uint32_t pairs = (x & 0x00FF00FFu) + ((x >> 8) & 0x00FF00FFu);
    return static_cast<float>((pairs & 0xFFFFu) + (pairs >> 16));
  };
  float* data = t.data();
  const int64_t n = t.numel();
  const int64_t pairs = (n + 1) / 2;
  // Small tensors are not worth waking the thread team for.
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < pairs; ++i) {
    const uint64_t h = Mix(key + static_cast<uint64_t>(i));
    data[2 * i] = (byte_sum(static_cast<uint32_t>(h)) - kByteSumMean) * scale;
    if (2 * i + 1 < n) {
      data[2 * i + 1] =
          (byte_sum(static_cast<uint32_t>(h >> 32)) - kByteSumMean) * scale;
    }
  }
}

Tensor RandomTensor(std::vector<int64_t> shape, uint64_t seed,
                    uint64_t tensor_index) {
  Tensor t = Tensor::Uninitialized(std::move(shape));
  // Separate streams per tensor: a hashed (seed, index) pair as the key.
  FillNormal(t, Mix(seed ^ Mix(tensor_index)), kWeightStd);
  return t;
}

Tensor Ones(std::vector<int64_t> shape) {
  Tensor t = Tensor::Uninitialized(std::move(shape));
  for (float& x : t.span()) x = 1.0f;
  return t;
}

}  // namespace

std::vector<DummyPreset> DummyPresets() {
  std::vector<DummyPreset> p;
  p.push_back(MakePreset("tiny", "small and fast, for tests and demos", 64, 172,
                         2, 4, 2, 512, 2048, true));
  p.push_back(MakePreset("15m", "shaped like stories15M", 288, 768, 6, 6, 6,
                         32000, 2048, true));
  p.push_back(MakePreset("110m", "shaped like stories110M", 768, 2048, 12, 12,
                         12, 32000, 2048, true));
  p.push_back(MakePreset("1b", "shaped like TinyLlama-1.1B", 2048, 5632, 22, 32,
                         4, 32000, 2048, false));
  return p;
}

absl::StatusOr<DummyPreset> FindDummyPreset(absl::string_view name) {
  std::vector<std::string> names;
  for (DummyPreset& p : DummyPresets()) {
    if (p.name == name) return std::move(p);
    names.push_back(p.name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dummy model preset '", name,
      "' (presets: dummy:", absl::StrJoin(names, ", dummy:"), ")"));
}

absl::StatusOr<std::unique_ptr<Model>> CreateDummyModel(absl::string_view name,
                                                        uint64_t seed) {
  ASSIGN_OR_RETURN(DummyPreset preset, FindDummyPreset(name));
  const ModelConfig& c = preset.config;
  RETURN_IF_ERROR(ValidateModelConfig(c, c.name));
  ASSIGN_OR_RETURN(auto tokenizer, ByteTokenizer::Create(c.vocab_size));

  auto model = std::make_unique<Model>();
  model->config = c;
  const WeightShapes s = ShapesFor(c);
  ModelWeights& w = model->weights;
  uint64_t index = 0;
  w.tok_embeddings = RandomTensor(s.embedding, seed, index++);
  w.layers.resize(c.n_layers);
  for (LayerWeights& l : w.layers) {
    l.attn_norm = Ones(s.norm);
    l.wq = RandomTensor(s.wq, seed, index++);
    l.wk = RandomTensor(s.wk, seed, index++);
    l.wv = RandomTensor(s.wk, seed, index++);
    l.wo = RandomTensor(s.wo, seed, index++);
    l.ffn_norm = Ones(s.norm);
    l.w_gate = RandomTensor(s.up, seed, index++);
    l.w_up = RandomTensor(s.up, seed, index++);
    l.w_down = RandomTensor(s.down, seed, index++);
  }
  w.final_norm = Ones(s.norm);
  if (!preset.tied_output) w.output = RandomTensor(s.embedding, seed, index++);
  model->tokenizer = std::move(tokenizer);
  return model;
}

}  // namespace kvasir::engine
