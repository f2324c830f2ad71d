#ifndef KVASIR_ENGINE_OPS_LINEAR_H_
#define KVASIR_ENGINE_OPS_LINEAR_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/ops/dense_gemv.h"
#include "engine/ops/weight_arena.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvasir::engine {

// Storage type of projection weights inside the matmul kernels. Activations
// and accumulation are f32 either way (bf16 weights read a bf16 copy of the
// activations, rounded to nearest even, and accumulate in f32).
//
// kF16: the projections of a file that stores them as F16 (not a setting:
// ParseWeightsDtype does not take it). oneDNN 2.6 has no f16 matmul on
// CPUs without AVX512-FP16, so such a Linear keeps the weights as f16 in
// Kvasir's own blocked layout and runs every M on Kvasir's GEMV
// (dense_gemv.h; prefill 64 rows at a time), f32 activations.
enum class WeightsDtype { kF32, kBF16, kF16 };
// "f32", "bf16", "f16"
absl::string_view WeightsDtypeName(WeightsDtype dtype);
// Parses "f32" / "bf16"; InvalidArgument naming `field` otherwise.
absl::StatusOr<WeightsDtype> ParseWeightsDtype(absl::string_view text,
                                               absl::string_view field);

namespace ops {

class Linear;

// What the matmuls of one model share: the oneDNN CPU engine and stream,
// the bf16 activation buffer that bf16 matmuls read (sized at load time by
// the Linears that need it), and the cache of matmul primitives.
//
// Primitives are cached by shape, not by projection: a primitive is defined
// by (row count M, in_features K, out_features N, weights dtype, weight
// layout), and the weights are an argument of each call, so the layers of a
// model (22 x 4 projections of the same few shapes in TinyLlama) share one
// primitive per (shape, M). Linears of the same [N, K] and dtype share the
// weight layout too, chosen once when the first of them is created.
//
// One primitive per row bucket (created on first use, ~0.1 ms, kept in an
// LRU cache of `primitive_cache_size` per shape): on this stack a fixed-M
// brgemm primitive is several times faster than a runtime-M one for M >= 8
// and equal at M = 1, and its weight layout does not depend on M. A
// primitive per exact M grew the process by ~30 MB over a few thousand
// requests (every batch size its own primitive, each with its own kernel
// and scratchpad); so M is rounded up to RowBucket(M) (under 1/4 more rows
// above 64, padded with zero rows the caller never sees), and at most
// 27 primitives serve every M up to 512. oneDNN fixes a primitive's thread
// count when it is created (from the calling thread's OpenMP setting): call
// with the same setting throughout.
//
// Not thread-safe: one thread runs the matmuls.
class MatmulContext {
 public:
  struct Options {
    // Primitives kept per weight shape (one per row count M), >= 1.
    int primitive_cache_size = 128;
    // Matmuls with fewer multiply-adds (M * N * K) than this run on one
    // thread: below ~256K MACs (~1 MB of f32 weights, tens of microseconds)
    // a parallel region costs more than it saves, and far more when the
    // cores are oversubscribed.
    int64_t min_parallel_macs = int64_t{1} << 18;
  };

  // InvalidArgument for bad options; Internal if oneDNN cannot create a
  // CPU engine.
  static absl::StatusOr<std::unique_ptr<MatmulContext>> Create();
  static absl::StatusOr<std::unique_ptr<MatmulContext>> Create(
      const Options& options);

  ~MatmulContext();
  MatmulContext(const MatmulContext&) = delete;
  MatmulContext& operator=(const MatmulContext&) = delete;

  const dnnl::engine& engine() const { return engine_; }
  dnnl::stream& stream() { return stream_; }
  const Options& options() const { return options_; }

  // Grows the bf16 activation buffer to at least `elements`. Called at load
  // time (Linear::Create); the pointer from bf16_scratch() changes then.
  void ReserveBf16Scratch(int64_t elements);
  uint16_t* bf16_scratch() { return bf16_scratch_.data(); }

  // The GEMVs' work-claiming cursors (dense_gemv.h), one per thread of
  // omp_get_max_threads() at Create; a split over more threads than that
  // runs without them (static shares).
  WorkCursor* gemv_cursors() { return gemv_cursors_.get(); }
  int gemv_cursor_count() const { return gemv_cursor_count_; }

  // The row count a matmul of m rows runs with, for a shape whose Linears
  // take at most max_rows: m itself up to 8, else m rounded up to a
  // multiple of max(8, bit_ceil(m) / 8), capped at max_rows. 1 <= m <=
  // max_rows.
  static int RowBucket(int m, int max_rows);

  // Weight shapes registered, and primitives cached over all of them (for
  // logs and tests).
  int num_shapes() const { return static_cast<int>(shapes_.size()); }
  int cached_primitives() const;

