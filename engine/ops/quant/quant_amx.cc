// QuantLinear's batched path on AMX (see quant_amx.h). Compiled with target
// attributes so the binary runs on any x86-64; called only after AmxUsable.

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once they are inlined here
// (GCC bug 105593, fixed in 12.3 / 13).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "engine/ops/quant/quant_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_kernels.h"

#define KVASIR_AMX                                                       \
  __attribute__((target(                                                 \
      "amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16," \
      "fma,f16c")))

namespace kvasir::engine::quant::internal {
namespace {

using gguf::TensorType;

// The tile instructions are inline asm without memory operands in GCC's
// headers: the compiler does not know that a tile load reads the panel
// just stored, nor that a tile store writes the buffer read next. A
// compiler barrier orders them.
inline void MemoryBarrier() { asm volatile("" ::: "memory"); }

// Values per tile (16 rows x 32 bf16).
constexpr int64_t kTileValues = kAmxRows * kAmxK;
// k slices per block: AmxTask dequantizes its weights a block of k at a
// time into a panel that stays in L1 (2 tiles x 16 rows x 512 bf16 = 32 KB)
// while the tiles multiply it.
constexpr int kBlockSlices = kAmxPanelBytes / (2 * kAmxRows * kAmxK * 2);

int64_t GetBlockValues(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
      return 256;
    default:
      return 32;
  }
}

KVASIR_AMX inline float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

KVASIR_AMX inline __m512i Bf16Pair(__m512 lo, __m512 hi) {
  // cvtne2ps puts its second operand in the low 16 values.
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

KVASIR_AMX inline void StoreSlice(uint16_t* out, int64_t slice, __m512i v) {
  _mm512_store_si512(out + slice * kTileValues, v);
}

// Signed bytes -> 16 floats times `scale`.
KVASIR_AMX inline __m512 ScaledBytes(__m128i q, float scale) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
                       _mm512_set1_ps(scale));
}

// The panel dequantizers: one weight row of k values -> bf16 at
// out + s * kTileValues for each k slice s of 32 (row n of a panel starts at
// panel + n * 32).
//
// The 4-bit types look their values up: per block (or sub-block), the 16
// possible weights d * q + c are computed in f32 once, rounded to bf16, and
// vpermw maps each nibble to its bf16 weight, so a value costs a fraction
// of an instruction.

// Q4_K: two sub-blocks (64 values) share 32 bytes of qs, the low nibbles
// the first, the high the second; one table of 32 words holds both.
KVASIR_AMX void PanelQ4K(const uint8_t* w, int64_t k, uint16_t* out) {
  const __m512 iota =
      _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i low4 = _mm512_set1_epi16(0x0F);
  const __m512i second = _mm512_set1_epi16(0x10);
  const __m512 dmul_mask =
      _mm512_setr_ps(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 144;
    uint8_t sm[16];
    UnpackKScales(blk + 4, sm);
    // Lanes 0-7: d * scale, lanes 8-15: dmin * min.
    const __m512 d = _mm512_set1_ps(Half(blk));
    const __m512 dmin = _mm512_set1_ps(Half(blk + 2));
    const __m512 mul = _mm512_add_ps(
        _mm512_mul_ps(d, dmul_mask),
        _mm512_mul_ps(dmin, _mm512_sub_ps(_mm512_set1_ps(1.0f), dmul_mask)));
    alignas(64) float f[16];
    _mm512_store_ps(
        f, _mm512_mul_ps(
               mul, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                        reinterpret_cast<const __m128i*>(sm))))));
    const uint8_t* qs = blk + 16;
    for (int p = 0; p < 4; ++p) {
      const int j = 2 * p;
      const __m512 t0 =
          _mm512_fmsub_ps(iota, _mm512_set1_ps(f[j]), _mm512_set1_ps(f[8 + j]));
      const __m512 t1 = _mm512_fmsub_ps(iota, _mm512_set1_ps(f[j + 1]),
                                        _mm512_set1_ps(f[9 + j]));
      const __m512i table = Bf16Pair(t0, t1);
      const __m512i q = _mm512_cvtepu8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p)));
      const __m512i lo = _mm512_and_si512(q, low4);
      const __m512i hi = _mm512_or_si512(_mm512_srli_epi16(q, 4), second);
      StoreSlice(out, b * 8 + j, _mm512_permutexvar_epi16(lo, table));
      StoreSlice(out, b * 8 + j + 1, _mm512_permutexvar_epi16(hi, table));
    }
  }
}

