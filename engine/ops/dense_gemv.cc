// Decode GEMV over oneDNN's blocked weight layouts (see dense_gemv.h).
//
// Per n block (nb outputs, its k blocks one contiguous run of memory) and
// group of up to kRowGroup rows of x: the accumulators of all nb outputs and
// the group's rows stay in registers while the block's rows of weights
// stream past; every weight vector is loaded once per group and multiplied
// with each of its rows of x, whose value (f32) or pair of values (bf16) is
// broadcast. No horizontal reductions: lane j of an accumulator is output
// column j.

// GCC 12 bug 105593 (see engine/ops/quant/quant_dot_avx512.cc).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "engine/ops/dense_gemv.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include "engine/ops/dense_gemv_rows.h"
#include "engine/ops/stream_prefetch.h"

#define KVASIR_GEMV_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma,f16c")))
#define KVASIR_GEMV_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace kvasir::engine::ops {
namespace {

// Weight bytes prefetched ahead of the row being multiplied: the n block is
// contiguous, but the hardware prefetcher stops at each 4 KiB page, and a
// row group of kRowGroup rows spends long enough on each weight row that a
// shorter distance leaves the loads waiting on memory (measured: 1 KiB
// took 1.5x as long as 8 KiB at m = 6, one line per row). The AVX2 path's
// distance; the AVX-512 group that streams a block prefetches every line
// of it (ops::PrefetchStream).
constexpr int64_t kPrefetchBytes = 8192;

// Rows of x that share each weight vector load (their accumulators, NV per
// row, stay in registers: 24 of the 32 at NV = 4).
constexpr int kRowGroup = 6;

// x[r * k + i] (0 past k) for the bf16 pair (i, i + 1): one 32-bit lane.
inline int32_t Bf16Pair(const uint16_t* x, int64_t k, int r, int64_t i) {
  const uint16_t lo = x[r * k + i];
  const uint16_t hi = i + 1 < k ? x[r * k + i + 1] : 0;
  return static_cast<int32_t>(lo | (uint32_t{hi} << 16));
}

// 16 weights of an f32 or f16 layout as f32 (f16: widened exactly).
KVASIR_GEMV_AVX512 inline __m512 Load16(const float* p) {
  return _mm512_loadu_ps(p);
}
KVASIR_GEMV_AVX512 inline __m512 Load16(const uint16_t* p) {
  return _mm512_cvtph_ps(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// While the row groups of an n block compute (from L2, after the first
// group has streamed the block from memory), the next block of the range
// comes into L2 a share at a time: group g of G prefetches the weight rows
// i with i % G == g at the same place in the next block (n_stride elements
// on). So memory streams during all of a block's arithmetic, not only its
// first group's, which alone would need twice the read bandwidth at 6 rows.
struct NextBlock {
  int64_t stride = 0;  // elements to the next block; 0: nothing to prefetch
  int share = 0;       // g
  int shares = 1;      // G
};

// The per-row step of NextBlock: `turn` counts rows modulo G.
template <typename E>
KVASIR_GEMV_AVX512 inline void PrefetchNext(const E* row, int row_bytes,
                                            const NextBlock& next, int* turn) {
  if (next.stride == 0) return;
  if (*turn == next.share) {
    const char* n = reinterpret_cast<const char*>(row + next.stride);
    for (int off = 0; off < row_bytes; off += 64) {
      _mm_prefetch(n + off, _MM_HINT_T1);
    }
  }
  if (++*turn == next.shares) *turn = 0;
}

// BlockAvx512's FMAs over rows [k0, k0 + kend) of a k block of f32 or f16
// weights E: acc[r][v] += W[k][v cols] * x[r][k].
template <typename E, int NV, int R>
KVASIR_GEMV_AVX512 inline void FmaRun(const BlockedWeights& w, int64_t block,
                                      int64_t k0, int64_t kend, const float* x,
                                      bool stream, const NextBlock& next,
                                      int* turn, __m512 (&acc)[R][NV]) {
  const int64_t nb = w.nb;
  const E* p = static_cast<const E*>(w.data) + block * w.n_stride +
               k0 / w.kb * w.k_stride;
  for (int64_t kk = 0; kk < kend; ++kk) {
    const E* row = p + kk * nb;
    if (stream) PrefetchStream(row, NV * 16 * sizeof(E));
    PrefetchNext(row, NV * 16 * sizeof(E), next, turn);
    __m512 wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = Load16(row + v * 16);
    for (int r = 0; r < R; ++r) {
      const __m512 xv = _mm512_set1_ps(x[r * w.k + k0 + kk]);
      for (int v = 0; v < NV; ++v) {
        acc[r][v] = _mm512_fmadd_ps(wv[v], xv, acc[r][v]);
      }
    }
  }
}

// One n block of NV * 16 columns (nb = 16 * NV) for R rows of x, over all
// of k, the sums in registers. `stream`: the group streams the block from
// memory (PrefetchStream); false when an earlier row group has brought it
// into L2 already. `next`: this group's share of the next block.
template <int NV, int R>
KVASIR_GEMV_AVX512 void BlockAvx512(const BlockedWeights& w, int64_t block,
                                    const float* x, const uint16_t* xb,
                                    float* y, bool stream,
                                    const NextBlock& next) {
  int turn = 0;
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  const int64_t nb = w.nb;
  for (int64_t k0 = 0; k0 < w.k; k0 += w.kb) {
    const int64_t kend = std::min(w.kb, w.k - k0);
    if (w.type == GemvWeights::kBF16) {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) +
                          block * w.n_stride + k0 / w.kb * w.k_stride;
      for (int64_t kk = 0; kk < kend; kk += 2) {
        const uint16_t* row = p + kk * nb;  // (kk / 2) * 2 * nb
        if (stream) PrefetchStream(row, NV * 64);
        PrefetchNext(row, NV * 64, next, &turn);
        __m512i wv[NV];
        for (int v = 0; v < NV; ++v) {
          wv[v] = _mm512_loadu_si512(row + v * 32);
        }
        // A whole pair is one 32-bit load broadcast; the last of an odd k
        // has no partner in its row.
        const bool whole = k0 + kk + 1 < w.k;
        for (int r = 0; r < R; ++r) {
          int32_t pair;
          if (whole) {
            std::memcpy(&pair, xb + r * w.k + k0 + kk, sizeof(pair));
          } else {
            pair = Bf16Pair(xb, w.k, r, k0 + kk);
          }
          const __m512bh xp =
              reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
          for (int v = 0; v < NV; ++v) {
            acc[r][v] = _mm512_dpbf16_ps(acc[r][v],
                                         reinterpret_cast<__m512bh>(wv[v]), xp);
          }
        }
      }
    } else if (w.type == GemvWeights::kF16) {
      FmaRun<uint16_t, NV, R>(w, block, k0, kend, x, stream, next, &turn, acc);
    } else {
      FmaRun<float, NV, R>(w, block, k0, kend, x, stream, next, &turn, acc);
    }
  }
  const int64_t n0 = block * nb;
  for (int v = 0; v < NV; ++v) {
    const int64_t c = n0 + v * 16;
    if (c >= w.n) break;
    const __mmask16 mask = w.n - c >= 16
                               ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << (w.n - c)) - 1);
    for (int r = 0; r < R; ++r) {
      _mm512_mask_storeu_ps(y + r * w.n + c, mask, acc[r][v]);
    }
  }
}

