#include "engine/model/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/model/gguf_dequant.h"
#include "engine/model/loader_util.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine {
namespace {

using gguf::ValueType;

// Nesting limit for arrays of arrays: each level costs only 12 bytes of
// file, so without a limit a small file could exhaust the stack.
constexpr int kMaxArrayDepth = 8;
// Longest metadata key and tensor name accepted. Real files stay far below
// (ggml caps tensor names at 64 bytes); the caps keep a corrupted length
// from putting megabytes of file bytes into an error message.
constexpr size_t kMaxKeyBytes = 256;
constexpr size_t kMaxTensorNameBytes = 256;

// Minimum encoded sizes, used to reject absurd counts before looping.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // key len, type, value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // one dimension

// Bounds-checked cursor over the mapping. Every read checks the bytes left
// first, so no length or count in the file can make it read out of range.
class Parser {
 public:
  Parser(const std::string& path, const uint8_t* data, size_t size)
      : path_(path), data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }

  absl::Status Truncated(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat(
        path_, ": truncated GGUF file: ", what, " at offset ", pos_,
        " runs past the end of the file (", size_, " bytes)"));
  }
  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": invalid GGUF file: ", what));
  }

  template <typename T>
  absl::Status Read(T* out, absl::string_view what) {
    if (remaining() < sizeof(T)) return Truncated(what);
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status Skip(uint64_t n, absl::string_view what) {
    if (n > remaining()) return Truncated(what);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status ReadString(absl::string_view* out, absl::string_view what) {
    uint64_t len = 0;
    RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining()) {
      return Truncated(absl::StrCat(what, " (a string of ", len, " bytes)"));
    }
    *out = absl::string_view(reinterpret_cast<const char*>(here()), len);
    pos_ += len;
    return absl::OkStatus();
  }

  // Parses a value of type `type` for metadata key `key`.
  absl::Status ParseValue(uint32_t type, absl::string_view key, int depth,
                          GgufValue* v) {
    v->type = type;
    const std::string what =
        absl::StrCat("the value of metadata key '", key, "'");
    if (auto size = gguf::ValueTypeSize(type)) {
      if (remaining() < *size) return Truncated(what);
      DecodeGgufScalar(type, here(), v);
      pos_ += *size;
      return absl::OkStatus();
    }
    if (type == static_cast<uint32_t>(ValueType::kString)) {
      return ReadString(&v->str, what);
    }
    if (type != static_cast<uint32_t>(ValueType::kArray)) {
      return Invalid(absl::StrCat("metadata key '", key,
                                  "' has unknown value type ", type));
    }
    if (depth >= kMaxArrayDepth) {
      return Invalid(absl::StrCat("metadata key '", key,
                                  "' nests arrays more than ", kMaxArrayDepth,
                                  " deep"));
    }
    RETURN_IF_ERROR(Read(&v->elem_type, what));
    RETURN_IF_ERROR(Read(&v->count, what));
    if (auto size = gguf::ValueTypeSize(v->elem_type)) {
      if (v->count > remaining() / *size) {
        return Truncated(absl::StrCat(what, " (an array of ", v->count, " ",
                                      gguf::ValueTypeName(v->elem_type), ")"));
      }
      v->elems = here();
      pos_ += v->count * *size;
      return absl::OkStatus();
    }
    if (v->elem_type == static_cast<uint32_t>(ValueType::kString)) {
      if (v->count > remaining() / 8) {
        return Truncated(
            absl::StrCat(what, " (an array of ", v->count, " strings)"));
      }
      for (uint64_t k = 0; k < v->count; ++k) {
        absl::string_view s;
        RETURN_IF_ERROR(ReadString(&s, what));
        v->strings.push_back(s);
      }
      return absl::OkStatus();
    }
    if (v->elem_type == static_cast<uint32_t>(ValueType::kArray)) {
      if (v->count > remaining() / 12) {
        return Truncated(
            absl::StrCat(what, " (an array of ", v->count, " arrays)"));
      }
      for (uint64_t k = 0; k < v->count; ++k) {
        GgufValue inner;
        RETURN_IF_ERROR(ParseValue(static_cast<uint32_t>(ValueType::kArray),
                                   key, depth + 1, &inner));
      }
      return absl::OkStatus();
    }
    return Invalid(absl::StrCat(
        "metadata key '", key, "' is an array of unknown type ", v->elem_type));
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

std::string Printable(absl::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

std::vector<int64_t> GgufTensorInfo::Shape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

std::string GgufTensorInfo::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(Shape(), ", "), "]");
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path));
  return Parse(std::move(mapped));
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(
    std::unique_ptr<MappedFile> file) {
  std::unique_ptr<GgufFile> g(new GgufFile(std::move(file)));
  RETURN_IF_ERROR(g->ParseAll());
  return g;
}

