// The portable kernels: the reference the SIMD kernels are tested against,
// and the fallback on CPUs without AVX2.
//
// Every quantized type is decoded per block of 32 weights into integers u
// and, per half of 16, a scale `a` and an offset `c` with weight = a*u + c
// (Q4_0: a = d, c = -8d; Q4_K: a = d*sc, c = -dmin*m; Q6_K: per half; Q8_0:
// u signed, c = 0). Against activations d_x * q the block contributes
//   d_x * Σ_h (a_h * Σ u*q + c_h * Σ q)   over the halves h,
// so the inner products stay in integers (d_x * Σq is precomputed).

#include <cstdint>
#include <cstring>

#include "engine/model/gguf_dequant.h"
#include "engine/ops/bf16.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return gguf::HalfToFloat(h);
}

struct Decoded {
  int u[32];
  float a[2];
  float c[2];
};

// Block `j` (of 32 values) of a row of each type.
void DecodeQ4_0(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + j * 18;
  const float d = Half(b);
  for (int i = 0; i < 16; ++i) {
    o->u[i] = b[2 + i] & 0xF;
    o->u[i + 16] = b[2 + i] >> 4;
  }
  o->a[0] = o->a[1] = d;
  o->c[0] = o->c[1] = -8.0f * d;
}

void DecodeQ4_1(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + j * 20;
  for (int i = 0; i < 16; ++i) {
    o->u[i] = b[4 + i] & 0xF;
    o->u[i + 16] = b[4 + i] >> 4;
  }
  o->a[0] = o->a[1] = Half(b);
  o->c[0] = o->c[1] = Half(b + 2);
}

void DecodeQ5(const uint8_t* qh_bytes, const uint8_t* qs, Decoded* o) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof(qh));
  for (int i = 0; i < 16; ++i) {
    o->u[i] = (qs[i] & 0xF) | static_cast<int>(((qh >> i) & 1) << 4);
    o->u[i + 16] = (qs[i] >> 4) | static_cast<int>(((qh >> (i + 16)) & 1) << 4);
  }
}

void DecodeQ5_0(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + j * 22;
  DecodeQ5(b + 2, b + 6, o);
  const float d = Half(b);
  o->a[0] = o->a[1] = d;
  o->c[0] = o->c[1] = -16.0f * d;
}

void DecodeQ5_1(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + j * 24;
  DecodeQ5(b + 4, b + 8, o);
  o->a[0] = o->a[1] = Half(b);
  o->c[0] = o->c[1] = Half(b + 2);
}

void DecodeQ8_0(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + j * 34;
  for (int i = 0; i < 32; ++i) o->u[i] = static_cast<int8_t>(b[2 + i]);
  o->a[0] = o->a[1] = Half(b);
  o->c[0] = o->c[1] = 0.0f;
}

// Q4_K / Q5_K sub-block s of super-block `sb`: scale and min.
void KScaleMin(const uint8_t* b, int s, Decoded* o) {
  uint8_t sc, m;
  ScaleMinK4(s, b + 4, &sc, &m);
  o->a[0] = o->a[1] = Half(b) * sc;
  o->c[0] = o->c[1] = -(Half(b + 2) * m);
}

void DecodeQ4_K(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + (j / 8) * 144;
  const int s = static_cast<int>(j % 8);
  const uint8_t* qs = b + 16 + (s / 2) * 32;
  const int shift = (s % 2) * 4;
  for (int i = 0; i < 32; ++i) o->u[i] = (qs[i] >> shift) & 0xF;
  KScaleMin(b, s, o);
}

void DecodeQ5_K(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + (j / 8) * 176;
  const int s = static_cast<int>(j % 8);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48 + (s / 2) * 32;
  const int shift = (s % 2) * 4;
  for (int i = 0; i < 32; ++i) {
    o->u[i] = ((qs[i] >> shift) & 0xF) | (((qh[i] >> s) & 1) << 4);
  }
  KScaleMin(b, s, o);
}

void DecodeQ6_K(const uint8_t* w, int64_t j, Decoded* o) {
  const uint8_t* b = w + (j / 8) * 210;
  const int s = static_cast<int>(j % 8);  // 4 per half of 128
  const int k = s % 4;
  const uint8_t* ql = b + (s / 4) * 64 + (k % 2) * 32;
  const uint8_t* qh = b + 128 + (s / 4) * 32;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192) + (s / 4) * 8;
  const int shift = (k / 2) * 4;
  for (int i = 0; i < 32; ++i) {
    o->u[i] = ((ql[i] >> shift) & 0xF) | (((qh[i] >> (2 * k)) & 3) << 4);
  }
  const float d = Half(b + 208);
  for (int h = 0; h < 2; ++h) {
    o->a[h] = d * sc[2 * k + h];
    o->c[h] = -32.0f * o->a[h];
  }
}

template <void (*Decode)(const uint8_t*, int64_t, Decoded*)>
void DotScalar(const uint8_t* w, int64_t k, const ActRows& a, int rows,
               float* out) {
  float acc[kMaxTileRows] = {};
  Decoded dec;
  for (int64_t j = 0; j < k / 32; ++j) {
    Decode(w, j, &dec);
    for (int r = 0; r < rows; ++r) {
      const int8_t* q = a.q(r) + j * 32;
      const float* ds = a.ds(r) + j * 2;
      float scaled = 0.0f, offset = 0.0f;
      for (int h = 0; h < 2; ++h) {
        int dot = 0;
        for (int i = 16 * h; i < 16 * h + 16; ++i) dot += dec.u[i] * q[i];
        scaled += dec.a[h] * static_cast<float>(dot);
        offset += dec.c[h] * ds[h];
      }
      acc[r] += a.d8(r)[j * 8] * scaled + offset;
    }
  }
  for (int r = 0; r < rows; ++r) out[r] = acc[r];
}

float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
float LoadF16(const uint8_t* p) { return Half(p); }
float LoadBf16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return ops::Bf16ToFloat(h);
}

template <float (*Load)(const uint8_t*), int kBytes>
void DenseScalar(const uint8_t* w, int64_t k, const float* x, int64_t x_stride,
                 int rows, float* out) {
  float acc[kMaxTileRows] = {};
  for (int64_t i = 0; i < k; ++i) {
    const float wi = Load(w + i * kBytes);
    for (int r = 0; r < rows; ++r) acc[r] += wi * x[r * x_stride + i];
  }
  for (int r = 0; r < rows; ++r) out[r] = acc[r];
}

}  // namespace

const KernelTable& ScalarKernels() {
  static const KernelTable table = {
      .quantize_act = QuantizeActScalar,
      .q4_0 = DotScalar<DecodeQ4_0>,
      .q4_1 = DotScalar<DecodeQ4_1>,
      .q5_0 = DotScalar<DecodeQ5_0>,
      .q5_1 = DotScalar<DecodeQ5_1>,
      .q8_0 = DotScalar<DecodeQ8_0>,
      .q4_k = DotScalar<DecodeQ4_K>,
      .q5_k = DotScalar<DecodeQ5_K>,
      .q6_k = DotScalar<DecodeQ6_K>,
      .f32 = DenseScalar<LoadF32, 4>,
      .f16 = DenseScalar<LoadF16, 2>,
      .bf16 = DenseScalar<LoadBf16, 2>,
  };
  return table;
}

}  // namespace kvasir::engine::quant::internal