// Rows go kRowGroup at a time over each n block: the first group streams
// the block's weights from memory, the later ones read them from L2 (an n
// block of nb = 64 columns is 2 * 64 * k bytes in bf16: 704 KiB at k =
// 5632).
template <int NV>
KVASIR_GEMV_AVX512 void RangeAvx512(const BlockedWeights& w, int64_t b0,
                                    int64_t b1, int64_t ahead_end,
                                    const float* x, const uint16_t* xb, int m,
                                    float* y) {
  using BlockFn = void (*)(const BlockedWeights&, int64_t, const float*,
                           const uint16_t*, float*, bool, const NextBlock&);
  // By the group's row count (index 0 unused).
  static_assert(kRowGroup == 6, "one entry per row count");
  static constexpr BlockFn kBlock[kRowGroup + 1] = {nullptr,
                                                    BlockAvx512<NV, 1>,
                                                    BlockAvx512<NV, 2>,
                                                    BlockAvx512<NV, 3>,
                                                    BlockAvx512<NV, 4>,
                                                    BlockAvx512<NV, 5>,
                                                    BlockAvx512<NV, 6>};
  const int groups = (m + kRowGroup - 1) / kRowGroup;
  for (int64_t b = b0; b < b1; ++b) {
    // The first group streams the block from memory as it goes
    // (PrefetchStream) unless the previous block's groups have brought it
    // into L2; past one group, each group brings its share of the next.
    NextBlock next;
    if (groups > 1 && b + 1 < ahead_end) {
      next.stride = w.n_stride;
      next.shares = groups;
    }
    // The rows spread evenly over the groups (m = 32: 6, 6, 5, 5, 5, 5, not
    // 6 x 5 and a last group of 2, which has few FMAs per weight vector it
    // reads from L2). Measured (gemv_bench BM_Model110m/linear_gemv_bf16/32,
    // 7 rounds alternating the binaries): 269-345, mean 319 -> 320-362,
    // mean 343 GFLOP/s.
    for (int g = 0, r0 = 0; g < groups; ++g) {
      const int rows = m / groups + (g < m % groups ? 1 : 0);
      next.share = g;
      kBlock[rows](w, b, x == nullptr ? nullptr : x + r0 * w.k,
                   xb == nullptr ? nullptr : xb + r0 * w.k, y + r0 * w.n,
                   r0 == 0, next);
      r0 += rows;
    }
  }
}

