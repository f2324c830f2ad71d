#ifndef KVASIR_ENGINE_OPS_ATTENTION_KERNELS_H_
#define KVASIR_ENGINE_OPS_ATTENTION_KERNELS_H_

// Internal to PagedAttention: the per-instruction-set kernels that attend a
// range of one (sequence, KV head) pair's keys. Not a public API.

#include <cstdint>

#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine::ops::internal {

// Keys are processed in chunks of up to kChunk slots of one block; every
// chunk is read once and applied to all queries of the range.
inline constexpr int kChunk = 16;
// A decode token's G queries up to this many are scored in packed tiles
// (where the kernel has PackedScores) in the scratch of a transposed chunk:
// kMaxPacked / 4 tiles of 4 * head_dim floats fit in 2 * kChunk * head_dim.
inline constexpr int kMaxPacked = 32;
// From this many (up to kMaxPacked), where the kernel has LaneStep, the
// queries go in vector lanes instead of packed tiles (see LaneStep).
inline constexpr int kLaneMinQueries = 12;
// A range covers up to this many consecutive KV heads of one sequence (see
// RangeTask::heads), each with at most kMaxPacked queries.
inline constexpr int kMaxRangeHeads = 16;

// One (sequence, KV head) pair's queries against the keys at positions
// [key_begin, key_end) of its sequence. The queries are (new token j,
// group head h), index i = j * group + h, for j < n_new, h < group; query i
// reads q + j * q_row_stride + h * head_dim and accumulates into
// o + j * o_row_stride + h * head_dim, m[i] (running max of its scores) and
// l[i] (running sum of exp(score - m[i])). New token j sees positions
// <= start_pos + j only; a query that sees none of the range ends with
// m = -inf, l = 0, o = 0.
//
// The kernel initializes o, m and l itself. With `normalize`, o ends as the
// softmax-weighted sum (o / l); without, o stays unnormalized (for a
// flash-decoding merge of several ranges).
//
// heads > 1: the same for KV heads kv_head .. kv_head + heads - 1 of the
// sequence (at most kMaxRangeHeads, each with n_new * group <= kMaxPacked
// queries): head i's queries and outputs start i * group * head_dim floats
// on, its m and l at m + i * ml_stride and l + i * ml_stride, its scratch
// at scratch + i * scratch_stride. The kernels take a chunk of keys for
// every head before the next chunk: a block holds the heads of a layer one
// after the other, so the range reads them as one run of memory, which the
// hardware prefetchers follow (a head's chunk alone is one page or less).
struct RangeTask {
  const kvcache::KvArena* kv = nullptr;
  const int32_t* block_table = nullptr;
  int layer = 0;
  int kv_head = 0;
  int head_dim = 0;
  int block_size = 0;
  int group = 0;  // G
  kvcache::KvDtype dtype = kvcache::KvDtype::kF32;
  int start_pos = 0;
  int n_new = 0;
  int key_begin = 0;
  int key_end = 0;  // <= start_pos + n_new
  const float* q = nullptr;
  int64_t q_row_stride = 0;
  float* o = nullptr;
  int64_t o_row_stride = 0;
  float* m = nullptr;
  float* l = nullptr;
  // Thread-private scratch of at least ScratchFloats(head_dim, queries)
  // floats, queries >= n_new * group for the bf16 pair kernel (else 0).
  float* scratch = nullptr;
  float scale = 0.0f;  // 1 / sqrt(head_dim)
  bool normalize = true;
  int heads = 1;
  int64_t ml_stride = 0;       // floats; heads > 1 only
  int64_t scratch_stride = 0;  // floats; heads > 1 only
};

// Head h of a range (0 <= h < task.heads) as a range of one head.
inline RangeTask HeadOfRange(const RangeTask& task, int h) {
  RangeTask one = task;
  const int64_t head_floats = int64_t{h} * task.group * task.head_dim;
  one.kv_head += h;
  one.q += head_floats;
  one.o += head_floats;
  one.m += h * task.ml_stride;
  one.l += h * task.ml_stride;
  one.scratch += h * task.scratch_stride;
  one.heads = 1;
  return one;
}

// A chunk's K and V (2 * kChunk * head_dim), then, for the bf16 pair
// kernel (AttendRangeAvx512Bf16 on a bf16 cache), `pair_queries` queries
// rounded to bf16 pairs (head_dim / 2 each), once per range.
inline int64_t ScratchFloats(int head_dim, int64_t pair_queries) {
  return int64_t{2} * kChunk * head_dim + pair_queries * head_dim / 2;
}

// The same contract on three instruction sets. The AVX-512 and AVX2 kernels
// need head_dim % 16 == 0 and a CPU with the instructions (the caller
// checks); the portable one takes any head_dim.
void AttendRangePortable(const RangeTask& task);
void AttendRangeAvx2(const RangeTask& task);    // avx2, fma
void AttendRangeAvx512(const RangeTask& task);  // avx512f, avx512bw, fma
// AttendRangeAvx512 where the CPU also has avx512_bf16: a bf16 cache's
// scores are products of K with the query rounded to bf16 (to nearest
// even), accumulated in f32, as llama.cpp does for a bf16 cache; P.V
// multiplies V with the softmax weights rounded to bf16 (each output
// within 2^-8 max|V| of the result with f32 weights). Other caches run
// AttendRangeAvx512.
void AttendRangeAvx512Bf16(const RangeTask& task);

}  // namespace kvasir::engine::ops::internal

#endif  // KVASIR_ENGINE_OPS_ATTENTION_KERNELS_H_
