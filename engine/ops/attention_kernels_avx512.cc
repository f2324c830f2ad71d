// The AVX-512 attention kernel: attention_kernel.inc over one zmm of 16
// floats. Compiled with a target attribute so the binary runs on any
// x86-64; PagedAttention calls it only after cpuid said yes.

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once they are inlined here
// (GCC bug 105593, fixed in 12.3 / 13).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/ops/attention_kernels.h"
#include "engine/ops/fast_math.h"

#define KVASIR_ATTN_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
// The helpers a chunk calls per query tile (PackedScores, the horizontal
// reductions, Exp): GCC 12 left them out of line, and every zmm register
// is caller-saved, so each call spilled the tile's live vectors. Inlined:
// attention_bench, one thread, K/V in cache, best of 5 rounds, MQA f32
// 12.7-13.6 -> 13.3-14.5 GB/s, bf16 8.9-10.2 -> 10.1-11.6, MHA f32 34-36
// -> 37-40.
#define KVASIR_ATTN_INLINE KVASIR_ATTN_TARGET __attribute__((always_inline))

namespace kvasir::engine::ops::internal {
namespace {

// permutex2var indices of the four stages of a 16x16 transpose: the stage
// for bit b swaps, between rows i and i | b (bit b of i clear), the
// column blocks that have bit b set in row i with those that have it clear
// in row i | b. After all four stages row d holds column d.
struct TransposeIdx {
  std::array<std::array<int32_t, 16>, 4> lo, hi;
};
constexpr TransposeIdx MakeTransposeIdx() {
  TransposeIdx t{};
#pragma GCC unroll 16
  for (int s = 0; s < 4; ++s) {
    const int b = 8 >> s;
    for (int j = 0; j < 16; ++j) {
      t.lo[s][j] = (j & b) == 0 ? j : 16 + j - b;
      t.hi[s][j] = (j & b) == 0 ? j + b : 16 + j;
    }
  }
  return t;
}
alignas(64) constexpr TransposeIdx kTransposeIdx = MakeTransposeIdx();

struct V {
  using F = __m512;
  // Independent score accumulators per query; P.V output vectors per
  // query kept in registers: 4 for up to 2 queries, else 2 (4 queries x 4
  // spilled two accumulators to the stack in GCC 12, a store-to-load chain
  // through every key; 2 passes over the L1-resident V rows cost less).
  static constexpr int kQkSplit = 2;
  static constexpr int PvGroup(int queries) { return queries <= 2 ? 4 : 2; }
  // TileStep scores and P.V in f32 (bf16_dot::V below: on bf16 pairs).
  static constexpr bool kBf16Pairs = false;