// 8 weights of an f32 or f16 layout as f32.
KVASIR_GEMV_AVX2 inline __m256 Load8(const float* p) {
  return _mm256_loadu_ps(p);
}
KVASIR_GEMV_AVX2 inline __m256 Load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// f32 or f16 weights E: 16 columns (two ymm) of an n block at a time.
template <typename E, int R>
KVASIR_GEMV_AVX2 void GroupAvx2(const BlockedWeights& w, int64_t block,
                                int64_t col, const float* x, float* y) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const int64_t nb = w.nb;
  for (int64_t k0 = 0; k0 < w.k; k0 += w.kb) {
    const int64_t kend = std::min(w.kb, w.k - k0);
    const E* p = static_cast<const E*>(w.data) + block * w.n_stride +
                 k0 / w.kb * w.k_stride + col;
    for (int64_t kk = 0; kk < kend; ++kk) {
      const E* row = p + kk * nb;
      _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchBytes,
                   _MM_HINT_T0);
      const __m256 w0 = Load8(row), w1 = Load8(row + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 xv = _mm256_broadcast_ss(x + r * w.k + k0 + kk);
        acc[r][0] = _mm256_fmadd_ps(w0, xv, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(w1, xv, acc[r][1]);
      }
    }
  }
  const int64_t c = block * nb + col;
  for (int r = 0; r < R; ++r) {
    if (w.n - c >= 16) {
      _mm256_storeu_ps(y + r * w.n + c, acc[r][0]);
      _mm256_storeu_ps(y + r * w.n + c + 8, acc[r][1]);
    } else {
      alignas(32) float t[16];
      _mm256_store_ps(t, acc[r][0]);
      _mm256_store_ps(t + 8, acc[r][1]);
      std::memcpy(y + r * w.n + c, t, (w.n - c) * sizeof(float));
    }
  }
}

template <typename E>
KVASIR_GEMV_AVX2 void RangeAvx2(const BlockedWeights& w, int64_t b0, int64_t b1,
                                const float* x, int m, float* y) {
  using GroupFn =
      void (*)(const BlockedWeights&, int64_t, int64_t, const float*, float*);
  // By the group's row count (index 0 unused).
  static constexpr GroupFn kGroup[5] = {nullptr, GroupAvx2<E, 1>,
                                        GroupAvx2<E, 2>, GroupAvx2<E, 3>,
                                        GroupAvx2<E, 4>};
  for (int64_t b = b0; b < b1; ++b) {
    for (int64_t col = 0; col < w.nb && b * w.nb + col < w.n; col += 16) {
      for (int r0 = 0; r0 < m; r0 += 4) {
        kGroup[std::min(m - r0, 4)](w, b, col, x + r0 * w.k, y + r0 * w.n);
      }
    }
  }
}

}  // namespace

