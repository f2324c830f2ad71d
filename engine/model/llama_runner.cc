#include "engine/model/llama_runner.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine {
namespace {

// Upper bounds that keep the scratch allocations sane.
constexpr int kMaxBatchTokensLimit = 1 << 16;
constexpr int kMaxSeqsLimit = 1 << 14;
// Positions whose RoPE angles are tabulated at Create (8 bytes per position
// and rotated pair: 512 KB for TinyLlama's 2048 x 32); positions past it
// (only for longer contexts) are computed per step.
constexpr int kMaxRopeTablePositions = 1 << 16;

// Sets the calling thread's OpenMP thread count (which oneDNN follows too)
// for a scope and restores it after, so the runner leaves no trace on its
// caller's thread.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int n) : saved_(omp_get_max_threads()) {
    if (n != saved_) omp_set_num_threads(n);
  }
  ~ScopedOmpThreads() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int saved_;
};

std::string Shape(std::initializer_list<int64_t> dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

absl::Status CheckShape(const Tensor& t, std::initializer_list<int64_t> want,
                        absl::string_view name) {
  if (t.shape() != std::vector<int64_t>(want)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: tensor ", name, " has shape ", t.ShapeString(),
                     ", the config needs ", Shape(want)));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const LlamaRunner::Options& o) {
  auto bad = [](absl::string_view field, int64_t value,
                absl::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("llama runner: ", field, " ", value, " ", rule));
  };
  if (o.max_batch_tokens < 1 || o.max_batch_tokens > kMaxBatchTokensLimit) {
    return bad("max_batch_tokens", o.max_batch_tokens,
               absl::StrCat("must be in [1, ", kMaxBatchTokensLimit, "]"));
  }
  if (o.max_seqs < 1 || o.max_seqs > kMaxSeqsLimit) {
    return bad("max_seqs", o.max_seqs,
               absl::StrCat("must be in [1, ", kMaxSeqsLimit, "]"));
  }
  if (o.max_logit_rows < 0 || o.max_logit_rows > kMaxBatchTokensLimit) {
    return bad("max_logit_rows", o.max_logit_rows,
               absl::StrCat("must be in [0, ", kMaxBatchTokensLimit,
                            "] (0: max_seqs)"));
  }
  if (o.block_size < 1) {
    return bad("block_size", o.block_size, "must be at least 1");
  }
  if (o.num_threads < 0 || o.num_threads > kMaxNumThreads) {
    return bad(
        "num_threads", o.num_threads,
        absl::StrCat("must be in [0, ", kMaxNumThreads, "] (0: all cores)"));
  }
  if (o.primitive_cache_size < 1) {
    return bad("primitive_cache_size", o.primitive_cache_size,
               "must be at least 1");
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const Model& model) {
  const ModelConfig& c = model.config;
  auto positive = [](absl::string_view field, int64_t value) {
    return value > 0 ? absl::OkStatus()
                     : absl::InvalidArgumentError(absl::StrCat(
                           "model: ", field, " ", value, " must be positive"));
  };
  RETURN_IF_ERROR(positive("dim", c.dim));
  RETURN_IF_ERROR(positive("hidden_dim", c.hidden_dim));
  RETURN_IF_ERROR(positive("n_layers", c.n_layers));
  RETURN_IF_ERROR(positive("n_heads", c.n_heads));
  RETURN_IF_ERROR(positive("n_kv_heads", c.n_kv_heads));
  RETURN_IF_ERROR(positive("head_dim", c.head_dim));
  RETURN_IF_ERROR(positive("vocab_size", c.vocab_size));
  RETURN_IF_ERROR(positive("context_length", c.context_length));
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: n_kv_heads ", c.n_kv_heads,
                     " does not divide n_heads ", c.n_heads));
  }
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: head_dim ", c.head_dim, " must be even for RoPE"));
  }
  if (!(c.rms_eps >= 0.0f) || !std::isfinite(c.rms_eps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: rms_eps ", c.rms_eps, " must be finite and >= 0"));
  }
  if (model.tokenizer == nullptr) {
    return absl::InvalidArgumentError("model: has no tokenizer");
  }
  const ModelWeights& w = model.weights;
  const int64_t d = c.dim, f = c.hidden_dim, v = c.vocab_size;
  const int64_t q_rows = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_rows = int64_t{c.n_kv_heads} * c.head_dim;
  RETURN_IF_ERROR(CheckShape(w.tok_embeddings, {v, d}, "tok_embeddings"));
  if (static_cast<int>(w.layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model: has ", w.layers.size(),
        " layers of weights, the config says n_layers ", c.n_layers));
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string p = absl::StrCat("layers.", l, ".");
    RETURN_IF_ERROR(CheckShape(lw.attn_norm, {d}, p + "attn_norm"));
    RETURN_IF_ERROR(CheckShape(lw.wq, {q_rows, d}, p + "wq"));
    RETURN_IF_ERROR(CheckShape(lw.wk, {kv_rows, d}, p + "wk"));
    RETURN_IF_ERROR(CheckShape(lw.wv, {kv_rows, d}, p + "wv"));
    RETURN_IF_ERROR(CheckShape(lw.wo, {d, q_rows}, p + "wo"));
    RETURN_IF_ERROR(CheckShape(lw.ffn_norm, {d}, p + "ffn_norm"));
    RETURN_IF_ERROR(CheckShape(lw.w_gate, {f, d}, p + "w_gate"));
    RETURN_IF_ERROR(CheckShape(lw.w_up, {f, d}, p + "w_up"));
    RETURN_IF_ERROR(CheckShape(lw.w_down, {d, f}, p + "w_down"));
    auto optional = [&](const Tensor& t, int64_t n, absl::string_view name) {
      return t.empty() ? absl::OkStatus()
                       : CheckShape(t, {n}, absl::StrCat(p, name));
    };
    RETURN_IF_ERROR(optional(lw.bq, q_rows, "bq"));
    RETURN_IF_ERROR(optional(lw.bk, kv_rows, "bk"));
    RETURN_IF_ERROR(optional(lw.bv, kv_rows, "bv"));
    RETURN_IF_ERROR(optional(lw.q_norm, c.head_dim, "q_norm"));
    RETURN_IF_ERROR(optional(lw.k_norm, c.head_dim, "k_norm"));
    if (lw.q_norm.empty() != lw.k_norm.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model: ", p, "q_norm and k_norm must both be given or both empty"));
    }
    for (const Tensor* t : {&lw.attn_norm, &lw.ffn_norm, &lw.bq, &lw.bk, &lw.bv,
                            &lw.q_norm, &lw.k_norm}) {
      if (!t->is_f32()) {
        return absl::InvalidArgumentError(
            absl::StrCat("model: ", p, " norms and biases must be f32"));
      }
    }
  }
  if (!w.rope_freqs.empty()) {
    RETURN_IF_ERROR(CheckShape(w.rope_freqs, {c.head_dim / 2}, "rope_freqs"));
  }
  RETURN_IF_ERROR(CheckShape(w.final_norm, {d}, "final_norm"));
  if (!w.tied_output()) RETURN_IF_ERROR(CheckShape(w.output, {v, d}, "output"));
  return absl::OkStatus();
}

}  // namespace

