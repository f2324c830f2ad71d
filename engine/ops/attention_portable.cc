// The portable attention kernel (internal::AttendRangePortable): the
// fallback of PagedAttention when neither AVX-512 nor AVX2 is usable (or
// KVASIR_ATTENTION_ISA=portable), auto-vectorized per instruction set.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "engine/ops/attention_kernels.h"
#include "engine/ops/bf16.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/simd.h"

namespace kvasir::engine::ops {
namespace internal {
namespace {

using kvcache::KvDtype;

constexpr int kTile = 4;

// Scratch of one range (the portable kernel's).
struct Scratch {
  float* k;  // [kChunk, head_dim] f32 copy of a bf16 K chunk
  float* v;  // [kChunk, head_dim] f32 copy of a bf16 or partial V chunk,
             // zero-padded to kChunk rows
};

// One query of a tile: where it reads and accumulates, and how many keys of
// the current chunk it sees (causality; >= 1).
struct TileQuery {
  const float* q;
  float* o;
  float* m;
  float* l;
  int visible;
};

// Scores of query i against the keys it sees, turned into the online
// softmax weights p[t] (0 past `visible`); rescales the query's output by
// the change of its running max.
[[gnu::always_inline]] inline void SoftmaxUpdate(const TileQuery& tq, float* p,
                                                 int hd) {
  float block_max = -std::numeric_limits<float>::infinity();
  for (int t = 0; t < tq.visible; ++t) block_max = std::max(block_max, p[t]);
  const float m_new = std::max(*tq.m, block_max);
  const float correction = FastExp(*tq.m - m_new);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int t = 0; t < kChunk; ++t) {
    const float e = t < tq.visible ? FastExp(p[t] - m_new) : 0.0f;
    p[t] = e;
    sum += e;
  }
  *tq.l = *tq.l * correction + sum;
  *tq.m = m_new;
  if (correction != 1.0f) {
    float* o = tq.o;
#pragma omp simd
    for (int d = 0; d < hd; ++d) o[d] *= correction;
  }
}

[[gnu::always_inline]] inline float Widen(float x) { return x; }
[[gnu::always_inline]] inline float Widen(int8_t x) {
  return static_cast<float>(x);
}

// Int8 only: the per-key factors of one chunk (0 past its keys), read by
// the tiles in place of the cache's scales.
struct ChunkScales {
  float k[kChunk];  // 1/sqrt(head_dim) * K row scale
  float v[kChunk];  // V row scale
};

// kTile queries against one chunk. T = float: k [>= max visible, head_dim],
// v [kChunk, head_dim] (zero rows past the chunk's slots), cs unused.
// T = int8_t: k and v are the cache's rows themselves ([keys, head_dim]),
// widened in register; the K scales multiply the scores and the V scales
// the softmax weights.
template <typename T>
[[gnu::always_inline]] inline void AttendTile4(const TileQuery* tq, const T* k,
                                               const T* v, int hd, float scale,
                                               const ChunkScales* cs,
                                               int keys) {
  constexpr bool kInt8 = std::is_same_v<T, int8_t>;
  alignas(64) float p[kTile][kChunk];
  int visible = 0;
  for (int i = 0; i < kTile; ++i) visible = std::max(visible, tq[i].visible);
  const float* q0 = tq[0].q;
  const float* q1 = tq[1].q;
  const float* q2 = tq[2].q;
  const float* q3 = tq[3].q;
  for (int t = 0; t < visible; ++t) {
    const T* kt = k + t * hd;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int d = 0; d < hd; ++d) {
      const float kd = Widen(kt[d]);
      a0 += q0[d] * kd;
      a1 += q1[d] * kd;
      a2 += q2[d] * kd;
      a3 += q3[d] * kd;
    }
    const float f = kInt8 ? cs->k[t] : scale;
    p[0][t] = a0 * f;
    p[1][t] = a1 * f;
    p[2][t] = a2 * f;
    p[3][t] = a3 * f;
  }
  for (int i = 0; i < kTile; ++i) SoftmaxUpdate(tq[i], p[i], hd);
  if constexpr (kInt8) {
    for (int i = 0; i < kTile; ++i) {
#pragma omp simd
      for (int t = 0; t < kChunk; ++t) p[i][t] *= cs->v[t];
    }
  }
  // Weights past a query's `visible` are 0 and an f32 v has kChunk finite
  // rows, so its key loop has a fixed trip count and the d loop
  // vectorizes; int8 rows are read only up to the chunk's keys.
  const int n = kInt8 ? keys : kChunk;
  float* o0 = tq[0].o;
  float* o1 = tq[1].o;
  float* o2 = tq[2].o;
  float* o3 = tq[3].o;
#pragma omp simd
  for (int d = 0; d < hd; ++d) {
    float a0 = o0[d], a1 = o1[d], a2 = o2[d], a3 = o3[d];
#pragma GCC unroll 16
    for (int t = 0; t < n; ++t) {
      const float vd = Widen(v[t * hd + d]);
      a0 += p[0][t] * vd;
      a1 += p[1][t] * vd;
      a2 += p[2][t] * vd;
      a3 += p[3][t] * vd;
    }
    o0[d] = a0;
    o1[d] = a1;
    o2[d] = a2;
    o3[d] = a3;
  }
}

// One query against one chunk (k, v, cs, keys as for AttendTile4).
template <typename T>
[[gnu::always_inline]] inline void AttendTile1(const TileQuery& tq, const T* k,
                                               const T* v, int hd, float scale,
                                               const ChunkScales* cs,
                                               int keys) {
  constexpr bool kInt8 = std::is_same_v<T, int8_t>;
  alignas(64) float p[kChunk];
  const float* q = tq.q;
  for (int t = 0; t < tq.visible; ++t) {
    const T* kt = k + t * hd;
    float a = 0.0f;
#pragma omp simd reduction(+ : a)
    for (int d = 0; d < hd; ++d) a += q[d] * Widen(kt[d]);
    p[t] = a * (kInt8 ? cs->k[t] : scale);
  }
  SoftmaxUpdate(tq, p, hd);
  if constexpr (kInt8) {
#pragma omp simd
    for (int t = 0; t < kChunk; ++t) p[t] *= cs->v[t];
  }
  const int n = kInt8 ? keys : kChunk;
  float* o = tq.o;
#pragma omp simd
  for (int d = 0; d < hd; ++d) {
    float a = o[d];
#pragma GCC unroll 16
    for (int t = 0; t < n; ++t) a += p[t] * Widen(v[t * hd + d]);
    o[d] = a;
  }
}

// The portable kernel (auto-vectorized, compiled per instruction set by
// KVASIR_SIMD_CLONES): the K chunk row by row, four queries sharing each
// row load.
KVASIR_SIMD_CLONES
void AttendRangeClones(const RangeTask& a) {
  const int hd = a.head_dim;
  const int bs = a.block_size;
  const int group = a.group;
  const int n_queries = a.n_new * group;
  const Scratch scratch{.k = a.scratch, .v = a.scratch + kChunk * hd};

  for (int j = 0; j < a.n_new; ++j) {
    float* o = a.o + j * a.o_row_stride;
    std::fill(o, o + group * hd, 0.0f);
  }
  for (int i = 0; i < n_queries; ++i) {
    a.m[i] = -std::numeric_limits<float>::infinity();
    a.l[i] = 0.0f;
  }

  TileQuery tile[kTile];
  ChunkScales chunk_scales;
  int pos = a.key_begin;
  while (pos < a.key_end) {
    const int slot = pos % bs;
    const int slots = std::min({kChunk, bs - slot, a.key_end - pos});
    // Queries of tokens before the chunk do not see it.
    const int first_query = std::max(0, pos - a.start_pos) * group;
    if (first_query >= n_queries) break;
    const int32_t block = a.block_table[pos / bs];

    // f32 K as stored, bf16 K widened; V widened and/or zero-padded to
    // kChunk rows unless it is a full f32 chunk. int8 rows stay in place.
    const float* k;
    const float* v;
    const int8_t* k8 = nullptr;
    const int8_t* v8 = nullptr;
    const int count = slots * hd;
    if (a.dtype == KvDtype::kF32) {
      k = a.kv->head<float>(block, a.layer, 0, a.kv_head) + slot * hd;
      v = a.kv->head<float>(block, a.layer, 1, a.kv_head) + slot * hd;
      if (slots < kChunk) {
        std::copy(v, v + count, scratch.v);
        v = scratch.v;
      }
    } else if (a.dtype == KvDtype::kInt8) {
      // Read in place by the int8 tiles below.
      k8 = a.kv->head<int8_t>(block, a.layer, 0, a.kv_head) + slot * hd;
      v8 = a.kv->head<int8_t>(block, a.layer, 1, a.kv_head) + slot * hd;
      const float* ks = a.kv->scales(block, a.layer, 0, a.kv_head) + slot;
      const float* vs = a.kv->scales(block, a.layer, 1, a.kv_head) + slot;
      for (int t = 0; t < kChunk; ++t) {
        chunk_scales.k[t] = t < slots ? ks[t] * a.scale : 0.0f;
        chunk_scales.v[t] = t < slots ? vs[t] : 0.0f;
      }
      k = nullptr;
      v = nullptr;
    } else {
      const uint16_t* k16 =
          a.kv->head<uint16_t>(block, a.layer, 0, a.kv_head) + slot * hd;
      const uint16_t* v16 =
          a.kv->head<uint16_t>(block, a.layer, 1, a.kv_head) + slot * hd;
#pragma omp simd
      for (int i = 0; i < count; ++i) scratch.k[i] = Bf16ToFloat(k16[i]);
#pragma omp simd
      for (int i = 0; i < count; ++i) scratch.v[i] = Bf16ToFloat(v16[i]);
      k = scratch.k;
      v = scratch.v;
    }
    if (v != nullptr && v == scratch.v) {
      std::fill(scratch.v + count, scratch.v + kChunk * hd, 0.0f);
    }

    int qi = first_query;
    while (qi < n_queries) {
      const int size = n_queries - qi >= kTile ? kTile : 1;
      for (int i = 0; i < size; ++i, ++qi) {
        const int j = qi / group;
        const int h = qi % group;
        tile[i] =
            TileQuery{.q = a.q + j * a.q_row_stride + h * hd,
                      .o = a.o + j * a.o_row_stride + h * hd,
                      .m = a.m + qi,
                      .l = a.l + qi,
                      .visible = std::min(slots, a.start_pos + j - pos + 1)};
      }
      if (k8 != nullptr) {
        if (size == kTile) {
          AttendTile4(tile, k8, v8, hd, a.scale, &chunk_scales, slots);
        } else {
          AttendTile1(tile[0], k8, v8, hd, a.scale, &chunk_scales, slots);
        }
      } else if (size == kTile) {
        AttendTile4(tile, k, v, hd, a.scale, nullptr, kChunk);
      } else {
        AttendTile1(tile[0], k, v, hd, a.scale, nullptr, kChunk);
      }
    }
    pos += slots;
  }

  if (!a.normalize) return;
  for (int i = 0; i < n_queries; ++i) {
    float* o = a.o + (i / group) * a.o_row_stride + (i % group) * hd;
    const float inv = 1.0f / a.l[i];
#pragma omp simd
    for (int d = 0; d < hd; ++d) o[d] *= inv;
  }
}

}  // namespace

void AttendRangePortable(const RangeTask& task) {
  for (int h = 0; h < task.heads; ++h) AttendRangeClones(HeadOfRange(task, h));
}

}  // namespace internal

}  // namespace kvasir::engine::ops