std::optional<BlockedWeights> DescribeBlocked(const dnnl::memory::desc& md,
                                              const void* data) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.ndims != 2 || d.offset0 != 0) {
    return std::nullopt;
  }
  if (d.extra.flags != 0) return std::nullopt;  // compensation etc.
  const bool bf16 = d.data_type == dnnl_bf16;
  if (!bf16 && d.data_type != dnnl_f32) return std::nullopt;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  BlockedWeights w;
  w.data = data;
  w.type = bf16 ? GemvWeights::kBF16 : GemvWeights::kF32;
  w.k = d.dims[0];
  w.n = d.dims[1];
  // Plain `ba`: W's own rows.
  if (b.inner_nblks == 0) {
    if (b.strides[0] != 1 || b.strides[1] != w.k || d.padded_dims[0] != w.k ||
        d.padded_dims[1] != w.n) {
      return std::nullopt;
    }
    BlockedWeights rows = RowsBlocking(w.type, w.k, w.n);
    rows.data = data;
    return rows;
  }
  // inner blocks: {kb_in (a), nb (b)} or, for bf16, {kb / 2 (a), nb (b),
  // 2 (a)}.
  if (bf16) {
    if (b.inner_nblks != 3 || b.inner_idxs[0] != 0 || b.inner_idxs[1] != 1 ||
        b.inner_idxs[2] != 0 || b.inner_blks[2] != 2) {
      return std::nullopt;
    }
    w.kb = b.inner_blks[0] * 2;
  } else {
    if (b.inner_nblks != 2 || b.inner_idxs[0] != 0 || b.inner_idxs[1] != 1) {
      return std::nullopt;
    }
    w.kb = b.inner_blks[0];
  }
  w.nb = b.inner_blks[1];
  w.k_stride = b.strides[0];
  w.n_stride = b.strides[1];
  const int64_t inner = w.kb * w.nb;
  const int64_t k_blocks = d.padded_dims[0] / w.kb;
  // The k blocks of an n block are contiguous: what the kernels stream.
  if (w.nb % 16 != 0 || w.nb > 64 || w.k_stride != inner ||
      w.n_stride != k_blocks * inner || d.padded_dims[0] % w.kb != 0 ||
      d.padded_dims[1] % w.nb != 0) {
    return std::nullopt;
  }
  return w;
}

BlockedWeights RowsBlocking(GemvWeights type, int64_t k, int64_t n) {
  BlockedWeights w;
  w.type = type;
  w.k = k;
  w.n = n;
  w.kb = k;
  w.nb = kRowsPerBlock;
  w.k_stride = k * kRowsPerBlock;
  w.n_stride = w.k_stride;
  w.rows = true;
  return w;
}

BlockedWeights F16Blocking(int64_t k, int64_t n) {
  BlockedWeights w;
  w.type = GemvWeights::kF16;
  w.k = k;
  w.n = n;
  w.kb = k;
  w.nb = 64;
  w.k_stride = w.kb * w.nb;
  w.n_stride = w.k_stride;
  return w;
}

void LayOutF16(const BlockedWeights& w, const uint16_t* src, uint16_t* dst) {
  const int64_t blocks = (w.n + w.nb - 1) / w.nb;
  // [nb rows][k] -> [k][nb] per n block; part of a model's load time.
#pragma omp parallel for schedule(dynamic)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t n = std::min(w.nb, w.n - b * w.nb);
    const uint16_t* in = src + b * w.nb * w.k;
    uint16_t* out = dst + b * w.n_stride;
    for (int64_t kk = 0; kk < w.k; ++kk) {
      for (int64_t j = 0; j < w.nb; ++j) {
        out[kk * w.nb + j] = j < n ? in[j * w.k + kk] : 0;
      }
    }
  }
}

