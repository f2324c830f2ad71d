// QuantLinear's batched path on AVX2 CPUs without AVX-512 VNNI (AMD Zen 2
// and 3, Intel before Ice Lake): the panels of quant_vnni.h with AVX2
// instructions. Compiled with target attributes so the binary runs on any
// x86-64; QuantLinear calls it only after cpuid said yes.
//
// Without vpdpbusd, 32 products of unsigned weight bytes and int8
// activations take a vpmaddubsw (int16 sums of pairs). The tile adds those
// of a whole block in int16 lanes before one vpmaddwd against the block's
// integer scale (Q4_K: 16 products of u <= 15 per lane, |sum| <= 30,480;
// Q6_K, u <= 63: per half of 16 values two int16 sums of 8 products,
// |sum| <= 32,004), so the scales are integer arithmetic too: one int32
// sum per super-block and (weight row, activation row), converted and
// scaled once by d_w * d_x (the activations have one scale per 256 values:
// QuantizeActSuperAvx2). The dot kernels instead decode each weight row
// once per 4 activation rows and convert and scale per block of 32 for
// every pair of rows. Offsets are integer dot products too: Q4_K's mins
// against the blocks' Σq, Q6_K's 32 against the halves' Σq. Q8_0 (TileQ8)
// keeps a float scale per block of 32, as its activations have.
//
// Packed activations (VnniPackRows' sizes: tiles of 16 rows, 768 bytes per
// tile and block of 32): a tile is two sub-tiles of 8 rows, one per int32
// lane of a vector. Per block: bytes [256h, 256h + 256) are sub-tile h's 8
// vectors (lane r of vector v: bytes 4v..4v+3 of row 8h + r's block); then
// the 16 rows' d_x (floats, from 512), their Σq over the block (int32, from
// 576), over its first half (640) and its second (704).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_avx2_util.h"
#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/quant/quant_vnni.h"
#include "engine/ops/transpose8.h"

namespace kvasir::engine::quant::internal {
namespace {

using gguf::TensorType;

constexpr int kSubRows = 8;  // activation rows of a sub-tile (int32 lanes)

// The decoded panel in a thread's scratch (VnniScratchBytes(k)): per weight
// row n, u[n * k + i] is value i as an unsigned byte (Q4_K 0..15, Q6_K
// 0..63), and two areas of nsc = k / 16 32-bit slots each:
//   sc[n * nsc + g]: the int16 pair (s, s) of scale group g (Q4_K: block
//     of 32; Q6_K: half of 16), for vpmaddwd against the int16 sums;
//   aux[n * nsc + ...]: Q4_K: the mins as int16 pairs (m_2p, m_2p+1), k / 64
//     of them, then d per super-block, then d_min (floats); Q6_K: the
//     scales as pairs (s_2b, s_2b+1), k / 32, then d per super-block.
struct Panel {
  Panel(uint8_t* scratch, int64_t k)
      : u(scratch),
        sc(reinterpret_cast<int32_t*>(scratch + kVnniPanelRows * k)),
        aux(sc + kVnniPanelRows * (k / 16)),
        out(reinterpret_cast<float*>(aux + kVnniPanelRows * (k / 16))) {}
  uint8_t* u;
  int32_t* sc;
  int32_t* aux;
  // Two sub-tiles' results: [sub-tile][weight row][8 lanes].
  float* out;
};

KVASIR_AVX2 inline void Store256(void* p, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}

KVASIR_AVX2 inline __m256i Broadcast(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

KVASIR_AVX2 inline void StoreFloat(int32_t* slot, float v) {
  std::memcpy(slot, &v, sizeof(v));
}

KVASIR_AVX2 inline float LoadFloat(const int32_t* slot) {
  float v;
  std::memcpy(&v, slot, sizeof(v));
  return v;
}

// Lane r: the int16 pair (lo[r], hi[r]) of two int32 vectors (scales for
// vpmaddwd; Σq of two blocks, or of a block's two halves).
KVASIR_AVX2 inline __m256i Pairs(__m256i lo, __m256i hi) {
  return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xFFFF)),
                         _mm256_slli_epi32(hi, 16));
}
KVASIR_AVX2 inline __m256i Pairs(__m256i x) { return Pairs(x, x); }