namespace {

// Magic and version; leaves `in` after the version.
absl::Status ParseMagicAndVersion(const std::string& path,
                                  absl::string_view bytes, Parser& in,
                                  uint32_t* version) {
  const absl::string_view head = bytes.substr(0, 4);
  if (head != absl::string_view("GGUF", 4)) {
    if (head.size() < 4 &&
        absl::string_view("GGUF").substr(0, head.size()) == head) {
      return in.Truncated("the magic number");
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad magic: not a GGUF file (starts with '",
                     Printable(head), "', expected 'GGUF')"));
  }
  RETURN_IF_ERROR(in.Skip(4, "the magic number"));
  RETURN_IF_ERROR(in.Read(version, "the version"));
  if (*version == 2 || *version == 3) return absl::OkStatus();
  std::string hint;
  if (*version == 1) {
    hint = " (GGUF v1 is obsolete; re-convert the model)";
  } else if (*version == 0x02000000u || *version == 0x03000000u) {
    hint = " (this looks like a big-endian GGUF file)";
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unsupported GGUF version ", *version,
                   " (supported: 2, 3)", hint));
}

// One tensor info (name, dims, type, offset); computes its element count
// and, for supported types, its byte size.
absl::Status ParseTensorInfo(Parser& in, uint64_t index, uint64_t alignment,
                             GgufTensorInfo* info) {
  absl::string_view name;
  RETURN_IF_ERROR(
      in.ReadString(&name, absl::StrCat("the name of tensor #", index)));
  if (name.size() > kMaxTensorNameBytes) {
    return in.Invalid(absl::StrCat(
        "the name of tensor #", index, " is ", name.size(), " bytes (at most ",
        kMaxTensorNameBytes, "; a corrupt length?)"));
  }
  info->name = Printable(name);
  const std::string what =
      absl::StrCat("the header of tensor '", info->name, "'");
  uint32_t n_dims = 0;
  RETURN_IF_ERROR(in.Read(&n_dims, what));
  if (n_dims < 1 || n_dims > gguf::kMaxDims) {
    return in.Invalid(absl::StrCat("tensor '", info->name, "' has ", n_dims,
                                   " dimensions (must be 1 to ", gguf::kMaxDims,
                                   ")"));
  }
  info->ne.resize(n_dims);
  uint64_t n = 1;
  for (uint64_t& d : info->ne) {
    RETURN_IF_ERROR(in.Read(&d, what));
    if (d == 0) {
      return in.Invalid(
          absl::StrCat("tensor '", info->name, "' has a zero dimension"));
    }
    if (__builtin_mul_overflow(n, d, &n) ||
        n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return in.Invalid(absl::StrCat(
          "tensor '", info->name, "' has too many elements (shape overflows)"));
    }
  }
  info->n_elements = n;
  RETURN_IF_ERROR(in.Read(&info->type, what));
  RETURN_IF_ERROR(in.Read(&info->offset, what));
  if (info->offset % alignment != 0) {
    return in.Invalid(
        absl::StrCat("tensor '", info->name, "' data offset ", info->offset,
                     " is not a multiple of the alignment ", alignment));
  }
  if (gguf::IsSupportedTensorType(info->type)) {
    auto bytes = gguf::TensorBytes(info->type, info->ne[0], n);
    if (!bytes) {
      const std::string type = gguf::TensorTypeName(info->type);
      return in.Invalid(absl::StrCat(
          "tensor '", info->name, "' of type ", type, " and shape ",
          info->ShapeString(), " has no valid byte size (", type,
          " needs ne0 to be a multiple of its block size)"));
    }
    info->n_bytes = *bytes;
  }
  return absl::OkStatus();
}