void LlamaRunner::Buffer::Free::operator()(float* p) const { std::free(p); }

LlamaRunner::LlamaRunner(const Options& options, int num_threads)
    : options_(options), num_threads_(num_threads) {}

LlamaRunner::~LlamaRunner() = default;

absl::StatusOr<std::unique_ptr<LlamaRunner>> LlamaRunner::Create(
    const Options& options, std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("model: is null");
  return Build(options, nullptr, std::move(model));
}

absl::StatusOr<std::unique_ptr<LlamaRunner>> LlamaRunner::CreateOwning(
    const Options& options, std::unique_ptr<Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("model: is null");
  std::shared_ptr<Model> owned(std::move(model));
  return Build(options, owned, owned);
}

absl::StatusOr<std::unique_ptr<LlamaRunner>> LlamaRunner::Build(
    const Options& options, std::shared_ptr<Model> owned,
    std::shared_ptr<const Model> shared) {
  RETURN_IF_ERROR(ValidateOptions(options));
  RETURN_IF_ERROR(ValidateModel(*shared));
  const int threads =
      options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
  Options resolved = options;
  // A/B runs of whole programs (one region per step against one per op).
  if (const char* env = std::getenv("KVASIR_DECODE_TEAM");
      env != nullptr && absl::string_view(env) == "off") {
    resolved.decode_team = false;
  }
  std::unique_ptr<LlamaRunner> runner(new LlamaRunner(resolved, threads));
  runner->model_ = std::move(shared);
  ScopedOmpThreads omp_threads(threads);
  try {
    RETURN_IF_ERROR(runner->Init(owned.get()));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "llama runner: out of memory setting up ", runner->config().name,
        " for max_batch_tokens ", options.max_batch_tokens));
  }
  return runner;
}

