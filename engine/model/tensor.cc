#include "engine/model/tensor.h"

#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kvasir::engine {

Tensor Tensor::Zeros(std::vector<int64_t> shape) {
  Tensor t = Uninitialized(std::move(shape));
  if (t.numel_ > 0) std::memset(t.data(), 0, t.numel_ * sizeof(float));
  return t;  // (the padding after numel is zeroed by Uninitialized)
}

Tensor Tensor::Uninitialized(std::vector<int64_t> shape) {
  Tensor t;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t.shape_ = std::move(shape);
  t.numel_ = n;
  if (n > 0) {
    size_t bytes = static_cast<size_t>(n) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    const size_t used = static_cast<size_t>(n) * sizeof(float);
    std::memset(static_cast<char*>(p) + used, 0, bytes - used);
    t.data_.reset(static_cast<float*>(p));
  }
  return t;
}

Tensor Tensor::Copy() const {
  Tensor t = Zeros(shape_);
  if (numel_ > 0) std::memcpy(t.data(), data(), numel_ * sizeof(float));
  return t;
}

std::string Tensor::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(shape_, ", "), "]");
}

}  // namespace kvasir::engine
