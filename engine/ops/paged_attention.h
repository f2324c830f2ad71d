#ifndef KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_
#define KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/ops/spin_barrier.h"
#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine::ops {

// The instruction set the attention kernel runs on. kAuto picks the best
// the CPU has (cpuid at run time): AVX-512 with AVX512_BF16, else AVX-512,
// else AVX2 + FMA, else the portable code. The vector kernels need
// head_dim % 16 == 0; other head sizes always run the portable code.
// kAvx512Bf16 differs from kAvx512 for a bf16 cache only:
// its scores multiply K with the query rounded to bf16, as llama.cpp does
// for a bf16 cache, and P.V multiplies V with the softmax weights rounded
// to bf16 (each output within 2^-8 max|V| of the result with f32
// weights), where the others multiply in f32.
enum class AttentionIsa { kAuto, kAvx512Bf16, kAvx512, kAvx2, kPortable };
absl::string_view AttentionIsaName(AttentionIsa isa);  // "avx512", ...

// Causal self-attention over a paged KV cache, for a batch of sequences
// that each add one or more new tokens (decode and chunked prefill alike).
// One path for MHA, GQA and MQA: KV head g serves the G = H / Hkv query
// heads g*G .. g*G+G-1.
//
// Work is split over (sequence, KV head) pairs with OpenMP (largest first,
// dynamic schedule). Each pair streams its sequence's K and V blocks once
// (in block-table order, in chunks of up to 16 slots, prefetching the next
// chunk) and applies every chunk to all G query heads of all of the
// sequence's new tokens, four queries at a time sharing each K and V row
// load, with an online (flash-attention style) softmax: scale
// 1/sqrt(head_dim), f32 accumulation. The vector kernels transpose each K
// chunk once so that a query's 16 scores are one vector of FMAs (a G x
// head_dim x 16 matrix product per chunk), which keeps GQA/MQA at memory
// speed. New token at position p sees positions 0..p: earlier cached tokens
// and the earlier new tokens of the same call, whose K/V WriteKv has put
// into the cache first.
//
// Flash decoding: when a call has fewer than kSplitBelowItems pairs (few
// sequences and KV heads, e.g. one MQA sequence), a pair with at most
// kMaxSplitQueries queries is split over ranges of its keys (at least
// kMinSplitKeys each) so that every core works; each range keeps its own
// max, sum and unnormalized output and a merge combines them in range
// order. The split depends only on the sequences, never on the thread
// count, so a query's result does not depend on the other sequences' work
// distribution nor on num_threads (bit for bit); it does depend on the
// instruction set (within float rounding).
//
// With a bf16 cache, K/V are rounded to nearest even when written and
// widened to f32 in register when read. With an int8 cache (kv_int8.h),
// WriteKv quantizes each (token, KV head) row of K and V with its own
// scale; the vector kernels widen the int8 rows in register and fold the
// scales into the scores (K: one multiply of a chunk's 16 scores by its 16
// scales) and into the softmax weights (V), so no dequantized copy of the
// cache exists (the portable kernel does the same in auto-vectorized
// loops).
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
    // oversubscribed. (AttendSlice ignores it: its team is already up.)
    int64_t min_parallel_macs = int64_t{1} << 18;
    // Forced instruction set (tests force kAvx2 and kPortable to cover
    // other CPUs); kAuto = the best this CPU has, or the one the
    // environment variable KVASIR_ATTENTION_ISA names ("avx512bf16",
    // "avx512", "avx2", "portable"; for A/B runs of whole programs).
    AttentionIsa isa = AttentionIsa::kAuto;
  };

  // Flash-decoding split (see above): calls with fewer (sequence, KV head)
  // pairs than this split pairs of at most kMaxSplitQueries queries (new
  // tokens x G) into up to ceil(kSplitTasks / pairs) key ranges of at least
  // kMinSplitKeys keys.
  static constexpr int kSplitBelowItems = 8;
  static constexpr int kSplitTasks = 8;
  static constexpr int kMaxSplitQueries = 64;
  static constexpr int kMinSplitKeys = 64;
  // MHA: the unsplit pairs of a sequence (at most kMaxPacked new tokens)
  // share ranges of several KV heads: each sequence's heads go to the
  // fewest ranges that share out evenly over the threads or give each
  // thread at least this many (Prepare).
  static constexpr int kMinRangesPerThread = 4;

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

  // InvalidArgument naming the bad option; Unimplemented naming the
  // instruction set when the CPU cannot run a forced one.
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

  // Attend's checks alone: what Attend would return before computing.
  absl::Status CheckAttend(int layer, const kvcache::KvArena& kv) const;

  // Attend's work for a caller that runs its own team (a decode step in
  // one parallel region): every thread of the team calls AttendSlice with
  // its `thread` and the same `threads`, `next` and `barrier`. `next` must
  // be 0 when the first thread enters (set by one thread before a barrier
  // all passed); AttendSlice waits at `barrier` once inside (between the
  // key ranges and their merge), and `out` is complete once all threads
  // have passed the caller's next barrier. Same result as Attend, bit for
  // bit. Precondition: CheckAttend(layer, kv) is OK and threads <=
  // options().num_threads.
  struct Team {
    int thread = 0;
    int threads = 1;
    std::atomic<int>* next = nullptr;
    SpinBarrier* barrier = nullptr;
  };
  void AttendSlice(int layer, const float* q, int64_t q_stride,
                   const kvcache::KvArena& kv, float* out, const Team& team);

  // Prepare(seqs), then Attend: for callers with a single layer.
  absl::Status Attend(int layer, absl::Span<const Sequence> seqs,
                      const float* q, int64_t q_stride,
                      const kvcache::KvArena& kv, float* out);

  const Options& options() const { return options_; }
  // The instruction set Attend runs (never kAuto).
  AttentionIsa isa() const { return isa_; }

 private:
  // A (sequence, KV head) pair, or `heads` consecutive KV heads of a
  // sequence (unsplit); split pairs own `parts` consecutive partial slots
  // from first_slot.
  struct WorkItem {
    int32_t seq = 0;
    int32_t kv_head = 0;
    int32_t parts = 1;
    int32_t first_slot = -1;
    int32_t heads = 1;
  };
  // A range of one pair's keys; slot -1 = the whole pair, written to out.
  struct Task {
    int32_t item = 0;
    int32_t slot = -1;
    int32_t key_begin = 0;
    int32_t key_end = 0;
    int64_t cost = 0;
  };

  PagedAttention(const Options& options, AttentionIsa isa);
  absl::Status CheckCall(int layer, size_t n_seqs,
                         const kvcache::KvArena& kv) const;
  // Attend after its checks: on the caller's OpenMP team (team null) or as
  // one thread's share of AttendSlice.
  void Run(int layer, const float* q, int64_t q_stride,
           const kvcache::KvArena& kv, float* out, const Team* team);

  Options options_;
  AttentionIsa isa_ = AttentionIsa::kPortable;
  int group_ = 0;               // G = H / Hkv
  int64_t thread_stride_ = 0;   // floats of scratch per thread
  int max_range_heads_ = 1;     // KV heads per range at most (MHA: > 1)
  int64_t ml_floats_ = 0;       // floats of each of m and l per thread
  int64_t head_scratch_ = 0;    // floats of kernel scratch per range head
  std::vector<float> scratch_;  // [num_threads, thread_stride_]
  int64_t slot_stride_ = 0;     // floats per partial slot: o, m, l
  std::vector<float> partial_;  // [kSplitTasks + kSplitBelowItems slots]
  // Set by Prepare.
  bool prepared_ = false;
  std::vector<Sequence> seqs_;   // capacity max_seqs
  std::vector<WorkItem> items_;  // capacity max_seqs * Hkv
  std::vector<Task> tasks_;      // largest first
  int n_split_items_ = 0;        // items_[0, n) are the split ones
  int64_t total_cost_ = 0;       // (query, key) pairs of the call
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_PAGED_ATTENTION_H_
