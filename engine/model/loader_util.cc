#include "engine/model/loader_util.h"

#include <sys/mman.h>

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

Tensor NewWeightTensor(std::vector<int64_t> shape) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  Tensor t = Tensor::Uninitialized(std::move(shape));
  const auto begin = reinterpret_cast<uintptr_t>(t.data());
  const uintptr_t end =
      begin + static_cast<uintptr_t>(t.numel()) * sizeof(float);
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = end & ~(kHugePage - 1);
  if (t.numel() > 0 && last > first) {
    // Advice only: where THP is off or the range is not eligible the call
    // fails or does nothing, and the tensor works the same.
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
  return t;
}

}  // namespace kvasir::engine
