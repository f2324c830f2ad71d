// QuantizeRow round trips: encode, decode with DequantizeRow, and bound the
// error per type; plus a few byte-level checks of the ggml layouts that do
// not go through DequantizeRow.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/model/gguf_dequant.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_formats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir::engine::quant {
namespace {

using gguf::TensorType;

constexpr int64_t kN = 1024;  // 4 K-quant super-blocks, 32 small blocks

uint32_t Id(TensorType t) { return static_cast<uint32_t>(t); }

float Half(float v) { return gguf::HalfToFloat(gguf::FloatToHalf(v)); }

std::vector<uint8_t> Encode(uint32_t type, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(RowBytes(type, static_cast<int64_t>(x.size())));
  QuantizeRow(type, x.data(), static_cast<int64_t>(x.size()), bytes.data());
  return bytes;
}

std::vector<float> RoundTrip(uint32_t type, const std::vector<float>& x) {
  const std::vector<uint8_t> bytes = Encode(type, x);
  std::vector<float> y(x.size());
  DequantizeRow(type, bytes.data(), static_cast<int64_t>(x.size()), y.data());
  return y;
}

std::vector<float> Gaussian(uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(kN);
  for (float& v : x) v = dist(rng);
  return x;
}

// The largest error a value of block [begin, begin + size) may have: half a
// quantization step of the block's scale (a full step where a value can be
// clamped at the top level), plus the f16 rounding of the stored scale and
// min times the largest level. For the K-quants, whose sub-block scales are
// themselves quantized (6 bits, Q6_K 8), a fraction of the super-block's
// largest magnitude: half a level over a range of up to 2 amax (amax / 15,
// / 31, / 32) plus the scale's rounding; measured worst cases on Gaussian,
// negative-only and outlier rows are 0.071, 0.044 and 0.016.
float ErrorBound(uint32_t type, const float* x, int64_t size) {
  float amax = 0.0f, min = x[0], max = x[0];
  for (int64_t i = 0; i < size; ++i) {
    amax = std::max(amax, std::fabs(x[i]));
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
  }
  const float eps = 1e-6f * amax;
  auto half_error = [](float d) { return std::fabs(d - Half(d)); };
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      return 0.0f;
    case TensorType::kF16:
      return amax * 0x1p-11f + 0x1p-24f;
    case TensorType::kBF16:
      return amax * 0x1p-8f;
    case TensorType::kQ8_0: {
      const float d = amax / 127.0f;
      return 0.5f * d + 127.0f * half_error(d) + eps;
    }
    case TensorType::kQ4_0: {
      const float d = amax / 8.0f;
      return d + 8.0f * half_error(d) + eps;
    }
    case TensorType::kQ5_0: {
      const float d = amax / 16.0f;
      return d + 16.0f * half_error(d) + eps;
    }
    case TensorType::kQ4_1: {
      const float d = (max - min) / 15.0f;
      return 0.5f * d + 15.0f * half_error(d) + half_error(min) + eps;
    }
    case TensorType::kQ5_1: {
      const float d = (max - min) / 31.0f;
      return 0.5f * d + 31.0f * half_error(d) + half_error(min) + eps;
    }
    case TensorType::kQ4_K:
      return 0.09f * amax;
    case TensorType::kQ5_K:
      return 0.055f * amax;
    case TensorType::kQ6_K:
      return 0.022f * amax;
    default:
      return 0.0f;
  }
}

int64_t BoundBlock(uint32_t type) {
  const BlockInfo info = *GetBlockInfo(type);
  // The K-quants are bounded per super-block (their block size).
  return info.block_size == 1 ? 1 : info.block_size;
}

// Expects every value of y within ErrorBound of x, block by block.
void ExpectWithinBounds(uint32_t type, const std::vector<float>& x,
                        const std::vector<float>& y) {
  const int64_t block = BoundBlock(type);
  for (int64_t b = 0; b < static_cast<int64_t>(x.size()); b += block) {
    const float bound = ErrorBound(type, x.data() + b, block);
    for (int64_t i = b; i < b + block; ++i) {
      ASSERT_LE(std::fabs(y[i] - x[i]), bound)
          << TypeName(type) << " value " << i << ": " << x[i] << " -> " << y[i];
    }
  }
}

double RelativeRmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0.0, energy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (x[i] - y[i]) * (x[i] - y[i]);
    energy += x[i] * x[i];
  }
  return std::sqrt(err / energy);
}

struct TypeCase {
  uint32_t type;
  double max_relative_rmse;  // on Gaussian rows
};

class QuantEncodeTest : public ::testing::TestWithParam<TypeCase> {};

TEST_P(QuantEncodeTest, GaussianRowsStayWithinTheErrorBound) {
  const TypeCase c = GetParam();
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    const std::vector<float> x = Gaussian(seed, seed * 0.01f);
    const std::vector<float> y = RoundTrip(c.type, x);
    ExpectWithinBounds(c.type, x, y);
    EXPECT_LE(RelativeRmse(x, y), c.max_relative_rmse) << TypeName(c.type);
  }
}

TEST_P(QuantEncodeTest, AllZeroRowDecodesToZero) {
  const uint32_t type = GetParam().type;
  const std::vector<float> x(kN, 0.0f);
  for (float v : RoundTrip(type, x)) ASSERT_EQ(v, 0.0f) << TypeName(type);
}

