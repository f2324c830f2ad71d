#ifndef KVASIR_ENGINE_MODEL_GGUF_WRITER_H_
#define KVASIR_ENGINE_MODEL_GGUF_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/gguf_file.h"

namespace kvasir::engine {
namespace gguf {

// The GGUF encodings of a fixed-size little-endian value and of a string
// (u64 byte length, then the bytes, no terminator), appended to `out`.
template <typename T>
void AppendLe(T value, std::string* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));
  out->append(buf, sizeof(T));
}
void AppendString(absl::string_view s, std::string* out);

// The encoded bytes of `value` as they follow its type id in a GGUF
// key/value pair (a copy: the result does not point into the source file).
// InvalidArgument naming `key` for arrays of arrays, whose elements
// GgufValue does not expose, and for unknown value types.
absl::StatusOr<std::string> EncodeValue(absl::string_view key,
                                        const GgufValue& value);

}  // namespace gguf

// Writes a GGUF v3 file without holding its tensor data in memory: the
// caller declares metadata and tensor infos, then calls WriteHeader() and
// streams every tensor's bytes in declaration order with WriteTensorData()
// (in as many pieces as it likes), then Finish().
//
// Layout (as ggml's gguf writer produces it): header, key/value pairs in
// the order set, tensor infos, zero padding to the alignment, then each
// tensor's data at the next multiple of the alignment. The alignment is
// general.alignment when that key is set (a uint32 power of two), else 32.
//
// The file is written to `path + ".tmp"` and renamed to `path` by Finish(),
// so a failed or abandoned write never leaves a half file under `path`;
// the destructor removes the temporary file unless Finish() succeeded.
// Not thread-safe.
class GgufWriter {
 public:
  // Creates the temporary file. InvalidArgument naming `path` when it
  // cannot be created (missing folder, no permission), or when `path`
  // exists and is not a regular file (a device, FIFO, directory or
  // symlink: the rename would replace it, not write to it).
  static absl::StatusOr<std::unique_ptr<GgufWriter>> Create(
      const std::string& path);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // ---- Before WriteHeader(). Setting a key that exists replaces its value
  // in place (the key keeps its position); new keys go last.
  // A copy of a value read from another file (see gguf::EncodeValue).
  absl::Status CopyValue(absl::string_view key, const GgufValue& value);
  void SetString(absl::string_view key, absl::string_view value);
  void SetUint32(absl::string_view key, uint32_t value);
  void SetInt32(absl::string_view key, int32_t value);
  void SetUint64(absl::string_view key, uint64_t value);
  void SetFloat32(absl::string_view key, float value);
  void SetBool(absl::string_view key, bool value);
  void SetStringArray(absl::string_view key,
                      const std::vector<std::string>& values);
  // Any value given as its type id and encoded bytes.
  void SetRaw(absl::string_view key, uint32_t type, std::string encoded);
  void RemoveKey(absl::string_view key);
  bool HasKey(absl::string_view key) const;

  // Declares the next tensor: GGUF dims `ne` (innermost first, 1..4 of
  // them, none zero) and ggml type `type`, one of the types of
  // quant_formats.h; its size is RowBytes(type, ne[0]) per row. Errors
  // (InvalidArgument naming the tensor): a duplicate name, a bad shape, an
  // unknown type or ne[0] not a multiple of the type's block size.
  absl::Status AddTensorInfo(absl::string_view name, std::vector<uint64_t> ne,
                             uint32_t type);
  // Data bytes of the tensors declared so far (without padding).
  uint64_t tensor_data_bytes() const { return tensor_data_bytes_; }

  // ---- Writing. WriteHeader() once, after the last Set/AddTensorInfo;
  // FailedPrecondition when called twice, InvalidArgument when
  // general.alignment is not a uint32 power of two.
  absl::Status WriteHeader();
  // Appends `size` bytes of the current tensor (the first declared one not
  // yet complete). FailedPrecondition before WriteHeader(), or when the
  // bytes run past the last tensor; the message names the tensor.
  absl::Status WriteTensorData(const void* data, size_t size);
  // Checks every tensor is complete, flushes, closes and renames the file
  // to its path. FailedPrecondition naming the first incomplete tensor.
  absl::Status Finish();

  // Bytes written to the file so far.
  uint64_t file_bytes() const { return position_; }

 private:
  struct Entry {
    std::string key;
    uint32_t type;
    std::string encoded;
  };
  struct TensorEntry {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t n_bytes;
    uint64_t offset = 0;  // in the data section; set by WriteHeader()
  };

  GgufWriter(std::string path, std::FILE* file);
  absl::Status Write(const void* data, size_t size);
  absl::Status PadTo(uint64_t alignment);
  absl::StatusOr<uint64_t> Alignment() const;

  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  std::unique_ptr<char[]> buffer_;  // stdio buffer of file_
  std::vector<Entry> metadata_;
  std::vector<TensorEntry> tensors_;
  uint64_t tensor_data_bytes_ = 0;
  uint64_t alignment_ = gguf::kDefaultAlignment;
  bool header_written_ = false;
  bool finished_ = false;
  size_t current_ = 0;            // tensor being written
  uint64_t current_written_ = 0;  // its bytes so far
  uint64_t position_ = 0;         // file offset
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_GGUF_WRITER_H_