absl::Status LlamaRunner::Init(Model* releasable) {
  const ModelConfig& c = model_->config;
  const ModelWeights& w = model_->weights;
  const int d = c.dim, f = c.hidden_dim, h = c.n_heads, hkv = c.n_kv_heads;
  const int hd = c.head_dim;
  const int m = options_.max_batch_tokens, s = options_.max_seqs;
  const int r = max_logit_rows();

  layout_ = c.KvLayoutFor(options_.kv_dtype, options_.block_size);
  RETURN_IF_ERROR(layout_.Validate());

  // One primitive cache for the whole model: the layers' projections share
  // their shapes, so each (shape, M) primitive is made once.
  ASSIGN_OR_RETURN(matmul_ctx_, ops::MatmulContext::Create(
                                    {.primitive_cache_size =
                                         options_.primitive_cache_size}));
  ASSIGN_OR_RETURN(quant_ctx_,
                   quant::QuantContext::Create({.isa = options_.quant_isa}));
  ASSIGN_OR_RETURN(weight_arena_, ops::WeightArena::Create({}));
  // With an owned model, each matrix is dropped once the projection has its
  // own copy (oneDNN's layout, or the blocks copied into weight_arena_).
  const bool copy_blocks = releasable != nullptr;
  auto release = [&](std::initializer_list<Tensor LayerWeights::*> fields,
                     int l) {
    if (releasable == nullptr) return;
    for (Tensor LayerWeights::*field : fields) {
      releasable->weights.layers[l].*field = Tensor();
    }
  };

  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];
    Layer& layer = layers_[l];
    layer.attn_norm = lw.attn_norm.data();
    layer.ffn_norm = lw.ffn_norm.data();
    layer.q_norm = lw.q_norm.empty() ? nullptr : lw.q_norm.data();
    layer.k_norm = lw.k_norm.empty() ? nullptr : lw.k_norm.data();
    if (!lw.bq.empty() || !lw.bk.empty() || !lw.bv.empty()) {
      // One bias row for the fused output (zeros where a part has none).
      layer.qkv_bias.assign(static_cast<size_t>(h + 2 * hkv) * hd, 0.0f);
      float* out = layer.qkv_bias.data();
      for (const Tensor* b : {&lw.bq, &lw.bk, &lw.bv}) {
        if (!b->empty()) std::copy(b->data(), b->data() + b->numel(), out);
        out += (b == &lw.bq ? h : hkv) * int64_t{hd};
      }
    }
    const std::string p = absl::StrCat("layers.", l, ".");
    ASSIGN_OR_RETURN(layer.wqkv, MakeProj(p + "wqkv", {&lw.wq, &lw.wk, &lw.wv},
                                          d, m, copy_blocks));
    release({&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv}, l);
    ASSIGN_OR_RETURN(layer.wo, MakeProj(p + "wo", {&lw.wo}, int64_t{h} * hd, m,
                                        copy_blocks));
    release({&LayerWeights::wo}, l);
    ASSIGN_OR_RETURN(
        layer.w_gate_up,
        MakeProj(p + "w_gate_up", {&lw.w_gate, &lw.w_up}, d, m, copy_blocks));
    release({&LayerWeights::w_gate, &LayerWeights::w_up}, l);
    ASSIGN_OR_RETURN(layer.w_down,
                     MakeProj(p + "w_down", {&lw.w_down}, f, m, copy_blocks));
    release({&LayerWeights::w_down}, l);
  }

  if (layers_[0].wqkv.quant != nullptr) {
    quant_impl_ = absl::StrCat("quant:", quant::IsaName(quant_ctx_->isa()));
  }
  // A tied output's blocks are read in the embeddings (which stay).
  ASSIGN_OR_RETURN(
      output_,
      MakeProj(w.tied_output() ? "output (tied to tok_embeddings)" : "output",
               {w.tied_output() ? &w.tok_embeddings : &w.output}, d, r,
               copy_blocks && !w.tied_output()));
  if (releasable != nullptr && !w.tied_output()) {
    releasable->weights.output = Tensor();
  }

  // The angles of every position the model can see, computed once here.
  ASSIGN_OR_RETURN(
      rope_, ops::Rope::Create(
                 {.head_dim = hd,
                  .theta = c.rope_theta,
                  .freq_scale = c.rope_freq_scale,
                  .neox = c.rope_neox,
                  .freq_factors = std::vector<float>(
                      w.rope_freqs.span().begin(), w.rope_freqs.span().end()),
                  .max_rows = m,
                  .max_positions =
                      std::min(c.context_length, kMaxRopeTablePositions)}));
  ASSIGN_OR_RETURN(attention_,
                   ops::PagedAttention::Create({.n_heads = h,
                                                .layout = layout_,
                                                .max_rows = m,
                                                .max_seqs = s,
                                                .num_threads = num_threads_}));

  auto alloc = [](int64_t floats) {
    const size_t bytes =
        (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return Buffer{std::unique_ptr<float, Buffer::Free>(static_cast<float*>(p))};
  };
  const int64_t qkv_width = int64_t{h + 2 * hkv} * hd;
  x_ = alloc(int64_t{m} * d);
  xn_ = alloc(int64_t{m} * d);
  qkv_ = alloc(int64_t{m} * qkv_width);
  attn_ = alloc(int64_t{m} * h * hd);
  proj_ = alloc(int64_t{m} * d);
  gate_up_ = alloc(int64_t{m} * 2 * f);
  ffn_ = alloc(int64_t{m} * f);
  last_ = alloc(int64_t{r} * d);
  logits_ = alloc(int64_t{r} * c.vocab_size);
  token_ids_.resize(m);
  positions_.resize(m);
  att_seqs_.resize(s);
  logit_rows_.resize(r);
  return absl::OkStatus();
}