 private:
  friend class Linear;

  struct Entry {
    int m = 0;
    uint64_t last_use = 0;
    std::string impl;
    dnnl::matmul primitive;
    dnnl::memory src;  // data handle set per call
    dnnl::memory dst;  // data handle set per call
  };
  // Everything but M that defines a primitive, and its primitives by M.
  struct Shape {
    int64_t k = 0;
    int64_t n = 0;
    WeightsDtype dtype = WeightsDtype::kF32;
    int probe_m = 0;  // the M oneDNN chose the weight layout for
    dnnl::memory::desc weights_md;
    int max_rows = 0;  // largest M of the Linears using it
    int capacity = 0;  // min(primitive_cache_size, max_rows)
    std::vector<Entry> entries;
    std::vector<int32_t> entry_of_m;  // [max_rows + 1]: index or -1
  };

  MatmulContext(const Options& options, dnnl::engine engine,
                dnnl::stream stream);
  // The shape of [n, k] weights of `dtype` for up to `max_rows` rows: an
  // existing one or a new one (its weight layout chosen now). Load time.
  absl::StatusOr<int32_t> RegisterShape(int64_t k, int64_t n,
                                        WeightsDtype dtype, int max_rows,
                                        absl::string_view name);
  const Shape& shape(int32_t id) const { return *shapes_[id]; }
  // The cached primitive of shape `id` for RowBucket(m) rows (its `m`),
  // created if needed.
  absl::StatusOr<Entry*> GetEntry(int32_t id, int m, absl::string_view name);
  // Row-padded copies of a matmul's input and output, for an M that is not
  // its own bucket: sized at load time (RegisterShape) for every shape.
  float* pad_src() { return pad_src_.get(); }
  float* pad_dst() { return pad_dst_.get(); }
  absl::StatusOr<Entry> MakeEntry(const Shape& shape, int m,
                                  absl::string_view name) const;

  Options options_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<uint16_t> bf16_scratch_;
  std::unique_ptr<WorkCursor[]> gemv_cursors_;
  int gemv_cursor_count_ = 0;
  std::vector<std::unique_ptr<Shape>> shapes_;
  uint64_t tick_ = 0;
  // Not value-initialized: only the rows a step uses are ever touched, so
  // resident memory grows with the largest batch seen, not max_rows.
  std::unique_ptr<float[]> pad_src_;
  std::unique_ptr<float[]> pad_dst_;
  int64_t pad_src_elements_ = 0;
  int64_t pad_dst_elements_ = 0;
};

// y = x · Wᵀ with a weight matrix fixed at load: W is [out_features,
// in_features] row-major (one row per output feature, as GGUF and llama2.c
// store projections), given as one or more row blocks that are stacked
// (fused projections: [wq; wk; wv] gives one matmul for Q, K and V).
//
// A Linear holds only its weights, converted and reordered ONCE, at
// Create, into the blocked layout oneDNN's matmul kernel prefers (kF16:
// Kvasir's own, for its GEMV); Forward never touches them again. The
// primitives that run it belong to the MatmulContext and are shared with
// every Linear of the same shape.
//
// Immutable after Create; Forward uses (and mutates) the context.
class Linear {
 public:
  struct Options {
    std::string name;  // for error messages: "layers.3.wqkv"
    WeightsDtype weights_dtype = WeightsDtype::kF32;
    int max_rows = 512;  // largest M that Forward accepts, >= 1
    // Decode (M <= kMaxGemvRows) on Kvasir's GEMV over the same weights
    // (dense_gemv.h) when the CPU and oneDNN's layout allow; false: oneDNN
    // for every M. (kF16, and kBF16 where oneDNN has no bf16 matmul, have
    // no oneDNN path: always the GEMV.)
    bool decode_gemv = true;
    // Tests: the AVX2 GEMV even on an AVX-512 CPU (f32 over oneDNN's
    // blocked layout; f16 in the rows layout).
    bool force_avx2_gemv = false;
    // Where the laid-out weights go (not owned; must outlive the Linear);
    // null: memory of the Linear's own.
    WeightArena* arena = nullptr;
  };
  // Row block [rows, in_features] of W, row-major f32; read only during
  // Create (the caller may free it afterwards). A kF16 Linear also takes
  // f16 parts (IEEE half bits in f16, data null), copied as they are.
  struct WeightPart {
    const float* data = nullptr;
    int64_t rows = 0;
    const uint16_t* f16 = nullptr;
  };