KVASIR_AVX2 void DecodeQ4_K(const uint8_t* w, int64_t k, uint8_t* u,
                            int32_t* sc, int32_t* aux) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const int64_t nsb = k / 256;
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* b = w + sb * 144;
    const __m128i sm = KScalesMins(b + 4);  // scales 0-7, mins 0-7
    Store256(sc + sb * 8, Pairs(_mm256_cvtepu8_epi32(sm)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(aux + sb * 4),
                     _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)));
    StoreFloat(aux + k / 64 + sb, Half(b));
    StoreFloat(aux + k / 64 + nsb + sb, Half(b + 2));
    // Chunk c of qs: block 2c in the low nibbles, 2c + 1 in the high.
    for (int c = 0; c < 4; ++c) {
      const __m256i v = Load256(b + 16 + c * 32);
      Store256(u + sb * 256 + c * 64, _mm256_and_si256(v, low4));
      Store256(u + sb * 256 + c * 64 + 32,
               _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
    }
  }
}

KVASIR_AVX2 void DecodeQ6_K(const uint8_t* w, int64_t k, uint8_t* u,
                            int32_t* sc, int32_t* aux) {
  const int64_t nsb = k / 256;
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* b = w + sb * 210;
    const __m128i s =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
    Store256(sc + sb * 16, Pairs(_mm256_cvtepi8_epi32(s)));
    Store256(sc + sb * 16 + 8,
             Pairs(_mm256_cvtepi8_epi32(_mm_srli_si128(s, 8))));
    Store256(aux + sb * 8, _mm256_cvtepi8_epi16(s));
    StoreFloat(aux + k / 32 + sb, Half(b + 208));
    for (int half = 0; half < 2; ++half) {
      __m256i q[4];
      Q6KHalf(b, half, q);
      for (int s4 = 0; s4 < 4; ++s4) {
        Store256(u + sb * 256 + half * 128 + s4 * 32, q[s4]);
      }
    }
  }
}

// Q8_0: the signed bytes as they are (the tile takes their absolute values
// and signs), d per block in sc[j] (a float); aux unused.
KVASIR_AVX2 void DecodeQ8_0(const uint8_t* w, int64_t k, uint8_t* u,
                            int32_t* sc, int32_t* /*aux*/) {
  for (int64_t j = 0; j < k / 32; ++j) {
    const uint8_t* b = w + j * 34;
    Store256(u + j * 32, Load256(b + 2));
    StoreFloat(sc + j, Half(b));
  }
}

// Sub-tile s's share of block j of the packed activations: its 8 vectors
// (q), and `rows`, from which its rows' d_x (at + 512), Σq over the block
// (+ 576), over its first half (+ 640) and second half (+ 704) are 8 lanes.
struct SubBlock {
  const uint8_t* q;
  const uint8_t* rows;
};
inline SubBlock At(const uint8_t* act, int64_t nb, int s, int64_t j) {
  const uint8_t* b = act + ((s / 2) * nb + j) * kVnniBlockBytes;
  return {b + (s % 2) * 256, b + (s % 2) * 32};
}

// Σq pairs from two int32 vectors of the packed activations.
KVASIR_AVX2 inline __m256i SumPairs(const uint8_t* lo, const uint8_t* hi) {
  return Pairs(Load256(lo), Load256(hi));
}

// Vector v of T sub-tiles' blocks (ab[t]: their q).
template <int T>
KVASIR_AVX2 inline void LoadActs(const uint8_t* const (&ab)[T], int v,
                                 __m256i (&a)[T]) {
  for (int t = 0; t < T; ++t) {
    a[t] = _mm256_load_si256(reinterpret_cast<const __m256i*>(ab[t] + v * 32));
  }
}

// Share i (pf_step bytes) of the next panel's weights into L2 (`pf` null:
// none): the tiles spread it over their blocks, decoding reads it later.
KVASIR_AVX2 inline void PrefetchShare(const uint8_t* pf, int64_t pf_step,
                                      int64_t i) {
  if (pf == nullptr) return;
  for (int64_t b = i * pf_step; b < (i + 1) * pf_step; b += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(pf + b), _MM_HINT_T1);
  }
}

// A tile's sums f[t][n] (weight row n0 + n, the 8 rows of sub-tile t) into
// p.out.
template <int T, int N>
KVASIR_AVX2 inline void StoreOut(const Panel& p, int n0,
                                 const __m256 (&f)[T][N]) {
  for (int t = 0; t < T; ++t) {
    for (int n = 0; n < N; ++n) {
      _mm256_storeu_ps(p.out + (t * kVnniPanelRows + n0 + n) * kSubRows,
                       f[t][n]);
    }
  }
}