absl::StatusOr<LlamaRunner::Proj> LlamaRunner::MakeProj(
    const std::string& name, std::initializer_list<const Tensor*> parts,
    int64_t in_features, int max_rows, bool copy_blocks) {
  auto all = [&](auto pred) {
    return std::all_of(parts.begin(), parts.end(), pred);
  };
  const bool all_f32 = all([](const Tensor* t) { return t->is_f32(); });
  const bool all_dense =
      all([](const Tensor* t) { return !quant::IsQuantized(t->type()); });
  auto has = [&](gguf::TensorType type) {
    return std::any_of(parts.begin(), parts.end(), [&](const Tensor* t) {
      return t->type() == static_cast<uint32_t>(type);
    });
  };
  const bool has_bf16 = has(gguf::TensorType::kBF16);
  const bool has_f16 = has(gguf::TensorType::kF16);
  // Dense parts (F32, and F16/BF16 kept 16-bit from the file) go to a
  // Linear when all are f32, or when weights_dtype asks for bf16, or when
  // the file stores the projection as BF16 (on oneDNN's bf16 matmul) or as
  // F16 (on Kvasir's f16 GEMV); F32 parts beside them (e.g. the merged heads
  // of a KV-head conversion) are rounded to the file's 16-bit type, the
  // precision of the weights they came from. The Linear's copy is exact and
  // the only one kept, and it batches on the blocked GEMV (decode) and
  // brgemm (bf16 prefill), where Kvasir's dense dot kernels read a weight
  // row once per 4 activation rows (F16 batched 2.6x slower than BF16 there,
  // slower than F32). BF16 and F16 parts in one projection (no file does
  // that) and quantized parts stay on Kvasir's kernels, read as stored.
  const bool dense_bf16 =
      all_dense &&
      (options_.weights_dtype == WeightsDtype::kBF16 ||
       (has_bf16 && !has_f16 && ops::Linear::IsSupported(WeightsDtype::kBF16)));
  const bool dense_f16 = all_dense && !dense_bf16 && has_f16 && !has_bf16 &&
                         ops::Linear::IsSupported(WeightsDtype::kF16);
  Proj proj;
  if (all_f32 || dense_bf16 || dense_f16) {
    std::vector<Tensor> converted;  // f32 copies of 16-bit parts, load only
    converted.reserve(parts.size());
    std::vector<ops::Linear::WeightPart> dense;
    for (const Tensor* t : parts) {
      if (dense_f16 &&
          t->type() == static_cast<uint32_t>(gguf::TensorType::kF16)) {
        // Taken as stored: no f32 round trip at load.
        dense.push_back({.rows = t->dim(0),
                         .f16 = reinterpret_cast<const uint16_t*>(t->bytes())});
        continue;
      }
      const Tensor* f32 = t;
      if (!t->is_f32()) f32 = &converted.emplace_back(t->ToF32());
      dense.push_back({f32->data(), f32->dim(0)});
    }
    ASSIGN_OR_RETURN(
        proj.dense,
        ops::Linear::Create({.name = name,
                             .weights_dtype = dense_bf16  ? WeightsDtype::kBF16
                                              : dense_f16 ? WeightsDtype::kF16
                                                          : WeightsDtype::kF32,
                             .max_rows = max_rows,
                             .arena = weight_arena_.get()},
                            matmul_ctx_.get(), dense, in_features));
  } else {
    std::vector<quant::QuantLinear::Part> blocks;
    for (const Tensor* t : parts) {
      blocks.push_back({t->type(), t->bytes(), t->dim(0)});
    }
    ASSIGN_OR_RETURN(proj.quant,
                     quant::QuantLinear::Create(
                         {.name = name,
                          .max_rows = max_rows,
                          .arena = copy_blocks ? weight_arena_.get() : nullptr},
                         quant_ctx_.get(), blocks, in_features));
  }
  if (proj.dense != nullptr) {
    proj.bf16 = dense_bf16;
    proj.weight_bytes = proj.dense->weight_bytes();
    proj.macs_per_row = in_features * proj.dense->out_features();
  } else {
    proj.weight_bytes = proj.quant->weight_bytes();
    proj.macs_per_row = in_features * proj.quant->out_features();
  }
  return proj;
}