// A tensor must not run into the next one: a tensor whose shape and type
// need more bytes than it was given means its header is wrong.
absl::Status CheckNoOverlap(const std::vector<GgufTensorInfo>& tensors,
                            const Parser& in) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].offset < tensors[b].offset;
  });
  for (size_t k = 0; k + 1 < order.size(); ++k) {
    const GgufTensorInfo& a = tensors[order[k]];
    const GgufTensorInfo& b = tensors[order[k + 1]];
    if (a.n_bytes > 0 && a.n_bytes > b.offset - a.offset) {
      return in.Invalid(absl::StrCat(
          "tensor '", a.name, "' (", gguf::TensorTypeName(a.type), " ",
          a.ShapeString(), ") needs ", a.n_bytes, " bytes but tensor '", b.name,
          "' starts ", b.offset - a.offset,
          " bytes after it: its data size does not match its shape and type"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GgufFile::ParseAll() {
  const std::string& p = file_->path();
  Parser in(p, file_->data(), file_->size());
  RETURN_IF_ERROR(ParseMagicAndVersion(p, file_->bytes(), in, &version_));
  uint64_t n_tensors = 0, n_kv = 0;
  RETURN_IF_ERROR(in.Read(&n_tensors, "the tensor count"));
  RETURN_IF_ERROR(in.Read(&n_kv, "the metadata count"));
  // Counts are checked against the bytes left before anything is looped
  // over; containers grow as entries are parsed, never from a count.
  if (n_kv > in.remaining() / kMinKvBytes) {
    return in.Truncated(absl::StrCat("the metadata (", n_kv, " entries)"));
  }

  for (uint64_t k = 0; k < n_kv; ++k) {
    absl::string_view key;
    RETURN_IF_ERROR(in.ReadString(&key, absl::StrCat("metadata key #", k)));
    if (key.size() > kMaxKeyBytes) {
      return in.Invalid(absl::StrCat("metadata key #", k, " is ", key.size(),
                                     " bytes (at most ", kMaxKeyBytes,
                                     "; a corrupt length?)"));
    }
    uint32_t type = 0;
    RETURN_IF_ERROR(in.Read(&type, absl::StrCat("the type of metadata key '",
                                                Printable(key), "'")));
    GgufValue value;
    RETURN_IF_ERROR(in.ParseValue(type, Printable(key), 0, &value));
    std::string key_str(key);
    if (!metadata_index_.emplace(key_str, metadata_.size()).second) {
      return in.Invalid(
          absl::StrCat("duplicate metadata key '", Printable(key), "'"));
    }
    metadata_.emplace_back(std::move(key_str), std::move(value));
  }

  if (const GgufValue* a = FindValue("general.alignment")) {
    if (!gguf::IsIntegerType(a->type) || a->i <= 0 ||
        (a->i & (a->i - 1)) != 0) {
      return in.Invalid(absl::StrCat(
          "general.alignment must be a power of two, got ",
          gguf::IsIntegerType(a->type) ? absl::StrCat(a->i)
                                       : gguf::ValueTypeName(a->type)));
    }
    alignment_ = static_cast<uint64_t>(a->i);
  }

  if (n_tensors > in.remaining() / kMinTensorInfoBytes) {
    return in.Truncated(
        absl::StrCat("the tensor infos (", n_tensors, " tensors)"));
  }
  for (uint64_t t = 0; t < n_tensors; ++t) {
    GgufTensorInfo info;
    RETURN_IF_ERROR(ParseTensorInfo(in, t, alignment_, &info));
    if (!tensor_index_.emplace(info.name, tensors_.size()).second) {
      return in.Invalid(
          absl::StrCat("duplicate tensor name '", info.name, "'"));
    }
    tensors_.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment.
  data_offset_ = (in.pos() + alignment_ - 1) / alignment_ * alignment_;
  RETURN_IF_ERROR(CheckNoOverlap(tensors_, in));
  // Every tensor's data must be inside the file.
  const uint64_t file_size = file_->size();
  for (GgufTensorInfo& info : tensors_) {
    if (info.n_bytes == 0) continue;
    const bool inside = data_offset_ <= file_size &&
                        info.offset <= file_size - data_offset_ &&
                        info.n_bytes <= file_size - data_offset_ - info.offset;
    if (!inside) {
      return absl::DataLossError(absl::StrCat(
          p, ": truncated GGUF file: tensor '", info.name, "' (",
          gguf::TensorTypeName(info.type), " ", info.ShapeString(), ", ",
          info.n_bytes, " bytes at file offset ", data_offset_ + info.offset,
          ") extends past the end of the file (", file_size, " bytes)"));
    }
    info.data = file_->data() + data_offset_ + info.offset;
  }
  return absl::OkStatus();
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<Tensor> GgufFile::ReadTensor(
    absl::string_view name, absl::Span<const int64_t> expected_shape) const {
  const GgufTensorInfo* info = FindTensor(name);
  if (info == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path(), ": tensor '", name, "' is missing"));
  }
  const std::vector<int64_t> shape = info->Shape();
  if (!std::equal(shape.begin(), shape.end(), expected_shape.begin(),
                  expected_shape.end())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path(), ": tensor '", name, "' has shape ", info->ShapeString(),
        " but the model's hyperparameters need [",
        absl::StrJoin(expected_shape, ", "), "]"));
  }
  return ReadTensor(*info);
}

absl::Status GgufFile::CheckReadable(const GgufTensorInfo& info) const {
  if (gguf::IsSupportedTensorType(info.type) && info.data != nullptr) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path(), ": tensor '", info.name, "' has type ",
      gguf::TensorTypeName(info.type),
      ", which Kvasir has no kernel for (supported: F32, F16, BF16, Q4_0, "
      "Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"));
}

