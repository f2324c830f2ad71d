// QuantLinear's batched path on AVX-512 VNNI (see quant_vnni.h). Compiled
// with target attributes so the binary runs on any x86-64; QuantLinear
// calls it only after cpuid said yes.

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once they are inlined here
// (GCC bug 105593, fixed in 12.3 / 13).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "engine/ops/quant/quant_vnni.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_avx512_util.h"
#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/transpose8.h"

namespace kvasir::engine::quant::internal {
namespace {

using gguf::TensorType;

// Decodes one weight row of k values into u[0, k) (unsigned bytes) and
// per scale group g (a block of 32, or for Q6_K a half of 16) its scale
// ws[g]: the weight is ws[g] * (u - C) for the types with a constant
// offset C (Q4_0: 8, Q8_0: 128, Q6_K: 32; the tile starts its integer sums
// at -C * Σq), and for Q4_K ws[g] * u - off[g] (off: d_min * min), or, for
// the kSuper tile, per super-block sb at off + 8 sb: the 8 mins as int16
// (pairs of blocks per dword), then d_min.
using DecodeFn = void (*)(const uint8_t* w, int64_t k, uint8_t* u, float* ws,
                          float* off);

KVASIR_AVX512 inline void Store256(uint8_t* p, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}

KVASIR_AVX512 void DecodeQ4_0(const uint8_t* w, int64_t k, uint8_t* u,
                              float* ws, float* /*off*/) {
  const __m128i low4 = _mm_set1_epi8(0x0F);
  for (int64_t j = 0; j < k / 32; ++j) {
    const uint8_t* b = w + j * 18;
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
    Store256(u + j * 32,
             _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low4),
                              _mm_and_si128(v, low4)));
    ws[j] = Half(b);
  }
}

KVASIR_AVX512 void DecodeQ8_0(const uint8_t* w, int64_t k, uint8_t* u,
                              float* ws, float* /*off*/) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t j = 0; j < k / 32; ++j) {
    const uint8_t* b = w + j * 34;
    // w + 128 as an unsigned byte: the sign bit flipped.
    Store256(u + j * 32, _mm256_xor_si256(Load256(b + 2), bias));
    ws[j] = Half(b);
  }
}

template <bool kSuper>
KVASIR_AVX512 void DecodeQ4_K(const uint8_t* w, int64_t k, uint8_t* u,
                              float* ws, float* off) {
  const __m512i low4x2 = _mm512_set1_epi8(0x0F);
  for (int64_t sb = 0; sb < k / 256; ++sb) {
    const uint8_t* b = w + sb * 144;
    // UnpackKScales in one vector (as the dot kernel's Q4KFast): the 12
    // bytes at b + 4 are words q0 q1 q2; bytes 0-7 of the result are the
    // scales, 8-15 the mins: [q0 & low6, q2 & low4 | (q0 >> 2) & 0x30,
    // q1 & low6, (q2 >> 4) & low4 | (q1 >> 2) & 0x30].
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 4));
    const __m128i v = _mm_shuffle_epi32(q, _MM_SHUFFLE(2, 1, 2, 0));
    const __m128i t = _mm_shuffle_epi32(q, _MM_SHUFFLE(1, 1, 0, 0));
    const __m128i packed = _mm_or_si128(
        _mm_and_si128(
            _mm_srlv_epi32(v, _mm_setr_epi32(0, 0, 0, 4)),
            _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f)),
        _mm_and_si128(_mm_srli_epi32(t, 2),
                      _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
    const __m512 sm =
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(packed)),
                      _mm512_insertf32x8(_mm512_set1_ps(Half(b)),
                                         _mm256_set1_ps(Half(b + 2)), 1));
    _mm256_storeu_ps(ws + sb * 8, _mm512_castps512_ps256(sm));
    if constexpr (kSuper) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(off + sb * 8),
                       _mm_cvtepu8_epi16(_mm_srli_si128(packed, 8)));
      off[sb * 8 + 4] = Half(b + 2);
    } else {
      _mm256_storeu_ps(off + sb * 8, _mm512_extractf32x8_ps(sm, 1));
    }
    // Chunk c of qs (32 bytes): sub-block 2c in the low nibbles, 2c + 1 in
    // the high. Two chunks per 64-byte vector; the 128-bit lane shuffles
    // put each chunk's low nibbles before its high ones.
    for (int c = 0; c < 4; c += 2) {
      const __m512i v = _mm512_loadu_si512(b + 16 + c * 32);
      const __m512i lo = _mm512_and_si512(v, low4x2);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4x2);
      uint8_t* dst = u + sb * 256 + c * 64;
      _mm512_storeu_si512(dst, _mm512_shuffle_i64x2(lo, hi, 0x44));
      _mm512_storeu_si512(dst + 64, _mm512_shuffle_i64x2(lo, hi, 0xEE));
    }
  }
}