  KVASIR_ATTN_TARGET static F Zero() { return _mm512_setzero_ps(); }
  KVASIR_ATTN_TARGET static F Set1(float x) { return _mm512_set1_ps(x); }
  KVASIR_ATTN_TARGET static F Load(const float* p) {
    return _mm512_loadu_ps(p);
  }
  KVASIR_ATTN_TARGET static void Store(float* p, F x) {
    _mm512_storeu_ps(p, x);
  }
  KVASIR_ATTN_TARGET static F LoadRow(const float* p) { return Load(p); }
  // 16 bf16 widened to f32 (bf16 is the upper half of an f32).
  KVASIR_ATTN_TARGET static F LoadRow(const uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // 16 int8 widened to f32 (the row's scale is applied elsewhere).
  KVASIR_ATTN_TARGET static F LoadRow(const int8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
  }
  KVASIR_ATTN_TARGET static F Add(F a, F b) { return _mm512_add_ps(a, b); }
  KVASIR_ATTN_TARGET static F Sub(F a, F b) { return _mm512_sub_ps(a, b); }
  KVASIR_ATTN_TARGET static F Mul(F a, F b) { return _mm512_mul_ps(a, b); }
  KVASIR_ATTN_TARGET static F Max(F a, F b) { return _mm512_max_ps(a, b); }
  KVASIR_ATTN_TARGET static F Fmadd(F a, F b, F c) {
    return _mm512_fmadd_ps(a, b, c);
  }
  KVASIR_ATTN_TARGET static float HMax(F x) { return _mm512_reduce_max_ps(x); }
  KVASIR_ATTN_TARGET static float HSum(F x) { return _mm512_reduce_add_ps(x); }
  // out[i] = HMax(x[i]) (kMax) or HSum(x[i]) for i < N; four vectors
  // reduce together (Reduce4).
  template <bool kMax, int N>
  KVASIR_ATTN_INLINE static void HReduceN(const F* x, float* out) {
    if constexpr (N == 4) {
      Reduce4<kMax>(x, out);
    } else {
      for (int i = 0; i < N; ++i) out[i] = kMax ? HMax(x[i]) : HSum(x[i]);
    }
  }
  // out[i] = the max (kMax) or sum of the 16 lanes of x[i], i < 4, in one
  // tree: 8 shuffles and 5 ops, where four separate reductions take about
  // 24 shuffles and extracts and 16 ops.
  template <bool kMax>
  KVASIR_ATTN_TARGET static F Op(F a, F b) {
    return kMax ? _mm512_max_ps(a, b) : _mm512_add_ps(a, b);
  }
  template <bool kMax>
  KVASIR_ATTN_INLINE static void Reduce4(const F* x, float* out) {
    // 128-bit lanes of x[i] paired up: [x0 x0 x1 x1] and [x2 x2 x3 x3].
    const F t01 = Op<kMax>(_mm512_shuffle_f32x4(x[0], x[1], 0x44),
                           _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
    const F t23 = Op<kMax>(_mm512_shuffle_f32x4(x[2], x[3], 0x44),
                           _mm512_shuffle_f32x4(x[2], x[3], 0xEE));
    // 128-bit lane i: x[i]'s four partial results.
    F u = Op<kMax>(_mm512_shuffle_f32x4(t01, t23, 0x88),
                   _mm512_shuffle_f32x4(t01, t23, 0xDD));
    u = Op<kMax>(u, _mm512_permute_ps(u, 0x4E));
    u = Op<kMax>(u, _mm512_permute_ps(u, 0xB1));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, u);
    for (int i = 0; i < 4; ++i) out[i] = lanes[4 * i];
  }
  // Lanes >= n (0 <= n <= 16) replaced by `fill`.
  KVASIR_ATTN_TARGET static F KeepFirst(F x, int n, float fill) {
    const __mmask16 keep = static_cast<__mmask16>((1u << n) - 1u);
    return _mm512_mask_mov_ps(_mm512_set1_ps(fill), keep, x);
  }
  // FastExp (fast_math.h) on 16 lanes, the same steps.
  KVASIR_ATTN_INLINE static F Exp(F x) {
    const F lo = _mm512_set1_ps(-87.3365448f);
    const F hi = _mm512_set1_ps(88.0f);
    const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const F shift = _mm512_set1_ps(12582912.0f);
    const F shifted =
        _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), shift);
    const F n = _mm512_sub_ps(shifted, shift);
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(shifted),
                                        _mm512_castps_si512(shift));
    F r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    const F r2 = _mm512_mul_ps(r, r);
    F p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0f));
    const F scale = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return _mm512_maskz_mul_ps(static_cast<__mmask16>(~underflow), p, scale);
  }

  // Lane t: q . k[t] for t < slots, 0 beyond; k: `slots` rows of hd (a
  // multiple of 16) elements. For a single query, instead of TransposeChunk
  // and the transposed products: each K row meets q where it was loaded (16
  // independent FMA chains), and the 16 row sums reduce in a tree of 30
  // shuffles and 15 adds, against the transpose's 256 two-source permutes
  // per 16 x 64 chunk. Prefetches the first next_slots rows of next_k.
  static constexpr bool kOneQueryScores = true;
  template <typename T>
  KVASIR_ATTN_TARGET static F OneQueryScores(const float* q, const T* k, int hd,
                                             int slots, const T* next_k,
                                             int next_slots) {
    // Row sums go in slot i = 4e + l for key 4l + e: the tree below leaves
    // slot i's sum in lane 4 * (i % 4) + i / 4, so lane t = key t.
    F acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = Zero();
    for (int d = 0; d < hd; d += 16) {
      const F qd = Load(q + d);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int t = 4 * (i % 4) + i / 4;
        if (t < slots) acc[i] = Fmadd(LoadRow(k + t * hd + d), qd, acc[i]);
        if (t < next_slots && (sizeof(T) > 1 || d % 64 == 0)) {
          _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + d),
                       _MM_HINT_T0);
        }
      }
    }
    return ReduceRowSums(acc);
  }

  // Lane t of the result: the sum of the lanes of acc[4 * (t % 4) + t / 4]
  // (OneQueryScores' row sums), in a tree of 30 shuffles and 15 adds.
  KVASIR_ATTN_INLINE static F ReduceRowSums(const F acc[16]) {
    // 128-bit lanes: halves of each pair of rows, then quarters.
    F c[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      c[i] = Add(_mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], 0x44),
                 _mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], 0xEE));
    }
    F e[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      e[i] = Add(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                 _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
    }
    // Within 128-bit lanes: pairs of elements, then single ones.
    F g[2];
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i) {
      g[i] = Add(_mm512_shuffle_ps(e[2 * i], e[2 * i + 1], 0x44),
                 _mm512_shuffle_ps(e[2 * i], e[2 * i + 1], 0xEE));
    }
    return Add(_mm512_shuffle_ps(g[0], g[1], 0x88),
               _mm512_shuffle_ps(g[0], g[1], 0xDD));
  }

  // Decode scores of up to four queries without a transposition: the
  // queries are packed so that 128-bit lane i of vector b holds query i's
  // elements 4b..4b+3 (PackTile in attention_kernel.inc), and a K row's same
  // four elements, broadcast to all four lanes, multiply all four queries at
  // once. Against the transposed chunk (TransposeChunk: 256 two-source permutes
  // and 128 loads and stores per 16 x 64 chunk, shared by the queries) it costs
  // 2 x 9 shuffles and adds per query tile: the better for up to kMaxPacked
  // queries, G of a decode token (GQA's 2 to 8 and MQA's 12 measured).
  template <typename T>
  static constexpr bool kPackedScores = std::is_same_v<T, float>;
  // LaneStep (attention_lane_step.inc) for f32 K/V: 32 registers hold its
  // 8 keys x 2 vectors of sums. (bf16_dot::V below: for bf16 K/V.)
  template <typename T>
  static constexpr bool kLaneScores = std::is_same_v<T, float>;
  // A key row's elements 4b..4b+3 in all four 128-bit lanes.
  KVASIR_ATTN_TARGET static F KeyBlock(const float* row, int b) {
    return _mm512_broadcast_f32x4(_mm_loadu_ps(row + 4 * b));
  }
  KVASIR_ATTN_TARGET static F BlockFmadd(F acc, F q, F k) {
    return Fmadd(q, k, acc);
  }
  // Elements of a key row per 128-bit lane of a packed vector (one 32-bit
  // word each: PackTile).
  static constexpr int kBlockElems = 4;

