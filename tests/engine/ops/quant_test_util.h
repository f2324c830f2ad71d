#ifndef KVASIR_TESTS_ENGINE_OPS_QUANT_TEST_UTIL_H_
#define KVASIR_TESTS_ENGINE_OPS_QUANT_TEST_UTIL_H_

// What the QuantLinear tests share: random weights of every type, random
// activations and the double-precision reference product.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/gguf_dequant.h"
#include "engine/ops/bf16.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"

namespace kvasir::engine::quant {

inline constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6,
                          kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10, kQ4_K = 12,
                          kQ5_K = 13, kQ6_K = 14, kBF16 = 30;

inline void PutHalf(uint8_t* p, float v) {
  const uint16_t h = gguf::FloatToHalf(v);
  std::memcpy(p, &h, sizeof(h));
}

inline constexpr uint32_t kQuantTypes[] = {kQ4_0, kQ4_1, kQ5_0, kQ5_1,
                                           kQ8_0, kQ4_K, kQ5_K, kQ6_K};

inline std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas = {Isa::kScalar};
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512Vnni}) {
    if (IsaSupported(isa)) isas.push_back(isa);
  }
  return isas;
}

// A finite f16 block scale: mostly ordinary, sometimes the largest f16 or a
// subnormal one, so the kernels see the whole range.
inline float RandomScale(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 9);
  std::uniform_real_distribution<float> mag(1.0f / 1024, 0.25f);
  const float sign = pick(rng) % 2 ? -1.0f : 1.0f;
  switch (pick(rng)) {
    case 0:
      return sign * 65504.0f;
    case 1: {
      std::uniform_int_distribution<int> sub(1, 0x3FF);
      return gguf::HalfToFloat(static_cast<uint16_t>(sub(rng)));
    }
    default:
      return sign * mag(rng);
  }
}

// Random bytes for rows x k values of `type`, with every f16 scale replaced
// by a finite one (random bytes could be inf or NaN).
inline std::vector<uint8_t> RandomWeights(uint32_t type, int64_t rows,
                                          int64_t k, std::mt19937& rng) {
  std::vector<uint8_t> w(static_cast<size_t>(rows * RowBytes(type, k)));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
  if (type == kF32 || type == kF16 || type == kBF16) {
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    const int size = type == kF32 ? 4 : 2;
    for (size_t i = 0; i < w.size(); i += size) {
      const float v = u(rng);
      if (type == kF32) std::memcpy(&w[i], &v, 4);
      if (type == kF16) PutHalf(&w[i], v);
      if (type == kBF16) {
        const uint16_t h = ops::FloatToBf16(v);
        std::memcpy(&w[i], &h, 2);
      }
    }
    return w;
  }
  const BlockInfo info = *GetBlockInfo(type);
  // Offsets of the f16 scales in a block.
  std::vector<int> halves = {0};
  if (type == kQ4_1 || type == kQ5_1 || type == kQ4_K || type == kQ5_K) {
    halves.push_back(2);
  }
  if (type == kQ6_K) halves = {208};
  for (size_t b = 0; b < w.size(); b += info.block_bytes) {
    for (int off : halves) PutHalf(&w[b + off], RandomScale(rng));
  }
  return w;
}

inline std::vector<float> RandomX(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = u(rng);
  return x;
}

// x as the kernels see it: per block of `block` values (32, or 256 for the
// VNNI panels of K-quant linears), d = max|x| / 127 and d * q with q = x / d
// rounded to nearest even.
inline std::vector<float> QuantDequantX(const std::vector<float>& x,
                                        size_t block = 32) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size(); b += block) {
    float amax = 0.0f;
    for (size_t i = b; i < b + block; ++i) {
      amax = std::max(amax, std::fabs(x[i]));
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (size_t i = b; i < b + block; ++i) {
      out[i] = d * static_cast<float>(std::lrintf(x[i] * id));
    }
  }
  return out;
}

struct Reference {
  std::vector<double> y;        // [m, out]: Σ W * x as the kernels see x
  std::vector<double> mag;      // Σ |W * x|: the scale of rounding errors
  std::vector<double> y_exact;  // Σ W * x with x unquantized
  std::vector<double> bound;    // |y - y_exact| <= Σ |W| * d / 2
};

// `act_block`: the values per activation scale (QuantDequantX).
inline Reference ComputeReference(absl::Span<const QuantLinear::Part> parts,
                                  int64_t k, const std::vector<float>& x, int m,
                                  int64_t act_block = 32) {
  int64_t out = 0;
  for (const auto& p : parts) out += p.rows;
  Reference ref;
  ref.y.assign(static_cast<size_t>(m * out), 0.0);
  ref.mag = ref.y_exact = ref.bound = ref.y;
  std::vector<float> xq(x.size()), half_step(x.size(), 0.0f);
  for (int i = 0; i < m; ++i) {
    const std::vector<float> row(x.begin() + i * k, x.begin() + (i + 1) * k);
    if (k % act_block == 0) {
      const std::vector<float> q =
          QuantDequantX(row, static_cast<size_t>(act_block));
      std::copy(q.begin(), q.end(), xq.begin() + i * k);
      for (int64_t b = 0; b < k; b += act_block) {
        float amax = 0.0f;
        for (int64_t t = b; t < b + act_block; ++t) {
          amax = std::max(amax, std::fabs(row[t]));
        }
        for (int64_t t = b; t < b + act_block; ++t) {
          half_step[i * k + t] = amax / 127.0f / 2.0f;
        }
      }
    }
  }
  int64_t n0 = 0;
  std::vector<float> w(static_cast<size_t>(k));
  for (const auto& p : parts) {
    const bool quantized = IsQuantized(p.type);
    for (int64_t r = 0; r < p.rows; ++r) {
      DequantizeRow(
          p.type, static_cast<const uint8_t*>(p.data) + r * RowBytes(p.type, k),
          k, w.data());
      for (int i = 0; i < m; ++i) {
        const size_t o = static_cast<size_t>(i * out + n0 + r);
        for (int64_t t = 0; t < k; ++t) {
          const double xv = quantized ? xq[i * k + t] : x[i * k + t];
          ref.y[o] += double{w[t]} * xv;
          ref.mag[o] += std::fabs(double{w[t]} * xv);
          ref.y_exact[o] += double{w[t]} * x[i * k + t];
          if (quantized) {
            ref.bound[o] += std::fabs(double{w[t]}) * half_step[i * k + t];
          }
        }
      }
    }
    n0 += p.rows;
  }
  return ref;
}

}  // namespace kvasir::engine::quant

#endif  // KVASIR_TESTS_ENGINE_OPS_QUANT_TEST_UTIL_H_
