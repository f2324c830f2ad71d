#ifndef KVASIR_ENGINE_OPS_ELEMENTWISE_H_
#define KVASIR_ENGINE_OPS_ELEMENTWISE_H_

#include <cstdint>

#include "absl/types/span.h"

// Row-wise kernels of the Llama block. All tensors are row-major f32 and
// contiguous unless a stride is given. Large calls split rows over the
// OpenMP threads of the calling thread (omp_get_max_threads()); none
// allocates. Preconditions are the caller's to check (the runner validates
// its inputs once per step).
namespace kvasir::engine::ops {

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, per row.
// x, y: [rows, dim] (y may equal x); weight: [dim].
void RmsNorm(const float* x, const float* weight, int rows, int dim, float eps,
             float* y);

// out[r, i] = silu(gate_up[r, i]) * gate_up[r, f + i] for i < f: the fused
// gate/up matmul output [rows, 2f] (gate columns first) -> [rows, f].
void SwiGlu(const float* gate_up, int rows, int f, float* out);

// x[r] += row for each of the `rows` rows of x: [rows, n].
void AddRowInPlace(float* x, const float* row, int rows, int64_t n);

// x += y, element-wise over n floats.
void AddInPlace(float* x, const float* y, int64_t n);

// out[r] = table[ids[r]]: rows of a [vocab, dim] table.
// Precondition: 0 <= ids[r] < vocab. out: [ids.size(), dim].
void EmbeddingLookup(const float* table, int dim, absl::Span<const int32_t> ids,
                     float* out);
// The same for a table stored as ggml type `type` (F32, F16, BF16 or a
// block type, see quant/quant_formats.h): each looked-up row is converted
// to f32 on its own, so a quantized table is never expanded.
void EmbeddingLookup(uint32_t type, const uint8_t* table, int dim,
                     absl::Span<const int32_t> ids, float* out);

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_ELEMENTWISE_H_
