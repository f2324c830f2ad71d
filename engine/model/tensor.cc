#include "engine/model/tensor.h"

#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/weight_arena.h"

namespace kvasir::engine {

Tensor Tensor::Allocate(std::vector<int64_t> shape, uint32_t type,
                        int64_t nbytes) {
  Tensor t;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t.shape_ = std::move(shape);
  t.numel_ = n;
  t.type_ = type;
  t.nbytes_ = n > 0 ? nbytes : 0;
  if (n > 0) {
    size_t bytes = static_cast<size_t>(nbytes);
    bytes = (bytes + 63) / 64 * 64;
    // (Smaller storage could not fill a huge page.)
    void* p = bytes >= (size_t{2} << 20)
                  ? ops::AllocateOnHugePages(static_cast<int64_t>(bytes))
                  : std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    const size_t used = static_cast<size_t>(nbytes);
    std::memset(static_cast<char*>(p) + used, 0, bytes - used);
    t.data_.reset(static_cast<float*>(p));
  }
  return t;
}

Tensor Tensor::Zeros(std::vector<int64_t> shape) {
  Tensor t = Uninitialized(std::move(shape));
  if (t.numel_ > 0) std::memset(t.data(), 0, t.numel_ * sizeof(float));
  return t;  // (the padding after numel is zeroed by Allocate)
}

Tensor Tensor::Uninitialized(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Allocate(std::move(shape), 0, n * int64_t{sizeof(float)});
}

Tensor Tensor::UninitializedBlocks(uint32_t type, int64_t rows, int64_t cols) {
  return Allocate({rows, cols}, type, rows * quant::RowBytes(type, cols));
}

int64_t Tensor::row_bytes() const {
  if (shape_.empty()) return 0;
  return quant::RowBytes(type_, shape_.back());
}

Tensor Tensor::Copy() const {
  Tensor t = Allocate(shape_, type_, nbytes_);
  if (nbytes_ > 0) std::memcpy(t.bytes(), bytes(), nbytes_);
  return t;
}

Tensor Tensor::ToF32() const {
  if (is_f32()) return Copy();
  Tensor t = Uninitialized(shape_);
  const int64_t cols = shape_.empty() ? 0 : shape_.back();
  const int64_t rows = cols > 0 ? numel_ / cols : 0;
  const int64_t rb = row_bytes();
  for (int64_t r = 0; r < rows; ++r) {
    quant::DequantizeRow(type_, bytes() + r * rb, cols, t.data() + r * cols);
  }
  return t;
}

std::string Tensor::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(shape_, ", "), "]");
}

}  // namespace kvasir::engine
