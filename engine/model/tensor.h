#ifndef KVASIR_ENGINE_MODEL_TENSOR_H_
#define KVASIR_ENGINE_MODEL_TENSOR_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace kvasir::engine {

// A dense, row-major, 64-byte aligned tensor that owns its memory: f32
// (type 0, the default), or the rows of a weight matrix kept in a ggml block
// format (Q4_K, Q8_0, ...; see ops/quant/quant_formats.h), which only the
// quantized kernels read. Shapes are written outermost first: a weight
// matrix [out, in] has `out` rows of `in` contiguous values. Move-only;
// copies are explicit (Copy()).
class Tensor {
 public:
  Tensor() = default;
  // A rank-2 [rows, cols] tensor of ggml block type `type` with unspecified
  // contents (rows * RowBytes(type, cols) bytes), for loaders that fill
  // bytes() completely. Precondition: cols is a multiple of the type's
  // block size.
  static Tensor UninitializedBlocks(uint32_t type, int64_t rows, int64_t cols);
  // A zero-filled tensor of the given shape.
  static Tensor Zeros(std::vector<int64_t> shape);
  // A tensor of the given shape with unspecified contents, for loaders that
  // overwrite every element: skips the zero pass, so the pages are first
  // touched (and faulted in) by the filling threads.
  //
  // Storage of 2 MiB or more starts on a 2 MiB boundary and asks the kernel
  // for transparent huge pages before the first touch (madvise; nothing
  // where THP is off): a 4 GB model then takes ~2K page faults instead of
  // ~1M, and the kernels that stream an embedding table or a model's
  // matrices see fewer TLB misses (ops/weight_arena.h has the figures).
  static Tensor Uninitialized(std::vector<int64_t> shape);

  Tensor(Tensor&&) = default;
  Tensor& operator=(Tensor&&) = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  Tensor Copy() const;

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }

  // ggml type id of the elements: 0 (F32) or a block type.
  uint32_t type() const { return type_; }
  bool is_f32() const { return type_ == 0; }
  // The raw storage: numel() floats for f32, the blocks otherwise.
  const uint8_t* bytes() const {
    return reinterpret_cast<const uint8_t*>(data_.get());
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(data_.get()); }
  int64_t nbytes() const { return nbytes_; }
  // Bytes of one row (last dimension) as stored.
  int64_t row_bytes() const;

  // The f32 values; nullptr for a block-type tensor (use bytes()).
  float* data() { return is_f32() ? data_.get() : nullptr; }
  const float* data() const { return is_f32() ? data_.get() : nullptr; }
  // The f32 values; empty for a block-type tensor.
  absl::Span<float> span() {
    return {data(), is_f32() ? static_cast<size_t>(numel_) : 0};
  }
  absl::Span<const float> span() const {
    return {data(), is_f32() ? static_cast<size_t>(numel_) : 0};
  }
  // Row r of a rank-2 f32 tensor.
  float* row(int64_t r) { return data_.get() + r * shape_.back(); }
  const float* row(int64_t r) const { return data_.get() + r * shape_.back(); }

  std::string ShapeString() const;  // "[288, 768]"
  // This tensor as f32 (a copy; block types dequantized row by row).
  Tensor ToF32() const;

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  static Tensor Allocate(std::vector<int64_t> shape, uint32_t type,
                         int64_t nbytes);

  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  uint32_t type_ = 0;
  int64_t nbytes_ = 0;
  std::unique_ptr<float[], Free> data_;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_TENSOR_H_
