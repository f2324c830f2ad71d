#include "engine/model/gguf_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine {
namespace gguf {

void AppendString(absl::string_view s, std::string* out) {
  AppendLe<uint64_t>(s.size(), out);
  out->append(s.data(), s.size());
}

namespace {

// Appends one fixed-size scalar of type `type` from the decoded fields of
// `v` (integers from i or u, floats from f). False for other types.
bool AppendScalar(uint32_t type, const GgufValue& v, std::string* out) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kUint8:
      AppendLe(static_cast<uint8_t>(v.u), out);
      return true;
    case ValueType::kInt8:
      AppendLe(static_cast<int8_t>(v.i), out);
      return true;
    case ValueType::kUint16:
      AppendLe(static_cast<uint16_t>(v.u), out);
      return true;
    case ValueType::kInt16:
      AppendLe(static_cast<int16_t>(v.i), out);
      return true;
    case ValueType::kUint32:
      AppendLe(static_cast<uint32_t>(v.u), out);
      return true;
    case ValueType::kInt32:
      AppendLe(static_cast<int32_t>(v.i), out);
      return true;
    case ValueType::kUint64:
      AppendLe(v.u, out);
      return true;
    case ValueType::kInt64:
      AppendLe(v.i, out);
      return true;
    case ValueType::kFloat32:
      AppendLe(static_cast<float>(v.f), out);
      return true;
    case ValueType::kFloat64:
      AppendLe(v.f, out);
      return true;
    case ValueType::kBool:
      AppendLe<uint8_t>(v.i != 0 ? 1 : 0, out);
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::string> EncodeValue(absl::string_view key,
                                        const GgufValue& value) {
  std::string out;
  if (AppendScalar(value.type, value, &out)) return out;
  if (value.type == static_cast<uint32_t>(ValueType::kString)) {
    AppendString(value.str, &out);
    return out;
  }
  if (value.type != static_cast<uint32_t>(ValueType::kArray)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata key '", key, "' has unknown value type ", value.type));
  }
  AppendLe(value.elem_type, &out);
  AppendLe(value.count, &out);
  if (auto size = ValueTypeSize(value.elem_type)) {
    // Fixed-size elements are kept as the file's little-endian bytes.
    out.append(reinterpret_cast<const char*>(value.elems), value.count * *size);
    return out;
  }
  if (value.elem_type == static_cast<uint32_t>(ValueType::kString)) {
    for (absl::string_view s : value.strings) AppendString(s, &out);
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("metadata key '", key, "' is an array of ",
                   ValueTypeName(value.elem_type),
                   ", which cannot be copied (only arrays of scalars and "
                   "strings can)"));
}

}  // namespace gguf

using gguf::AppendLe;
using gguf::ValueType;

namespace {

constexpr size_t kBufferBytes = 4 << 20;

uint32_t TypeId(ValueType t) { return static_cast<uint32_t>(t); }

absl::Status ErrnoError(int error, absl::string_view what) {
  return absl::ErrnoToStatus(error, what);
}

}  // namespace

GgufWriter::GgufWriter(std::string path, std::FILE* file)
    : path_(std::move(path)),
      tmp_path_(path_ + ".tmp"),
      file_(file),
      buffer_(new char[kBufferBytes]) {
  std::setvbuf(file_, buffer_.get(), _IOFBF, kBufferBytes);
}

absl::StatusOr<std::unique_ptr<GgufWriter>> GgufWriter::Create(
    const std::string& path) {
  // The finished file is renamed over `path`: only a regular file may be
  // replaced (not a device such as /dev/null, a FIFO, a directory or a
  // symlink, whose target would stay as it was).
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output file '", path, "' exists and is not a regular file (",
        S_ISLNK(st.st_mode)   ? "a symlink"
        : S_ISDIR(st.st_mode) ? "a directory"
                              : "a device, FIFO or socket",
        "); give a new path or a regular file to replace"));
  }
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create output file '", path,
                     "': ", std::strerror(errno), " (writing ", tmp, ")"));
  }
  return std::unique_ptr<GgufWriter>(new GgufWriter(path, f));
}