KVASIR_AVX512 void DecodeQ6_K(const uint8_t* w, int64_t k, uint8_t* u,
                              float* ws, float* /*off*/) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i top2 = _mm256_set1_epi8(0x30);
  for (int64_t sb = 0; sb < k / 256; ++sb) {
    const uint8_t* b = w + sb * 210;
    _mm512_storeu_ps(
        ws + sb * 16,
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                          reinterpret_cast<const __m128i*>(b + 192)))),
                      _mm512_set1_ps(Half(b + 208))));
    // ggml's layout: each half of 128 values takes 64 bytes of ql (low
    // nibbles of values 0-63, high nibbles of 64-127) and 32 of qh (2 bits
    // for each of 4 groups of 32).
    for (int n = 0; n < 2; ++n) {
      const __m256i ql0 = Load256(b + n * 64), ql1 = Load256(b + n * 64 + 32);
      const __m256i qh = Load256(b + 128 + n * 32);
      uint8_t* dst = u + sb * 256 + n * 128;
      const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2);
      const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2);
      const __m256i h2 = _mm256_and_si256(qh, top2);
      const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2);
      Store256(dst, _mm256_or_si256(_mm256_and_si256(ql0, low4), h0));
      Store256(dst + 32, _mm256_or_si256(_mm256_and_si256(ql1, low4), h1));
      Store256(dst + 64,
               _mm256_or_si256(
                   _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), h2));
      Store256(dst + 96,
               _mm256_or_si256(
                   _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), h3));
    }
  }
}

// super_act: for the kSuper tiles (Tiles()).
DecodeFn Decoder(uint32_t type, bool super_act) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
      return DecodeQ4_0;
    case TensorType::kQ8_0:
      return DecodeQ8_0;
    case TensorType::kQ4_K:
      return super_act ? DecodeQ4_K<true> : DecodeQ4_K<false>;
    case TensorType::kQ6_K:
      return DecodeQ6_K;
    default:
      return nullptr;
  }
}

// L dwords of weights at p in every L-dword group of lanes.
template <int L>
KVASIR_AVX512 inline __m512i Broadcast(const uint8_t* p) {
  if constexpr (L == 1) {
    int32_t v;
    std::memcpy(&v, p, sizeof(v));
    return _mm512_set1_epi32(v);
  } else {
    int64_t v;
    std::memcpy(&v, p, sizeof(v));
    return _mm512_set1_epi64(v);
  }
}

