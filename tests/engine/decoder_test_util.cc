#include "tests/engine/decoder_test_util.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::testing {
namespace {

void Fill(Tensor& t, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& x : t.span()) x = u(rng);
}

Tensor RandomMatrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  Tensor t = Tensor::Zeros({rows, cols});
  const float a = std::sqrt(3.0f / static_cast<float>(cols));  // unit gain
  Fill(t, rng, -a, a);
  return t;
}

Tensor RandomNorm(int64_t dim, std::mt19937& rng) {
  Tensor t = Tensor::Zeros({dim});
  Fill(t, rng, 0.8f, 1.2f);
  return t;
}

using Vec = std::vector<double>;

Vec MatVec(const Tensor& w, const Vec& x) {
  const int64_t rows = w.dim(0), cols = w.dim(1);
  Vec y(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w.row(r);
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += double{row[c]} * x[c];
    y[r] = s;
  }
  return y;
}

Vec RmsNormRef(const Vec& x, const Tensor& w, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / x.size() + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w.data()[i];
  return y;
}

void RopeRef(Vec& x, int n_heads, int head_dim, int pos, double theta) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < head_dim / 2; ++i) {
      const double freq = std::pow(theta, -2.0 * i / head_dim);
      const double a = pos * freq;
      double& x0 = x[h * head_dim + 2 * i];
      double& x1 = x[h * head_dim + 2 * i + 1];
      const double r0 = x0 * std::cos(a) - x1 * std::sin(a);
      const double r1 = x0 * std::sin(a) + x1 * std::cos(a);
      x0 = r0;
      x1 = r1;
    }
  }
}

}  // namespace

IdTokenizer::IdTokenizer(int32_t vocab_size) : vocab_size_(vocab_size) {
  for (int32_t i = 0; i < vocab_size; ++i) {
    pieces_.push_back(absl::StrCat("<", i, ">"));
  }
}

absl::StatusOr<std::vector<int32_t>> IdTokenizer::Encode(
    absl::string_view, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_special) ids.push_back(bos_id());
  return ids;
}

absl::string_view IdTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  return pieces_[id];
}

std::vector<TinyShape> TinyShapes() {
  return {
      {.name = "MHA", .n_heads = 4, .n_kv_heads = 4, .head_dim = 16},
      {.name = "GQA2", .n_heads = 8, .n_kv_heads = 4, .head_dim = 8},
      {.name = "GQA4", .n_heads = 8, .n_kv_heads = 2, .head_dim = 8},
      {.name = "MQA", .n_heads = 4, .n_kv_heads = 1, .head_dim = 16},
  };
}

std::unique_ptr<Model> RandomModel(const TinyShape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  auto model = std::make_unique<Model>();
  ModelConfig& c = model->config;
  c.name = "random:" + s.name;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.dim = s.n_heads * s.head_dim;
  c.hidden_dim = s.hidden_dim;
  c.n_layers = s.n_layers;
  c.vocab_size = s.vocab_size;
  c.context_length = s.context_length;
  const int64_t d = c.dim, f = c.hidden_dim;
  ModelWeights& w = model->weights;
  w.tok_embeddings = Tensor::Zeros({c.vocab_size, d});
  Fill(w.tok_embeddings, rng, -1.0f, 1.0f);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = RandomNorm(d, rng);
    lw.wq = RandomMatrix(int64_t{c.n_heads} * c.head_dim, d, rng);
    lw.wk = RandomMatrix(int64_t{c.n_kv_heads} * c.head_dim, d, rng);
    lw.wv = RandomMatrix(int64_t{c.n_kv_heads} * c.head_dim, d, rng);
    lw.wo = RandomMatrix(d, int64_t{c.n_heads} * c.head_dim, rng);
    lw.ffn_norm = RandomNorm(d, rng);
    lw.w_gate = RandomMatrix(f, d, rng);
    lw.w_up = RandomMatrix(f, d, rng);
    lw.w_down = RandomMatrix(d, f, rng);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = RandomNorm(d, rng);
  if (!s.tied_output) w.output = RandomMatrix(c.vocab_size, d, rng);
  model->tokenizer = std::make_unique<IdTokenizer>(c.vocab_size);
  return model;
}

std::unique_ptr<Model> CopyModel(const Model& model) {
  auto copy = std::make_unique<Model>();
  copy->config = model.config;
  const ModelWeights& w = model.weights;
  copy->weights.tok_embeddings = w.tok_embeddings.Copy();
  for (const LayerWeights& lw : w.layers) {
    LayerWeights c;
    c.attn_norm = lw.attn_norm.Copy();
    c.wq = lw.wq.Copy();
    c.wk = lw.wk.Copy();
    c.wv = lw.wv.Copy();
    c.wo = lw.wo.Copy();
    c.ffn_norm = lw.ffn_norm.Copy();
    c.w_gate = lw.w_gate.Copy();
    c.w_up = lw.w_up.Copy();
    c.w_down = lw.w_down.Copy();
    copy->weights.layers.push_back(std::move(c));
  }
  copy->weights.final_norm = w.final_norm.Copy();
  if (!w.output.empty()) copy->weights.output = w.output.Copy();
  copy->tokenizer = std::make_unique<IdTokenizer>(model.config.vocab_size);
  return copy;
}