#include "engine/ops/attention_packed_scores.inc"

  // Lane 4i + t of the result: the sum of 128-bit lane i of x[t], t < 4.
  KVASIR_ATTN_TARGET static F SumBlocks(const F x[4]) {
    const F s01 =
        Add(_mm512_unpacklo_ps(x[0], x[1]), _mm512_unpackhi_ps(x[0], x[1]));
    const F s23 =
        Add(_mm512_unpacklo_ps(x[2], x[3]), _mm512_unpackhi_ps(x[2], x[3]));
    return Add(_mm512_shuffle_ps(s01, s23, 0x44),
               _mm512_shuffle_ps(s01, s23, 0xEE));
  }

  // sc[i] lane block g (4 lanes) = 128-bit lane i of r[g], i < QT, g < 4:
  // r[g]'s lane i holds query i's scores of keys 4g..4g+3 (PackedScores).
  template <int QT>
  KVASIR_ATTN_INLINE static void ScoresOfBlocks(const F r[4], F* sc) {
    const F a = _mm512_shuffle_f32x4(r[0], r[1], 0x44);
    const F b = _mm512_shuffle_f32x4(r[0], r[1], 0xEE);
    const F c = _mm512_shuffle_f32x4(r[2], r[3], 0x44);
    const F d = _mm512_shuffle_f32x4(r[2], r[3], 0xEE);
    sc[0] = _mm512_shuffle_f32x4(a, c, 0x88);
    if constexpr (QT > 1) sc[1] = _mm512_shuffle_f32x4(a, c, 0xDD);
    if constexpr (QT > 2) sc[2] = _mm512_shuffle_f32x4(b, d, 0x88);
    if constexpr (QT > 3) sc[3] = _mm512_shuffle_f32x4(b, d, 0xDD);
  }

  // kt[d][t] = k[t][d] for t < slots, 0 for slots <= t < 16; d < hd
  // (a multiple of 16). k: `slots` rows of hd elements. Prefetches the
  // first `next_slots` rows of next_k along the way.
  template <typename T>
  KVASIR_ATTN_TARGET static void TransposeChunk(const T* k, int hd, int slots,
                                                float* kt, const T* next_k,
                                                int next_slots) {
    for (int d0 = 0; d0 < hd; d0 += 16) {
      F r[16];
#pragma GCC unroll 16
      for (int t = 0; t < 16; ++t) {
        r[t] = t < slots ? LoadRow(k + t * hd + d0) : Zero();
        if (t < next_slots && (sizeof(T) > 1 || d0 % 64 == 0)) {
          _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + d0),
                       _MM_HINT_T0);
        }
      }
      Transpose16(r);