int64_t LlamaRunner::weight_bytes() const {
  auto bytes = [](const Proj& p) { return p.weight_bytes; };
  int64_t total = bytes(output_);
  for (const Layer& l : layers_) {
    total += bytes(l.wqkv) + bytes(l.wo) + bytes(l.w_gate_up) + bytes(l.w_down);
  }
  return total;
}

const std::string& LlamaRunner::matmul_impl() const {
  return quant_impl_.empty() ? layers_[0].wqkv.dense->impl_name() : quant_impl_;
}

int LlamaRunner::cached_primitives() const {
  return matmul_ctx_->cached_primitives();
}

absl::Span<const float> LlamaRunner::logits(int i) const {
  if (i < 0 || i >= n_logits_) return {};
  const size_t v = static_cast<size_t>(config().vocab_size);
  return {logits_.get() + i * v, v};
}

absl::Status LlamaRunner::Step(absl::Span<const SequenceStep> seqs,
                               kvcache::KvArena& kv) {
  const Clock::time_point start = Clock::now();
  timings_ = StepTimings{};
  n_logits_ = 0;
  RETURN_IF_ERROR(Validate(seqs, kv));
  ScopedOmpThreads omp_threads(num_threads_);
  absl::Status status = Forward(seqs, kv);
  if (!status.ok()) n_logits_ = 0;
  timings_.other_ns = std::max<int64_t>(
      0, NanosSince(start) - timings_.matmul_ns - timings_.attention_ns);
  return status;
}

void LlamaRunner::FinishQkv(const Layer& layer, float* qkv, int m) {
  const ModelConfig& c = config();
  const int h = c.n_heads, hkv = c.n_kv_heads, hd = c.head_dim;
  const int64_t qkv_width = int64_t{h + 2 * hkv} * hd;
  if (!layer.qkv_bias.empty()) {
    ops::AddRowInPlace(qkv, layer.qkv_bias.data(), m, qkv_width);
  }
  if (layer.q_norm != nullptr) {
    // Qwen3: each head of q and of k RMS-normed on its own, before RoPE.
    for (int r = 0; r < m; ++r) {
      float* row = qkv + r * qkv_width;
      ops::RmsNorm(row, layer.q_norm, h, hd, c.rms_eps, row);
      ops::RmsNorm(row + int64_t{h} * hd, layer.k_norm, hkv, hd, c.rms_eps,
                   row + int64_t{h} * hd);
    }
  }
  // K heads follow the Q heads in each row: one pass rotates both.
  rope_->Apply(qkv, m, h + hkv, qkv_width);
}

absl::Status LlamaRunner::Matmul(const Proj& proj, const float* x, int m,
                                 float* y) {
  const Clock::time_point start = Clock::now();
  absl::Status status = proj.dense != nullptr
                            ? proj.dense->Forward(*matmul_ctx_, x, m, y)
                            : proj.quant->Forward(*quant_ctx_, x, m, y);
  timings_.matmul_ns += NanosSince(start);
  timings_.weight_bytes += proj.weight_bytes;
  proj.CountFlops(m, &timings_);
  return status;
}