// T activation tiles (consecutive in `act`) against the 8 decoded rows of
// the panel: out[(i * 8 + n) * 16 + lane] = the lane's share of row n's
// sums in tile i (lanes of one activation row add up to its result). Two
// tiles take 4 weight rows at a time, so each weight broadcast feeds 32
// activation rows. kHalves: one scale per 16 values (Q6_K), else per 32.
// kShift: log2 of the type's constant offset C (the integer sums start at
// -C * Σq), or 0 for Q4_K's mins. `nsc`: scale slots per panel row.
//
// kSuper: the activations have one scale per super-block of 256
// (QuantizeActSuperAvx2). The scaled sums of its 8 blocks then add up
// before the one multiply by d_x, and Q4_K's mins are integer dot products
// with the blocks' Σq (vpdpwssd, two blocks per instruction) scaled once by
// d_min: per weight row and tile, 2 float operations per block instead of
// 4 (Q6_K: 4 instead of 5). Besides the 8 vpdpbusd per block, the FMAs
// are what limits the tile: on Zen 4 each takes a vpdpbusd slot (their
// pipes are shared), while the conversions run beside them.
template <int L, bool kHalves, int kShift, int T, bool kSuper>
KVASIR_AVX512 void Tile(const uint8_t* u, int64_t k, const float* ws,
                        const float* off, int64_t nsc, const uint8_t* act,
                        const uint8_t* pf, int64_t pf_step, float* out) {
  constexpr int N = kVnniPanelRows / T;       // weight rows per pass
  constexpr int kGroups = 8 / L;              // vectors per block
  constexpr int kSpans = kHalves ? 2 : 1;     // scale groups per block
  constexpr int kPerSpan = kGroups / kSpans;  // vectors per group
  const int64_t nb = k / 32;
  const int64_t tile_bytes = nb * kVnniBlockBytes;
  for (int n0 = 0; n0 < kVnniPanelRows; n0 += N) {
    __m512 f[T][N], t[T][N];
    for (int i = 0; i < T; ++i) {
      for (int n = 0; n < N; ++n) f[i][n] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < nb; ++j) {
      // Into L2 (T1), not L1, which the activation tiles fill: measured
      // (quant_bench, vnni, 4096 x 4096, Zen 4 VM) m = 8 +15-30%, m = 32
      // the same.
      if (pf != nullptr && n0 == 0) {
        for (int64_t b = j * pf_step; b < (j + 1) * pf_step; b += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(pf + b), _MM_HINT_T1);
        }
      }
      const uint8_t* ab[T];
      for (int i = 0; i < T; ++i)
        ab[i] = act + i * tile_bytes + j * kVnniBlockBytes;
      // The first scale group of the block (kSuper: of the super-block)
      // starts the float sums.
      const bool first = !kSuper || j % 8 == 0;
      for (int s = 0; s < kSpans; ++s) {
        // Σq of the group (lane p = 0 of each row, 0 elsewhere).
        __m512i qsum[T], acc[T][N];
        for (int i = 0; i < T; ++i) {
          qsum[i] =
              _mm512_load_si512(ab[i] + 576 + (kHalves ? 64 + 64 * s : 0));
          const __m512i init =
              kShift > 0 ? _mm512_sub_epi32(_mm512_setzero_si512(),
                                            _mm512_slli_epi32(qsum[i], kShift))
                         : _mm512_setzero_si512();
          for (int n = 0; n < N; ++n) acc[i][n] = init;
        }
        for (int v = s * kPerSpan; v < (s + 1) * kPerSpan; ++v) {
          __m512i a[T];
          for (int i = 0; i < T; ++i) a[i] = _mm512_load_si512(ab[i] + v * 64);
          const uint8_t* wp = u + (n0 * k) + j * 32 + v * 4 * L;
          for (int n = 0; n < N; ++n) {
            const __m512i b = Broadcast<L>(wp + n * k);
            for (int i = 0; i < T; ++i) {
              acc[i][n] = _mm512_dpbusd_epi32(acc[i][n], b, a[i]);
            }
          }
        }
        const int64_t g = kHalves ? 2 * j + s : j;
        for (int n = 0; n < N; ++n) {
          const __m512 w = _mm512_set1_ps(ws[(n0 + n) * nsc + g]);
          for (int i = 0; i < T; ++i) {
            const __m512 c = _mm512_cvtepi32_ps(acc[i][n]);
            t[i][n] = s == 0 && first ? _mm512_mul_ps(c, w)
                                      : _mm512_fmadd_ps(c, w, t[i][n]);
          }
        }
        if (kShift == 0 && !kSuper) {
          for (int i = 0; i < T; ++i) {
            const __m512 qf = _mm512_cvtepi32_ps(qsum[i]);
            for (int n = 0; n < N; ++n) {
              t[i][n] = _mm512_fnmadd_ps(
                  qf, _mm512_set1_ps(off[(n0 + n) * nsc + g]), t[i][n]);
            }
          }
        }
      }
      if (kSuper && j % 8 != 7) continue;
      if (kShift == 0 && kSuper) {
        // Σ_b m_b * Σq_b over the super-block's blocks b = j - 7 .. j: the
        // int16 pairs (Σq_b, Σq_b+1) per lane against DecodeQ4_K's pairs
        // (m_b, m_b+1); then - d_min * that.
        const int64_t sb = j / 8;
        __m512i mi[T][N];
        for (int i = 0; i < T; ++i) {
          for (int n = 0; n < N; ++n) mi[i][n] = _mm512_setzero_si512();
        }
        for (int p = 0; p < 4; ++p) {
          __m512i pr[T];
          for (int i = 0; i < T; ++i) {
            const uint8_t* b0 = ab[i] - (7 - 2 * p) * kVnniBlockBytes + 576;
            pr[i] = _mm512_or_si512(
                _mm512_and_si512(_mm512_load_si512(b0),
                                 _mm512_set1_epi32(0xFFFF)),
                _mm512_slli_epi32(_mm512_load_si512(b0 + kVnniBlockBytes), 16));
          }
          for (int n = 0; n < N; ++n) {
            const auto* m16 =
                reinterpret_cast<const uint8_t*>(off + (n0 + n) * nsc + sb * 8);
            const __m512i bm = Broadcast<1>(m16 + 4 * p);
            for (int i = 0; i < T; ++i) {
              mi[i][n] = _mm512_dpwssd_epi32(mi[i][n], bm, pr[i]);
            }
          }
        }
        for (int n = 0; n < N; ++n) {
          const __m512 dmin = _mm512_set1_ps(off[(n0 + n) * nsc + sb * 8 + 4]);
          for (int i = 0; i < T; ++i) {
            t[i][n] =
                _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mi[i][n]), dmin, t[i][n]);
          }
        }
      }
      for (int i = 0; i < T; ++i) {
        const __m512 dx =
            _mm512_load_ps(reinterpret_cast<const float*>(ab[i] + 512));
        for (int n = 0; n < N; ++n)
          f[i][n] = _mm512_fmadd_ps(t[i][n], dx, f[i][n]);
      }
    }
    for (int i = 0; i < T; ++i) {
      for (int n = 0; n < N; ++n) {
        _mm512_store_ps(out + (i * kVnniPanelRows + n0 + n) * 16, f[i][n]);
      }
    }
  }
}

