// QuantizeRow (declared in quant_formats.h): f32 -> the ggml block formats.
//
// The encoders follow ggml's reference quantizers (quantize_row_*_ref in
// ggml-quants.c) closely enough that their output is what any GGUF reader
// expects: same block layouts, same scale conventions (the signed "max"
// scale of Q4_0/Q5_0/Q6_K, the positive subtracted min of Q4_1/Q5_1 and the
// K-quants) and the same searched scales for Q4_K/Q5_K/Q6_K. Every encoder
// works on stack buffers only, so rows can be encoded from many threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/model/gguf_dequant.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine::quant {
namespace {

using gguf::TensorType;

constexpr int kQK = 32;    // values per block of the 32-value formats
constexpr int kQKK = 256;  // values per K-quant super-block
// Below this a Q6_K super-block is all zeros (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// Round half to even for |x| < 2^22 (all levels and 6/8-bit scales are far
// below that), as ggml's nearest_int: adding 1.5 * 2^23 pushes the fraction
// out of the mantissa, whose low 23 bits then hold round(x) + 2^22. Plain
// float arithmetic, so the search loops stay free of libm calls.
inline int NearestInt(float x) {
  const float shifted = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

inline void StoreHalf(uint8_t* dst, float v) {
  const uint16_t h = gguf::FloatToHalf(v);
  std::memcpy(dst, &h, sizeof(h));
}
inline float RoundTripHalf(float v) {
  return gguf::HalfToFloat(gguf::FloatToHalf(v));
}

// The value of largest magnitude in x[0, n), with its sign (0 if all are 0).
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int i = 1; i < n; ++i) {
    *min = std::min(*min, x[i]);
    *max = std::max(*max, x[i]);
  }
}

// ---- 32-value formats --------------------------------------------------

// Q4_0 (18 bytes): d = max / -8 where max is the signed value of largest
// magnitude, so that value encodes as level 0 exactly and the levels 0..15
// cover [-8d, 7d]; q = floor(x/d + 8.5) clamped to 15.
void EncodeQ4_0(const float* x, uint8_t* y) {
  const float d = SignedAbsMax(x, kQK) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(y, d);
  uint8_t* qs = y + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
    const int hi = std::min(15, static_cast<int>(x[j + kQK / 2] * id + 8.5f));
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

// Q4_1 (20 bytes): d = (max - min) / 15, m = min; q = round((x - m) / d).
void EncodeQ4_1(const float* x, uint8_t* y) {
  float min, max;
  MinMax(x, kQK, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(y, d);
  StoreHalf(y + 2, min);
  uint8_t* qs = y + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(15, static_cast<int>((x[j] - min) * id + 0.5f));
    const int hi =
        std::min(15, static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f));
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

// Q5_0 (22 bytes): as Q4_0 with 32 levels (d = max / -16); the 5th bit of
// value j goes to bit j of the little-endian u32 qh.
void EncodeQ5_0(const float* x, uint8_t* y) {
  const float d = SignedAbsMax(x, kQK) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(y, d);
  uint32_t qh = 0;
  uint8_t* qs = y + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(31, static_cast<int>(x[j] * id + 16.5f));
    const int hi = std::min(31, static_cast<int>(x[j + kQK / 2] * id + 16.5f));
    qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    qh |= static_cast<uint32_t>(lo >> 4) << j;
    qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
  }
  std::memcpy(y + 2, &qh, sizeof(qh));
}

// Q5_1 (24 bytes): as Q4_1 with 32 levels, 5th bits as Q5_0.
void EncodeQ5_1(const float* x, uint8_t* y) {
  float min, max;
  MinMax(x, kQK, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(y, d);
  StoreHalf(y + 2, min);
  uint32_t qh = 0;
  uint8_t* qs = y + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(31, static_cast<int>((x[j] - min) * id + 0.5f));
    const int hi =
        std::min(31, static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f));
    qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    qh |= static_cast<uint32_t>(lo >> 4) << j;
    qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
  }
  std::memcpy(y + 4, &qh, sizeof(qh));
}

// Q8_0 (34 bytes): d = max|x| / 127, q = round(x / d) (half away from 0).
void EncodeQ8_0(const float* x, uint8_t* y) {
  const float d = std::fabs(SignedAbsMax(x, kQK)) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(y, d);
  for (int j = 0; j < kQK; ++j) {
    y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
  }
}

// ---- K-quant scale searches --------------------------------------------