absl::Status LlamaRunner::Forward(absl::Span<const SequenceStep> seqs,
                                  kvcache::KvArena& kv) {
  const ModelConfig& c = config();
  const int d = c.dim, f = c.hidden_dim, h = c.n_heads, hkv = c.n_kv_heads;
  const int hd = c.head_dim;
  const int64_t qkv_width = int64_t{h + 2 * hkv} * hd;
  const float eps = c.rms_eps;

  // Flatten the batch: rows in sequence order.
  int m = 0;
  int n_logits = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SequenceStep& s = seqs[i];
    const int n = static_cast<int>(s.tokens.size());
    att_seqs_[i] =
        ops::PagedAttention::Sequence{.row = m,
                                      .n_new = n,
                                      .start_pos = s.start_pos,
                                      .block_table = s.block_table.data()};
    for (int j = 0; j < n; ++j) {
      token_ids_[m + j] = s.tokens[j];
      positions_[m + j] = s.start_pos + j;
    }
    m += n;
    if (s.compute_logits) {
      for (int r = m - s.logits_last_n; r < m; ++r) logit_rows_[n_logits++] = r;
    }
    // Attention streams each sequence's K/V once per layer and KV head.
    timings_.kv_bytes += int64_t{s.start_pos + n} * layout_.BytesPerToken();
  }
  const absl::Span<const ops::PagedAttention::Sequence> att_seqs(
      att_seqs_.data(), seqs.size());

  float* x = x_.get();
  float* xn = xn_.get();
  float* qkv = qkv_.get();
  float* proj = proj_.get();
  const Tensor& table = model_->weights.tok_embeddings;
  ops::EmbeddingLookup(table.type(), table.bytes(), d,
                       absl::MakeConstSpan(token_ids_.data(), m), x);
  rope_->SetPositions(absl::MakeConstSpan(positions_.data(), m));
  // The attention work list depends on the sequences only: once per step.
  RETURN_IF_ERROR(attention_->Prepare(att_seqs));
  if (TeamCovers(m, n_logits, kv)) {
    return ForwardInTeam(att_seqs, kv, m, n_logits);
  }

  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    // Attention block. qkv rows: [q: H hd | k: Hkv hd | v: Hkv hd].
    ops::RmsNorm(x, layer.attn_norm, m, d, eps, xn);
    if (options_.attention_input_observer) {
      options_.attention_input_observer(static_cast<int>(l), xn, m);
    }
    RETURN_IF_ERROR(Matmul(layer.wqkv, xn, m, qkv));
    FinishQkv(layer, qkv, m);
    const Clock::time_point att_start = Clock::now();
    RETURN_IF_ERROR(attention_->WriteKv(
        static_cast<int>(l), att_seqs, qkv + int64_t{h} * hd,
        qkv + int64_t{h + hkv} * hd, qkv_width, kv));
    RETURN_IF_ERROR(attention_->Attend(static_cast<int>(l), qkv, qkv_width, kv,
                                       attn_.get()));
    timings_.attention_ns += NanosSince(att_start);
    RETURN_IF_ERROR(Matmul(layer.wo, attn_.get(), m, proj));
    ops::AddInPlace(x, proj, int64_t{m} * d);

    // Feed-forward block.
    ops::RmsNorm(x, layer.ffn_norm, m, d, eps, xn);
    RETURN_IF_ERROR(Matmul(layer.w_gate_up, xn, m, gate_up_.get()));
    ops::SwiGlu(gate_up_.get(), m, f, ffn_.get());
    RETURN_IF_ERROR(Matmul(layer.w_down, ffn_.get(), m, proj));
    ops::AddInPlace(x, proj, int64_t{m} * d);
  }

  if (n_logits > 0) {
    float* last = last_.get();
    for (int i = 0; i < n_logits; ++i) {
      std::memcpy(last + int64_t{i} * d, x + int64_t{logit_rows_[i]} * d,
                  sizeof(float) * d);
    }
    ops::RmsNorm(last, model_->weights.final_norm.data(), n_logits, d, eps,
                 last);
    RETURN_IF_ERROR(Matmul(output_, last, n_logits, logits_.get()));
  }
  n_logits_ = n_logits;
  return absl::OkStatus();
}

}  // namespace kvasir::engine
