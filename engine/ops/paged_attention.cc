#include "engine/ops/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "engine/ops/attention_kernels.h"
#include "engine/ops/bf16.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/kv_int8.h"
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

void AttendRangePortable(const RangeTask& task) { AttendRangeClones(task); }

}  // namespace internal

namespace {

using internal::kChunk;
using kvcache::KvDtype;

int64_t RoundUp16(int64_t n) { return (n + 15) / 16 * 16; }

// Writes `count` floats as the cache's element type; int8 also writes the
// row's scale to *scale_dst.
KVASIR_SIMD_CLONES
void StoreRow(const float* src, int count, KvDtype dtype, std::byte* dst,
              float* scale_dst) {
  switch (dtype) {
    case KvDtype::kF32:
      std::copy(src, src + count, reinterpret_cast<float*>(dst));
      return;
    case KvDtype::kBF16: {
      uint16_t* d16 = reinterpret_cast<uint16_t*>(dst);
#pragma omp simd
      for (int i = 0; i < count; ++i) d16[i] = FloatToBf16(src[i]);
      return;
    }
    case KvDtype::kInt8:
      QuantizeRowInt8(src, count, reinterpret_cast<int8_t*>(dst), scale_dst);
      return;
  }
}

bool IsaSupported(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case AttentionIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case AttentionIsa::kAuto:
    case AttentionIsa::kPortable:
      return true;
  }
  return false;
}

}  // namespace

absl::string_view AttentionIsaName(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kAuto:
      return "auto";
    case AttentionIsa::kAvx512:
      return "avx512";
    case AttentionIsa::kAvx2:
      return "avx2";
    case AttentionIsa::kPortable:
      return "portable";
  }
  return "?";
}

PagedAttention::PagedAttention(const Options& options, AttentionIsa isa)
    : options_(options),
      isa_(isa),
      group_(options.n_heads / options.layout.n_kv_heads) {
  const int hd = options.layout.head_dim;
  thread_stride_ = 2 * RoundUp16(int64_t{options.max_rows} * group_) +
                   RoundUp16(internal::ScratchFloats(hd));
  scratch_.resize(static_cast<size_t>(thread_stride_) * options.num_threads);
  // Split pairs have at most kMaxSplitQueries queries (and max_rows * G).
  const int64_t split_queries =
      std::min<int64_t>(kMaxSplitQueries, int64_t{options.max_rows} * group_);
  slot_stride_ = RoundUp16(split_queries * hd) + 2 * RoundUp16(split_queries);
  partial_.resize(static_cast<size_t>(slot_stride_) *
                  (kSplitTasks + kSplitBelowItems));
  seqs_.reserve(static_cast<size_t>(options.max_seqs));
  const size_t max_items =
      static_cast<size_t>(options.max_seqs) * options.layout.n_kv_heads;
  items_.reserve(max_items);
  tasks_.reserve(max_items + kSplitTasks + kSplitBelowItems);
}

absl::StatusOr<std::unique_ptr<PagedAttention>> PagedAttention::Create(
    const Options& options) {
  if (absl::Status s = options.layout.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("attention: ", s.message()));
  }
  const int hkv = options.layout.n_kv_heads;
  if (options.n_heads < 1 || options.n_heads % hkv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: n_heads ", options.n_heads,
                     " must be a positive multiple of the ", hkv, " KV heads"));
  }
  if (options.max_rows < 1 || options.max_seqs < 1 || options.num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: max_rows ", options.max_rows, ", max_seqs ",
                     options.max_seqs, " and num_threads ", options.num_threads,
                     " must all be at least 1"));
  }
  AttentionIsa isa = options.isa;
  // A/B runs and AVX2 figures of whole programs on an AVX-512 machine.
  if (const char* env = std::getenv("KVASIR_ATTENTION_ISA");
      isa == AttentionIsa::kAuto && env != nullptr) {
    const absl::string_view name(env);
    for (AttentionIsa i : {AttentionIsa::kAvx512, AttentionIsa::kAvx2,
                           AttentionIsa::kPortable}) {
      if (name == AttentionIsaName(i)) isa = i;
    }
  }
  if (!IsaSupported(isa)) {
    return absl::UnimplementedError(
        absl::StrCat("attention: this CPU cannot run the ",
                     AttentionIsaName(isa), " kernel"));
  }
  if (isa == AttentionIsa::kAuto) {
    isa = IsaSupported(AttentionIsa::kAvx512) ? AttentionIsa::kAvx512
          : IsaSupported(AttentionIsa::kAvx2) ? AttentionIsa::kAvx2
                                              : AttentionIsa::kPortable;
  }
  // The vector kernels work in whole 16-float vectors of a head.
  if (options.layout.head_dim % 16 != 0) isa = AttentionIsa::kPortable;
  return std::unique_ptr<PagedAttention>(new PagedAttention(options, isa));
}

