#include "engine/ops/paged_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/ops/attention_kernels.h"
#include "engine/ops/bf16.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/kv_int8.h"
#include "engine/ops/simd.h"

namespace kvasir::engine::ops {
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
    case AttentionIsa::kAvx512Bf16:
      return IsaSupported(AttentionIsa::kAvx512) &&
             __builtin_cpu_supports("avx512bf16");
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
    case AttentionIsa::kAvx512Bf16:
      return "avx512bf16";
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
  // The bf16 pair kernel rounds a range's queries (at most max_rows * G)
  // once, into the scratch.
  const int64_t pair_queries =
      isa == AttentionIsa::kAvx512Bf16 &&
              options.layout.dtype == kvcache::KvDtype::kBF16
          ? int64_t{options.max_rows} * group_
          : 0;
  // Only MHA ranges take several KV heads (see Prepare), each with at most
  // kMaxPacked queries and a scratch of its own.
  max_range_heads_ = group_ == 1 ? std::min(options.layout.n_kv_heads,
                                            internal::kMaxRangeHeads)
                                 : 1;
  head_scratch_ = RoundUp16(internal::ScratchFloats(
      hd, std::min<int64_t>(pair_queries, internal::kMaxPacked)));
  ml_floats_ = RoundUp16(
      std::max<int64_t>(int64_t{options.max_rows} * group_,
                        int64_t{max_range_heads_} * internal::kMaxPacked));
  thread_stride_ =
      2 * ml_floats_ +
      std::max(RoundUp16(internal::ScratchFloats(hd, pair_queries)),
               max_range_heads_ * head_scratch_);
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
    for (AttentionIsa i : {AttentionIsa::kAvx512Bf16, AttentionIsa::kAvx512,
                           AttentionIsa::kAvx2, AttentionIsa::kPortable}) {
      if (name == AttentionIsaName(i)) isa = i;
    }
  }
  if (!IsaSupported(isa)) {
    return absl::UnimplementedError(
        absl::StrCat("attention: this CPU cannot run the ",
                     AttentionIsaName(isa), " kernel"));
  }
  if (isa == AttentionIsa::kAuto) {
    for (AttentionIsa i : {AttentionIsa::kAvx512Bf16, AttentionIsa::kAvx512,
                           AttentionIsa::kAvx2, AttentionIsa::kPortable}) {
      if (IsaSupported(i)) {
        isa = i;
        break;
      }
    }
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
  // MHA: unsplit pairs of few new tokens go several KV heads to a range (their
  // K/V one run of memory per block, RangeTask::heads): all of a
  // sequence's heads (up to max_range_heads_), unless the ranges would not
  // share out evenly over the threads; then each sequence's heads are cut
  // into the fewest ranges that do, or that give every thread at least
  // kMinRangesPerThread (1 sequence on 2 threads: 2 ranges; 3: 6; 9: 9).
  // Longer runs read K/V faster, and the dynamic schedule balances with
  // few ranges: dummy:110m at 16 streams read K/V at 34 GB/s with 12 heads
  // per range against 24-25 with 6 (docs/kernels.md, 2026-12-06). GQA and
  // MQA ranges keep one KV head (max_range_heads_): GQA-4 at 16 streams of
  // 1.5k keys reads slower with several.
  const int n_seqs = static_cast<int>(seqs.size());
  const int threads = options_.num_threads;
  int seq_ranges = 1;
  while (seq_ranges < hkv &&
         n_seqs * seq_ranges < kMinRangesPerThread * threads &&
         n_seqs * seq_ranges % threads != 0) {
    ++seq_ranges;
  }
  const int range_heads =
      std::clamp((hkv + seq_ranges - 1) / seq_ranges, 1, max_range_heads_);
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
      const int step =
          parts == 1 && n * group_ <= internal::kMaxPacked ? range_heads : 1;
      for (int h = 0; h < hkv; h += step) {
        const int heads = std::min(step, hkv - h);
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
          const int64_t cost =
              int64_t{n} * (seqs[i].start_pos + (n + 1) / 2) * heads;
          tasks_.push_back(Task{item, -1, 0, total, cost});
          total_cost_ += cost;
        }
        items_.push_back(
            WorkItem{static_cast<int32_t>(i), h, parts, first_slot, heads});
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

absl::Status PagedAttention::CheckAttend(int layer,
                                         const kvcache::KvArena& kv) const {
  if (!prepared_) {
    return absl::FailedPreconditionError(
        "attention: Attend before Prepare (no sequences)");
  }
  return CheckCall(layer, seqs_.size(), kv);
}

absl::Status PagedAttention::Attend(int layer, const float* q, int64_t q_stride,
                                    const kvcache::KvArena& kv, float* out) {
  if (absl::Status s = CheckAttend(layer, kv); !s.ok()) return s;
  Run(layer, q, q_stride, kv, out, nullptr);
  return absl::OkStatus();
}

void PagedAttention::AttendSlice(int layer, const float* q, int64_t q_stride,
                                 const kvcache::KvArena& kv, float* out,
                                 const Team& team) {
  Run(layer, q, q_stride, kv, out, &team);
}

void PagedAttention::Run(int layer, const float* q, int64_t q_stride,
                         const kvcache::KvArena& kv, float* out,
                         const Team* team) {
  const kvcache::KvLayout& layout = options_.layout;
  const int hd = layout.head_dim;
  const int group = group_;
  const int64_t out_stride = int64_t{options_.n_heads} * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t macs = 2 * total_cost_ * group * hd;
  // A partial slot: o [split_queries, hd], m [split_queries], l (each
  // rounded up to 16 floats), as the constructor sized it.
  const int64_t split_queries =
      std::min<int64_t>(kMaxSplitQueries, int64_t{options_.max_rows} * group);
  void (*kernel)(const internal::RangeTask&) =
      isa_ == AttentionIsa::kAvx512Bf16 ? internal::AttendRangeAvx512Bf16
      : isa_ == AttentionIsa::kAvx512   ? internal::AttendRangeAvx512
      : isa_ == AttentionIsa::kAvx2     ? internal::AttendRangeAvx2
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
        .scratch = base + 2 * ml_floats_,
        .scale = scale,
        .heads = item.heads,
        .ml_stride = internal::kMaxPacked,
        .scratch_stride = head_scratch_,
    };
    if (t.slot < 0) {
      r.o = out + s.row * out_stride + item.kv_head * group * hd;
      r.o_row_stride = out_stride;
      r.m = base;
      r.l = base + ml_floats_;
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
  if (team != nullptr) {
    // Tasks by a shared counter (the dynamic schedule, largest first), then
    // the merges split statically; which thread ran a task changes nothing.
    // Small calls too: min_parallel_macs weighs a fork and join, which the
    // team has already paid.
    for (int i;
         (i = team->next->fetch_add(1, std::memory_order_relaxed)) < n_tasks;) {
      run_task(tasks_[i], team->thread);
    }
    team->barrier->Wait(team->threads);
    for (int i = team->thread; i < n_split_items_; i += team->threads) {
      merge(items_[i]);
    }
    return;
  }
  const int threads = macs < options_.min_parallel_macs
                          ? 1
                          : std::min(options_.num_threads, n_tasks);
  if (threads <= 1) {
    for (const Task& t : tasks_) run_task(t, 0);
    for (int i = 0; i < n_split_items_; ++i) merge(items_[i]);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < n_tasks; ++i) run_task(tasks_[i], thread);
#pragma omp for schedule(static)
    for (int i = 0; i < n_split_items_; ++i) merge(items_[i]);
  }
}

}  // namespace kvasir::engine::ops