#pragma GCC unroll 16
      for (int d = 0; d < 16; ++d) Store(kt + (d0 + d) * kChunk, r[d]);
    }
  }

  // r[d][t] = r[t][d] (a 16 x 16 transpose of 32-bit lanes).
  KVASIR_ATTN_TARGET static void Transpose16(F r[16]) {
#pragma GCC unroll 16
    for (int s = 0; s < 4; ++s) {
      const int b = 8 >> s;
      const __m512i lo = _mm512_load_si512(kTransposeIdx.lo[s].data());
      const __m512i hi = _mm512_load_si512(kTransposeIdx.hi[s].data());
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        if ((i & b) != 0) continue;
        const F a = r[i];
        const F c = r[i | b];
        r[i] = _mm512_permutex2var_ps(a, lo, c);
        r[i | b] = _mm512_permutex2var_ps(a, hi, c);
      }
    }
  }
};

#include "engine/ops/attention_kernel.inc"

// The same kernel where the CPU has AVX512_BF16, for a bf16 cache: scores
// are vdpbf16ps products of K's bf16 pairs with the query rounded to bf16
// (to nearest even), accumulated in f32. That is what llama.cpp does for a
// bf16 cache (it converts q to K's type for the dot product), and half the
// instructions of widening K and multiplying in f32: one vdpbf16ps does
// the work of two FMAs, and K needs half the transposition and no
// widening. The softmax stays f32. P.V runs on pairs of keys against their
// weights rounded to bf16, which llama.cpp does not do (it widens a bf16 V
// to f32): each output moves by at most 2^-8 max|V| (attention_test).
namespace bf16_dot {

#undef KVASIR_ATTN_TARGET
#define KVASIR_ATTN_TARGET                             \
  __attribute__((                                      \
      target("avx512f,avx512bw,avx512vl,avx512dq,fma," \
             "avx512bf16")))

// permutex2var indices (lo = 0..15, hi = 16..31) of element e of a
// 32-element slice in pair order (V::PairRows): element 8L + j is lo's
// dword 4L + j for j < 4, hi's dword 4L + j - 4 for 4 <= j < 8.
constexpr std::array<std::array<int32_t, 16>, 2> MakeFromPairOrder() {
  std::array<std::array<int32_t, 16>, 2> idx{};
  for (int e = 0; e < 32; ++e) {
    const int lane = e / 8;
    const int j = e % 8;
    idx[e / 16][e % 16] = j < 4 ? 4 * lane + j : 16 + 4 * lane + j - 4;
  }
  return idx;
}
alignas(64) constexpr std::array<std::array<int32_t, 16>, 2> kFromPairOrder =
    MakeFromPairOrder();

struct V : internal::V {
  // TileStep scores bf16 pairs (kt from TransposeChunk below, the queries
  // from QueryPairs) and runs P.V on pairs of keys.
  static constexpr bool kBf16Pairs = true;

