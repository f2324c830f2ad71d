#ifndef KVASIR_ENGINE_OPS_ROPE_H_
#define KVASIR_ENGINE_OPS_ROPE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kvasir::engine::ops {

// Rotary position embedding: pair i of each head (i < head_dim / 2) is
// rotated by the angle
//   freq_scale * pos * theta^(-2i / head_dim) / freq_factors[i]
// (freq_factors: Llama 3.1's per-frequency divisors, 1 when absent;
// freq_scale: linear RoPE scaling, 1 for none), with cos and sin computed in
// double and rounded to float. Pair i is the adjacent (2i, 2i+1) in the
// GGUF-llama / llama2.c convention, (i, i + head_dim/2) with `neox`
// (GPT-NeoX; Qwen2/Qwen3).
//
// The cos/sin of positions [0, max_positions) are tabulated at Create, so a
// step costs no trigonometry; a position past the table (when the caller
// caps its size) gets the same values computed at SetPositions.
//
// Usage per step: SetPositions once (shared by all layers), then Apply to
// the queries and keys of each layer. Neither allocates. Not thread-safe.
class Rope {
 public:
  struct Options {
    int head_dim = 0;         // even, >= 2
    float theta = 10000.0f;   // base, > 0
    float freq_scale = 1.0f;  // > 0
    bool neox = false;
    // Empty, or head_dim / 2 positive divisors.
    std::vector<float> freq_factors = {};
    int max_rows = 512;  // rows per step, >= 1
    // Positions tabulated at Create (the model's context length, or less
    // to bound the table: 2 * max_positions * head_dim / 2 floats), >= 0.
    int max_positions = 0;
  };
  // InvalidArgument naming the bad option.
  static absl::StatusOr<std::unique_ptr<Rope>> Create(const Options& options);

  // Precondition: positions.size() <= max_rows, every position >= 0.
  void SetPositions(absl::Span<const int32_t> positions);

  // Rotates x: [rows, n_heads, head_dim] in place, row r at x + r * stride
  // (stride in floats, >= n_heads * head_dim), with the angles of the r-th
  // position given to SetPositions. Precondition: rows <= positions set.
  void Apply(float* x, int rows, int n_heads, int64_t stride) const;

  int head_dim() const { return options_.head_dim; }

 private:
  explicit Rope(const Options& options);
  // cos and sin of position `pos`: [head_dim / 2] each.
  void Angles(int64_t pos, float* c, float* s) const;

  Options options_;
  std::vector<double> inv_freq_;    // [head_dim / 2]
  std::vector<float> table_cos_;    // [max_positions, head_dim / 2]
  std::vector<float> table_sin_;    // [max_positions, head_dim / 2]
  std::vector<float> cos_;          // [max_rows, head_dim / 2]: past the table
  std::vector<float> sin_;          // [max_rows, head_dim / 2]
  std::vector<const float*> rows_;  // [max_rows, 2]: each row's cos, sin
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_ROPE_H_