GgufWriter::~GgufWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!finished_) std::remove(tmp_path_.c_str());
}

void GgufWriter::SetRaw(absl::string_view key, uint32_t type,
                        std::string encoded) {
  for (Entry& e : metadata_) {
    if (e.key == key) {
      e.type = type;
      e.encoded = std::move(encoded);
      return;
    }
  }
  metadata_.push_back({std::string(key), type, std::move(encoded)});
}

absl::Status GgufWriter::CopyValue(absl::string_view key,
                                   const GgufValue& value) {
  ASSIGN_OR_RETURN(std::string encoded, gguf::EncodeValue(key, value));
  SetRaw(key, value.type, std::move(encoded));
  return absl::OkStatus();
}

void GgufWriter::SetString(absl::string_view key, absl::string_view value) {
  std::string e;
  gguf::AppendString(value, &e);
  SetRaw(key, TypeId(ValueType::kString), std::move(e));
}

void GgufWriter::SetUint32(absl::string_view key, uint32_t value) {
  std::string e;
  AppendLe(value, &e);
  SetRaw(key, TypeId(ValueType::kUint32), std::move(e));
}

void GgufWriter::SetInt32(absl::string_view key, int32_t value) {
  std::string e;
  AppendLe(value, &e);
  SetRaw(key, TypeId(ValueType::kInt32), std::move(e));
}

void GgufWriter::SetUint64(absl::string_view key, uint64_t value) {
  std::string e;
  AppendLe(value, &e);
  SetRaw(key, TypeId(ValueType::kUint64), std::move(e));
}

void GgufWriter::SetFloat32(absl::string_view key, float value) {
  std::string e;
  AppendLe(value, &e);
  SetRaw(key, TypeId(ValueType::kFloat32), std::move(e));
}

void GgufWriter::SetBool(absl::string_view key, bool value) {
  std::string e;
  AppendLe<uint8_t>(value ? 1 : 0, &e);
  SetRaw(key, TypeId(ValueType::kBool), std::move(e));
}

void GgufWriter::SetStringArray(absl::string_view key,
                                const std::vector<std::string>& values) {
  std::string e;
  AppendLe(TypeId(ValueType::kString), &e);
  AppendLe<uint64_t>(values.size(), &e);
  for (const std::string& v : values) gguf::AppendString(v, &e);
  SetRaw(key, TypeId(ValueType::kArray), std::move(e));
}

void GgufWriter::RemoveKey(absl::string_view key) {
  std::erase_if(metadata_, [&](const Entry& e) { return e.key == key; });
}

bool GgufWriter::HasKey(absl::string_view key) const {
  return std::any_of(metadata_.begin(), metadata_.end(),
                     [&](const Entry& e) { return e.key == key; });
}

absl::Status GgufWriter::AddTensorInfo(absl::string_view name,
                                       std::vector<uint64_t> ne,
                                       uint32_t type) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", why));
  };
  if (header_written_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tensor '", name, "' declared after the header was written"));
  }
  for (const TensorEntry& t : tensors_) {
    if (t.name == name) return invalid("declared twice");
  }
  if (ne.empty() || ne.size() > static_cast<size_t>(gguf::kMaxDims)) {
    return invalid(absl::StrCat("has ", ne.size(), " dimensions (1 to ",
                                gguf::kMaxDims, " allowed)"));
  }
  uint64_t rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] == 0 || ne[d] > (uint64_t{1} << 40)) {
      return invalid(
          absl::StrCat("dimension ", d, " is ", ne[d], " (1 to 2^40 allowed)"));
    }
    if (d > 0) rows *= ne[d];
  }
  const std::optional<quant::BlockInfo> block = quant::GetBlockInfo(type);
  if (!block.has_value()) {
    return invalid(absl::StrCat("type ", gguf::TensorTypeName(type),
                                " cannot be written"));
  }
  if (ne[0] % block->block_size != 0) {
    return invalid(absl::StrCat("row length ", ne[0], " is not a multiple of ",
                                block->block_size, ", the block size of ",
                                gguf::TensorTypeName(type)));
  }
  const uint64_t n_bytes =
      static_cast<uint64_t>(quant::RowBytes(type, ne[0])) * rows;
  tensors_.push_back({std::string(name), std::move(ne), type, n_bytes});
  tensor_data_bytes_ += n_bytes;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> GgufWriter::Alignment() const {
  for (const Entry& e : metadata_) {
    if (e.key != "general.alignment") continue;
    uint32_t a = 0;
    if (e.type == TypeId(ValueType::kUint32) && e.encoded.size() == 4) {
      std::memcpy(&a, e.encoded.data(), 4);
    }
    if (a == 0 || (a & (a - 1)) != 0) {
      return absl::InvalidArgumentError(
          "metadata key 'general.alignment' must be a uint32 power of two");
    }
    return a;
  }
  return gguf::kDefaultAlignment;
}

