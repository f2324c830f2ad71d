#include "engine/ops/elementwise.h"

#include <cmath>
#include <cstring>

#include "engine/ops/fast_math.h"
#include "engine/ops/parallel_for.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/simd.h"

namespace kvasir::engine::ops {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelElements = int64_t{1} << 15;

KVASIR_SIMD_CLONES
void RmsNormRow(const float* x, const float* weight, int dim, float eps,
                float* y) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < dim; ++i) sum += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(sum / static_cast<float>(dim) + eps);
#pragma omp simd
  for (int i = 0; i < dim; ++i) y[i] = x[i] * inv * weight[i];
}

KVASIR_SIMD_CLONES
void SwiGluRow(const float* gate, const float* up, int f, float* out) {
#pragma omp simd
  for (int i = 0; i < f; ++i) out[i] = Silu(gate[i]) * up[i];
}

KVASIR_SIMD_CLONES
void AddRow(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int rows, int dim, float eps,
             float* y) {
  ParallelFor(0, rows, int64_t{rows} * dim >= kParallelElements,
              [&](int64_t r) {
                RmsNormRow(x + r * dim, weight, dim, eps, y + r * dim);
              });
}

void SwiGlu(const float* gate_up, int rows, int f, float* out) {
  ParallelFor(0, rows, int64_t{rows} * f >= kParallelElements, [&](int64_t r) {
    const float* row = gate_up + r * 2 * f;
    SwiGluRow(row, row + f, f, out + r * f);
  });
}

void AddRowInPlace(float* x, const float* row, int rows, int64_t n) {
  ParallelFor(0, rows, rows * n >= kParallelElements,
              [&](int64_t r) { AddRow(x + r * n, row, n); });
}

void AddInPlace(float* x, const float* y, int64_t n) {
  constexpr int64_t kChunk = int64_t{1} << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  ParallelFor(0, chunks, n >= kParallelElements, [&](int64_t c) {
    const int64_t begin = c * kChunk;
    const int64_t len = n - begin < kChunk ? n - begin : kChunk;
    AddRow(x + begin, y + begin, len);
  });
}

void EmbeddingLookup(const float* table, int dim, absl::Span<const int32_t> ids,
                     float* out) {
  for (size_t r = 0; r < ids.size(); ++r) {
    std::memcpy(out + r * dim, table + int64_t{ids[r]} * dim,
                sizeof(float) * dim);
  }
}

void EmbeddingLookup(uint32_t type, const uint8_t* table, int dim,
                     absl::Span<const int32_t> ids, float* out) {
  if (type == 0) {
    EmbeddingLookup(reinterpret_cast<const float*>(table), dim, ids, out);
    return;
  }
  const int64_t row_bytes = quant::RowBytes(type, dim);
  for (size_t r = 0; r < ids.size(); ++r) {
    quant::DequantizeRow(type, table + ids[r] * row_bytes, dim,
                         out + static_cast<int64_t>(r) * dim);
  }
}

}  // namespace kvasir::engine::ops
