#include "engine/model/gguf_loader.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/loader_util.h"
#include "engine/model/mapped_file.h"
#include "engine/tokenizer/gguf_tokenizer.h"

namespace kvasir::engine {
namespace {

// An integer hyperparameter that must fit in a positive int.
absl::StatusOr<int> GetDim(const GgufFile& file, const std::string& key) {
  ASSIGN_OR_RETURN(int64_t v, file.GetInt(key));
  if (v <= 0 || v > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": metadata key '", key, "' value ", v,
                     " is out of range (1 to ", INT32_MAX, ")"));
  }
  return static_cast<int>(v);
}

// Whether two tensors hold the same bytes (a tied output written twice).
bool SameData(const GgufTensorInfo& a, const GgufTensorInfo& b) {
  return a.type == b.type && a.ne == b.ne && a.n_bytes == b.n_bytes &&
         a.data != nullptr && b.data != nullptr &&
         std::memcmp(a.data, b.data, a.n_bytes) == 0;
}

// RoPE scaling as llama.cpp reads it: rope.scaling.type defaults to
// "linear"; the factor is rope.scaling.factor, else the older
// rope.scale_linear, else none; "none" never scales. Llama 3.1's
// frequency-dependent scaling is not a type here: it is stored as the
// rope_freqs.weight tensor. YaRN and others are refused by name.
absl::Status ReadRopeScaling(const GgufFile& file, const std::string& p,
                             ModelConfig* c) {
  const std::string type_key = p + "rope.scaling.type";
  std::string type = "linear";
  if (file.FindValue(type_key) != nullptr) {
    ASSIGN_OR_RETURN(type, file.GetString(type_key));
  }
  if (type != "none" && type != "linear") {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": ", type_key, " '", type,
                     "' is not supported (supported: none, linear)"));
  }
  std::string factor_key = p + "rope.scaling.factor";
  if (file.FindValue(factor_key) == nullptr) {
    factor_key = p + "rope.scale_linear";
  }
  if (type == "none" || file.FindValue(factor_key) == nullptr) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(double factor, file.GetFloat(factor_key));
  if (factor == 0.0) return absl::OkStatus();  // llama.cpp: 0 means unset
  if (!(factor > 0.0) || !std::isfinite(factor)) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": ", factor_key, " ", factor, " must be > 0"));
  }
  c->rope_freq_scale = static_cast<float>(1.0 / factor);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& file,
                                            int32_t vocab_size) {
  const std::string& path = file.path();
  if (file.FindValue("general.architecture") == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": metadata key 'general.architecture' is missing"));
  }
  ASSIGN_OR_RETURN(std::string arch, file.GetString("general.architecture"));
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unsupported architecture '", arch,
                     "' (supported: llama, qwen2, qwen3)"));
  }
  const std::string p = arch + ".";
  ModelConfig c;
  c.architecture = arch;
  c.name = FileBaseName(path);
  // Qwen2 and Qwen3 rotate (i, i + hd/2) pairs (llama.cpp's NEOX type);
  // converters permute Llama's q/k rows so that adjacent pairs work there.
  c.rope_neox = arch != "llama";
  ASSIGN_OR_RETURN(c.dim, GetDim(file, p + "embedding_length"));
  ASSIGN_OR_RETURN(c.hidden_dim, GetDim(file, p + "feed_forward_length"));
  ASSIGN_OR_RETURN(c.n_layers, GetDim(file, p + "block_count"));
  ASSIGN_OR_RETURN(c.n_heads, GetDim(file, p + "attention.head_count"));
  c.n_kv_heads = c.n_heads;
  if (file.FindValue(p + "attention.head_count_kv") != nullptr) {
    ASSIGN_OR_RETURN(c.n_kv_heads, GetDim(file, p + "attention.head_count_kv"));
  }
  ASSIGN_OR_RETURN(c.context_length, GetDim(file, p + "context_length"));
  if (file.FindValue(p + "rope.freq_base") != nullptr) {
    ASSIGN_OR_RETURN(double theta, file.GetFloat(p + "rope.freq_base"));
    c.rope_theta = static_cast<float>(theta);
  }
  RETURN_IF_ERROR(ReadRopeScaling(file, p, &c));
  ASSIGN_OR_RETURN(double eps,
                   file.GetFloat(p + "attention.layer_norm_rms_epsilon"));
  c.rms_eps = static_cast<float>(eps);
  if (file.FindValue(p + "attention.key_length") != nullptr) {
    ASSIGN_OR_RETURN(c.head_dim, GetDim(file, p + "attention.key_length"));
    if (file.FindValue(p + "attention.value_length") != nullptr) {
      ASSIGN_OR_RETURN(int value_length,
                       GetDim(file, p + "attention.value_length"));
      if (value_length != c.head_dim) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": ", p, "attention.value_length ", value_length,
                         " differs from attention.key_length ", c.head_dim,
                         " (unsupported)"));
      }
    }
  } else {
    ASSIGN_OR_RETURN(c.head_dim, HeadDimOf(c.dim, c.n_heads, path));
  }
  c.vocab_size = vocab_size;
  if (file.FindValue(p + "vocab_size") != nullptr) {
    ASSIGN_OR_RETURN(int64_t v, file.GetInt(p + "vocab_size"));
    if (v != vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", p, "vocab_size ", v, " does not match the ",
                       vocab_size, " tokens of tokenizer.ggml.tokens"));
    }
  }
  RETURN_IF_ERROR(ValidateModelConfig(c, path));
  if (file.FindValue(p + "rope.dimension_count") != nullptr) {
    ASSIGN_OR_RETURN(int64_t rope_dims,
                     file.GetInt(p + "rope.dimension_count"));
    if (rope_dims != c.head_dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", p, "rope.dimension_count ", rope_dims,
                       " differs from head_dim ", c.head_dim,
                       " (partial rotary embeddings are not supported)"));
    }
  }
  return c;
}