  // out[e / 2] = the bf16 pair (q[e], q[e + 1]), lower half first; hd / 2
  // dwords (hd a multiple of 16).
  KVASIR_ATTN_TARGET static void QueryPairs(const float* q, int hd,
                                            uint32_t* out) {
    int d = 0;
    for (; d + 32 <= hd; d += 32) {
      _mm512_storeu_si512(out + d / 2, (__m512i)_mm512_cvtne2ps_pbh(
                                           Load(q + d + 16), Load(q + d)));
    }
    if (d < hd) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + d / 2),
                          (__m256i)_mm512_cvtneps_pbh(Load(q + d)));
    }
  }
  // P.V on bf16 pairs of keys: output slices of 32 elements accumulate in
  // "pair order" (the order PairRows leaves them in), which FromPairOrder
  // undoes once per range.
  //
  // V rows t (r0) and t + 1 (r1; null: zeros), 32 bf16 each, interleaved
  // as bf16 pairs: lo's dword 4L + j = (r0[8L + j], r1[8L + j]), hi's =
  // (r0[8L + 4 + j], r1[8L + 4 + j]) for L, j < 4.
  KVASIR_ATTN_TARGET static void PairRows(const uint16_t* r0,
                                          const uint16_t* r1, F* lo, F* hi) {
    const __m512i a = _mm512_loadu_si512(r0);
    const __m512i b =
        r1 != nullptr ? _mm512_loadu_si512(r1) : _mm512_setzero_si512();
    *lo = _mm512_castsi512_ps(_mm512_unpacklo_epi16(a, b));
    *hi = _mm512_castsi512_ps(_mm512_unpackhi_epi16(a, b));
  }
  // out[i] = the bf16 pair (a[i], b[i]) for i < 16: LaneStep's weights of
  // two keys (lanes = queries) for P.V on pairs of keys.
  KVASIR_ATTN_TARGET static void LanePairs(F a, F b, uint32_t* out) {
    const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
    const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
    _mm512_storeu_si512(out, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
  }
  // out[j] = the bf16 pair (p[2j], p[2j + 1]) for j < 8.
  KVASIR_ATTN_TARGET static void WeightPairs(const float* p, uint32_t* out) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        (__m256i)_mm512_cvtneps_pbh(Load(p)));
  }
  // 32 floats from pair order (lo = o[0..15], hi = o[16..31] as PairRows
  // left them) to element order, in place.
  KVASIR_ATTN_TARGET static void FromPairOrder(float* o) {
    const F lo = Load(o);
    const F hi = Load(o + 16);
    Store(o, _mm512_permutex2var_ps(
                 lo, _mm512_load_si512(kFromPairOrder[0].data()), hi));
    Store(o + 16, _mm512_permutex2var_ps(
                      lo, _mm512_load_si512(kFromPairOrder[1].data()), hi));
  }

  // 16 dwords of kt (bf16 pairs) as a vector.
  KVASIR_ATTN_TARGET static F LoadPairs(const uint32_t* p) {
    return _mm512_castsi512_ps(_mm512_loadu_si512(p));
  }
  // acc + the pair products of k's lanes with the one pair at q2.
  // (The broadcast is spelled as from an xmm: clang 16 crashes on
  // _mm512_set1_epi32 cast to __m512bh. GCC loads it with one vpbroadcastd
  // from memory.)
  KVASIR_ATTN_TARGET static F DotPairs(F acc, F k, const uint32_t* q2) {
    const __m512i q = _mm512_broadcastd_epi32(_mm_loadu_si32(q2));
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(k), (__m512bh)q);
  }

  // OneQueryScores of the base on bf16 pairs: K rows as they are stored
  // against q2, the query rounded to bf16 pairs (QueryPairs), 32 elements
  // per instruction. Only a bf16 cache comes here (AttendRangeAvx512Bf16
  // sends the others to the base).
  KVASIR_ATTN_TARGET static F OneQueryScores(const uint32_t* q2,
                                             const uint16_t* k, int hd,
                                             int slots, const uint16_t* next_k,
                                             int next_slots) {
    F acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = Zero();
    for (int d = 0; d < hd; d += 32) {
      // The last step of a head of 16 (mod 32) elements: half vectors,
      // zero above.
      const __mmask16 lanes = d + 32 > hd ? 0x00FF : 0xFFFF;
      const __m512bh qd = (__m512bh)_mm512_maskz_loadu_epi32(lanes, q2 + d / 2);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const int t = 4 * (i % 4) + i / 4;
        if (t < slots) {
          const __m512i row = _mm512_maskz_loadu_epi32(lanes, k + t * hd + d);
          acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)row, qd);
        }
        if (t < next_slots) {
          _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + d),
                       _MM_HINT_T0);
        }
      }
    }
    return ReduceRowSums(acc);
  }

  // PackedScores on bf16 pairs: lane i of packed vector b holds query i's
  // elements 8b..8b+7 as four bf16 pairs (its QueryPairs, packed by
  // PackTile), and vdpbf16ps multiplies it with a K row's same eight bf16.
  template <typename T>
  static constexpr bool kPackedScores = std::is_same_v<T, uint16_t>;
  // LaneStep on bf16 pairs (DotPairs, PvPairStep with LanePairs).
  template <typename T>
  static constexpr bool kLaneScores = std::is_same_v<T, uint16_t>;
  static constexpr int kBlockElems = 8;
  KVASIR_ATTN_TARGET static F KeyBlock(const uint16_t* row, int b) {
    return _mm512_castsi512_ps(_mm512_broadcast_i32x4(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * b))));
  }
  KVASIR_ATTN_TARGET static F BlockFmadd(F acc, F q, F k) {
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_castps_si512(q),
                            (__m512bh)_mm512_castps_si512(k));
  }

