#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_VNNI_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_VNNI_H_

#include <algorithm>
#include <cstdint>

#include "engine/ops/quant/quant_kernels.h"

// Private to engine/ops/quant: QuantLinear's batched path on AVX-512 VNNI
// without AMX (AMD Zen 4, Intel before Sapphire Rapids), for m >= a
// threshold of activation rows.
//
// The dot kernels decode each weight block once per 4 activation rows and
// spend a float conversion, a scale multiply and an FMA per 64 products.
// Here a panel of 8 weight rows is decoded ONCE per call into unsigned
// bytes (Q4_K, Q4_0: the nibbles; Q6_K: the 6-bit values; Q8_0: w + 128)
// with one f32 scale and one f32 offset per (row, scale group), and
// multiplied with every activation tile:
//
//   vpdpbusd(acc[n], broadcast(4 weight bytes of row n), 16 activation
//            lanes of 4 int8 each)
//
// so one activation load feeds 8 dot products and one broadcast feeds 16
// activation rows; per block of 32 (Q6_K: 16) values and weight row the
// int32 sums are converted once and scaled by d_w * d_x (one vector of the
// tile's 16 d_x). A constant offset C of the type (Q4_0: 8, Q8_0: 128,
// Q6_K: 32) costs nothing per weight row: the integer sums start at
// -C * Σq; Q4_K's d_min * min is one FMA per row against the float Σq. The
// integer arithmetic is the dot kernels' (int8 activations per row per block of
// 32, quant_kernels.h), so the results agree with them up to float summation
// order. Linears of K-quants only quantize their activations with one scale
// per 256 values instead (QuantizeActSuperAvx2, as llama.cpp's Q8_K), which
// lets the Q4_K and Q6_K tiles scale by d_x once per super-block, and the
// Q4_K tile take the mins as integer sums (see Tile in quant_vnni.cc).
//
// Activation tiles: 16 rows of one dword per lane (L = 1), or, for a tile
// of at most 8 rows (m <= 8, and the tail), 8 rows of 2 dwords each
// (L = 2: lane 2r + p holds dword p of a pair of k-groups), so small
// batches do not leave half of each vector empty.
namespace kvasir::engine::quant::internal {

// Activation rows per tile, and weight rows per decoded panel.
inline constexpr int kVnniTileRows = 16;
inline constexpr int kVnniPanelRows = 8;
// Weight rows of one task of QuantLinear's VNNI path (8 panels).
inline constexpr int kVnniTaskRows = 64;
// Bytes of one (tile, block of 32) of packed activations: 8 vectors of
// 64 int8, then 16 floats d_x, then 3 vectors of 16 int32: the block's Σq
// and the Σq of its two halves of 16 (in lane p = 0 of a row, 0 in the
// others, so the lanes of a row add up to one offset).
inline constexpr int64_t kVnniBlockBytes = 768;

// Whether the batched path has a panel decoder for ggml type `type` (Q4_0,
// Q8_0, Q4_K, Q6_K).
bool VnniCovers(uint32_t type);
// Whether VnniPanel takes super_act = true for type `type` (Q4_K, Q6_K).
bool VnniTakesSuperAct(uint32_t type);

inline int64_t VnniTiles(int64_t m) {
  return (m + kVnniTileRows - 1) / kVnniTileRows;
}
// Bytes of the packed activations of m rows of k values (k % 32 == 0).
inline int64_t VnniActBytes(int64_t m, int64_t k) {
  return VnniTiles(m) * (k / 32) * kVnniBlockBytes;
}
// Activation tiles a panel multiplies in one VnniPanel call (see
// QuantLinear::VnniTask): as many as fit in kVnniGroupBytes, in pairs (the
// tile kernel takes two at once), at least one pair. Measured (`kvasir
// bench roofline`, dummy:1b Q4_K_M, prefill of 512 tokens, Zen 5 VM with
// 1 MiB of L2 per core, rounds alternating the binaries): all tiles per
// call 628-743 GOP/s in the matmuls, 256 KiB 705-763, 512 KiB 767-864,
// 768 KiB 750-778.
inline constexpr int64_t kVnniGroupBytes = 512 << 10;
inline int64_t VnniGroupTiles(int64_t k) {
  const int64_t tiles = kVnniGroupBytes / VnniActBytes(kVnniTileRows, k);
  return std::max<int64_t>(2, tiles / 2 * 2);
}

// Bytes of one thread's scratch for rows of k values: the decoded panel
// (8 rows of k bytes), its scales and offsets (8 rows of k / 16 floats
// each), and the results of two tiles (2 x 8 x 16 floats).
inline int64_t VnniScratchBytes(int64_t k) {
  return kVnniPanelRows * k + 2 * kVnniPanelRows * (k / 16) * 4 +
         2 * kVnniPanelRows * kVnniTileRows * 4;
}

// Packs the m quantized activation rows of `a` (k values each) into
// `packed` (VnniActBytes(m, k) bytes, 64-byte aligned): tiles [t_begin,
// t_end) only, so threads can split the work. Lanes of rows >= m are zero.
void VnniPackRows(const ActRows& a, int m, int64_t k, int64_t t_begin,
                  int64_t t_end, uint8_t* packed);

// y[r * y_stride + n] = Σ_i W[n][i] * x[r][i] for r < m, n < rows (1..8):
// weight rows of ggml type `type` (VnniCovers) at w, row_bytes apart, k
// values each; x as VnniPackRows packed it. super_act: x was quantized by
// QuantizeActSuperAvx2 (one scale per 256 values), allowed for the
// K-quants (VnniTakesSuperAct), whose tiles then do less float work per
// block (the results differ from super_act = false by the activations'
// rounding, not by the arithmetic). `next`: null, or the weights
// of the panel to come (next_bytes bytes), prefetched meanwhile: weights
// come from DRAM and the hardware prefetchers lose the stream at panel
// boundaries. `scratch`: VnniScratchBytes(k) bytes of this thread, 64-byte
// aligned.
void VnniPanel(uint32_t type, const uint8_t* w, int64_t row_bytes, int rows,
               int64_t k, const uint8_t* packed, int m, bool super_act,
               const uint8_t* next, int64_t next_bytes, uint8_t* scratch,
               float* y, int64_t y_stride);

// The same panels with AVX2 instructions (quant_panel_avx2.cc), for CPUs
// without AVX-512 VNNI: the sizes above (VnniTiles, VnniActBytes,
// VnniGroupTiles, VnniScratchBytes) hold for them too, with their own
// layout of the packed tiles and the decoded panel. They cover Q8_0, Q4_K
// and Q6_K (Avx2PanelCovers), the K-quants with the activations of
// QuantizeActSuperAvx2 only (one scale per 256 values), Q8_0 with those
// of 32 values (super_act follows from the type: QuantLinear passes what
// the parts allow, and does not mix the two kinds in one linear).
bool Avx2PanelCovers(uint32_t type);
void Avx2PanelPackRows(const ActRows& a, int m, int64_t k, int64_t t_begin,
                       int64_t t_end, uint8_t* packed);
void Avx2Panel(uint32_t type, const uint8_t* w, int64_t row_bytes, int rows,
               int64_t k, const uint8_t* packed, int m, bool super_act,
               const uint8_t* next, int64_t next_bytes, uint8_t* scratch,
               float* y, int64_t y_stride);

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_VNNI_H_
