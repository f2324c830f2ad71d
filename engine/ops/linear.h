#ifndef KVASIR_ENGINE_OPS_LINEAR_H_
#define KVASIR_ENGINE_OPS_LINEAR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvasir::engine {

// Storage type of projection weights inside the matmul kernels. Activations
// and accumulation are f32 either way (bf16 weights read a bf16 copy of the
// activations, rounded to nearest even, and accumulate in f32).
enum class WeightsDtype { kF32, kBF16 };
absl::string_view WeightsDtypeName(WeightsDtype dtype);  // "f32", "bf16"
// Parses "f32" / "bf16"; InvalidArgument naming `field` otherwise.
absl::StatusOr<WeightsDtype> ParseWeightsDtype(absl::string_view text,
                                               absl::string_view field);

namespace ops {

// The oneDNN CPU engine and stream shared by all Linears of one model, and
// the bf16 activation buffer that bf16 matmuls read (sized at load time by
// the Linears that need it). Not thread-safe: one thread runs the matmuls.
class MatmulContext {
 public:
  // Internal error if oneDNN cannot create a CPU engine.
  static absl::StatusOr<std::unique_ptr<MatmulContext>> Create();

  const dnnl::engine& engine() const { return engine_; }
  dnnl::stream& stream() { return stream_; }

  // Grows the bf16 activation buffer to at least `elements`. Called at load
  // time (Linear::Create); the pointer from bf16_scratch() changes then.
  void ReserveBf16Scratch(int64_t elements);
  uint16_t* bf16_scratch() { return bf16_scratch_.data(); }

 private:
  MatmulContext(dnnl::engine engine, dnnl::stream stream)
      : engine_(std::move(engine)), stream_(std::move(stream)) {}
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<uint16_t> bf16_scratch_;
};

// y = x · Wᵀ with a weight matrix fixed at load: W is [out_features,
// in_features] row-major (one row per output feature, as GGUF and llama2.c
// store projections), given as one or more row blocks that are stacked
// (fused projections: [wq; wk; wv] gives one matmul for Q, K and V).
//
// The weights are converted and reordered ONCE, at Create, into the blocked
// layout oneDNN's matmul kernel prefers; Forward never touches them again.
// One primitive per row count M (created on first use, ~0.1 ms, and kept in
// an LRU cache of `primitive_cache_size`): on this stack a fixed-M brgemm
// primitive is several times faster than a runtime-M one for M >= 8 and
// equal at M = 1, and its weight layout does not depend on M, so all the
// per-M primitives share the one weight copy.
//
// Not thread-safe (it shares the context's stream and scratch).
class Linear {
 public:
  struct Options {
    std::string name;  // for error messages: "layers.3.wqkv"
    WeightsDtype weights_dtype = WeightsDtype::kF32;
    int max_rows = 512;              // largest M that Forward accepts, >= 1
    int primitive_cache_size = 128;  // per-M primitives kept, >= 1
    // Matmuls with fewer multiply-adds (M * N * K) than this run on one
    // thread: below ~256K MACs (~1 MB of f32 weights, tens of microseconds)
    // a parallel region costs more than it saves, and far more when the
    // cores are oversubscribed.
    int64_t min_parallel_macs = int64_t{1} << 18;
  };
  // Row block [rows, in_features] of W, row-major f32; read only during
  // Create (the caller may free it afterwards).
  struct WeightPart {
    const float* data = nullptr;
    int64_t rows = 0;
  };

  // `ctx` is not owned and must outlive the Linear. InvalidArgument for
  // empty or non-positive shapes, Unimplemented when oneDNN has no matmul
  // for the dtype on this CPU (bf16 needs AVX-512), ResourceExhausted when
  // the weight copy cannot be allocated.
  static absl::StatusOr<std::unique_ptr<Linear>> Create(
      const Options& options, MatmulContext* ctx,
      absl::Span<const WeightPart> parts, int64_t in_features);

  // Whether oneDNN has a matmul for `dtype` weights on this CPU (bf16 needs
  // AVX-512 in oneDNN 2.6; f32 always works). Cheap; for callers that want
  // to choose or report before loading a model.
  static bool IsSupported(WeightsDtype dtype);

  ~Linear();
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // y: [m, out_features] = x: [m, in_features] · Wᵀ. Both row-major and
  // contiguous; x and y must not overlap. InvalidArgument unless
  // 1 <= m <= max_rows; Internal if oneDNN fails. Allocates only when a
  // primitive for `m` is not cached yet.
  absl::Status Forward(const float* x, int m, float* y);

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // Bytes of the laid-out weights.
  int64_t weight_bytes() const;
  // oneDNN's name of the kernel chosen (for logs and benchmarks).
  const std::string& impl_name() const { return impl_name_; }
  // Primitives currently cached (for tests).
  int cached_primitives() const { return static_cast<int>(entries_.size()); }

 private:
  struct Entry {
    int m = 0;
    uint64_t last_use = 0;
    std::string impl;
    dnnl::matmul primitive;
    dnnl::memory src;
    dnnl::memory dst;
    // The C API's argument list, built once: the C++ execute() copies its
    // argument map into a fresh std::vector on every call.
    dnnl_exec_arg_t args[3];
  };

  Linear(const Options& options, MatmulContext* ctx, int64_t in_features,
         int64_t out_features);
  absl::StatusOr<Entry*> GetEntry(int m);
  absl::StatusOr<Entry> MakeEntry(int m) const;

  Options options_;
  MatmulContext* ctx_;
  int64_t in_features_;
  int64_t out_features_;
  dnnl::memory::data_type compute_type_;
  dnnl::memory::desc weights_md_;
  dnnl::memory weights_;
  std::string impl_name_;
  std::vector<Entry> entries_;
  std::vector<int32_t> entry_of_m_;  // [max_rows + 1]: index or -1
  uint64_t tick_ = 0;
};

}  // namespace ops
}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_OPS_LINEAR_H_
