#ifndef KVASIR_ENGINE_OPS_DENSE_GEMV_H_
#define KVASIR_ENGINE_OPS_DENSE_GEMV_H_

#include <cstdint>
#include <optional>

#include "engine/ops/work_cursor.h"
#include "oneapi/dnnl/dnnl.hpp"

// Decode (m <= kMaxGemvRows) matmuls that read a Linear's weights in the
// blocked layout oneDNN chose for them, so the model keeps ONE copy of its
// weights and oneDNN still runs every larger m (prefill). oneDNN's own m = 1
// matmul reads bf16 weights at about half the memory's bandwidth; these
// stream them at nearly its full rate: each weight vector load feeds one FMA
// (f32) or one vdpbf16ps (bf16) per row of x (up to 6 rows per load).
//
// Batched decode (m up to 64 rows) runs here too, although oneDNN's brgemm
// alone is faster on cold weights at m >= 8 (~1.4x at m = 16, bf16): these
// kernels split over a caller's team (BlockedGemvSlice), so a decode step
// stays in one parallel region. Measured on a 16-stream bf16 decode (Zen 5,
// 2 threads), oneDNN per matmul, each call its own OpenMP fork with the
// workers woken from sleep, gave 530-960 tokens/s; the step in one region
// 1,120-1,380.
//
// The layouts (B = Wᵀ [k, n] in oneDNN's terms, a = k, b = n):
//   f32  BA{kb}a{nb}b:    W[n][k] at (n / nb) * n_stride + (k / kb) *
//                         k_stride + (k % kb) * nb + n % nb
//   bf16 BA{kb/2}a{nb}b2a: ... + ((k % kb) / 2) * 2 * nb + (n % nb) * 2 +
//                         k % 2 (two consecutive k of one n side by side,
//                         the operand order of vdpbf16ps)
//   f16  the f32 layout with 16-bit elements, widened in register
//        (vcvtph2ps): Kvasir's own (oneDNN 2.6 has no f16 matmul on CPUs
//        without AVX512-FP16), made by F16Blocking and LayOutF16, with one
//        k block (kb = k) and nb = 64.
// with nb a multiple of 16 and the padding (k and n up to whole blocks)
// zero, as oneDNN's reorder leaves it. And, on CPUs without AVX-512:
//   rows W[n][k] row-major (`rows`; B in oneDNN's `ba` order), f32, f16 or
//        bf16 elements: for f32 the layout Linear imposes on oneDNN there
//        (its own choice, `ab`, is plain too, and a GEMV over it reads each
//        column block with a stride of a whole row), for f16 and bf16
//        Kvasir's own (RowsBlocking; oneDNN 2.6 has no bf16 matmul without
//        AVX-512). Dot products of weight rows, 4 rows at a time, each
//        weight vector used for up to 2 rows of x, then a horizontal sum;
//        a "block" is kRowsPerBlock rows (nb), no padding.
namespace kvasir::engine::ops {

inline constexpr int kMaxGemvRows = 64;
inline constexpr int64_t kRowsPerBlock = 16;

enum class GemvWeights { kF32, kBF16, kF16 };

struct BlockedWeights {
  const void* data = nullptr;
  GemvWeights type = GemvWeights::kF32;
  int64_t k = 0, n = 0;  // logical in / out features
  int64_t kb = 0, nb = 0;
  int64_t k_stride = 0, n_stride = 0;  // elements between blocks
  bool rows = false;  // the rows layout (nb = kRowsPerBlock, kb = k)
};

// The blocking of `md` (B = Wᵀ [k, n]) when it is one of the layouts above,
// else nullopt (then callers keep using oneDNN).
std::optional<BlockedWeights> DescribeBlocked(const dnnl::memory::desc& md,
                                              const void* data);

// The f16 layout of [n, k] weights (data unset); its size in elements is
// n_stride * ceil(n / nb).
BlockedWeights F16Blocking(int64_t k, int64_t n);
// Writes W [w.n, w.k] (row-major f16 bits at src) into dst in w's f16
// layout, padding zero. Load time.
void LayOutF16(const BlockedWeights& w, const uint16_t* src, uint16_t* dst);
// dst[i] = f16(src[i]) for i < n, rounded to nearest even. Needs F16C
// (GemvSupported(..., kF16)).
void RowToF16(const float* src, int64_t n, uint16_t* dst);
// The rows layout of [n, k] `type` weights (data unset); its size in
// elements is n * k.
BlockedWeights RowsBlocking(GemvWeights type, int64_t k, int64_t n);

enum class GemvIsa { kAvx512, kAvx2 };
// Whether this CPU runs the GEMV of `type` weights on `isa` over oneDNN's
// blocked layouts (bf16 needs AVX-512 with avx512_bf16; f32 runs on AVX2 +
// FMA too, f16 on either with F16C).
bool GemvSupported(GemvIsa isa, GemvWeights type);
// Whether this CPU runs the GEMV of `type` weights in the rows layout (AVX2
// and FMA; f16 F16C too). The rows layout always runs on GemvIsa::kAvx2.
bool RowsGemvSupported(GemvWeights type);

// y: [m, n] = x: [m, k] · Wᵀ, 1 <= m <= kMaxGemvRows, row-major and
// contiguous. bf16 weights multiply x_bf16 (x rounded to bf16, [m, k]), f32
// and f16 weights x. Precondition for the rows layout: isa is kAvx2. Runs on
// the calling thread's OpenMP team, each thread one contiguous range of n
// blocks (`cursors` null), or, with one WorkCursor per thread of the region,
// claiming blocks as BlockedGemvSlice does. Precondition: GemvSupported(isa,
// w.type) (rows: RowsGemvSupported). Does not allocate.
void BlockedGemv(GemvIsa isa, const BlockedWeights& w, const float* x,
                 const uint16_t* x_bf16, int m, float* y,
                 WorkCursor* cursors = nullptr, int n_cursors = 0);

// Sets cursors[thread] to thread `thread` of `threads`'s share of w's
// column blocks. Every thread of a split arms its own cursor before a
// barrier, then runs BlockedGemvSlice with the cursors.
void ArmGemvCursor(const BlockedWeights& w, int thread, int threads,
                   WorkCursor* cursors);

// Thread `thread` of `threads`'s share of BlockedGemv (disjoint column
// blocks), for a caller that runs its own team; BlockedGemv is every share
// in one parallel region, so both give the same bits. With `cursors`
// (work_cursor.h: armed by every thread, then a barrier), a thread claims
// its own blocks in order, one at a time, then the blocks other threads
// have not reached (a static split left 8% of a one-stream f32 step
// spinning at the barrier after each projection). Which thread computes a
// block does not change its bits.
void BlockedGemvSlice(GemvIsa isa, const BlockedWeights& w, const float* x,
                      const uint16_t* x_bf16, int m, float* y, int thread,
                      int threads, WorkCursor* cursors = nullptr);

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_DENSE_GEMV_H_