using TileFn = void (*)(const uint8_t* u, int64_t k, const float* ws,
                        const float* off, int64_t nsc, const uint8_t* act,
                        const uint8_t* pf, int64_t pf_step, float* out);

// The tiles of a type: one tile of L = 1, one of L = 2, two of L = 1.
// Two tiles at once (4 weight rows per pass, each broadcast feeding 32
// activation rows): measured on Zen 4, 0.55-0.65x the time of one after
// the other for Q6_K and no gain for the other types; on Zen 5 also about
// 8% less time for Q4_K at m = 32 (one thread, `VnniPanel` alone) and the
// same for Q4_0 and Q8_0.
template <bool kHalves, int kShift, bool kSuper>
constexpr TileFn kTiles[] = {Tile<1, kHalves, kShift, 1, kSuper>,
                             Tile<2, kHalves, kShift, 1, kSuper>,
                             Tile<1, kHalves, kShift, 2, kSuper>};

// super_act: the activations have one scale per super-block (K-quants
// only). Q6_K's kSuper tile saves 1 of its 5 float operations per block:
// no faster on Zen 5 (m = 32 and 64), on Zen 4 (one thread, quant_bench
// m = 32) 3.55-3.69 -> 3.70-3.96 weight GB/s, the FMAs sharing the
// vpdpbusd pipes there.
const TileFn* Tiles(uint32_t type, bool super_act) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
      return kTiles<false, 3, false>;
    case TensorType::kQ8_0:
      return kTiles<false, 7, false>;
    case TensorType::kQ6_K:
      return super_act ? kTiles<true, 5, true> : kTiles<true, 5, false>;
    default:
      return super_act ? kTiles<false, 0, true> : kTiles<false, 0, false>;
  }
}