// Q4_0: d * (q - 8), the low nibbles of qs values 0..15, the high 16..31.
KVASIR_AMX void PanelQ40(const uint8_t* w, int64_t k, uint16_t* out) {
  const __m512 iota =
      _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m256i low4 = _mm256_set1_epi16(0x0F);
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* blk = w + b * 18;
    const float d = Half(blk);
    const __m512 t =
        _mm512_fmsub_ps(iota, _mm512_set1_ps(d), _mm512_set1_ps(8.0f * d));
    const __m512i table = Bf16Pair(t, t);
    const __m256i q = _mm256_cvtepu8_epi16(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    const __m512i idx =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, low4)),
                           _mm256_srli_epi16(q, 4), 1);
    StoreSlice(out, b, _mm512_permutexvar_epi16(idx, table));
  }
}

// Q8_0: d * q.
KVASIR_AMX void PanelQ80(const uint8_t* w, int64_t k, uint16_t* out) {
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* blk = w + b * 34;
    const float d = Half(blk);
    const __m128i* q = reinterpret_cast<const __m128i*>(blk + 2);
    StoreSlice(out, b,
               Bf16Pair(ScaledBytes(_mm_loadu_si128(q), d),
                        ScaledBytes(_mm_loadu_si128(q + 1), d)));
  }
}

// Q6_K: d * scale * (q - 32) per sub-block of 16, q = 4 bits of ql and 2 of
// qh. Each half (128 values) takes 64 bytes of ql and 32 of qh: values
// 0-31 are the low nibbles of ql[0..31] with qh bits 0-1, 32-63 the low
// nibbles of ql[32..63] with bits 2-3, 64-95 / 96-127 the high nibbles with
// bits 4-5 / 6-7.
KVASIR_AMX void PanelQ6K(const uint8_t* w, int64_t k, uint16_t* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i bias = _mm512_set1_epi8(32);
  const __m256i m0 = _mm256_set1_epi8(0x03), m1 = _mm256_set1_epi8(0x0C),
                m2 = _mm256_set1_epi8(0x30),
                m3 = _mm256_set1_epi8(static_cast<char>(0xC0));
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    alignas(64) float f[16];
    _mm512_store_ps(
        f, ScaledBytes(
               _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)),
               Half(blk + 208)));
    for (int h = 0; h < 2; ++h) {
      const __m512i l = _mm512_loadu_si512(blk + 64 * h);
      const __m256i qh = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
      // Each 2-bit field moved to bits 4-5 of its byte (masked first, so
      // the 16-bit shifts move no bits across bytes).
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m0), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(qh, m1), 2);
      const __m256i h2 = _mm256_and_si256(qh, m2);
      const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(qh, m3), 2);
      const __m512i q01 = _mm512_sub_epi8(
          _mm512_or_si512(
              _mm512_and_si512(l, low4),
              _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1)),
          bias);
      const __m512i q23 = _mm512_sub_epi8(
          _mm512_or_si512(
              _mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
              _mm512_inserti64x4(_mm512_castsi256_si512(h2), h3, 1)),
          bias);
      const __m512i q[2] = {q01, q23};
      for (int j = 0; j < 4; ++j) {
        const int s = 4 * h + j;  // slice within the block
        const __m512i v = q[j / 2];
        const int lane = (j % 2) * 2;  // 128-bit lane of the first 16
        __m128i a, c;
        if (lane == 0) {
          a = _mm512_extracti32x4_epi32(v, 0);
          c = _mm512_extracti32x4_epi32(v, 1);
        } else {
          a = _mm512_extracti32x4_epi32(v, 2);
          c = _mm512_extracti32x4_epi32(v, 3);
        }
        StoreSlice(
            out, b * 8 + s,
            Bf16Pair(ScaledBytes(a, f[2 * s]), ScaledBytes(c, f[2 * s + 1])));
      }
    }
  }
}

using PanelFn = void (*)(const uint8_t* w, int64_t k, uint16_t* out);

PanelFn Panel(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
      return PanelQ40;
    case TensorType::kQ8_0:
      return PanelQ80;
    case TensorType::kQ4_K:
      return PanelQ4K;
    case TensorType::kQ6_K:
      return PanelQ6K;
    default:
      return nullptr;
  }
}