#include "engine/ops/attention_packed_scores.inc"

  // kt, as hd / 2 rows of 16 dwords: kt[e][t] = the bf16 pair (k[t][2e],
  // k[t][2e + 1]) for t < slots, 0 for slots <= t < 16. k: `slots` rows of
  // hd bf16 (a multiple of 16). Prefetches the first `next_slots` rows of
  // next_k along the way.
  KVASIR_ATTN_TARGET static void TransposeChunk(const uint16_t* k, int hd,
                                                int slots, float* kt,
                                                const uint16_t* next_k,
                                                int next_slots) {
    const int pairs = hd / 2;
    for (int e0 = 0; e0 < pairs; e0 += 16) {
      const int n = std::min(16, pairs - e0);
      const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1u);
      F r[16];
#pragma GCC unroll 16
      for (int t = 0; t < 16; ++t) {
        r[t] = t < slots ? _mm512_maskz_loadu_ps(lanes, k + t * hd + 2 * e0)
                         : Zero();
        if (t < next_slots) {
          _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + 2 * e0),
                       _MM_HINT_T0);
        }
      }
      Transpose16(r);
      for (int e = 0; e < n; ++e) Store(kt + (e0 + e) * kChunk, r[e]);
    }
  }
};

#include "engine/ops/attention_kernel.inc"

}  // namespace bf16_dot
}  // namespace

void AttendRangeAvx512Bf16(const RangeTask& task) {
  if (task.dtype == kvcache::KvDtype::kBF16) {
    bf16_dot::AttendRangeHd<uint16_t>(task);
  } else {
    AttendRangeAvx512(task);
  }
}

void AttendRangeAvx512(const RangeTask& task) {
  switch (task.dtype) {
    case kvcache::KvDtype::kF32:
      AttendRangeHd<float>(task);
      return;
    case kvcache::KvDtype::kBF16:
      AttendRangeHd<uint16_t>(task);
      return;
    case kvcache::KvDtype::kInt8:
      AttendRangeHd<int8_t>(task);
      return;
  }
}

}  // namespace kvasir::engine::ops::internal