absl::Status GgufWriter::Write(const void* data, size_t size) {
  if (size == 0) return absl::OkStatus();
  if (std::fwrite(data, 1, size, file_) != size) {
    return ErrnoError(
        errno, absl::StrCat("writing ", tmp_path_, " at offset ", position_));
  }
  position_ += size;
  return absl::OkStatus();
}

absl::Status GgufWriter::PadTo(uint64_t alignment) {
  static const char kZeros[256] = {};
  uint64_t pad = (alignment - position_ % alignment) % alignment;
  while (pad > 0) {
    const size_t n = std::min<uint64_t>(pad, sizeof(kZeros));
    RETURN_IF_ERROR(Write(kZeros, n));
    pad -= n;
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::WriteHeader() {
  if (header_written_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the GGUF header was already written"));
  }
  ASSIGN_OR_RETURN(alignment_, Alignment());
  std::string head;
  AppendLe(gguf::kMagic, &head);
  AppendLe<uint32_t>(3, &head);
  AppendLe<uint64_t>(tensors_.size(), &head);
  AppendLe<uint64_t>(metadata_.size(), &head);
  for (const Entry& e : metadata_) {
    gguf::AppendString(e.key, &head);
    AppendLe(e.type, &head);
    head += e.encoded;
  }
  uint64_t offset = 0;
  for (TensorEntry& t : tensors_) {
    t.offset = offset;
    offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
    gguf::AppendString(t.name, &head);
    AppendLe<uint32_t>(t.ne.size(), &head);
    for (uint64_t d : t.ne) AppendLe(d, &head);
    AppendLe(t.type, &head);
    AppendLe(t.offset, &head);
  }
  header_written_ = true;
  RETURN_IF_ERROR(Write(head.data(), head.size()));
  RETURN_IF_ERROR(PadTo(alignment_));
  return absl::OkStatus();
}

absl::Status GgufWriter::WriteTensorData(const void* data, size_t size) {
  if (!header_written_) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": tensor data written before the header (WriteHeader)"));
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (current_ >= tensors_.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path_, ": ", size,
          " bytes of tensor data past the end of the last tensor"));
    }
    TensorEntry& t = tensors_[current_];
    const uint64_t n = std::min<uint64_t>(size, t.n_bytes - current_written_);
    RETURN_IF_ERROR(Write(bytes, n));
    bytes += n;
    size -= n;
    current_written_ += n;
    if (current_written_ == t.n_bytes) {
      RETURN_IF_ERROR(PadTo(alignment_));
      ++current_;
      current_written_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::Finish() {
  if (!header_written_) RETURN_IF_ERROR(WriteHeader());
  if (current_ < tensors_.size()) {
    const TensorEntry& t = tensors_[current_];
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": tensor '", t.name, "' has ", current_written_,
                     " of its ", t.n_bytes, " bytes written"));
  }
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fflush(f) != 0) {
    const int error = errno;
    std::fclose(f);
    return ErrnoError(error, absl::StrCat("writing ", tmp_path_));
  }
  if (std::fclose(f) != 0) {
    return ErrnoError(errno, absl::StrCat("closing ", tmp_path_));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoError(errno,
                      absl::StrCat("renaming ", tmp_path_, " to ", path_));
  }
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace kvasir::engine