// Fits x[0, n) ~= scale * L - min_out with L in [0, nmax] and min_out >= 0,
// minimising the weighted squared error: starts from the plain min/max fit
// and tries nstep + 1 stretched inverse scales (nmax + rmin + rdelta * k)
// / range, solving for the least-squares scale and offset of each level
// assignment (ggml's make_qkx2_quants). Returns the scale; the levels are
// in L.
float FitScaleAndMin(int n, int nmax, const float* x, const float* w,
                     uint8_t* L, float* min_out, float rmin, float rdelta,
                     int nstep) {
  float min = x[0], max = x[0];
  float sum_w = 0.0f, sum_x = 0.0f;
  for (int i = 0; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  // The offset only ever moves values up, so a block that is all positive
  // is fit from 0.
  min = std::min(min, 0.0f);
  if (max == min) {
    std::fill(L, L + n, 0);
    *min_out = -min;
    return 0.0f;
  }
  const float first_iscale = nmax / (max - min);
  float scale = 1.0f / first_iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(
        std::clamp(NearestInt(first_iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * diff * diff;
  }
  // Later trials measure levels from the best offset found so far.
  uint8_t trial[kQK];
  for (int step = 0; step <= nstep; ++step) {
    const float iscale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0.0f) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.0f) {  // an offset above 0 is not representable
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * diff * diff;
    }
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *min_out = -min;
  return scale;
}

// Fits x[0, n) ~= scale * (L - nmax) with L in [0, 2 nmax), weighting each
// value by x^2: tries 19 inverse scales -(nmax + 0.1 k) / max, k = -9..9,
// and keeps the one whose least-squares scale explains most of the weighted
// energy (ggml's make_qx_quants with rmse_type 1). Returns the (signed)
// scale; 0 with L all 0 when x is all zero.
float FitSymmetricScale(int n, int nmax, const float* x, uint8_t* L) {
  const float max = SignedAbsMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  auto sums = [&](float iscale, float* sum_lx, float* sum_l2) {
    *sum_lx = 0.0f;
    *sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      *sum_lx += w * x[i] * l;
      *sum_l2 += w * l * l;
    }
  };
  auto assign = [&](float iscale) {
    for (int i = 0; i < n; ++i) {
      L[i] = static_cast<uint8_t>(
          nmax + std::clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
    }
  };
  float sum_lx, sum_l2;
  float iscale = -nmax / max;
  sums(iscale, &sum_lx, &sum_l2);
  assign(iscale);
  float scale = sum_l2 != 0.0f ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(nmax + 0.1f * k) / max;
    sums(iscale, &sum_lx, &sum_l2);
    // sum_lx^2 / sum_l2 is the energy the fitted scale explains.
    if (sum_l2 > 0.0f && sum_lx * sum_lx > best * sum_l2) {
      assign(iscale);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// The 8 6-bit scales and 8 6-bit mins of Q4_K/Q5_K in 12 bytes: sub-blocks
// 0..3 keep scale and min in the low 6 bits of bytes j and j + 4; 4..7 put
// their low 4 bits in the nibbles of byte j + 4 and their top 2 bits in the
// free top bits of bytes j - 4 (scale) and j (min).
void PackScalesMins(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q4_K / Q5_K super-block (nmax 15 / 31): per sub-block of 32 a searched
// scale and min (weights sqrt(mean x^2) + |x|), both quantized to 6 bits
// against the block's largest (d = max_scale / 63, dmin = max_min / 63),
// then every value re-rounded against the stored scale and min. Writes the
// levels to L and d, dmin, scales to the first 16 bytes of y.
void EncodeKScalesAndLevels(const float* x, int nmax, float rmin, int nstep,
                            uint8_t* y, uint8_t* L) {
  float scales[8], mins[8], weights[kQK];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + kQK * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < kQK; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / kQK);
    for (int l = 0; l < kQK; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitScaleAndMin(kQK, nmax, xs, weights, L + kQK * j, &mins[j],
                               rmin, 0.1f, nstep);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] =
        static_cast<uint8_t>(std::min(63, NearestInt(inv_scale * scales[j])));
    lm[j] = static_cast<uint8_t>(std::min(63, NearestInt(inv_min * mins[j])));
  }
  StoreHalf(y, max_scale / 63.0f);
  StoreHalf(y + 2, max_min / 63.0f);
  PackScalesMins(ls, lm, y + 4);
  const float d = RoundTripHalf(max_scale / 63.0f);
  const float dmin = RoundTripHalf(max_min / 63.0f);
  for (int j = 0; j < 8; ++j) {
    const float ds = d * ls[j];
    // A zero scale decodes every value to -dm; keep the search's levels.
    if (ds == 0.0f) continue;
    const float dm = dmin * lm[j];
    for (int l = 0; l < kQK; ++l) {
      const int q = NearestInt((x[kQK * j + l] + dm) / ds);
      L[kQK * j + l] = static_cast<uint8_t>(std::clamp(q, 0, nmax));
    }
  }
}

// Q4_K (144 bytes): d, dmin, scales[12], qs[128]. Each 64 values share 32
// bytes of qs: the first 32 in the low nibbles, the next 32 in the high.
void EncodeQ4_K(const float* x, uint8_t* y) {
  uint8_t L[kQKK];
  EncodeKScalesAndLevels(x, 15, -1.0f, 20, y, L);
  uint8_t* qs = y + 16;
  for (int c = 0; c < kQKK; c += 64, qs += 32) {
    for (int l = 0; l < 32; ++l) {
      qs[l] = static_cast<uint8_t>(L[c + l] | (L[c + l + 32] << 4));
    }
  }
}

// Q5_K (176 bytes): d, dmin, scales[12], qh[32], qs[128]. Low 4 bits as
// Q4_K; the 5th bit of value c + l (chunk c of 64, l < 32) is bit 2 c/64 of
// qh[l], of value c + 32 + l bit 2 c/64 + 1.
void EncodeQ5_K(const float* x, uint8_t* y) {
  uint8_t L[kQKK];
  EncodeKScalesAndLevels(x, 31, -0.5f, 15, y, L);
  uint8_t* qh = y + 16;
  uint8_t* qs = y + 48;
  std::memset(qh, 0, 32);
  int bit = 0;
  for (int c = 0; c < kQKK; c += 64, qs += 32, bit += 2) {
    for (int l = 0; l < 32; ++l) {
      const int lo = L[c + l], hi = L[c + l + 32];
      qs[l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh[l] |=
          static_cast<uint8_t>(((lo >> 4) << bit) | ((hi >> 4) << (bit + 1)));
    }
  }
}

// Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], d. Per sub-block of
// 16 a searched signed scale; the scales are quantized to int8 against the
// one of largest magnitude (d = -max_scale / 128) and the values re-rounded
// to 6-bit levels L = q + 32. Per half of 128 values (h), l < 32: ql[l]
// holds L[l] | L[l + 64] << 4, ql[l + 32] holds L[l + 32] | L[l + 96] << 4
// and qh[l] the top 2 bits of L[l], L[l + 32], L[l + 64], L[l + 96].
void EncodeQ6_K(const float* x, uint8_t* y) {
  uint8_t L[kQKK];
  float scales[16];
  float max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int s = 0; s < 16; ++s) {
    scales[s] = FitSymmetricScale(16, 32, x + 16 * s, L + 16 * s);
    if (std::fabs(scales[s]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[s]);
      max_scale = scales[s];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(y, 0, 210);
    return;
  }
  const float iscale = -128.0f / max_scale;
  int8_t* sc = reinterpret_cast<int8_t*>(y + 192);
  for (int s = 0; s < 16; ++s) {
    sc[s] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[s])));
  }
  StoreHalf(y + 208, 1.0f / iscale);
  const float d = RoundTripHalf(1.0f / iscale);
  for (int s = 0; s < 16; ++s) {
    const float ds = d * sc[s];
    if (ds == 0.0f) continue;
    for (int l = 0; l < 16; ++l) {
      const int q = std::clamp(NearestInt(x[16 * s + l] / ds), -32, 31);
      L[16 * s + l] = static_cast<uint8_t>(q + 32);
    }
  }
  uint8_t* ql = y;
  uint8_t* qh = y + 128;
  for (int h = 0; h < kQKK; h += 128, ql += 64, qh += 32) {
    const uint8_t* Lh = L + h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
      ql[l + 32] =
          static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                   ((Lh[l + 64] >> 4) << 4) |
                                   ((Lh[l + 96] >> 4) << 6));
    }
  }
}