__attribute__((target("avx,f16c"))) void RowToF16(const float* src, int64_t n,
                                                  uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(dst + i),
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

bool GemvSupported(GemvIsa isa, GemvWeights type) {
  __builtin_cpu_init();
  // (cpuid itself: clang's __builtin_cpu_supports does not know "f16c".)
  unsigned a, b, c, d;
  if (type == GemvWeights::kF16 &&
      !(__get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0)) {
    return false;
  }
  if (isa == GemvIsa::kAvx512) {
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           (type != GemvWeights::kBF16 || __builtin_cpu_supports("avx512bf16"));
  }
  return type != GemvWeights::kBF16 && __builtin_cpu_supports("avx2") &&
         __builtin_cpu_supports("fma");
}

bool RowsGemvSupported(GemvWeights type) {
  // (The rows kernels take every element type with the AVX2 target.)
  return GemvSupported(GemvIsa::kAvx2,
                       type == GemvWeights::kBF16 ? GemvWeights::kF32 : type);
}

namespace {

// Column blocks [b0, b1) of w; the thread goes on with blocks up to
// `ahead_end` after them (NextBlock prefetches).
void RunBlocks(GemvIsa isa, const BlockedWeights& w, int64_t b0, int64_t b1,
               int64_t ahead_end, const float* x, const uint16_t* x_bf16, int m,
               float* y) {
  if (w.rows) {
    internal::RowsRangeAvx2(w, b0, b1, x, x_bf16, m, y);
  } else if (isa == GemvIsa::kAvx2) {
    if (w.type == GemvWeights::kF16) {
      RangeAvx2<uint16_t>(w, b0, b1, x, m, y);
    } else {
      RangeAvx2<float>(w, b0, b1, x, m, y);
    }
  } else if (w.nb == 64) {
    RangeAvx512<4>(w, b0, b1, ahead_end, x, x_bf16, m, y);
  } else if (w.nb == 32) {
    RangeAvx512<2>(w, b0, b1, ahead_end, x, x_bf16, m, y);
  } else if (w.nb == 48) {
    RangeAvx512<3>(w, b0, b1, ahead_end, x, x_bf16, m, y);
  } else {
    RangeAvx512<1>(w, b0, b1, ahead_end, x, x_bf16, m, y);
  }
}

}  // namespace

void ArmGemvCursor(const BlockedWeights& w, int thread, int threads,
                   WorkCursor* cursors) {
  const int64_t blocks = (w.n + w.nb - 1) / w.nb;
  const int64_t nt = threads, t = thread;
  cursors[thread].Arm(blocks * t / nt, blocks * (t + 1) / nt);
}

void BlockedGemvSlice(GemvIsa isa, const BlockedWeights& w, const float* x,
                      const uint16_t* x_bf16, int m, float* y, int thread,
                      int threads, WorkCursor* cursors) {
  if (cursors == nullptr) {
    const int64_t blocks = (w.n + w.nb - 1) / w.nb;
    const int64_t nt = threads, t = thread;
    const int64_t b1 = blocks * (t + 1) / nt;
    RunBlocks(isa, w, blocks * t / nt, b1, b1, x, x_bf16, m, y);
    return;
  }
  ClaimAll(cursors, thread, threads, [&](int64_t b, int64_t share_end) {
    RunBlocks(isa, w, b, b + 1, share_end, x, x_bf16, m, y);
  });
}

void BlockedGemv(GemvIsa isa, const BlockedWeights& w, const float* x,
                 const uint16_t* x_bf16, int m, float* y, WorkCursor* cursors,
                 int n_cursors) {
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    WorkCursor* c = nt <= n_cursors ? cursors : nullptr;
    if (c != nullptr) {
      ArmGemvCursor(w, t, nt, c);
#pragma omp barrier
    }
    BlockedGemvSlice(isa, w, x, x_bf16, m, y, t, nt, c);
  }
}

}  // namespace kvasir::engine::ops