absl::Status PagedAttention::CheckCall(int layer, size_t n_seqs,
                                       const kvcache::KvArena& kv) const {
  const kvcache::KvLayout& a = kv.layout();
  const kvcache::KvLayout& b = options_.layout;
  if (a != b) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: the KV arena's layout (", a.DebugString(),
                     ") is not the model's (", b.DebugString(), ")"));
  }
  if (layer < 0 || layer >= b.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: layer ", layer, " is outside [0, ", b.n_layers, ")"));
  }
  if (n_seqs > static_cast<size_t>(options_.max_seqs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: ", n_seqs, " sequences exceed max_seqs ",
                     options_.max_seqs));
  }
  return absl::OkStatus();
}

absl::Status PagedAttention::WriteKv(int layer, absl::Span<const Sequence> seqs,
                                     const float* k, const float* v,
                                     int64_t stride,
                                     kvcache::KvArena& kv) const {
  if (absl::Status s = CheckCall(layer, seqs.size(), kv); !s.ok()) return s;
  const kvcache::KvLayout& layout = options_.layout;
  const int hd = layout.head_dim;
  const int bs = layout.block_size;
  const int elem = kvcache::KvDtypeSize(layout.dtype);
  const bool scaled = layout.dtype == KvDtype::kInt8;
  for (const Sequence& s : seqs) {
    for (int j = 0; j < s.n_new; ++j) {
      const int pos = s.start_pos + j;
      const int32_t block = s.block_table[pos / bs];
      const int slot = pos % bs;
      const int64_t slot_offset = int64_t{slot} * hd * elem;
      const float* krow = k + (s.row + j) * stride;
      const float* vrow = v + (s.row + j) * stride;
      for (int h = 0; h < layout.n_kv_heads; ++h) {
        std::byte* base = kv.block(block);
        StoreRow(krow + h * hd, hd, layout.dtype,
                 base + layout.HeadByteOffset(layer, 0, h) + slot_offset,
                 scaled ? kv.scales(block, layer, 0, h) + slot : nullptr);
        StoreRow(vrow + h * hd, hd, layout.dtype,
                 base + layout.HeadByteOffset(layer, 1, h) + slot_offset,
                 scaled ? kv.scales(block, layer, 1, h) + slot : nullptr);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PagedAttention::Prepare(absl::Span<const Sequence> seqs) {
  prepared_ = false;
  if (seqs.size() > static_cast<size_t>(options_.max_seqs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: ", seqs.size(), " sequences exceed max_seqs ",
                     options_.max_seqs));
  }
  const int hkv = options_.layout.n_kv_heads;
  seqs_.assign(seqs.begin(), seqs.end());
  items_.clear();
  tasks_.clear();
  total_cost_ = 0;
  const int n_items = static_cast<int>(seqs.size()) * hkv;
  const bool split = n_items < kSplitBelowItems;
  const int want_parts = split ? (kSplitTasks + n_items - 1) / n_items : 1;
  // Split items first (their partial slots are 0..), in sequence order.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < seqs.size(); ++i) {
      const int n = seqs[i].n_new;
      const int total = seqs[i].start_pos + n;
      int parts = 1;
      int part_len = total;
      if (split && n * group_ <= kMaxSplitQueries) {
        parts = std::min(want_parts, total / kMinSplitKeys);
        if (parts > 1) {
          part_len = static_cast<int>(RoundUp16((total + parts - 1) / parts));
          parts = (total + part_len - 1) / part_len;
        }
      }
      if ((parts > 1) != (pass == 0)) continue;
      for (int h = 0; h < hkv; ++h) {
        const int32_t item = static_cast<int32_t>(items_.size());
        int32_t first_slot = -1;
        if (parts > 1) {
          first_slot = static_cast<int32_t>(tasks_.size());
          for (int p = 0; p < parts; ++p) {
            const int begin = p * part_len;
            const int end = std::min(total, begin + part_len);
            // (new token, key) pairs of the range.
            const int64_t cost = int64_t{n} * (end - begin);
            tasks_.push_back(Task{item, first_slot + p, begin, end, cost});
            total_cost_ += cost;
          }
        } else {
          const int64_t cost = int64_t{n} * (seqs[i].start_pos + (n + 1) / 2);
          tasks_.push_back(Task{item, -1, 0, total, cost});
          total_cost_ += cost;
        }
        items_.push_back(
            WorkItem{static_cast<int32_t>(i), h, parts, first_slot});
      }
    }
    if (pass == 0) n_split_items_ = static_cast<int>(items_.size());
  }
  // Biggest tasks first, so that the dynamic schedule ends balanced.
  // (std::sort: stable_sort may allocate a buffer.)
  std::sort(tasks_.begin(), tasks_.end(), [](const Task& a, const Task& b) {
    if (a.cost != b.cost) return a.cost > b.cost;
    return a.item != b.item ? a.item < b.item : a.key_begin < b.key_begin;
  });
  prepared_ = true;
  return absl::OkStatus();
}

absl::Status PagedAttention::Attend(int layer, absl::Span<const Sequence> seqs,
                                    const float* q, int64_t q_stride,
                                    const kvcache::KvArena& kv, float* out) {
  if (absl::Status s = CheckCall(layer, seqs.size(), kv); !s.ok()) return s;
  if (absl::Status s = Prepare(seqs); !s.ok()) return s;
  return Attend(layer, q, q_stride, kv, out);
}

absl::Status PagedAttention::Attend(int layer, const float* q, int64_t q_stride,
                                    const kvcache::KvArena& kv, float* out) {
  if (!prepared_) {
    return absl::FailedPreconditionError(
        "attention: Attend before Prepare (no sequences)");
  }
  if (absl::Status s = CheckCall(layer, seqs_.size(), kv); !s.ok()) return s;
  const kvcache::KvLayout& layout = options_.layout;
  const int hd = layout.head_dim;
  const int group = group_;
  const int64_t out_stride = int64_t{options_.n_heads} * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t macs = 2 * total_cost_ * group * hd;
  const int64_t rows_x_group = RoundUp16(int64_t{options_.max_rows} * group);
  // A partial slot: o [split_queries, hd], m [split_queries], l (each
  // rounded up to 16 floats), as the constructor sized it.
  const int64_t split_queries =
      std::min<int64_t>(kMaxSplitQueries, int64_t{options_.max_rows} * group);
  void (*kernel)(const internal::RangeTask&) =
      isa_ == AttentionIsa::kAvx512 ? internal::AttendRangeAvx512
      : isa_ == AttentionIsa::kAvx2 ? internal::AttendRangeAvx2
                                    : internal::AttendRangePortable;

  auto run_task = [&](const Task& t, int thread) {
    const WorkItem& item = items_[t.item];
    const Sequence& s = seqs_[item.seq];
    float* base = scratch_.data() + thread * thread_stride_;
    internal::RangeTask r{
        .kv = &kv,
        .block_table = s.block_table,
        .layer = layer,
        .kv_head = item.kv_head,
        .head_dim = hd,
        .block_size = layout.block_size,
        .group = group,
        .dtype = layout.dtype,
        .start_pos = s.start_pos,
        .n_new = s.n_new,
        .key_begin = t.key_begin,
        .key_end = t.key_end,
        .q = q + s.row * q_stride + item.kv_head * group * hd,
        .q_row_stride = q_stride,
        .scratch = base + 2 * rows_x_group,
        .scale = scale,
    };
    if (t.slot < 0) {
      r.o = out + s.row * out_stride + item.kv_head * group * hd;
      r.o_row_stride = out_stride;
      r.m = base;
      r.l = base + rows_x_group;
      r.normalize = true;
    } else {
      float* slot = partial_.data() + t.slot * slot_stride_;
      r.o = slot;
      r.o_row_stride = int64_t{group} * hd;
      r.m = slot + RoundUp16(split_queries * hd);
      r.l = r.m + RoundUp16(split_queries);
      r.normalize = false;
    }
    kernel(r);
  };
  // Combines a split item's ranges in range order: the result does not
  // depend on which thread ran which range.
  auto merge = [&](const WorkItem& item) {
    const Sequence& s = seqs_[item.seq];
    const int n_queries = s.n_new * group;
    const float* slots = partial_.data() + item.first_slot * slot_stride_;
    const int64_t m_offset = RoundUp16(split_queries * hd);
    const int64_t l_offset = m_offset + RoundUp16(split_queries);
    for (int i = 0; i < n_queries; ++i) {
      float m_max = -std::numeric_limits<float>::infinity();
      for (int p = 0; p < item.parts; ++p) {
        m_max = std::max(m_max, slots[p * slot_stride_ + m_offset + i]);
      }
      float* o = out + (s.row + i / group) * out_stride +
                 (item.kv_head * group + i % group) * hd;
      float sum = 0.0f;
      std::fill(o, o + hd, 0.0f);
      for (int p = 0; p < item.parts; ++p) {
        const float* slot = slots + p * slot_stride_;
        // A range none of whose keys the query sees has m = -inf: weight 0.
        const float w = FastExp(slot[m_offset + i] - m_max);
        sum += w * slot[l_offset + i];
        const float* po = slot + int64_t{i} * hd;
        for (int d = 0; d < hd; ++d) o[d] += w * po[d];
      }
      const float inv = 1.0f / sum;
      for (int d = 0; d < hd; ++d) o[d] *= inv;
    }
  };

  const int n_tasks = static_cast<int>(tasks_.size());
  const int threads = macs < options_.min_parallel_macs
                          ? 1
                          : std::min(options_.num_threads, n_tasks);
  if (threads <= 1) {
    for (const Task& t : tasks_) run_task(t, 0);
    for (int i = 0; i < n_split_items_; ++i) merge(items_[i]);
    return absl::OkStatus();
  }
#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < n_tasks; ++i) run_task(tasks_[i], thread);
#pragma omp for schedule(static)
    for (int i = 0; i < n_split_items_; ++i) merge(items_[i]);
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine::ops
