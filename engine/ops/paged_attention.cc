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

// Per-thread scratch of one work item.
struct Scratch {
  float* m;       // [n_new * G] running max of the scores
  float* l;       // [n_new * G] running sum of exp(score - m)
  float* scores;  // [block_size]
  float* k;       // [block_size, head_dim] f32 copy of a bf16 K block
  float* v;       // [block_size, head_dim]
};

// Attention of sequence `s`'s new tokens for the G query heads of KV head
// `kvh`. The output rows double as the accumulators.
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

  for (int j = 0; j < n; ++j) {
    float* o = g.out + (s.row + j) * out_stride + first_head * hd;
    std::fill(o, o + group * hd, 0.0f);
    for (int h = 0; h < group; ++h) {
      scratch.m[j * group + h] = -std::numeric_limits<float>::infinity();
      scratch.l[j * group + h] = 0.0f;
    }
  }

  for (int b = 0; b < n_blocks; ++b) {
    const int base = b * bs;
    const int slots = std::min(bs, total - base);
    const int32_t block = s.block_table[b];
    const float* kb;
    const float* vb;
    if (g.dtype == KvDtype::kF32) {
      kb = kv.head<float>(block, g.layer, 0, kvh);
      vb = kv.head<float>(block, g.layer, 1, kvh);
    } else {
      const uint16_t* k16 = kv.head<uint16_t>(block, g.layer, 0, kvh);
      const uint16_t* v16 = kv.head<uint16_t>(block, g.layer, 1, kvh);
      const int count = slots * hd;
#pragma omp simd
      for (int i = 0; i < count; ++i) scratch.k[i] = Bf16ToFloat(k16[i]);
#pragma omp simd
      for (int i = 0; i < count; ++i) scratch.v[i] = Bf16ToFloat(v16[i]);
      kb = scratch.k;
      vb = scratch.v;
    }

    // New tokens before this block's first position do not see it.
    for (int j = std::max(0, base - s.start_pos); j < n; ++j) {
      const int pos = s.start_pos + j;
      const int valid = std::min(slots, pos - base + 1);
      const float* qrow = g.q + (s.row + j) * g.q_stride + first_head * hd;
      float* orow = g.out + (s.row + j) * out_stride + first_head * hd;
      for (int h = 0; h < group; ++h) {
        const float* qh = qrow + h * hd;
        float* oh = orow + h * hd;
        float block_max = -std::numeric_limits<float>::infinity();
        for (int t = 0; t < valid; ++t) {
          const float* kt = kb + t * hd;
          float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
          for (int d = 0; d < hd; ++d) dot += qh[d] * kt[d];
          dot *= g.scale;
          scratch.scores[t] = dot;
          block_max = std::max(block_max, dot);
        }
        float& m = scratch.m[j * group + h];
        float& l = scratch.l[j * group + h];
        const float m_new = std::max(m, block_max);
        const float correction = FastExp(m - m_new);
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int t = 0; t < valid; ++t) {
          const float p = FastExp(scratch.scores[t] - m_new);
          scratch.scores[t] = p;
          sum += p;
        }
        l = l * correction + sum;
        m = m_new;
        if (correction != 1.0f) {
#pragma omp simd
          for (int d = 0; d < hd; ++d) oh[d] *= correction;
        }
        for (int t = 0; t < valid; ++t) {
          const float p = scratch.scores[t];
          const float* vt = vb + t * hd;
#pragma omp simd
          for (int d = 0; d < hd; ++d) oh[d] += p * vt[d];
        }
      }
    }
  }

  for (int j = 0; j < n; ++j) {
    float* orow = g.out + (s.row + j) * out_stride + first_head * hd;
    for (int h = 0; h < group; ++h) {
      const float inv = 1.0f / scratch.l[j * group + h];
      float* oh = orow + h * hd;
#pragma omp simd
      for (int d = 0; d < hd; ++d) oh[d] *= inv;
    }
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
  const int64_t block_elems =
      int64_t{options.layout.block_size} * options.layout.head_dim;
  thread_stride_ = 2 * RoundUp16(rows_x_group) +
                   RoundUp16(options.layout.block_size) +
                   2 * RoundUp16(block_elems);
  scratch_.resize(static_cast<size_t>(thread_stride_) * options.num_threads);
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
  if (a.n_layers != b.n_layers || a.n_kv_heads != b.n_kv_heads ||
      a.head_dim != b.head_dim || a.block_size != b.block_size ||
      a.dtype != b.dtype) {
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

absl::Status PagedAttention::Attend(int layer, absl::Span<const Sequence> seqs,
                                    const float* q, int64_t q_stride,
                                    const kvcache::KvArena& kv, float* out) {
  if (absl::Status s = CheckCall(layer, seqs.size(), kv); !s.ok()) return s;
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

  // Biggest items first, so that the dynamic schedule ends balanced.
  items_.clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t n = seqs[i].n_new;
    const int64_t cost = n * (seqs[i].start_pos + (n + 1) / 2);
    for (int h = 0; h < layout.n_kv_heads; ++h) {
      items_.push_back(WorkItem{static_cast<int32_t>(i), h, cost});
    }
  }
  // (std::sort: stable_sort may allocate a buffer.)
  std::sort(items_.begin(), items_.end(),
            [](const WorkItem& a, const WorkItem& b) {
              if (a.cost != b.cost) return a.cost > b.cost;
              return a.seq != b.seq ? a.seq < b.seq : a.kv_head < b.kv_head;
            });

  const int64_t rows_x_group = RoundUp16(int64_t{options_.max_rows} * group_);
  const int64_t block_elems =
      RoundUp16(int64_t{layout.block_size} * layout.head_dim);
  auto scratch_of = [&](int thread) {
    float* base = scratch_.data() + thread * thread_stride_;
    Scratch s;
    s.m = base;
    s.l = s.m + rows_x_group;
    s.scores = s.l + rows_x_group;
    s.k = s.scores + RoundUp16(layout.block_size);
    s.v = s.k + block_elems;
    return s;
  };

  const int n_items = static_cast<int>(items_.size());
  const int threads = std::min(options_.num_threads, n_items);
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
