#ifndef KVASIR_ENGINE_MODEL_GGUF_FILE_H_
#define KVASIR_ENGINE_MODEL_GGUF_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/model/gguf_types.h"
#include "engine/model/mapped_file.h"
#include "engine/model/tensor.h"

namespace kvasir::engine {

// One metadata value. Strings and array elements point into the file
// mapping and live as long as the GgufFile.
struct GgufValue {
  uint32_t type = 0;  // gguf::ValueType
  // Scalars: integers and bools in `i` (and `u` for unsigned types, whose
  // values may exceed int64), floats in `f`, strings in `str`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  absl::string_view str;
  // Arrays: element type and count. Fixed-size elements are the raw
  // little-endian bytes at `elems`; string elements are in `strings`;
  // arrays of arrays are validated but their elements are not exposed.
  uint32_t elem_type = 0;
  uint64_t count = 0;
  const uint8_t* elems = nullptr;
  std::vector<absl::string_view> strings;
};

// Decodes one little-endian element of fixed-size type `type` (see
// gguf::ValueTypeSize) at `p` into the scalar fields of `v`.
void DecodeGgufScalar(uint32_t type, const uint8_t* p, GgufValue* v);

// One tensor's header. `ne` lists dimensions innermost (contiguous) first,
// as GGUF stores them: an [out, in] matrix has ne = {in, out}.
struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;        // gguf::TensorType
  uint64_t offset = 0;      // from the start of the data section
  uint64_t n_elements = 0;  // product of ne (checked for overflow)
  // Bytes of data; 0 when the type is not one Kvasir reads (its size is
  // then unknown and only checked when the tensor is read).
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; null if n_bytes == 0

  // Shape outermost first ([out, in]) as engine::Tensor uses it.
  std::vector<int64_t> Shape() const;
  std::string ShapeString() const;  // "[512, 64]" (outermost first)
};

// A GGUF v2/v3 file, memory-mapped read-only and parsed once at Open().
//
// Open() validates everything it can without knowing the model: magic,
// version, every length and count against the mapping size, value types,
// alignment, tensor dimensions (1..4, non-zero, no overflow), duplicate keys
// and tensor names, and that the data of every tensor of a supported type
// lies inside the file and does not run into the next tensor. Errors name
// the file and what was wrong: InvalidArgument for malformed content,
// DataLoss for a truncated file, NotFound for a missing file.
//
// Immutable after Open(); safe to read from many threads.
class GgufFile {
 public:
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(
      const std::string& path);
  // Parses an already mapped file (takes ownership of the mapping).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(
      std::unique_ptr<MappedFile> file);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // File offset of the tensor data section.
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const {
    return metadata_;
  }
  // nullptr when the key is absent.
  const GgufValue* FindValue(absl::string_view key) const;

  // Typed getters. NotFound when the key is absent; InvalidArgument when it
  // has a different type. Messages name the file and the key.
  // GetInt accepts every integer type (and bool); uint64 values above
  // INT64_MAX are an error. GetFloat accepts float32/64 and integers.
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<std::vector<std::string>> GetStringArray(
      absl::string_view key) const;
  // Arrays of float32/float64 (converted to float).
  absl::StatusOr<std::vector<float>> GetFloatArray(absl::string_view key) const;
  // Arrays of any integer type (converted to int64).
  absl::StatusOr<std::vector<int64_t>> GetIntArray(absl::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when there is no tensor of that name.
  const GgufTensorInfo* FindTensor(absl::string_view name) const;

  // The tensor `name` dequantized to f32, with shape `expected_shape`
  // (outermost first: [out, in]). NotFound when missing; InvalidArgument
  // when its shape differs or its type has no kernel here (the message
  // names the tensor, its type and the supported types).
  absl::StatusOr<Tensor> ReadTensor(
      absl::string_view name, absl::Span<const int64_t> expected_shape) const;
  // The tensor dequantized with its own shape.
  absl::StatusOr<Tensor> ReadTensor(const GgufTensorInfo& info) const;

  // A weight matrix as the model keeps it: a 2-D tensor of any type but
  // F32 (F16, BF16, Q4_0 ... Q6_K) is copied as it is stored (a block-type
  // Tensor, never expanded); F32 and 1-D tensors are read as f32.
  // Errors as ReadTensor.
  absl::StatusOr<Tensor> ReadWeight(
      absl::string_view name, absl::Span<const int64_t> expected_shape) const;

 private:
  explicit GgufFile(std::unique_ptr<MappedFile> file)
      : file_(std::move(file)) {}
  absl::Status ParseAll();
  // InvalidArgument naming the tensor and its type when Kvasir cannot read
  // it.
  absl::Status CheckReadable(const GgufTensorInfo& info) const;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = gguf::kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_GGUF_FILE_H_
