#include "engine/ops/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/ops/bf16.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/simd.h"

namespace kvasir::engine::ops {
namespace {

using kvcache::KvDtype;

int64_t RoundUp16(int64_t n) { return (n + 15) / 16 * 16; }

// Everything one work item needs besides its sequence and KV head.
struct Geometry {
  const float* q;
  int64_t q_stride;
  float* out;
  int n_heads;
  int group;
  int head_dim;
  int block_size;
  int layer;
  KvDtype dtype;
  float scale;
};

// Keys are processed in chunks of up to kChunk slots of one block; a tile
// of up to kTile queries (new tokens x heads of the group) shares every K
// row and V row it loads from the chunk.
constexpr int kChunk = 16;
constexpr int kTile = 4;

// Per-thread scratch of one work item.
struct Scratch {
  float* m;  // [n_new * G] running max of each query's scores
  float* l;  // [n_new * G] running sum of exp(score - m)
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

// kTile queries against one chunk: k [>= max visible, head_dim], v
// [kChunk, head_dim] (zero rows past the chunk's slots).
[[gnu::always_inline]] inline void AttendTile4(const TileQuery* tq,
                                               const float* k, const float* v,
                                               int hd, float scale) {
  alignas(64) float p[kTile][kChunk];
  int visible = 0;
  for (int i = 0; i < kTile; ++i) visible = std::max(visible, tq[i].visible);
  const float* q0 = tq[0].q;
  const float* q1 = tq[1].q;
  const float* q2 = tq[2].q;
  const float* q3 = tq[3].q;
  for (int t = 0; t < visible; ++t) {
    const float* kt = k + t * hd;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int d = 0; d < hd; ++d) {
      const float kd = kt[d];
      a0 += q0[d] * kd;
      a1 += q1[d] * kd;
      a2 += q2[d] * kd;
      a3 += q3[d] * kd;
    }
    p[0][t] = a0 * scale;
    p[1][t] = a1 * scale;
    p[2][t] = a2 * scale;
    p[3][t] = a3 * scale;
  }
  for (int i = 0; i < kTile; ++i) SoftmaxUpdate(tq[i], p[i], hd);
  // Weights past a query's `visible` are 0 and v has kChunk finite rows, so
  // the key loop has a fixed trip count and the d loop vectorizes.
  float* o0 = tq[0].o;
  float* o1 = tq[1].o;
  float* o2 = tq[2].o;
  float* o3 = tq[3].o;
#pragma omp simd
  for (int d = 0; d < hd; ++d) {
    float a0 = o0[d], a1 = o1[d], a2 = o2[d], a3 = o3[d];
#pragma GCC unroll 16
    for (int t = 0; t < kChunk; ++t) {
      const float vd = v[t * hd + d];
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

// One query against one chunk (k, v as for AttendTile4).
[[gnu::always_inline]] inline void AttendTile1(const TileQuery& tq,
                                               const float* k, const float* v,
                                               int hd, float scale) {
  alignas(64) float p[kChunk];
  const float* q = tq.q;
  for (int t = 0; t < tq.visible; ++t) {
    const float* kt = k + t * hd;
    float a = 0.0f;
#pragma omp simd reduction(+ : a)
    for (int d = 0; d < hd; ++d) a += q[d] * kt[d];
    p[t] = a * scale;
  }
  SoftmaxUpdate(tq, p, hd);
  float* o = tq.o;
#pragma omp simd
  for (int d = 0; d < hd; ++d) {
    float a = o[d];
#pragma GCC unroll 16
    for (int t = 0; t < kChunk; ++t) a += p[t] * v[t * hd + d];
    o[d] = a;
  }
}

// Attention of sequence `s`'s new tokens for the G query heads of KV head
// `kvh`: every K/V chunk is read once and applied to all n_new * G queries.
// The output rows double as the accumulators.
KVASIR_SIMD_CLONES
void AttendItem(const Geometry& g, const PagedAttention::Sequence& s, int kvh,
                const kvcache::KvArena& kv, const Scratch& scratch) {
  const int hd = g.head_dim;
  const int bs = g.block_size;
  const int group = g.group;
  const int n = s.n_new;
  const int total = s.start_pos + n;
  const int n_blocks = (total + bs - 1) / bs;
  const int64_t out_stride = int64_t{g.n_heads} * hd;
  const int first_head = kvh * group;
  const int n_queries = n * group;

  for (int j = 0; j < n; ++j) {
    float* o = g.out + (s.row + j) * out_stride + first_head * hd;
    std::fill(o, o + group * hd, 0.0f);
  }
  for (int i = 0; i < n_queries; ++i) {
    scratch.m[i] = -std::numeric_limits<float>::infinity();
    scratch.l[i] = 0.0f;
  }

  TileQuery tile[kTile];
  for (int b = 0; b < n_blocks; ++b) {
    const int block_start = b * bs;
    const int block_slots = std::min(bs, total - block_start);
    const int32_t block = s.block_table[b];
    for (int c0 = 0; c0 < block_slots; c0 += kChunk) {
      const int chunk_start = block_start + c0;
      const int slots = std::min(kChunk, block_slots - c0);
      // Queries of tokens before the chunk do not see it.
      const int first_query = std::max(0, chunk_start - s.start_pos) * group;
      if (first_query >= n_queries) break;

      // K as stored (or widened from bf16); V widened and/or zero-padded
      // to kChunk rows unless it is a full f32 chunk.
      const float* k;
      const float* v;
      const int count = slots * hd;
      if (g.dtype == KvDtype::kF32) {
        k = kv.head<float>(block, g.layer, 0, kvh) + c0 * hd;
        v = kv.head<float>(block, g.layer, 1, kvh) + c0 * hd;
        if (slots < kChunk) {
          std::copy(v, v + count, scratch.v);
          v = scratch.v;
        }
      } else {
        const uint16_t* k16 =
            kv.head<uint16_t>(block, g.layer, 0, kvh) + c0 * hd;
        const uint16_t* v16 =
            kv.head<uint16_t>(block, g.layer, 1, kvh) + c0 * hd;
#pragma omp simd
        for (int i = 0; i < count; ++i) scratch.k[i] = Bf16ToFloat(k16[i]);
#pragma omp simd
        for (int i = 0; i < count; ++i) scratch.v[i] = Bf16ToFloat(v16[i]);
        k = scratch.k;
        v = scratch.v;
      }
      if (v == scratch.v) {
        std::fill(scratch.v + count, scratch.v + kChunk * hd, 0.0f);
      }

      int qi = first_query;
      while (qi < n_queries) {
        const int size = n_queries - qi >= kTile ? kTile : 1;
        for (int i = 0; i < size; ++i, ++qi) {
          const int j = qi / group;
          const int h = qi % group;
          const int64_t row = s.row + j;
          tile[i] = TileQuery{
              .q = g.q + row * g.q_stride + (first_head + h) * hd,
              .o = g.out + row * out_stride + (first_head + h) * hd,
              .m = scratch.m + qi,
              .l = scratch.l + qi,
              .visible = std::min(slots, s.start_pos + j - chunk_start + 1)};
        }
        if (size == kTile) {
          AttendTile4(tile, k, v, hd, g.scale);
        } else {
          AttendTile1(tile[0], k, v, hd, g.scale);
        }
      }
    }
  }

  for (int i = 0; i < n_queries; ++i) {
    const int j = i / group;
    const int h = i % group;
    float* o = g.out + (s.row + j) * out_stride + (first_head + h) * hd;
    const float inv = 1.0f / scratch.l[i];
#pragma omp simd
    for (int d = 0; d < hd; ++d) o[d] *= inv;
  }
}

// Writes `count` floats as the cache's element type.
KVASIR_SIMD_CLONES
void StoreRow(const float* src, int count, KvDtype dtype, std::byte* dst) {
  if (dtype == KvDtype::kF32) {
    std::copy(src, src + count, reinterpret_cast<float*>(dst));
  } else {
    uint16_t* d16 = reinterpret_cast<uint16_t*>(dst);
#pragma omp simd
    for (int i = 0; i < count; ++i) d16[i] = FloatToBf16(src[i]);
  }
}

}  // namespace

PagedAttention::PagedAttention(const Options& options)
    : options_(options), group_(options.n_heads / options.layout.n_kv_heads) {
  const int64_t rows_x_group = int64_t{options.max_rows} * group_;
  const int64_t chunk_elems = int64_t{kChunk} * options.layout.head_dim;
  thread_stride_ = 2 * RoundUp16(rows_x_group) + 2 * RoundUp16(chunk_elems);
  scratch_.resize(static_cast<size_t>(thread_stride_) * options.num_threads);
  seqs_.reserve(static_cast<size_t>(options.max_seqs));
  items_.reserve(static_cast<size_t>(options.max_seqs) *
                 options.layout.n_kv_heads);
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
  return std::unique_ptr<PagedAttention>(new PagedAttention(options));
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
  for (const Sequence& s : seqs) {
    for (int j = 0; j < s.n_new; ++j) {
      const int pos = s.start_pos + j;
      const int32_t block = s.block_table[pos / bs];
      const int64_t slot_offset = int64_t{pos % bs} * hd * elem;
      const float* krow = k + (s.row + j) * stride;
      const float* vrow = v + (s.row + j) * stride;
      for (int h = 0; h < layout.n_kv_heads; ++h) {
        std::byte* base = kv.block(block);
        StoreRow(krow + h * hd, hd, layout.dtype,
                 base + layout.HeadOffset(layer, 0, h) * elem + slot_offset);
        StoreRow(vrow + h * hd, hd, layout.dtype,
                 base + layout.HeadOffset(layer, 1, h) * elem + slot_offset);
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
  total_cost_ = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    // (new token, visible key) pairs of the sequence.
    const int64_t n = seqs[i].n_new;
    const int64_t cost = n * (seqs[i].start_pos + (n + 1) / 2);
    for (int h = 0; h < hkv; ++h) {
      items_.push_back(WorkItem{static_cast<int32_t>(i), h, cost});
    }
    total_cost_ += cost * hkv;
  }
  // Biggest items first, so that the dynamic schedule ends balanced.
  // (std::sort: stable_sort may allocate a buffer.)
  std::sort(items_.begin(), items_.end(),
            [](const WorkItem& a, const WorkItem& b) {
              if (a.cost != b.cost) return a.cost > b.cost;
              return a.seq != b.seq ? a.seq < b.seq : a.kv_head < b.kv_head;
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
  const Geometry geometry{
      .q = q,
      .q_stride = q_stride,
      .out = out,
      .n_heads = options_.n_heads,
      .group = group_,
      .head_dim = layout.head_dim,
      .block_size = layout.block_size,
      .layer = layer,
      .dtype = layout.dtype,
      .scale = 1.0f / std::sqrt(static_cast<float>(layout.head_dim)),
  };
  const int64_t macs = 2 * total_cost_ * group_ * layout.head_dim;
  const Sequence* seqs = seqs_.data();

  const int64_t rows_x_group = RoundUp16(int64_t{options_.max_rows} * group_);
  const int64_t chunk_elems = RoundUp16(int64_t{kChunk} * layout.head_dim);
  auto scratch_of = [&](int thread) {
    float* base = scratch_.data() + thread * thread_stride_;
    Scratch s;
    s.m = base;
    s.l = s.m + rows_x_group;
    s.k = s.l + rows_x_group;
    s.v = s.k + chunk_elems;
    return s;
  };

  const int n_items = static_cast<int>(items_.size());
  const int threads = macs < options_.min_parallel_macs
                          ? 1
                          : std::min(options_.num_threads, n_items);
  if (threads <= 1) {
    const Scratch s = scratch_of(0);
    for (const WorkItem& item : items_) {
      AttendItem(geometry, seqs[item.seq], item.kv_head, kv, s);
    }
    return absl::OkStatus();
  }
#pragma omp parallel num_threads(threads)
  {
    const Scratch s = scratch_of(omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < n_items; ++i) {
      AttendItem(geometry, seqs[items_[i].seq], items_[i].kv_head, kv, s);
    }
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine::ops