TEST_P(QuantEncodeTest, NegativeOnlyRowStaysWithinTheErrorBound) {
  const TypeCase c = GetParam();
  std::vector<float> x = Gaussian(11);
  for (float& v : x) v = -0.5f - std::fabs(v);
  const std::vector<float> y = RoundTrip(c.type, x);
  ExpectWithinBounds(c.type, x, y);
  EXPECT_LE(RelativeRmse(x, y), c.max_relative_rmse) << TypeName(c.type);
}

TEST_P(QuantEncodeTest, OutlierOnlyAffectsItsOwnBlock) {
  const uint32_t type = GetParam().type;
  const std::vector<float> plain = Gaussian(21);
  std::vector<float> x = plain;
  constexpr int64_t kAt = 300;  // in super-block 1, block 9
  x[kAt] = 1000.0f;
  const std::vector<float> y = RoundTrip(type, x);
  ExpectWithinBounds(type, x, y);
  EXPECT_NEAR(y[kAt], 1000.0f, ErrorBound(type, &x[kAt], 1) + 1000.0f / 15)
      << TypeName(type);
  // Blocks are encoded independently: every other block's bytes are those
  // of the row without the outlier.
  const std::vector<uint8_t> with = Encode(type, x);
  const std::vector<uint8_t> without = Encode(type, plain);
  const BlockInfo info = *GetBlockInfo(type);
  const int64_t outlier_block = kAt / info.block_size;
  for (int64_t b = 0; b < kN / info.block_size; ++b) {
    if (b == outlier_block) continue;
    ASSERT_EQ(
        std::memcmp(with.data() + b * info.block_bytes,
                    without.data() + b * info.block_bytes, info.block_bytes),
        0)
        << TypeName(type) << " block " << b;
  }
}

TEST_P(QuantEncodeTest, IsDeterministic) {
  const uint32_t type = GetParam().type;
  const std::vector<float> x = Gaussian(5);
  EXPECT_EQ(Encode(type, x), Encode(type, x));
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, QuantEncodeTest,
    ::testing::Values(TypeCase{Id(TensorType::kF32), 0.0},
                      TypeCase{Id(TensorType::kF16), 0.001},
                      TypeCase{Id(TensorType::kBF16), 0.005},
                      TypeCase{Id(TensorType::kQ8_0), 0.01},
                      TypeCase{Id(TensorType::kQ4_0), 0.15},
                      TypeCase{Id(TensorType::kQ4_1), 0.15},
                      TypeCase{Id(TensorType::kQ5_0), 0.075},
                      TypeCase{Id(TensorType::kQ5_1), 0.075},
                      TypeCase{Id(TensorType::kQ4_K), 0.09},
                      TypeCase{Id(TensorType::kQ5_K), 0.045},
                      TypeCase{Id(TensorType::kQ6_K), 0.022}),
    [](const ::testing::TestParamInfo<TypeCase>& info) {
      return std::string(TypeName(info.param.type));
    });

// ---- layouts, decoded by hand

TEST(QuantEncodeLayoutTest, Q8_0IsAHalfScaleThenInt8Quants) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);  // -16..15
  const std::vector<uint8_t> b = Encode(Id(TensorType::kQ8_0), x);
  ASSERT_EQ(b.size(), 34u);
  uint16_t h;
  std::memcpy(&h, b.data(), 2);
  const float d = gguf::HalfToFloat(h);
  EXPECT_FLOAT_EQ(d, Half(16.0f / 127.0f));
  EXPECT_EQ(static_cast<int8_t>(b[2]), -127);  // x[0] = -16 = -amax
  EXPECT_EQ(static_cast<int8_t>(b[2 + 16]), 0);
}

TEST(QuantEncodeLayoutTest, Q4_0KeepsValues0To15InLowNibbles) {
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;  // the signed max: d = -8 / -8 = 1, level 0
  x[1] = 3.0f;   // level 3 + 8 = 11
  x[16] = 7.0f;  // level 15, high nibble of byte 0
  const std::vector<uint8_t> b = Encode(Id(TensorType::kQ4_0), x);
  ASSERT_EQ(b.size(), 18u);
  uint16_t h;
  std::memcpy(&h, b.data(), 2);
  EXPECT_EQ(gguf::HalfToFloat(h), 1.0f);
  EXPECT_EQ(b[2], 0x0 | (0xF << 4));
  EXPECT_EQ(b[3] & 0xF, 11);
  EXPECT_EQ(b[3] >> 4, 8);  // x[17] = 0 -> level 8
}

TEST(QuantEncodeLayoutTest, Q6_KStoresItsScaleLast) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = std::sin(0.1f * i);
  const std::vector<uint8_t> b = Encode(Id(TensorType::kQ6_K), x);
  ASSERT_EQ(b.size(), 210u);
  uint16_t h;
  std::memcpy(&h, b.data() + 208, 2);
  const float d = gguf::HalfToFloat(h);
  // |d * scale| * 32 spans the largest sub-block, |scale| <= 128.
  EXPECT_GT(std::fabs(d) * 128 * 32, 0.9f);
  EXPECT_LT(std::fabs(d) * 128 * 32, 1.2f);
}

TEST(QuantEncodeLayoutTest, KQuantsSearchBeatsPlainMinMaxRounding) {
  // On Gaussian data the searched Q4_K scales should be at least as good as
  // Q4_1's plain min/max rounding, which uses the same 32-value groups with
  // exact f16 scales.
  const std::vector<float> x = Gaussian(3);
  EXPECT_LE(RelativeRmse(x, RoundTrip(Id(TensorType::kQ4_K), x)),
            1.05 * RelativeRmse(x, RoundTrip(Id(TensorType::kQ4_1), x)));
}

}  // namespace
}  // namespace kvasir::engine::quant
