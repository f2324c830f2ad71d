#ifndef KVASIR_ENGINE_MODEL_QUANT_MIX_H_
#define KVASIR_ENGINE_MODEL_QUANT_MIX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Which ggml type each tensor of a llama model gets when it is quantized to
// a `kvasir quantize --type`, following llama.cpp's llama_tensor_get_type
// for the types Kvasir writes.
namespace kvasir::engine {

// One --type value.
struct QuantMix {
  std::string name;        // "q4_k_m"
  uint32_t base_type = 0;  // gguf::TensorType of most 2-D weights
  // The output matrix (or the token embedding when the output is tied to
  // it) is Q6_K: the plain 4- and 5-bit types and the _m mixes.
  bool q6_k_output = false;
  // The _m mixes: attn_v and ffn_down of the layers use_more_bits picks are
  // Q6_K.
  bool more_bits_layers = false;
  // llama.cpp's LLAMA_FTYPE for general.file_type. q4_k / q5_k are written
  // as Q4_K_S (14) / Q5_K_S (16), the "small" mixes they are closest to.
  uint32_t file_type = 0;
};

// The --type values, in the order help text lists them: f32, f16, bf16,
// q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q4_k_m, q5_k_m.
const std::vector<QuantMix>& QuantMixes();
// "f32, f16, ..., q5_k_m".
std::string QuantMixNames();
// The mix called `name` (case-insensitive). InvalidArgument naming --type,
// the value and the valid values when there is none.
absl::StatusOr<QuantMix> FindQuantMix(absl::string_view name);

// llama.cpp's use_more_bits: layer i of n gets more bits when it is in the
// first or last eighth, or every third layer in between.
bool UseMoreBits(int i, int n);

// The layer index N of a tensor named "blk.N.<...>"; -1 for other names.
int LayerIndexOf(absl::string_view tensor_name);

// What a model needs to know to place one tensor.
struct MixContext {
  int n_attn_v = 0;         // how many blk.N.attn_v.weight there are
  int n_ffn_down = 0;       // how many blk.N.ffn_down.weight
  bool has_output = false;  // an output.weight exists (not tied)
};
MixContext MixContextFor(const std::vector<std::string>& tensor_names);

// The type of tensor `name` with GGUF dims `ne` (innermost first) under
// `mix`: F32 for 1-D tensors and rope_freqs.weight; else the mix's choice,
// which falls back when ne[0] is not a multiple of its block size as
// llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 if
// ne[0] is still not a multiple of 32; the 32-value types -> F16).
// `wanted`, when not null, receives the choice before the fallback.
uint32_t TensorTypeFor(const QuantMix& mix, const MixContext& context,
                       absl::string_view name, const std::vector<uint64_t>& ne,
                       uint32_t* wanted = nullptr);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_QUANT_MIX_H_