// T sub-tiles (s0, s0 + 1, ...) against the 8 decoded weight rows, N at a
// time: p.out[(t * 8 + n) * 8 + r] = Σ_i W_n[i] x_r[i] for row r of
// sub-tile t. kQ6: Q6_K (scales per half block, offset 32), else Q4_K.
// `pf`: bytes to prefetch, pf_step per super-block (the next panel).
template <bool kQ6, int T, int N>
KVASIR_AVX2 void Tile(const Panel& p, int64_t k, const uint8_t* act, int s0,
                      const uint8_t* pf, int64_t pf_step) {
  const int64_t nb = k / 32, nsb = k / 256, nsc = k / 16;
  // Scale groups per block, and vectors per int16 sum.
  constexpr int kGroups = kQ6 ? 2 : 1;
  constexpr int kPerSum = kQ6 ? 2 : 8;
  for (int n0 = 0; n0 < kVnniPanelRows; n0 += N) {
    __m256 f[T][N] = {};
    for (int64_t sb = 0; sb < nsb; ++sb) {
      if (n0 == 0) PrefetchShare(pf, pf_step, sb);
      __m256i acc[T][N];
      for (int t = 0; t < T; ++t) {
        for (int n = 0; n < N; ++n) acc[t][n] = _mm256_setzero_si256();
      }
      for (int64_t j = sb * 8; j < sb * 8 + 8; ++j) {
        const uint8_t* ab[T];
        for (int t = 0; t < T; ++t) ab[t] = At(act, nb, s0 + t, j).q;
        for (int v0 = 0; v0 < 8; v0 += kPerSum) {
          __m256i s[T][N];
          for (int v = v0; v < v0 + kPerSum; ++v) {
            __m256i a[T];
            LoadActs(ab, v, a);
            for (int n = 0; n < N; ++n) {
              const __m256i w = Broadcast(p.u + (n0 + n) * k + j * 32 + 4 * v);
              for (int t = 0; t < T; ++t) {
                const __m256i prod = _mm256_maddubs_epi16(w, a[t]);
                s[t][n] = v == v0 ? prod : _mm256_add_epi16(s[t][n], prod);
              }
            }
          }
          const int64_t g = j * kGroups + v0 * kGroups / 8;
          for (int n = 0; n < N; ++n) {
            const __m256i scale = Broadcast(p.sc + (n0 + n) * nsc + g);
            for (int t = 0; t < T; ++t) {
              acc[t][n] = _mm256_add_epi32(acc[t][n],
                                           _mm256_madd_epi16(s[t][n], scale));
            }
          }
        }
      }
      // The offsets: Q4_K's Σ_b m_b Σq_b (subtracted after the scale by
      // d_min), Q6_K's 32 Σ_g s_g Σq_g (subtracted from the integer sum).
      __m256i off[T][N];
      for (int t = 0; t < T; ++t) {
        for (int n = 0; n < N; ++n) off[t][n] = _mm256_setzero_si256();
      }
      for (int q = 0; q < (kQ6 ? 8 : 4); ++q) {
        __m256i pr[T];
        for (int t = 0; t < T; ++t) {
          if constexpr (kQ6) {
            const uint8_t* b = At(act, nb, s0 + t, sb * 8 + q).rows;
            pr[t] = SumPairs(b + 640, b + 704);
          } else {
            pr[t] =
                SumPairs(At(act, nb, s0 + t, sb * 8 + 2 * q).rows + 576,
                         At(act, nb, s0 + t, sb * 8 + 2 * q + 1).rows + 576);
          }
        }
        for (int n = 0; n < N; ++n) {
          const __m256i m =
              Broadcast(p.aux + (n0 + n) * nsc + sb * 4 * kGroups + q);
          for (int t = 0; t < T; ++t) {
            off[t][n] =
                _mm256_add_epi32(off[t][n], _mm256_madd_epi16(m, pr[t]));
          }
        }
      }
      for (int t = 0; t < T; ++t) {
        const __m256 dx = _mm256_loadu_ps(reinterpret_cast<const float*>(
            At(act, nb, s0 + t, sb * 8).rows + 512));
        for (int n = 0; n < N; ++n) {
          const int32_t* aux = p.aux + (n0 + n) * nsc;
          __m256 sum;
          if constexpr (kQ6) {
            sum =
                _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(
                                  acc[t][n], _mm256_slli_epi32(off[t][n], 5))),
                              _mm256_set1_ps(LoadFloat(aux + k / 32 + sb)));
          } else {
            sum = _mm256_fmsub_ps(
                _mm256_cvtepi32_ps(acc[t][n]),
                _mm256_set1_ps(LoadFloat(aux + k / 64 + sb)),
                _mm256_mul_ps(
                    _mm256_cvtepi32_ps(off[t][n]),
                    _mm256_set1_ps(LoadFloat(aux + k / 64 + nsb + sb))));
          }
          f[t][n] = _mm256_fmadd_ps(sum, dx, f[t][n]);
        }
      }
    }
    StoreOut(p, n0, f);
  }
}

