#include "engine/model/model.h"

namespace kvasir::engine {

absl::string_view AttentionModeName(AttentionMode mode) {
  switch (mode) {
    case AttentionMode::kMHA:
      return "MHA";
    case AttentionMode::kGQA:
      return "GQA";
    case AttentionMode::kMQA:
      return "MQA";
  }
  return "?";
}

AttentionMode ModelConfig::attention_mode() const {
  if (n_kv_heads == n_heads) return AttentionMode::kMHA;
  if (n_kv_heads == 1) return AttentionMode::kMQA;
  return AttentionMode::kGQA;
}

kvcache::KvLayout ModelConfig::KvLayoutFor(kvcache::KvDtype dtype,
                                           int32_t block_size) const {
  return kvcache::KvLayout{.n_layers = n_layers,
                           .n_kv_heads = n_kv_heads,
                           .head_dim = head_dim,
                           .block_size = block_size,
                           .dtype = dtype};
}

int64_t ModelConfig::ParameterCount(bool tied_output) const {
  const int64_t d = dim, f = hidden_dim, hd = head_dim;
  const int64_t per_layer = 2 * d                      // norms
                            + d * n_heads * hd * 2     // wq, wo
                            + d * n_kv_heads * hd * 2  // wk, wv
                            + 3 * d * f;               // gate, up, down
  int64_t n = int64_t{vocab_size} * d + n_layers * per_layer + d;
  if (!tied_output) n += int64_t{vocab_size} * d;
  return n;
}

}  // namespace kvasir::engine