std::vector<std::vector<float>> ReferenceLogits(
    const Model& model, absl::Span<const int32_t> tokens) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const int d = c.dim, h = c.n_heads, hkv = c.n_kv_heads, hd = c.head_dim;
  const int group = h / hkv;
  const int n = static_cast<int>(tokens.size());
  // Dense cache: k_cache[layer][pos] = [Hkv * hd].
  std::vector<std::vector<Vec>> k_cache(c.n_layers), v_cache(c.n_layers);
  std::vector<std::vector<float>> logits;
  for (int p = 0; p < n; ++p) {
    Vec x(w.tok_embeddings.row(tokens[p]), w.tok_embeddings.row(tokens[p]) + d);
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& lw = w.layers[l];
      Vec xn = RmsNormRef(x, lw.attn_norm, c.rms_eps);
      Vec q = MatVec(lw.wq, xn);
      Vec k = MatVec(lw.wk, xn);
      Vec v = MatVec(lw.wv, xn);
      RopeRef(q, h, hd, p, c.rope_theta);
      RopeRef(k, hkv, hd, p, c.rope_theta);
      k_cache[l].push_back(k);
      v_cache[l].push_back(v);
      Vec att(static_cast<size_t>(h) * hd, 0.0);
      for (int head = 0; head < h; ++head) {
        const int g = head / group;
        std::vector<double> scores(p + 1);
        double mx = -1e300;
        for (int t = 0; t <= p; ++t) {
          double s = 0.0;
          for (int e = 0; e < hd; ++e) {
            s += q[head * hd + e] * k_cache[l][t][g * hd + e];
          }
          scores[t] = s / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, scores[t]);
        }
        double sum = 0.0;
        for (double& s : scores) sum += (s = std::exp(s - mx));
        for (int t = 0; t <= p; ++t) {
          for (int e = 0; e < hd; ++e) {
            att[head * hd + e] += scores[t] / sum * v_cache[l][t][g * hd + e];
          }
        }
      }
      Vec o = MatVec(lw.wo, att);
      for (int i = 0; i < d; ++i) x[i] += o[i];
      xn = RmsNormRef(x, lw.ffn_norm, c.rms_eps);
      Vec gate = MatVec(lw.w_gate, xn);
      Vec up = MatVec(lw.w_up, xn);
      for (size_t i = 0; i < gate.size(); ++i) {
        gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      }
      Vec down = MatVec(lw.w_down, gate);
      for (int i = 0; i < d; ++i) x[i] += down[i];
    }
    Vec xf = RmsNormRef(x, w.final_norm, c.rms_eps);
    Vec out = MatVec(w.tied_output() ? w.tok_embeddings : w.output, xf);
    logits.emplace_back(out.begin(), out.end());
  }
  return logits;
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> u(0, vocab - 1);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = u(rng);
  return ids;
}

Batch::Batch(LlamaRunner& runner, int n_seqs, int max_len)
    : runner_(runner),
      blocks_per_seq_((max_len + runner.kv_layout().block_size - 1) /
                      runner.kv_layout().block_size) {
  auto arena = kvcache::KvArena::Create(
      runner.kv_layout(),
      runner.kv_layout().BlockBytes() * blocks_per_seq_ * n_seqs);
  EXPECT_THAT(arena, ::kvasir::testing::IsOk());
  kv_ = std::make_unique<kvcache::KvArena>(std::move(arena).value());
  // Interleaved blocks: sequence s owns blocks s, s + n, s + 2n, ...
  tables_.resize(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    for (int b = 0; b < blocks_per_seq_; ++b) {
      tables_[s].push_back(b * n_seqs + s);
    }
  }
}

std::vector<std::vector<float>> Batch::Step(
    const std::vector<std::vector<int32_t>>& tokens,
    const std::vector<int32_t>& pos) {
  std::vector<SequenceStep> steps;
  for (size_t i = 0; i < tokens.size(); ++i) {
    steps.push_back({.tokens = tokens[i],
                     .start_pos = pos[i],
                     .block_table = tables_[i],
                     .compute_logits = true});
  }
  std::vector<std::vector<float>> out;
  const absl::Status status = runner_.Step(steps, *kv_);
  EXPECT_THAT(status, ::kvasir::testing::IsOk());
  if (!status.ok()) return out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    absl::Span<const float> l = runner_.logits(static_cast<int>(i));
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

double MaxRelError(absl::Span<const float> a, absl::Span<const float> b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double scale = std::max(1.0, std::abs(double{b[i]}));
    const double err = std::abs(double{a[i]} - b[i]) / scale;
    if (std::isnan(err)) return 1e300;
    worst = std::max(worst, err);
  }
  if (a.size() != b.size()) return 1e300;
  return worst;
}

LlamaRunner::Options SmallOptions() {
  LlamaRunner::Options o;
  o.max_batch_tokens = 64;
  o.max_seqs = 8;
  o.block_size = 4;
  return o;
}

std::unique_ptr<LlamaRunner> MakeRunner(const LlamaRunner::Options& options,
                                        const Model& model) {
  auto runner = LlamaRunner::CreateOwning(options, CopyModel(model));
  EXPECT_TRUE(runner.ok()) << runner.status();
  return runner.ok() ? std::move(runner).value() : nullptr;
}

kvcache::KvArena MakeArena(const LlamaRunner& runner, int blocks) {
  auto arena = kvcache::KvArena::Create(
      runner.kv_layout(), runner.kv_layout().BlockBytes() * blocks);
  EXPECT_TRUE(arena.ok()) << arena.status();
  return std::move(arena).value();
}

}  // namespace kvasir::engine::testing