absl::StatusOr<Tensor> GgufFile::ReadTensor(const GgufTensorInfo& info) const {
  RETURN_IF_ERROR(CheckReadable(info));
  Tensor t = Tensor::Uninitialized(info.Shape());
  // Rows are contiguous and ne0 is a multiple of the block size (checked at
  // Open), so the whole tensor converts as one run of blocks.
  quant::DequantizeRow(info.type, info.data,
                       static_cast<int64_t>(info.n_elements), t.data());
  return t;
}

absl::StatusOr<Tensor> GgufFile::ReadWeight(
    absl::string_view name, absl::Span<const int64_t> expected_shape) const {
  const GgufTensorInfo* info = FindTensor(name);
  // F32 is read as it is; every other type with a kernel stays as stored.
  if (info == nullptr || info->type == 0 || expected_shape.size() != 2) {
    return ReadTensor(name, expected_shape);
  }
  const std::vector<int64_t> shape = info->Shape();
  if (!std::equal(shape.begin(), shape.end(), expected_shape.begin(),
                  expected_shape.end())) {
    return ReadTensor(name, expected_shape);  // reports the shape error
  }
  RETURN_IF_ERROR(CheckReadable(*info));
  Tensor t = Tensor::UninitializedBlocks(info->type, shape[0], shape[1]);
  std::memcpy(t.bytes(), info->data, info->n_bytes);
  return t;
}

}  // namespace kvasir::engine