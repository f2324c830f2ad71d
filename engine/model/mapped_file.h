#ifndef KVASIR_ENGINE_MODEL_MAPPED_FILE_H_
#define KVASIR_ENGINE_MODEL_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine {

// A whole file mapped read-only into memory (mmap, MAP_PRIVATE). The bytes
// stay valid for the life of the object; nothing is copied. Move-only.
// Thread-safe for concurrent reads.
class MappedFile {
 public:
  // NotFound when `path` does not exist, InvalidArgument when it is not a
  // regular file, Internal for other open/mmap failures; the message names
  // the path. An empty file maps to size() == 0.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(
      const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  absl::string_view bytes() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// The last path component ("a/b/model.gguf" -> "model.gguf"), for names.
std::string FileBaseName(absl::string_view path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_MAPPED_FILE_H_