struct alignas(64) TileConfig {
  uint8_t palette = 0;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tile numbers: A (weights) tmm0-1, B (activations) tmm2-3, C tmm4-7
// with C[a][t] = tmm(4 + 2a + t). The intrinsics want constants, so the
// numbers are written out below.

// For GA (1, 2) weight tiles and GT (1, 2) activation tiles: C[a][t] +=
// A[a] · B[t] over `slices` k slices. panel: A tile a, slice s at
// panel + (a * kBlockSlices + s) * kTileValues; b: B tile t, slice s at
// b + t * t_stride + s * kTileValues. c: the accumulators' home, C[a][t] at
// c + (2t + a) * 256 (16 x 16 f32, weight row n, activation row r at
// n * 16 + r): zeroed, loaded from c or kept in the tiles from the last
// call as `start` says, stored to c if `store`.
enum class Start { kZero, kLoad, kKeep };
template <int GA, int GT>
KVASIR_AMX void TileBlock(const uint16_t* panel, const uint16_t* b,
                          int64_t t_stride, int slices, float* c, Start start,
                          bool store) {
  if (start == Start::kZero) {
    _tile_zero(4);
    if constexpr (GT > 1) _tile_zero(5);
    if constexpr (GA > 1) _tile_zero(6);
    if constexpr (GA > 1 && GT > 1) _tile_zero(7);
  } else if (start == Start::kLoad) {
    MemoryBarrier();
    _tile_loadd(4, c, 64);
    if constexpr (GT > 1) _tile_loadd(5, c + 512, 64);
    if constexpr (GA > 1) _tile_loadd(6, c + 256, 64);
    if constexpr (GA > 1 && GT > 1) _tile_loadd(7, c + 768, 64);
  }
  // Software-pipelined: the tiles are not renamed, so a load waits for the
  // last product that reads its register; each load of the next slice is
  // issued right after that product, so its latency (the activations come
  // from L2) hides behind the products still to run.
  const uint16_t* a1 = panel + kBlockSlices * kTileValues;
  _tile_loadd(0, panel, 64);
  _tile_loadd(2, b, 64);
  if constexpr (GT > 1) _tile_loadd(3, b + t_stride, 64);
  if constexpr (GA > 1) _tile_loadd(1, a1, 64);
  for (int s = 0; s < slices; ++s) {
    // The last slice reloads itself (harmless) instead of a branch.
    const int64_t next = (s + 1 < slices ? s + 1 : s) * kTileValues;
    _tile_dpbf16ps(4, 0, 2);
    if constexpr (GT > 1) _tile_dpbf16ps(5, 0, 3);
    _tile_loadd(0, panel + next, 64);
    if constexpr (GA > 1) _tile_dpbf16ps(6, 1, 2);
    _tile_loadd(2, b + next, 64);
    if constexpr (GA > 1 && GT > 1) _tile_dpbf16ps(7, 1, 3);
    if constexpr (GA > 1) _tile_loadd(1, a1 + next, 64);
    if constexpr (GT > 1) _tile_loadd(3, b + t_stride + next, 64);
  }
  if (store) {
    _tile_stored(4, c, 64);
    if constexpr (GT > 1) _tile_stored(5, c + 512, 64);
    if constexpr (GA > 1) _tile_stored(6, c + 256, 64);
    if constexpr (GA > 1 && GT > 1) _tile_stored(7, c + 768, 64);
    MemoryBarrier();
  }
}

template <int GA>
KVASIR_AMX void TileBlockG(int gt, const uint16_t* panel, const uint16_t* b,
                           int64_t t_stride, int slices, float* c, Start start,
                           bool store) {
  if (gt == 1) {
    TileBlock<GA, 1>(panel, b, t_stride, slices, c, start, store);
  } else {
    TileBlock<GA, 2>(panel, b, t_stride, slices, c, start, store);
  }
}

}  // namespace

bool CpuHasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool AmxUsable() {
  static const bool usable = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    const bool avx512_bf16 = (a >> 5) & 1;
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("fma") && CpuHasF16c();
    if (!(amx_bf16 && amx_tile && avx512_bf16 && avx512)) return false;
    // Linux hands out the 8 KB tile state only on request (5.16+).
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return usable;
}

bool AmxCovers(uint32_t type) { return Panel(type) != nullptr; }

