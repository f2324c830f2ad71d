#include "engine/model/quant_mix.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/model/gguf_types.h"

namespace kvasir::engine {
namespace {

using gguf::TensorType;

uint32_t Id(TensorType t) { return static_cast<uint32_t>(t); }

// Values per block of the types a mix can choose.
int64_t BlockSize(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
    case TensorType::kQ4_1:
    case TensorType::kQ5_0:
    case TensorType::kQ5_1:
    case TensorType::kQ8_0:
      return 32;
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
      return 256;
    default:
      return 1;
  }
}

}  // namespace

const std::vector<QuantMix>& QuantMixes() {
  // file_type: llama.cpp's LLAMA_FTYPE_ALL_F32 = 0, MOSTLY_F16 = 1,
  // MOSTLY_BF16 = 32, Q8_0 = 7, Q4_0 = 2, Q4_1 = 3, Q5_0 = 8, Q5_1 = 9,
  // Q4_K_S = 14, Q5_K_S = 16, Q6_K = 18, Q4_K_M = 15, Q5_K_M = 17.
  static const auto* mixes = new std::vector<QuantMix>{
      {"f32", Id(TensorType::kF32), false, false, 0},
      {"f16", Id(TensorType::kF16), false, false, 1},
      {"bf16", Id(TensorType::kBF16), false, false, 32},
      {"q8_0", Id(TensorType::kQ8_0), false, false, 7},
      {"q4_0", Id(TensorType::kQ4_0), true, false, 2},
      {"q4_1", Id(TensorType::kQ4_1), true, false, 3},
      {"q5_0", Id(TensorType::kQ5_0), true, false, 8},
      {"q5_1", Id(TensorType::kQ5_1), true, false, 9},
      {"q4_k", Id(TensorType::kQ4_K), true, false, 14},
      {"q5_k", Id(TensorType::kQ5_K), true, false, 16},
      {"q6_k", Id(TensorType::kQ6_K), false, false, 18},
      {"q4_k_m", Id(TensorType::kQ4_K), true, true, 15},
      {"q5_k_m", Id(TensorType::kQ5_K), true, true, 17},
  };
  return *mixes;
}

std::string QuantMixNames() {
  std::string out;
  for (const QuantMix& m : QuantMixes()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", m.name);
  }
  return out;
}

absl::StatusOr<QuantMix> FindQuantMix(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const QuantMix& m : QuantMixes()) {
    if (m.name == lower) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--type '", name,
                   "' is not a known type (valid: ", QuantMixNames(), ")"));
}

bool UseMoreBits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

int LayerIndexOf(absl::string_view tensor_name) {
  if (!absl::ConsumePrefix(&tensor_name, "blk.")) return -1;
  const size_t dot = tensor_name.find('.');
  int layer = -1;
  if (dot == absl::string_view::npos ||
      !absl::SimpleAtoi(tensor_name.substr(0, dot), &layer)) {
    return -1;
  }
  return layer;
}

MixContext MixContextFor(const std::vector<std::string>& tensor_names) {
  MixContext c;
  for (const std::string& name : tensor_names) {
    if (absl::EndsWith(name, ".attn_v.weight")) ++c.n_attn_v;
    if (absl::EndsWith(name, ".ffn_down.weight")) ++c.n_ffn_down;
    if (name == "output.weight") c.has_output = true;
  }
  return c;
}

uint32_t TensorTypeFor(const QuantMix& mix, const MixContext& context,
                       absl::string_view name, const std::vector<uint64_t>& ne,
                       uint32_t* wanted) {
  uint32_t type = mix.base_type;
  if (ne.size() < 2 || name == "rope_freqs.weight") {
    type = Id(TensorType::kF32);
  } else if (mix.q6_k_output &&
             (name == "output.weight" ||
              (!context.has_output && name == "token_embd.weight"))) {
    type = Id(TensorType::kQ6_K);
  } else if (mix.more_bits_layers) {
    // llama.cpp counts attn_v and ffn_down tensors separately; for a plain
    // llama model both counts are the number of layers.
    const int layer = LayerIndexOf(name);
    if (layer >= 0 && absl::EndsWith(name, ".attn_v.weight") &&
        UseMoreBits(layer, context.n_attn_v)) {
      type = Id(TensorType::kQ6_K);
    } else if (layer >= 0 && absl::EndsWith(name, ".ffn_down.weight") &&
               UseMoreBits(layer, context.n_ffn_down)) {
      type = Id(TensorType::kQ6_K);
    }
  }
  if (wanted != nullptr) *wanted = type;
  const uint64_t row = ne.empty() ? 0 : ne[0];
  if (row % BlockSize(type) == 0) return type;
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_K:
      type = Id(TensorType::kQ5_0);
      break;
    case TensorType::kQ5_K:
      type = Id(TensorType::kQ5_1);
      break;
    case TensorType::kQ6_K:
      type = Id(TensorType::kQ8_0);
      break;
    default:
      type = Id(TensorType::kF16);
  }
  return row % BlockSize(type) == 0 ? type : Id(TensorType::kF16);
}

}  // namespace kvasir::engine