// Applies `encode` to every block of `values_per_block` values.
template <typename Encode>
void EncodeBlocks(const float* src, int64_t n, int values_per_block,
                  int bytes_per_block, void* dst, Encode encode) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / values_per_block; ++b) {
    encode(src + b * values_per_block, out + b * bytes_per_block);
  }
}

}  // namespace

void QuantizeRow(uint32_t type, const float* src, int64_t n, void* dst) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::kF16: {
      auto* out = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = gguf::FloatToHalf(src[i]);
        std::memcpy(out + 2 * i, &h, sizeof(h));
      }
      return;
    }
    case TensorType::kBF16: {
      auto* out = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t b = gguf::FloatToBf16(src[i]);
        std::memcpy(out + 2 * i, &b, sizeof(b));
      }
      return;
    }
    case TensorType::kQ4_0:
      return EncodeBlocks(src, n, kQK, 18, dst, EncodeQ4_0);
    case TensorType::kQ4_1:
      return EncodeBlocks(src, n, kQK, 20, dst, EncodeQ4_1);
    case TensorType::kQ5_0:
      return EncodeBlocks(src, n, kQK, 22, dst, EncodeQ5_0);
    case TensorType::kQ5_1:
      return EncodeBlocks(src, n, kQK, 24, dst, EncodeQ5_1);
    case TensorType::kQ8_0:
      return EncodeBlocks(src, n, kQK, 34, dst, EncodeQ8_0);
    case TensorType::kQ4_K:
      return EncodeBlocks(src, n, kQKK, 144, dst, EncodeQ4_K);
    case TensorType::kQ5_K:
      return EncodeBlocks(src, n, kQKK, 176, dst, EncodeQ5_K);
    case TensorType::kQ6_K:
      return EncodeBlocks(src, n, kQKK, 210, dst, EncodeQ6_K);
    default:
      // Precondition violated (a type outside the header's list): leave
      // dst untouched rather than guess a layout.
      return;
  }
}

}  // namespace kvasir::engine::quant
