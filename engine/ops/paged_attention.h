#ifndef KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_
#define KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine::ops {

// Causal self-attention over a paged KV cache, for a batch of sequences
// that each add one or more new tokens (decode and chunked prefill alike).
// One path for MHA, GQA and MQA: KV head g serves the G = H / Hkv query
// heads g*G .. g*G+G-1.
//
// Work is split over (sequence, KV head) pairs with OpenMP (largest first,
// dynamic schedule). Each pair streams its sequence's K and V blocks once
// (in block-table order, in chunks of up to 16 slots) and applies every
// chunk to all G query heads of all of the sequence's new tokens, four
// queries at a time sharing each K and V row load, with an online
// (flash-attention style) softmax: scale 1/sqrt(head_dim), f32
// accumulation. New token at position p sees positions 0..p: earlier cached
// tokens and the earlier new tokens of the same call, whose K/V WriteKv has
// put into the cache first. A query's result does not depend on the other
// sequences of the call nor on the thread count.
//
// With a bf16 cache, K/V are rounded to nearest even when written and each
// chunk is widened to f32 once per (sequence, KV head).
//
// A step's work list depends only on its sequences, not on the layer:
// Prepare builds it once per step and every layer's Attend reuses it.
//
// Scratch is sized at Create; Prepare, WriteKv and Attend never allocate.
// Not thread-safe (one caller; the parallelism is inside).
class PagedAttention {
 public:
  struct Options {
    int n_heads = 0;           // H; a multiple of layout.n_kv_heads
    kvcache::KvLayout layout;  // the cache this kernel reads and writes
    int max_rows = 512;        // new tokens per call, all sequences
    int max_seqs = 64;         // sequences per call
    int num_threads = 1;       // OpenMP threads, >= 1
    // Calls with fewer multiply-adds than this (2 per query, visible key
    // and head_dim element) run on the calling thread alone: a parallel
    // region costs more than such a call, and far more when the cores are
    // oversubscribed.
    int64_t min_parallel_macs = int64_t{1} << 18;
  };

  // One sequence's new tokens. Preconditions (the caller validates): rows
  // [row, row + n_new) of q/k/v/out belong to it; 1 <= n_new <= max_rows;
  // start_pos >= 0; block_table has at least
  // ceil((start_pos + n_new) / block_size) entries, each a block of the
  // arena; distinct sequences write distinct blocks.
  struct Sequence {
    int32_t row = 0;
    int32_t n_new = 0;
    int32_t start_pos = 0;
    const int32_t* block_table = nullptr;
  };

  // InvalidArgument naming the bad option.
  static absl::StatusOr<std::unique_ptr<PagedAttention>> Create(
      const Options& options);

  // Stores the K and V rows of every new token of `layer` in the token's
  // cache slot (block_table[p / block_size], slot p % block_size).
  // k, v: [rows, Hkv, head_dim], row r at k + r * stride (floats).
  // InvalidArgument if the arena's layout is not this kernel's, the layer
  // is out of range or there are more than max_seqs sequences.
  absl::Status WriteKv(int layer, absl::Span<const Sequence> seqs,
                       const float* k, const float* v, int64_t stride,
                       kvcache::KvArena& kv) const;

  // Takes the step's sequences (copied) and builds the work list that
  // Attend uses for every layer: (sequence, KV head) pairs, largest first.
  // InvalidArgument for more than max_seqs sequences (nothing is prepared
  // then).
  absl::Status Prepare(absl::Span<const Sequence> seqs);

  // out[r, h, :] = softmax_t(q[r, h] . K[t] / sqrt(head_dim)) V[t] over
  // the row's positions t <= p, for every new-token row r of the sequences
  // given to the last Prepare. q: [rows, H, head_dim], row r at
  // q + r * q_stride (floats); out: [rows, H * head_dim] contiguous; q and
  // out must not overlap. Same errors as WriteKv; FailedPrecondition before
  // any Prepare.
  absl::Status Attend(int layer, const float* q, int64_t q_stride,
                      const kvcache::KvArena& kv, float* out);

  // Prepare(seqs), then Attend: for callers with a single layer.
  absl::Status Attend(int layer, absl::Span<const Sequence> seqs,
                      const float* q, int64_t q_stride,
                      const kvcache::KvArena& kv, float* out);

  const Options& options() const { return options_; }

 private:
  struct WorkItem {
    int32_t seq = 0;
    int32_t kv_head = 0;
    int64_t cost = 0;
  };

  explicit PagedAttention(const Options& options);
  absl::Status CheckCall(int layer, size_t n_seqs,
                         const kvcache::KvArena& kv) const;

  Options options_;
  int group_ = 0;               // G = H / Hkv
  int64_t thread_stride_ = 0;   // floats of scratch per thread
  std::vector<float> scratch_;  // [num_threads, thread_stride_]
  // Set by Prepare.
  bool prepared_ = false;
  std::vector<Sequence> seqs_;   // capacity max_seqs
  std::vector<WorkItem> items_;  // capacity max_seqs * Hkv; largest first
  int64_t total_cost_ = 0;       // sum of the items' costs
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_