// VnniPackRows for a tile of 16 rows (L = 1): lane r of vector v is dword v
// of row r's block, gathered; the Σq come from the packed vectors
// themselves (vpdpbusd against bytes of 1 adds a lane's 4 values).
KVASIR_AVX512 void PackFullTile(const ActRows& a, int r0, int64_t nb,
                                uint8_t* out) {
  const __m512i rows = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int32_t>(a.stride)));
  const __m512i ones = _mm512_set1_epi8(1);
  const uint8_t* q = reinterpret_cast<const uint8_t*>(a.q(r0));
  const uint8_t* d = reinterpret_cast<const uint8_t*>(a.d8(r0));
  for (int64_t j = 0; j < nb; ++j) {
    uint8_t* ab = out + j * kVnniBlockBytes;
    __m512i half[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int v = 0; v < 8; ++v) {
      const __m512i x = _mm512_i32gather_epi32(rows, q + j * 32 + v * 4, 1);
      _mm512_store_si512(ab + v * 64, x);
      half[v / 4] = _mm512_dpbusd_epi32(half[v / 4], ones, x);
    }
    _mm512_store_ps(ab + 512, _mm512_i32gather_ps(rows, d + j * 32, 1));
    _mm512_store_si512(ab + 576, _mm512_add_epi32(half[0], half[1]));
    _mm512_store_si512(ab + 640, half[0]);
    _mm512_store_si512(ab + 704, half[1]);
  }
}

}  // namespace

bool VnniCovers(uint32_t type) { return Decoder(type, false) != nullptr; }

bool VnniTakesSuperAct(uint32_t type) {
  return type == static_cast<uint32_t>(TensorType::kQ4_K) ||
         type == static_cast<uint32_t>(TensorType::kQ6_K);
}

KVASIR_AVX512 void VnniPackRows(const ActRows& a, int m, int64_t k,
                                int64_t t_begin, int64_t t_end,
                                uint8_t* packed) {
  const int64_t nb = k / 32;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int r0 = static_cast<int>(t) * kVnniTileRows;
    const int rows = std::min(kVnniTileRows, m - r0);
    const int L = rows <= 8 ? 2 : 1;
    // (The gather offsets are int32: 15 row strides must fit in one.)
    if (rows == kVnniTileRows &&
        a.stride < (int64_t{1} << 31) / kVnniTileRows) {
      PackFullTile(a, r0, nb, packed + t * nb * kVnniBlockBytes);
      continue;
    }
    for (int64_t j = 0; j < nb; ++j) {
      uint8_t* ab = packed + (t * nb + j) * kVnniBlockBytes;
      std::memset(ab, 0, kVnniBlockBytes);
      auto* dx = reinterpret_cast<float*>(ab + 512);
      auto* qsum = reinterpret_cast<int32_t*>(ab + 576);
      for (int r = 0; r < std::min(rows, kVnniTileRows / L); ++r) {
        const int8_t* q = a.q(r0 + r) + j * 32;
        for (int p = 0; p < L; ++p) {
          const int lane = r * L + p;
          for (int v = 0; v < 8 / L; ++v) {
            std::memcpy(ab + v * 64 + lane * 4, q + 4 * (v * L + p), 4);
          }
          dx[lane] = a.d8(r0 + r)[j * 8];
        }
        int32_t half[2] = {0, 0};
        for (int i = 0; i < 32; ++i) half[i / 16] += q[i];
        qsum[r * L] = half[0] + half[1];
        qsum[16 + r * L] = half[0];
        qsum[32 + r * L] = half[1];
      }
    }
  }
}

