#include "engine/model/loader_util.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace kvasir::engine {

absl::StatusOr<int> HeadDimOf(int dim, int n_heads, absl::string_view source) {
  if (n_heads <= 0 || dim % n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid model hyperparameters: dim ", dim,
                     " is not a multiple of n_heads ", n_heads));
  }
  return dim / n_heads;
}

absl::Status ValidateModelConfig(const ModelConfig& c,
                                 absl::string_view source) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid model hyperparameters: ", what));
  };
  const std::pair<const char*, int> sizes[] = {
      {"dim", c.dim},
      {"hidden_dim", c.hidden_dim},
      {"n_layers", c.n_layers},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"vocab_size", c.vocab_size},
      {"context_length", c.context_length}};
  for (const auto& [name, value] : sizes) {
    if (value <= 0) return bad(absl::StrCat(name, " ", value, " must be > 0"));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return bad(absl::StrCat("n_heads ", c.n_heads,
                            " is not a multiple of n_kv_heads ", c.n_kv_heads));
  }
  // head_dim is D / H unless the checkpoint says otherwise (Qwen3's
  // attention.key_length): the projections' shapes follow it either way.
  if (c.head_dim <= 0) {
    return bad(absl::StrCat("head_dim ", c.head_dim, " must be > 0"));
  }
  if (c.head_dim % 2 != 0) {
    return bad(absl::StrCat("head_dim ", c.head_dim,
                            " must be even (RoPE rotates pairs)"));
  }
  if (!std::isfinite(c.rope_theta) || c.rope_theta <= 0) {
    return bad(absl::StrCat("rope_theta ", c.rope_theta, " must be > 0"));
  }
  if (!std::isfinite(c.rms_eps) || c.rms_eps <= 0) {
    return bad(absl::StrCat("rms_eps ", c.rms_eps, " must be > 0"));
  }
  return absl::OkStatus();
}

WeightShapes ShapesFor(const ModelConfig& c) {
  const int64_t d = c.dim, f = c.hidden_dim, v = c.vocab_size;
  const int64_t q = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv = int64_t{c.n_kv_heads} * c.head_dim;
  return WeightShapes{
      .embedding = {v, d},
      .norm = {d},
      .wq = {q, d},
      .wk = {kv, d},
      .wo = {d, q},
      .up = {f, d},
      .down = {d, f},
  };
}

}  // namespace kvasir::engine