KVASIR_AMX void AmxPackRows(const float* x, int64_t k, int row_begin,
                            int row_end, uint16_t* packed) {
  const int64_t slices = k / kAmxK;
  // Dword p of a converted slice (the pair 2p, 2p+1) goes to tile row p.
  const __m512i rows = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128,
                                         144, 160, 176, 192, 208, 224, 240);
  for (int r = row_begin; r < row_end; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * k;
    int* base = reinterpret_cast<int*>(
        packed + (r / kAmxRows) * slices * kTileValues + (r % kAmxRows) * 2);
    for (int64_t s = 0; s < slices; ++s) {
      const __m512i v = Bf16Pair(_mm512_loadu_ps(xr + s * kAmxK),
                                 _mm512_loadu_ps(xr + s * kAmxK + 16));
      _mm512_i32scatter_epi32(base + s * (kTileValues / 2), rows, v, 4);
    }
  }
}

KVASIR_AMX void AmxBeginThread() {
  TileConfig config;
  config.palette = 1;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = kAmxRows;
    config.colsb[t] = 64;
  }
  // Not _tile_loadconfig: GCC 12's macro tells the compiler it reads only
  // the first 8 bytes, so the stores of the rest may be dropped.
  asm volatile("ldtilecfg %0" ::"m"(config));
}

KVASIR_AMX void AmxEndThread() { _tile_release(); }

KVASIR_AMX void AmxTask(const AmxWeightTile* tiles, int n_tiles, int64_t k,
                        const uint16_t* packed, int m, uint8_t* scratch,
                        int64_t y_stride) {
  uint16_t* panel = reinterpret_cast<uint16_t*>(scratch);
  float* c = reinterpret_cast<float*>(scratch + kAmxPanelBytes);
  const int64_t slices = k / kAmxK;
  const int m_tiles = (m + kAmxRows - 1) / kAmxRows;
  const int groups = (m_tiles + 1) / 2;
  const int64_t t_stride = slices * kTileValues;
  const int64_t block = kBlockSlices * kAmxK;
  for (int64_t k0 = 0; k0 < k; k0 += block) {
    const int64_t len = std::min(block, k - k0);
    const int block_slices = static_cast<int>(len / kAmxK);
    for (int a = 0; a < n_tiles; ++a) {
      const AmxWeightTile& t = tiles[a];
      const PanelFn dequant = Panel(t.type);
      const int64_t values = GetBlockValues(t.type);
      const int64_t bytes = t.row_bytes / (k / values);
      const uint8_t* w = t.data + k0 / values * bytes;
      uint16_t* out = panel + a * kBlockSlices * kTileValues;
      const int64_t next = k0 + len < k ? len / values * bytes : 0;
      for (int n = 0; n < t.rows; ++n) {
        const uint8_t* row = w + n * t.row_bytes;
        // The next block of this row: its lines arrive while the tiles
        // multiply this one.
        for (int64_t off = 0; off < next; off += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(row + next + off),
                       _MM_HINT_T0);
        }
        dequant(row, len, out + n * kAmxK);
      }
    }
    MemoryBarrier();
    // With one group of activation tiles the accumulators stay in the tile
    // registers over all of k; with more, each group's go to and from c.
    const bool first = k0 == 0, last = k0 + len >= k;
    for (int g = 0; g < groups; ++g) {
      const int gt = std::min(2, m_tiles - 2 * g);
      const uint16_t* b = packed + 2 * g * t_stride + k0 / kAmxK * kTileValues;
      float* cg = c + g * 4 * 256;
      const Start start = first         ? Start::kZero
                          : groups == 1 ? Start::kKeep
                                        : Start::kLoad;
      const bool store = groups > 1 || last;
      if (n_tiles == 1) {
        TileBlockG<1>(gt, panel, b, t_stride, block_slices, cg, start, store);
      } else {
        TileBlockG<2>(gt, panel, b, t_stride, block_slices, cg, start, store);
      }
    }
    MemoryBarrier();
  }
  // C[a][t] is [weight row n][activation row r]: y's row r is its column r.
  const __m512i transpose = _mm512_setr_epi32(
      0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  for (int a = 0; a < n_tiles; ++a) {
    const __mmask16 mask = static_cast<__mmask16>((1u << tiles[a].rows) - 1);
    for (int r = 0; r < m; ++r) {
      const int t = r / kAmxRows;
      const float* col = c + (t * 2 + a) * 256 + r % kAmxRows;
      _mm512_mask_storeu_ps(tiles[a].y + r * y_stride, mask,
                            _mm512_i32gather_ps(transpose, col, 4));
    }
  }
}

}  // namespace kvasir::engine::quant::internal
