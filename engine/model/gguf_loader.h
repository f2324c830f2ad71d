#ifndef KVASIR_ENGINE_MODEL_GGUF_LOADER_H_
#define KVASIR_ENGINE_MODEL_GGUF_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/gguf_file.h"
#include "engine/model/model.h"

namespace kvasir::engine {

// Hyperparameters of a GGUF file of the `llama`, `qwen2` or `qwen3`
// architecture (<arch> below): <arch>.embedding_length,
// .feed_forward_length, .block_count, .attention.head_count,
// .context_length and .attention.layer_norm_rms_epsilon are required;
// .attention.head_count_kv defaults to head_count, .rope.freq_base to 10000,
// .attention.key_length (head_dim) to embedding_length / head_count;
// .rope.scaling.type may be none or linear (with .rope.scaling.factor);
// .rope.dimension_count, when present, must equal head_dim (no partial
// rotary). Qwen2/Qwen3 use NeoX-style RoPE pairs. vocab_size is the tokenizer's
// token count (llama.vocab_size, when present, must agree). Errors name the
// file and the key; another architecture is InvalidArgument naming it.
absl::StatusOr<ModelConfig> GgufModelConfig(const GgufFile& file,
                                            int32_t vocab_size);

// Loads config, weights and tokenizer from a GGUF file: token_embd.weight,
// blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
// ffn_gate, ffn_up, ffn_down}.weight, output_norm.weight and output.weight;
// optional blk.N.attn_{q,k,v}.bias (Qwen2), blk.N.attn_{q,k}_norm.weight
// (required for Qwen3) and rope_freqs.weight (Llama 3.1). Projection and
// embedding matrices of a quantized type (Q4_0 ... Q6_K) stay in it (their
// bytes copied once); F32/F16/BF16 and 1-D tensors are read as f32. A missing
// output.weight, or one byte-identical to token_embd.weight, makes the output
// tied (stored once). A missing tensor is NotFound, a wrong shape or
// unsupported type InvalidArgument, a truncated file DataLoss; all name file
// and tensor.
absl::StatusOr<std::unique_ptr<Model>> ModelFromGguf(const GgufFile& file);

// Opens (memory-maps) `path` and loads it; the mapping is released after.
absl::StatusOr<std::unique_ptr<Model>> LoadGgufModel(const std::string& path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_GGUF_LOADER_H_
