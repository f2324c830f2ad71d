#ifndef KVASIR_ENGINE_MODEL_TENSOR_H_
#define KVASIR_ENGINE_MODEL_TENSOR_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace kvasir::engine {

// A dense, row-major, 64-byte aligned f32 tensor that owns its memory.
// Shapes are written outermost first: a weight matrix [out, in] has `out`
// rows of `in` contiguous floats. Move-only; copies are explicit (Copy()).
class Tensor {
 public:
  Tensor() = default;
  // A zero-filled tensor of the given shape.
  static Tensor Zeros(std::vector<int64_t> shape);
  // A tensor of the given shape with unspecified contents, for loaders that
  // overwrite every element: skips the zero pass, so the pages are first
  // touched (and faulted in) by the filling threads.
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

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  absl::Span<float> span() {
    return {data_.get(), static_cast<size_t>(numel_)};
  }
  absl::Span<const float> span() const {
    return {data_.get(), static_cast<size_t>(numel_)};
  }
  // Row r of a rank-2 tensor.
  float* row(int64_t r) { return data_.get() + r * shape_.back(); }
  const float* row(int64_t r) const { return data_.get() + r * shape_.back(); }

  std::string ShapeString() const;  // "[288, 768]"

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::unique_ptr<float[], Free> data_;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_TENSOR_H_