// Q8_0's tile, as Tile's layout: each product pair of |w| and x signed as w
// (vpsignb) is at most 2 * 128 * 127 in magnitude, so the int16 sums go to
// int32 at once (vpmaddwd by ones); one scale per block of 32 on both
// sides, applied per block (activations of 32 values per scale). `pf`:
// pf_step bytes per block.
template <int T, int N>
KVASIR_AVX2 void TileQ8(const Panel& p, int64_t k, const uint8_t* act, int s0,
                        const uint8_t* pf, int64_t pf_step) {
  const int64_t nb = k / 32, nsc = k / 16;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int n0 = 0; n0 < kVnniPanelRows; n0 += N) {
    __m256 f[T][N] = {};
    for (int64_t j = 0; j < nb; ++j) {
      if (n0 == 0) PrefetchShare(pf, pf_step, j);
      const uint8_t* ab[T];
      for (int t = 0; t < T; ++t) ab[t] = At(act, nb, s0 + t, j).q;
      __m256i acc[T][N];
      for (int v = 0; v < 8; ++v) {
        __m256i a[T];
        LoadActs(ab, v, a);
        for (int n = 0; n < N; ++n) {
          const __m256i w = Broadcast(p.u + (n0 + n) * k + j * 32 + 4 * v);
          const __m256i aw = _mm256_abs_epi8(w);
          for (int t = 0; t < T; ++t) {
            const __m256i prod = _mm256_madd_epi16(
                _mm256_maddubs_epi16(aw, _mm256_sign_epi8(a[t], w)), ones);
            acc[t][n] = v == 0 ? prod : _mm256_add_epi32(acc[t][n], prod);
          }
        }
      }
      for (int t = 0; t < T; ++t) {
        const __m256 dx = _mm256_loadu_ps(
            reinterpret_cast<const float*>(At(act, nb, s0 + t, j).rows + 512));
        for (int n = 0; n < N; ++n) {
          const __m256 d = _mm256_mul_ps(
              _mm256_set1_ps(LoadFloat(p.sc + (n0 + n) * nsc + j)), dx);
          f[t][n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][n]), d, f[t][n]);
        }
      }
    }
    StoreOut(p, n0, f);
  }
}

using TileFn = void (*)(const Panel& p, int64_t k, const uint8_t* act, int s0,
                        const uint8_t* pf, int64_t pf_step);

// One sub-tile, and two at once (each weight broadcast feeding 16 rows), 4
// weight rows per pass. Measured (quant_bench, avx2-panels/hot, one
// thread, Zen 3, 4096 x 4096, GOP/s at m = 32): two sub-tiles by 4 weight
// rows Q4_K 178-185, Q6_K 112-129; by 2 rows 115-130 / 119-127; four
// sub-tiles by 2 rows 128-151 / 116-119, by 1 row 86-114 / 97-107; one
// sub-tile by 8 rows 112-120 / 96-108.
template <bool kQ6>
constexpr TileFn kTiles[] = {Tile<kQ6, 1, 4>, Tile<kQ6, 2, 4>};
// Q8_0 (the same, GOP/s at m = 32 and 64, three rounds): two sub-tiles by
// 4 weight rows 69-97 / 90-106, by 2 rows 71-87 / 73-89; the dot kernels
// 58-66 / 56-63.
constexpr TileFn kTilesQ8[] = {TileQ8<1, 4>, TileQ8<2, 4>};

}  // namespace

bool Avx2PanelCovers(uint32_t type) {
  return type == static_cast<uint32_t>(TensorType::kQ8_0) ||
         VnniTakesSuperAct(type);
}

