#include "engine/ops/rope.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/ops/parallel_for.h"
#include "engine/ops/simd.h"

namespace kvasir::engine::ops {
namespace {

KVASIR_SIMD_CLONES
void RotateHead(float* x, const float* c, const float* s, int half) {
#pragma omp simd
  for (int i = 0; i < half; ++i) {
    const float x0 = x[2 * i];
    const float x1 = x[2 * i + 1];
    x[2 * i] = x0 * c[i] - x1 * s[i];
    x[2 * i + 1] = x0 * s[i] + x1 * c[i];
  }
}

KVASIR_SIMD_CLONES
void RotateHeadNeox(float* x, const float* c, const float* s, int half) {
#pragma omp simd
  for (int i = 0; i < half; ++i) {
    const float x0 = x[i];
    const float x1 = x[i + half];
    x[i] = x0 * c[i] - x1 * s[i];
    x[i + half] = x0 * s[i] + x1 * c[i];
  }
}

}  // namespace

Rope::Rope(const Options& options) : options_(options) {
  const int half = options.head_dim / 2;
  inv_freq_.resize(half);
  for (int i = 0; i < half; ++i) {
    inv_freq_[i] = options.freq_scale *
                   std::pow(static_cast<double>(options.theta),
                            -2.0 * i / static_cast<double>(options.head_dim));
    if (!options.freq_factors.empty()) inv_freq_[i] /= options.freq_factors[i];
  }
  const size_t table = static_cast<size_t>(options.max_positions) * half;
  table_cos_.resize(table);
  table_sin_.resize(table);
#pragma omp parallel for if (table >= (size_t{1} << 16))
  for (int p = 0; p < options.max_positions; ++p) {
    const size_t at = static_cast<size_t>(p) * half;
    Angles(p, table_cos_.data() + at, table_sin_.data() + at);
  }
  cos_.resize(static_cast<size_t>(options.max_rows) * half);
  sin_.resize(static_cast<size_t>(options.max_rows) * half);
  rows_.resize(static_cast<size_t>(options.max_rows) * 2);
}

absl::StatusOr<std::unique_ptr<Rope>> Rope::Create(const Options& options) {
  if (options.head_dim < 2 || options.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: head_dim ", options.head_dim,
                     " must be even and at least 2 (pairs are rotated)"));
  }
  if (!(options.theta > 0.0f) || !std::isfinite(options.theta)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope: theta ", options.theta, " must be finite and positive"));
  }
  if (!(options.freq_scale > 0.0f) || !std::isfinite(options.freq_scale)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope: freq_scale ", options.freq_scale, " must be finite and > 0"));
  }
  if (!options.freq_factors.empty()) {
    if (options.freq_factors.size() !=
        static_cast<size_t>(options.head_dim / 2)) {
      return absl::InvalidArgumentError(
          absl::StrCat("rope: freq_factors has ", options.freq_factors.size(),
                       " values; head_dim ", options.head_dim, " needs ",
                       options.head_dim / 2));
    }
    for (size_t i = 0; i < options.freq_factors.size(); ++i) {
      const float f = options.freq_factors[i];
      if (!(f > 0.0f) || !std::isfinite(f)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "rope: freq_factors[", i, "] ", f, " must be finite and > 0"));
      }
    }
  }
  if (options.max_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope: max_rows ", options.max_rows, " must be at least 1"));
  }
  if (options.max_positions < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope: max_positions ", options.max_positions, " must be >= 0"));
  }
  return std::unique_ptr<Rope>(new Rope(options));
}

void Rope::Angles(int64_t pos, float* c, float* s) const {
  const int half = options_.head_dim / 2;
  const double p = static_cast<double>(pos);
  for (int i = 0; i < half; ++i) {
    const double angle = p * inv_freq_[i];
    c[i] = static_cast<float>(std::cos(angle));
    s[i] = static_cast<float>(std::sin(angle));
  }
}

void Rope::SetPositions(absl::Span<const int32_t> positions) {
  const size_t half = static_cast<size_t>(options_.head_dim / 2);
  for (size_t r = 0; r < positions.size(); ++r) {
    const int32_t pos = positions[r];
    if (pos < options_.max_positions) {
      rows_[2 * r] = table_cos_.data() + static_cast<size_t>(pos) * half;
      rows_[2 * r + 1] = table_sin_.data() + static_cast<size_t>(pos) * half;
    } else {
      float* c = cos_.data() + r * half;
      float* s = sin_.data() + r * half;
      Angles(pos, c, s);
      rows_[2 * r] = c;
      rows_[2 * r + 1] = s;
    }
  }
}

void Rope::Apply(float* x, int rows, int n_heads, int64_t stride) const {
  const int half = options_.head_dim / 2;
  const int hd = options_.head_dim;
  ParallelFor(0, rows, int64_t{rows} * n_heads * hd >= (1 << 16),
              [&](int64_t r) {
                const float* c = rows_[2 * static_cast<size_t>(r)];
                const float* s = rows_[2 * static_cast<size_t>(r) + 1];
                float* row = x + r * stride;
                if (options_.neox) {
                  for (int h = 0; h < n_heads; ++h) {
                    RotateHeadNeox(row + h * hd, c, s, half);
                  }
                } else {
                  for (int h = 0; h < n_heads; ++h) {
                    RotateHead(row + h * hd, c, s, half);
                  }
                }
              });
}

}  // namespace kvasir::engine::ops
