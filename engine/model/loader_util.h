#ifndef KVASIR_ENGINE_MODEL_LOADER_UTIL_H_
#define KVASIR_ENGINE_MODEL_LOADER_UTIL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/model/model.h"

// Helpers shared by the GGUF, llama2.c and dummy model loaders.
namespace kvasir::engine {

// D / H, the head width of checkpoints that do not state it.
// InvalidArgument naming `source` unless H > 0 divides D.
absl::StatusOr<int> HeadDimOf(int dim, int n_heads, absl::string_view source);

// Checks the hyperparameters a Llama decoder needs: every size positive,
// Hkv divides H, head_dim positive and even (RoPE rotates pairs), rope_theta
// and rms_eps finite and positive. InvalidArgument naming `source`, the field
// and its value.
absl::Status ValidateModelConfig(const ModelConfig& config,
                                 absl::string_view source);

// Shapes of the weights of `config`, outermost first (see LayerWeights).
struct WeightShapes {
  std::vector<int64_t> embedding;  // [V, D]
  std::vector<int64_t> norm;       // [D]
  std::vector<int64_t> wq;         // [H * head_dim, D]
  std::vector<int64_t> wk;         // [Hkv * head_dim, D] (also wv)
  std::vector<int64_t> wo;         // [D, H * head_dim]
  std::vector<int64_t> up;         // [F, D] (gate and up)
  std::vector<int64_t> down;       // [D, F]
};
WeightShapes ShapesFor(const ModelConfig& config);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_LOADER_UTIL_H_
