#include "engine/ops/quant/quant_formats.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/model/gguf_dequant.h"
#include "gtest/gtest.h"

namespace kvasir::engine::quant {
namespace {

constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6,
                   kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10, kQ4_K = 12, kQ5_K = 13,
                   kQ6_K = 14, kBF16 = 30;

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = gguf::FloatToHalf(v);
  std::memcpy(p, &h, sizeof(h));
}

std::vector<float> Dequant(uint32_t type, const std::vector<uint8_t>& b,
                           int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -999.0f);
  DequantizeRow(type, b.data(), n, out.data());
  return out;
}

// ---- Geometry and names ----------------------------------------------------

TEST(QuantFormatsTest, GeometryAndNames) {
  EXPECT_EQ(GetBlockInfo(kQ4_0)->block_bytes, 18);
  EXPECT_EQ(GetBlockInfo(kQ4_1)->block_bytes, 20);
  EXPECT_EQ(GetBlockInfo(kQ5_0)->block_bytes, 22);
  EXPECT_EQ(GetBlockInfo(kQ5_1)->block_bytes, 24);
  EXPECT_EQ(GetBlockInfo(kQ8_0)->block_bytes, 34);
  EXPECT_EQ(GetBlockInfo(kQ4_K)->block_bytes, 144);
  EXPECT_EQ(GetBlockInfo(kQ5_K)->block_bytes, 176);
  EXPECT_EQ(GetBlockInfo(kQ6_K)->block_bytes, 210);
  EXPECT_EQ(GetBlockInfo(kQ6_K)->block_size, 256);
  EXPECT_EQ(GetBlockInfo(kBF16)->block_bytes, 2);
  EXPECT_FALSE(GetBlockInfo(kQ2_K).has_value());
  EXPECT_TRUE(IsQuantized(kQ5_K));
  EXPECT_FALSE(IsQuantized(kF16));
  EXPECT_TRUE(HasKernel(kBF16));
  EXPECT_FALSE(HasKernel(kQ2_K));
  EXPECT_EQ(TypeName(kQ4_K), "Q4_K");
  EXPECT_EQ(TypeName(kQ2_K), "Q2_K");
  EXPECT_EQ(ParseTypeName("q4_k"), kQ4_K);
  EXPECT_EQ(ParseTypeName("Bf16"), kBF16);
  EXPECT_EQ(ParseTypeName("q9_9"), std::nullopt);
  EXPECT_EQ(RowBytes(kQ6_K, 512), 420);
  EXPECT_EQ(RowBytes(kF32, 7), 28);
  EXPECT_DOUBLE_EQ(BitsPerWeight(kQ4_0), 4.5);
  EXPECT_DOUBLE_EQ(BitsPerWeight(kQ8_0), 8.5);
  EXPECT_DOUBLE_EQ(BitsPerWeight(kQ6_K), 6.5625);
}

// ---- DequantizeRow on hand-made blocks
// ---------------------------------------

TEST(QuantFormatsTest, DequantizeQ4_0) {
  std::vector<uint8_t> b(18, 0x88);  // every nibble 8: value 0
  PutHalf(&b[0], 0.5f);
  b[2] = 0x3A;  // value 0 = (10 - 8) / 2, value 16 = (3 - 8) / 2
  std::vector<float> want(32, 0.0f);
  want[0] = 1.0f;
  want[16] = -2.5f;
  EXPECT_EQ(Dequant(kQ4_0, b, 32), want);
}

TEST(QuantFormatsTest, DequantizeQ4_1) {
  std::vector<uint8_t> b(20, 0);
  PutHalf(&b[0], 0.5f);
  PutHalf(&b[2], -1.0f);
  b[4 + 1] = 0xF2;  // value 1 = 2 * 0.5 - 1, value 17 = 15 * 0.5 - 1
  std::vector<float> want(32, -1.0f);
  want[1] = 0.0f;
  want[17] = 6.5f;
  EXPECT_EQ(Dequant(kQ4_1, b, 32), want);
}

TEST(QuantFormatsTest, DequantizeQ5_0) {
  std::vector<uint8_t> b(22, 0);
  PutHalf(&b[0], 1.0f);
  const uint32_t qh = (1u << 0) | (1u << 17);  // 5th bits of values 0, 17
  std::memcpy(&b[2], &qh, 4);
  b[6 + 1] = 0x51;
  std::vector<float> want(32, -16.0f);
  want[0] = 0.0f;    // 16 - 16
  want[1] = -15.0f;  // 1 - 16
  want[17] = 5.0f;   // (5 | 16) - 16
  EXPECT_EQ(Dequant(kQ5_0, b, 32), want);
}

TEST(QuantFormatsTest, DequantizeQ5_1) {
  std::vector<uint8_t> b(24, 0);
  PutHalf(&b[0], 2.0f);
  PutHalf(&b[2], 1.0f);
  const uint32_t qh = 1u << 31;
  std::memcpy(&b[4], &qh, 4);
  b[8 + 15] = 0x3F;
  std::vector<float> want(32, 1.0f);
  want[15] = 31.0f;  // 15 * 2 + 1
  want[31] = 39.0f;  // (3 | 16) * 2 + 1
  EXPECT_EQ(Dequant(kQ5_1, b, 32), want);
}