  // `ctx` is not owned and must outlive the Linear; Forward must be given
  // the same context. InvalidArgument for empty or non-positive shapes,
  // Unimplemented when neither oneDNN nor Kvasir's GEMV has a matmul for the
  // dtype on this CPU (!IsSupported), ResourceExhausted when the weight copy
  // cannot be allocated.
  static absl::StatusOr<std::unique_ptr<Linear>> Create(
      const Options& options, MatmulContext* ctx,
      absl::Span<const WeightPart> parts, int64_t in_features);

  // Whether `dtype` weights run on this CPU: f32 always (oneDNN), bf16 on
  // oneDNN's matmul (AVX-512 in oneDNN 2.6) or else Kvasir's GEMV (AVX2 and
  // FMA), f16 on Kvasir's GEMV (AVX2, FMA and F16C). Cheap; for callers
  // that want to choose or report before loading a model.
  static bool IsSupported(WeightsDtype dtype);

  ~Linear();
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // y: [m, out_features] = x: [m, in_features] · Wᵀ, with ctx's primitive
  // for this shape and MatmulContext::RowBucket(m), or Kvasir's GEMV (m <=
  // kMaxGemvRows where it has one; Kvasir's own layouts every m). Both
  // row-major and contiguous; x and y must not overlap. InvalidArgument unless
  // 1 <= m <= max_rows or for another context than Create's; Internal if oneDNN
  // fails. Allocates only when the context has no primitive for (shape, m) yet.
  absl::Status Forward(MatmulContext& ctx, const float* x, int m,
                       float* y) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // Bytes of the laid-out weights.
  int64_t weight_bytes() const;
  // oneDNN's name of the kernel chosen for M = 1, or for Kvasir's own
  // layouts "kvasir_gemv:<dtype>:<isa>" (for logs and benchmarks).
  const std::string& impl_name() const { return impl_name_; }
  // Whether Forward runs M <= kMaxGemvRows on Kvasir's GEMV.
  bool has_decode_gemv() const { return gemv_.has_value(); }

  // Forward's GEMV split for a caller that runs its own team (a decode
  // step in one parallel region): one thread calls PrepareGemv (and every
  // thread ArmGemvSlice), then after a barrier every thread t of n calls
  // GemvSlice(..., t, n); the result is
  // Forward's, bit for bit. Only where GemvInTeam(ctx, m) (the GEMV path,
  // Create's context, 1 <= m <= max_rows). PrepareGemv rounds x to bf16
  // into ctx's scratch (bf16 weights) and does nothing for f32;
  // PrepareGemvRows does rows [row_begin, row_end) of it, so that a team
  // can share the rounding (each thread its rows, then the barrier).
  bool GemvInTeam(const MatmulContext& ctx, int m) const {
    return &ctx == ctx_ && gemv_.has_value() && m >= 1 &&
           m <= std::min(kMaxGemvRows, options_.max_rows);
  }
  void PrepareGemv(MatmulContext& ctx, const float* x, int m) const {
    PrepareGemvRows(ctx, x, 0, m);
  }
  void PrepareGemvRows(MatmulContext& ctx, const float* x, int row_begin,
                       int row_end) const;
  void GemvSlice(MatmulContext& ctx, const float* x, int m, float* y,
                 int thread, int threads) const;
  // Every thread of the team calls this before the barrier that precedes
  // GemvSlice: the threads then claim column blocks instead of taking
  // fixed shares (BlockedGemvSlice). Same bits either way.
  void ArmGemvSlice(MatmulContext& ctx, int thread, int threads) const;

 private:
  Linear(const Options& options, const MatmulContext* ctx, int64_t in_features,
         int64_t out_features);
  // The parts as one [n, k] row-major array: parts[0]'s own data when there
  // is one part, else `stacked`, filled.
  static const float* Stack(absl::Span<const WeightPart> parts, int64_t k,
                            std::vector<float>& stacked);
  // Create for kF16, and for kBF16 without oneDNN's bf16 matmul: the parts
  // rounded to 16 bits in Kvasir's blocked (f16 on AVX-512) or rows layout.
  absl::Status LayOutOwnWeights(absl::Span<const WeightPart> parts);

  Options options_;
  const MatmulContext* ctx_;  // for the same-context check only
  int64_t in_features_;
  int64_t out_features_;
  int32_t shape_ = -1;  // in ctx_
  dnnl::memory weights_;
  std::string impl_name_;
  // weights_ (or own_weights_) as the decode GEMV reads them; nullopt:
  // oneDNN for all M.
  std::optional<BlockedWeights> gemv_;
  // LayOutOwnWeights' weights, in own_owned_ or the arena; null: oneDNN's
  // weights_.
  uint16_t* own_weights_ = nullptr;
  std::unique_ptr<uint16_t[]> own_owned_;
  int64_t own_elements_ = 0;
  GemvIsa gemv_isa_ = GemvIsa::kAvx512;
};

}  // namespace ops
}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_OPS_LINEAR_H_