KVASIR_AVX512 void VnniPanel(uint32_t type, const uint8_t* w, int64_t row_bytes,
                             int rows, int64_t k, const uint8_t* packed, int m,
                             bool super_act, const uint8_t* next,
                             int64_t next_bytes, uint8_t* scratch, float* y,
                             int64_t y_stride) {
  const DecodeFn decode = Decoder(type, super_act);
  const TileFn* tiles = Tiles(type, super_act);
  const int64_t nsc = k / 16;
  uint8_t* u = scratch;
  auto* ws = reinterpret_cast<float*>(scratch + kVnniPanelRows * k);
  float* off = ws + kVnniPanelRows * nsc;
  float* out = off + kVnniPanelRows * nsc;
  for (int n = 0; n < rows; ++n) {
    decode(w + n * row_bytes, k, u + n * k, ws + n * nsc, off + n * nsc);
  }
  // A short panel's missing rows multiply to nothing that is stored, but
  // their scales must be finite numbers (the scratch is reused).
  for (int n = rows; n < kVnniPanelRows; ++n) {
    std::memset(ws + n * nsc, 0, static_cast<size_t>(nsc) * 4);
    std::memset(off + n * nsc, 0, static_cast<size_t>(nsc) * 4);
  }
  const int64_t nb = k / 32;
  const int64_t n_tiles = VnniTiles(m);
  for (int64_t t = 0; t < n_tiles;) {
    const int r0 = static_cast<int>(t) * kVnniTileRows;
    const int tile_rows = std::min(kVnniTileRows, m - r0);
    const int L = tile_rows <= 8 ? 2 : 1;
    // Two tiles at once when the next one is also of L = 1 (> 8 rows).
    const int pair = L == 1 && m - r0 > kVnniTileRows + 8 ? 2 : 1;
    // The first tile's block loop prefetches the next panel's weights, a
    // share per block: decoding reads them while they arrive.
    const uint8_t* pf = t == 0 ? next : nullptr;
    const int64_t pf_step = (next_bytes / nb + 63) / 64 * 64;
    tiles[pair == 2 ? 2 : L - 1](u, k, ws, off, nsc,
                                 packed + t * nb * kVnniBlockBytes, pf, pf_step,
                                 out);
    for (int i = 0; i < pair; ++i) {
      const int ri = r0 + i * kVnniTileRows;
      const int rows_i = std::min(kVnniTileRows, m - ri);
      const float* o = out + i * kVnniPanelRows * 16;
      if (rows == kVnniPanelRows && L == 1) {
        // Row r's 8 results are lane r of the 8 vectors: transposed in
        // registers, 8 activation rows at a time, one store each (8
        // gathers per half cost more on Zen).
        for (int h = 0; h < 2 && 8 * h < rows_i; ++h) {
          __m256 r[8];
          for (int n = 0; n < 8; ++n) r[n] = _mm256_load_ps(o + n * 16 + 8 * h);
          ops::Transpose8x8(r);
          for (int j = 0; j < std::min(8, rows_i - 8 * h); ++j) {
            _mm256_storeu_ps(y + (ri + 8 * h + j) * y_stride, r[j]);
          }
        }
        continue;
      }
      for (int n = 0; n < rows; ++n) {
        for (int r = 0; r < rows_i; ++r) {
          float v = o[n * 16 + r * L];
          if (L == 2) v += o[n * 16 + r * L + 1];
          y[(ri + r) * y_stride + n] = v;
        }
      }
    }
    t += pair;
  }
}

}  // namespace kvasir::engine::quant::internal