absl::StatusOr<std::unique_ptr<Model>> ModelFromGguf(const GgufFile& file) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   TokenizerFromGguf(file));
  auto model = std::make_unique<Model>();
  ASSIGN_OR_RETURN(model->config,
                   GgufModelConfig(file, tokenizer->vocab_size()));
  const ModelConfig& c = model->config;
  const WeightShapes s = ShapesFor(c);
  const std::vector<int64_t> q_rows = {s.wq[0]}, kv_rows = {s.wk[0]};
  const std::vector<int64_t> head = {c.head_dim};
  ModelWeights& w = model->weights;
  ASSIGN_OR_RETURN(w.tok_embeddings,
                   file.ReadWeight("token_embd.weight", s.embedding));
  // An optional tensor: empty when absent, read (and checked) when present.
  auto optional =
      [&](const std::string& name,
          const std::vector<int64_t>& shape) -> absl::StatusOr<Tensor> {
    if (file.FindTensor(name) == nullptr) return Tensor();
    return file.ReadTensor(name, shape);
  };
  // Layers are added as they load, so a corrupt block_count fails on its
  // first missing tensor instead of allocating for billions of layers.
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights& lw = w.layers.emplace_back();
    const std::string b = absl::StrCat("blk.", l, ".");
    ASSIGN_OR_RETURN(lw.attn_norm,
                     file.ReadTensor(b + "attn_norm.weight", s.norm));
    ASSIGN_OR_RETURN(lw.wq, file.ReadWeight(b + "attn_q.weight", s.wq));
    ASSIGN_OR_RETURN(lw.wk, file.ReadWeight(b + "attn_k.weight", s.wk));
    ASSIGN_OR_RETURN(lw.wv, file.ReadWeight(b + "attn_v.weight", s.wk));
    ASSIGN_OR_RETURN(lw.wo, file.ReadWeight(b + "attn_output.weight", s.wo));
    ASSIGN_OR_RETURN(lw.ffn_norm,
                     file.ReadTensor(b + "ffn_norm.weight", s.norm));
    ASSIGN_OR_RETURN(lw.w_gate, file.ReadWeight(b + "ffn_gate.weight", s.up));
    ASSIGN_OR_RETURN(lw.w_up, file.ReadWeight(b + "ffn_up.weight", s.up));
    ASSIGN_OR_RETURN(lw.w_down, file.ReadWeight(b + "ffn_down.weight", s.down));
    ASSIGN_OR_RETURN(lw.bq, optional(b + "attn_q.bias", q_rows));
    ASSIGN_OR_RETURN(lw.bk, optional(b + "attn_k.bias", kv_rows));
    ASSIGN_OR_RETURN(lw.bv, optional(b + "attn_v.bias", kv_rows));
    ASSIGN_OR_RETURN(lw.q_norm, optional(b + "attn_q_norm.weight", head));
    ASSIGN_OR_RETURN(lw.k_norm, optional(b + "attn_k_norm.weight", head));
    if (c.architecture == "qwen3" && (lw.q_norm.empty() || lw.k_norm.empty())) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": qwen3 layer ", l,
                       " lacks attn_q_norm.weight or attn_k_norm.weight"));
    }
  }
  ASSIGN_OR_RETURN(w.final_norm, file.ReadTensor("output_norm.weight", s.norm));
  ASSIGN_OR_RETURN(w.rope_freqs,
                   optional("rope_freqs.weight", {c.head_dim / 2}));
  const GgufTensorInfo* output = file.FindTensor("output.weight");
  if (output != nullptr &&
      !SameData(*output, *file.FindTensor("token_embd.weight"))) {
    ASSIGN_OR_RETURN(w.output, file.ReadWeight("output.weight", s.embedding));
  }
  model->tokenizer = std::move(tokenizer);
  // Optional: most base models have none. A template that is not a string
  // is a malformed file.
  if (file.FindValue("tokenizer.chat_template") != nullptr) {
    ASSIGN_OR_RETURN(model->chat_template,
                     file.GetString("tokenizer.chat_template"));
  }
  return model;
}

absl::StatusOr<std::unique_ptr<Model>> LoadGgufModel(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  return ModelFromGguf(*file);
}

}  // namespace kvasir::engine