TEST(QuantFormatsTest, DequantizeQ8_0TwoBlocks) {
  std::vector<uint8_t> b(68, 0);
  PutHalf(&b[0], 0.25f);
  b[2] = 0x80;  // -128
  b[33] = 127;
  PutHalf(&b[34], -2.0f);
  b[36 + 5] = 3;
  std::vector<float> want(64, 0.0f);
  want[0] = -32.0f;
  want[31] = 31.75f;
  want[32 + 5] = -6.0f;
  std::vector<float> got = Dequant(kQ8_0, b, 64);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(got[i], want[i]) << i;
}

// Scales shared by the Q4_K and Q5_K tests: sub-block 0 sc=3 m=2, sub-block 1
// sc=5 m=4, sub-block 2 sc=1 m=1, sub-block 5 sc=42 m=23 (split into low 4
// bits in byte 9 and high 2 bits on top of bytes 1 and 5), others 0.
void PutKScales(uint8_t* s) {
  s[0] = 3;
  s[4] = 2;
  s[1] = (2 << 6) | 5;  // 42 >> 4 == 2
  s[5] = (1 << 6) | 4;  // 23 >> 4 == 1
  s[2] = 1;
  s[6] = 1;
  s[9] = 0x7A;  // m low 7, sc low 10
}

// Fills want with each sub-block's value for q == 0: -dmin * m.
std::vector<float> KZeroValues(float dmin) {
  const float mins[8] = {2, 4, 1, 0, 0, 23, 0, 0};
  std::vector<float> want(256);
  for (int i = 0; i < 256; ++i) want[i] = 0.0f - dmin * mins[i / 32];
  return want;
}

TEST(QuantFormatsTest, DequantizeQ4_K) {
  std::vector<uint8_t> b(144, 0);
  PutHalf(&b[0], 1.0f);
  PutHalf(&b[2], 0.5f);
  PutKScales(&b[4]);
  uint8_t* qs = &b[16];
  qs[0] = 0x97;       // value 0 (sub 0) = 7, value 32 (sub 1) = 9
  qs[64 + 3] = 0xB0;  // value 128 + 32 + 3 (sub 5) = 11
  std::vector<float> want = KZeroValues(0.5f);
  want[0] = 3 * 7 - 1.0f;
  want[32] = 5 * 9 - 2.0f;
  want[163] = 42 * 11 - 11.5f;
  EXPECT_EQ(Dequant(kQ4_K, b, 256), want);
}

TEST(QuantFormatsTest, DequantizeQ5_K) {
  std::vector<uint8_t> b(176, 0);
  PutHalf(&b[0], 1.0f);
  PutHalf(&b[2], 0.5f);
  PutKScales(&b[4]);
  b[16 + 0] = 0b101;     // 5th bit of value 0 of sub-blocks 0 and 2
  b[16 + 7] = 0b100000;  // 5th bit of value 7 of sub-block 5
  uint8_t* qs = &b[48];
  qs[0] = 0x97;
  std::vector<float> want = KZeroValues(0.5f);
  want[0] = 3 * (7 + 16) - 1.0f;
  want[32] = 5 * 9 - 2.0f;
  want[64] = 1 * 16 - 0.5f;
  want[160 + 7] = 42 * 16 - 11.5f;
  EXPECT_EQ(Dequant(kQ5_K, b, 256), want);
}

TEST(QuantFormatsTest, DequantizeQ6_K) {
  std::vector<uint8_t> b(210, 0);
  uint8_t* ql = &b[0];
  uint8_t* qh = &b[128];
  auto* sc = reinterpret_cast<int8_t*>(&b[192]);
  PutHalf(&b[208], 0.5f);
  sc[0] = 2;
  sc[1] = -3;
  sc[2] = 1;
  sc[4] = 1;
  sc[6] = 1;
  ql[0] = 0x21;
  qh[0] = 0b11100100;  // high bits: value 0: 0, 32: 1, 64: 2, 96: 3
  ql[16] = 0x0F;
  std::vector<float> want(256, 0.0f);
  for (int l = 0; l < 16; ++l) {
    want[l] = 0.5f * 2 * -32;
    want[16 + l] = 0.5f * -3 * -32;
    want[32 + l] = 0.5f * 1 * -32;
    want[64 + l] = 0.5f * 1 * -32;
    want[96 + l] = 0.5f * 1 * -32;
  }
  want[0] = 0.5f * 2 * (1 - 32);
  want[32] = 0.5f * 1 * (16 - 32);
  want[64] = 0.5f * 1 * (2 + 32 - 32);
  want[96] = 0.5f * 1 * (48 - 32);
  want[16] = 0.5f * -3 * (15 - 32);
  std::vector<float> got = Dequant(kQ6_K, b, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(got[i], want[i]) << i;
}

TEST(QuantFormatsTest, DequantizeDense) {
  std::vector<uint8_t> f32(8);
  const float v[2] = {1.5f, -3.0f};
  std::memcpy(f32.data(), v, 8);
  EXPECT_EQ(Dequant(kF32, f32, 2), (std::vector<float>{1.5f, -3.0f}));
  std::vector<uint8_t> f16(4);
  PutHalf(&f16[0], 1.5f);
  PutHalf(&f16[2], -65504.0f);
  EXPECT_EQ(Dequant(kF16, f16, 2), (std::vector<float>{1.5f, -65504.0f}));
  std::vector<uint8_t> bf16 = {0xC0, 0x3F, 0x40, 0xC0};  // 1.5, -3
  EXPECT_EQ(Dequant(kBF16, bf16, 2), (std::vector<float>{1.5f, -3.0f}));
}

}  // namespace
}  // namespace kvasir::engine::quant