KVASIR_AVX2 void Avx2PanelPackRows(const ActRows& a, int m, int64_t k,
                                   int64_t t_begin, int64_t t_end,
                                   uint8_t* packed) {
  const int64_t nb = k / 32;
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t t = t_begin; t < t_end; ++t) {
    for (int h = 0; h < 2; ++h) {
      const int r0 = static_cast<int>(t) * kVnniTileRows + h * kSubRows;
      const int rows = std::clamp(m - r0, 0, kSubRows);
      for (int64_t j = 0; j < nb; ++j) {
        uint8_t* ab = packed + (t * nb + j) * kVnniBlockBytes;
        __m256 r[kSubRows];
        float dx[kSubRows] = {};
        for (int i = 0; i < kSubRows; ++i) {
          r[i] =
              i < rows
                  ? _mm256_castsi256_ps(Load256(
                        reinterpret_cast<const uint8_t*>(a.q(r0 + i)) + j * 32))
                  : _mm256_setzero_ps();
          if (i < rows) dx[i] = a.d8(r0 + i)[j * 8];
        }
        ops::Transpose8x8(r);
        __m256i half[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int v = 0; v < 8; ++v) {
          const __m256i x = _mm256_castps_si256(r[v]);
          _mm256_store_si256(reinterpret_cast<__m256i*>(ab + h * 256 + v * 32),
                             x);
          half[v / 4] =
              _mm256_add_epi16(half[v / 4], _mm256_maddubs_epi16(ones8, x));
        }
        const __m256i h0 = _mm256_madd_epi16(half[0], ones16);
        const __m256i h1 = _mm256_madd_epi16(half[1], ones16);
        std::memcpy(ab + 512 + h * 32, dx, sizeof(dx));
        Store256(ab + 576 + h * 32, _mm256_add_epi32(h0, h1));
        Store256(ab + 640 + h * 32, h0);
        Store256(ab + 704 + h * 32, h1);
      }
    }
  }
}

KVASIR_AVX2 void Avx2Panel(uint32_t type, const uint8_t* w, int64_t row_bytes,
                           int rows, int64_t k, const uint8_t* packed, int m,
                           bool /*super_act*/, const uint8_t* next,
                           int64_t next_bytes, uint8_t* scratch, float* y,
                           int64_t y_stride) {
  const bool q6 = type == static_cast<uint32_t>(TensorType::kQ6_K);
  const bool q8 = type == static_cast<uint32_t>(TensorType::kQ8_0);
  const Panel p(scratch, k);
  const int64_t nsc = k / 16;
  const auto decode = q8 ? DecodeQ8_0 : q6 ? DecodeQ6_K : DecodeQ4_K;
  for (int n = 0; n < rows; ++n) {
    decode(w + n * row_bytes, k, p.u + n * k, p.sc + n * nsc, p.aux + n * nsc);
  }
  // A short panel's missing rows: zero scales (their sums are not stored,
  // but the scratch is reused and must not hold NaNs).
  for (int n = rows; n < kVnniPanelRows; ++n) {
    std::memset(p.sc + n * nsc, 0, static_cast<size_t>(nsc) * 4);
    std::memset(p.aux + n * nsc, 0, static_cast<size_t>(nsc) * 4);
  }
  const TileFn* tiles = q8 ? kTilesQ8 : q6 ? kTiles<true> : kTiles<false>;
  const int subs = (m + kSubRows - 1) / kSubRows;
  // The tiles prefetch a share per super-block (Q8_0: per block).
  const int64_t steps = q8 ? k / 32 : k / 256;
  const int64_t pf_step = (next_bytes / steps + 63) / 64 * 64;
  for (int s = 0; s < subs;) {
    const int pair = std::min(subs - s, 2);
    tiles[pair - 1](p, k, packed, s, s == 0 ? next : nullptr, pf_step);
    for (int i = 0; i < pair; ++i) {
      const int r0 = (s + i) * kSubRows;
      const int rows_i = std::min(kSubRows, m - r0);
      const float* o = p.out + i * kVnniPanelRows * kSubRows;
      if (rows == kVnniPanelRows) {
        __m256 r[8];
        for (int n = 0; n < 8; ++n) r[n] = _mm256_loadu_ps(o + n * kSubRows);
        ops::Transpose8x8(r);
        for (int j = 0; j < rows_i; ++j) {
          _mm256_storeu_ps(y + (r0 + j) * y_stride, r[j]);
        }
        continue;
      }
      for (int n = 0; n < rows; ++n) {
        for (int r = 0; r < rows_i; ++r) {
          y[(r0 + r) * y_stride + n] = o[n * kSubRows + r];
        }
      }
    }
    s += pair;
  }
}

}  // namespace kvasir::engine::quant::internal
