#ifndef KVASIR_ENGINE_MODEL_MODEL_H_
#define KVASIR_ENGINE_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/model/tensor.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine {

enum class AttentionMode { kMHA, kGQA, kMQA };
absl::string_view AttentionModeName(AttentionMode mode);  // "MHA", ...

// Hyperparameters of a Llama-family decoder.
struct ModelConfig {
  std::string architecture = "llama";
  std::string name;    // file name or "dummy:<preset>", for logs
  int dim = 0;         // D: embedding width
  int hidden_dim = 0;  // F: SwiGLU inner width
  int n_layers = 0;
  int n_heads = 0;         // H: query heads
  int n_kv_heads = 0;      // Hkv: key/value heads; divides H
  int head_dim = 0;        // D / H, or the GGUF attention.key_length
                           // (Qwen3: H * head_dim may differ from D)
  int vocab_size = 0;      // V
  int context_length = 0;  // maximum positions (as the checkpoint says)
  float rope_theta = 10000.0f;
  // Linear RoPE scaling: positions are multiplied by this (1 / the GGUF
  // rope.scaling.factor), 1 for none.
  float rope_freq_scale = 1.0f;
  // RoPE pairs: false rotates adjacent pairs (2i, 2i+1) (GGUF llama,
  // llama2.c); true rotates (i, i + head_dim/2) (GPT-NeoX; Qwen2, Qwen3).
  bool rope_neox = false;
  float rms_eps = 1e-5f;

  // MHA when Hkv == H, MQA when Hkv == 1 (and H > 1), GQA otherwise.
  AttentionMode attention_mode() const;
  int group_size() const { return n_heads / n_kv_heads; }  // G = H / Hkv
  // The KV-cache layout of this model (not validated).
  kvcache::KvLayout KvLayoutFor(kvcache::KvDtype dtype,
                                int32_t block_size) const;
  // 2 * n_layers * Hkv * head_dim * sizeof(dtype).
  int64_t KvBytesPerToken(kvcache::KvDtype dtype) const {
    return KvLayoutFor(dtype, 1).BytesPerToken();
  }
  // Number of parameters in the weights (embedding and output counted once
  // each; a tied output counts zero).
  int64_t ParameterCount(bool tied_output) const;
};

// Weights of one decoder layer, row-major [out, in] as in GGUF and
// llama2.c (y = W x with one row of W per output feature). The projection
// matrices (wq ... w_down) are f32 or, from a quantized GGUF file, kept in
// their ggml block type (Tensor::type()); norms and biases are f32.
struct LayerWeights {
  Tensor attn_norm;  // [D]
  Tensor wq;         // [H * head_dim, D]
  Tensor wk;         // [Hkv * head_dim, D]
  Tensor wv;         // [Hkv * head_dim, D]
  Tensor wo;         // [D, H * head_dim]
  Tensor ffn_norm;   // [D]
  Tensor w_gate;     // [F, D]   (llama2.c w1, GGUF ffn_gate)
  Tensor w_up;       // [F, D]   (llama2.c w3, GGUF ffn_up)
  Tensor w_down;     // [D, F]   (llama2.c w2, GGUF ffn_down)
  // Optional (empty when the architecture has none):
  Tensor bq, bk, bv;      // [H hd], [Hkv hd], [Hkv hd]: Qwen2 QKV biases
  Tensor q_norm, k_norm;  // [head_dim]: Qwen3 per-head RMSNorm of q and k
};

// RoPE convention of these weights: rotate adjacent pairs (2i, 2i+1) of each
// head with frequency theta^(-2i/head_dim) (GGUF llama and llama2.c layout).
struct ModelWeights {
  Tensor tok_embeddings;  // [V, D], f32 or a block type (rows dequantized)
  std::vector<LayerWeights> layers;
  Tensor final_norm;  // [D]
  Tensor output;      // [V, D]; empty when tied to tok_embeddings
  // [head_dim / 2] RoPE frequency divisors (Llama 3.1 rope_freqs.weight):
  // pair i turns at pos * theta^(-2i/head_dim) / rope_freqs[i]. Optional.
  Tensor rope_freqs;
  bool tied_output() const { return output.empty(); }
};

// A loaded model: hyperparameters, weights and its tokenizer.
// Immutable once loaded; shared read-only (std::shared_ptr<const Model>).
struct Model {
  ModelConfig config;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  // The Jinja chat template (GGUF tokenizer.chat_template); empty if none.
  std::string chat_template;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_MODEL_H_
