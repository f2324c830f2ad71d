#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_AMX_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_AMX_H_

#include <cstdint>

// Private to engine/ops/quant: QuantLinear's batched path on Intel AMX
// (tiles of bf16, TDPBF16PS), for m >= a threshold of activation rows.
//
// One task takes two tiles of up to 16 weight rows (output features; each
// tile of one type, so a fused projection's parts mix freely). For each
// block of 512 k it dequantizes the block of its 32 rows into a bf16 panel
// that stays in L1 (the A tiles: row n of a tile is 32 consecutive k of
// weight row n, so dequantizing writes plain rows), then multiplies it
// with the tiles of 16 activation rows (the B tiles, packed once per
// Forward and shared by all tasks) into C tiles of 16 weight rows x 16
// activation rows of f32, two A tiles by two B tiles at a time (each load
// feeds two products); at the end C is written transposed into y. The
// dequantization is paid once per weight and amortized over all m rows.
//
// Measured on a 2-core Sapphire Rapids VM: a product of non-zero tiles
// takes ~20 ns (not the 16 cycles of the documentation; zero tiles run
// 4x faster), so at m = 32 the products and the dequantization cost about
// the same.
//
// Accuracy: the weights and activations are rounded to bf16 (8 significant
// bits) and the products summed in f32: errors of about 2^-9 of Σ|w·x| per
// output, the class of the int8 activations of the dot kernels.
namespace kvasir::engine::quant::internal {

// Rows (and columns) of a tile; bf16 values per tile row (64 bytes).
inline constexpr int kAmxRows = 16;
inline constexpr int kAmxK = 32;

// Whether this CPU has AMX-BF16 and AVX512-BF16 (cpuid) and the kernel let
// this process use the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM,
// asked once per process). False on any failure: the caller uses the dot
// kernels.
bool AmxUsable();

// Whether this CPU has F16C (cpuid leaf 1): clang 16's
// __builtin_cpu_supports does not know "f16c".
bool CpuHasF16c();

// Whether the batched path has a panel dequantizer for ggml type `type`.
bool AmxCovers(uint32_t type);

// Bytes of the packed activations of m rows of k values (k a multiple of
// 32): m rounded up to a whole tile.
inline int64_t AmxActBytes(int64_t m, int64_t k) {
  return (m + kAmxRows - 1) / kAmxRows * kAmxRows * k * 2;
}
// A task's weight panel: 2 tiles of 16 rows, k blocks of 512 (32 KB, in
// L1 while the tiles multiply it).
inline constexpr int64_t kAmxPanelBytes = 2 * kAmxRows * 512 * 2;
// Bytes of one thread's scratch for m <= max_rows: the panel, then the
// accumulators of 2 x ceil(max_rows / 16) tiles of 16 x 16 f32.
inline int64_t AmxScratchBytes(int64_t max_rows) {
  return kAmxPanelBytes +
         (max_rows + kAmxRows - 1) / kAmxRows * 2 * kAmxRows * kAmxRows * 4;
}

// Packs rows [row_begin, row_end) of x [*, k] (k a multiple of 32) as bf16
// (round to nearest even) in B-tile order: the tile of rows 16t..16t+15 and
// k slice s (32 values) is 1 KB at packed + (t * k/32 + s) * 512 values,
// its row p (0..15) holding for each activation row r the pair
// x[16t + r][32s + 2p], x[16t + r][32s + 2p + 1]. Rows past the last one
// of a tile keep whatever they held (their outputs are discarded).
// `packed` is 64-byte aligned. Thread-safe for disjoint row ranges.
void AmxPackRows(const float* x, int64_t k, int row_begin, int row_end,
                 uint16_t* packed);

// Loads this thread's tile configuration (all 8 tiles 16 x 64 bytes) /
// releases the tile state. Every thread that calls AmxChunk brackets its
// calls with these (the configuration is per thread).
void AmxBeginThread();
void AmxEndThread();

// Up to 16 weight rows of one type that make one A tile of a task.
struct AmxWeightTile {
  uint32_t type = 0;              // AmxCovers
  const uint8_t* data = nullptr;  // row 0, any alignment
  int64_t row_bytes = 0;          // RowBytes(type, k)
  int rows = 0;                   // 1..16
  float* y = nullptr;             // y's column of row 0 (in activation row 0)
};

// For each of the n_tiles (1, 2) weight tiles: tile.y[r * y_stride + n] =
// Σ_i W[n][i] * x[r][i] for r < m, n < tile.rows, with k values per row (a
// multiple of 32 and of the types' block sizes); x as AmxPackRows packed
// rows [0, m). `scratch`: this thread's AmxScratchBytes(>= m), 64-byte
// aligned. Between AmxBeginThread and AmxEndThread.
void AmxTask(const AmxWeightTile* tiles, int n_tiles, int64_t k,
             const uint16_t* packed, int m, uint8_t* scratch, int64_t y_stride);

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_AMX_H_
