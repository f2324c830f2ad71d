// Typed access to GGUF metadata (declared in gguf_file.h).
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/model/gguf_file.h"

namespace kvasir::engine {

using gguf::ValueType;

void DecodeGgufScalar(uint32_t t, const uint8_t* p, GgufValue* v) {
  auto load = [p](auto* out) { std::memcpy(out, p, sizeof(*out)); };
  switch (static_cast<ValueType>(t)) {
    case ValueType::kUint8: {
      uint8_t x;
      load(&x);
      v->u = x;
      v->i = x;
      break;
    }
    case ValueType::kInt8: {
      int8_t x;
      load(&x);
      v->i = x;
      break;
    }
    case ValueType::kUint16: {
      uint16_t x;
      load(&x);
      v->u = x;
      v->i = x;
      break;
    }
    case ValueType::kInt16: {
      int16_t x;
      load(&x);
      v->i = x;
      break;
    }
    case ValueType::kUint32: {
      uint32_t x;
      load(&x);
      v->u = x;
      v->i = x;
      break;
    }
    case ValueType::kInt32: {
      int32_t x;
      load(&x);
      v->i = x;
      break;
    }
    case ValueType::kUint64: {
      uint64_t x;
      load(&x);
      v->u = x;
      v->i = static_cast<int64_t>(x);
      break;
    }
    case ValueType::kInt64: {
      int64_t x;
      load(&x);
      v->i = x;
      break;
    }
    case ValueType::kFloat32: {
      float x;
      load(&x);
      v->f = x;
      break;
    }
    case ValueType::kFloat64: {
      double x;
      load(&x);
      v->f = x;
      break;
    }
    case ValueType::kBool: {
      uint8_t x;
      load(&x);
      v->i = x != 0;
      v->u = x != 0;
      break;
    }
    default:
      break;
  }
}

const GgufValue* GgufFile::FindValue(absl::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {

absl::Status MissingKey(const std::string& path, absl::string_view key) {
  return absl::NotFoundError(
      absl::StrCat(path, ": metadata key '", key, "' is missing"));
}

absl::Status WrongType(const std::string& path, absl::string_view key,
                       const GgufValue& v, absl::string_view expected) {
  std::string got = gguf::ValueTypeName(v.type);
  if (v.type == static_cast<uint32_t>(ValueType::kArray)) {
    got = absl::StrCat("array of ", gguf::ValueTypeName(v.elem_type));
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": metadata key '", key,
                                                 "' has type ", got,
                                                 ", expected ", expected));
}

}  // namespace

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (!gguf::IsIntegerType(v->type) &&
      v->type != static_cast<uint32_t>(ValueType::kBool)) {
    return WrongType(path(), key, *v, "an integer");
  }
  if (v->type == static_cast<uint32_t>(ValueType::kUint64) &&
      v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path(), ": metadata key '", key, "' value ", v->u, " is out of range"));
  }
  return v->i;
}

absl::StatusOr<double> GgufFile::GetFloat(absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (v->type == static_cast<uint32_t>(ValueType::kFloat32) ||
      v->type == static_cast<uint32_t>(ValueType::kFloat64)) {
    return v->f;
  }
  if (gguf::IsIntegerType(v->type)) {
    return gguf::IsUnsignedType(v->type) ? static_cast<double>(v->u)
                                         : static_cast<double>(v->i);
  }
  return WrongType(path(), key, *v, "a number");
}

absl::StatusOr<bool> GgufFile::GetBool(absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (v->type != static_cast<uint32_t>(ValueType::kBool)) {
    return WrongType(path(), key, *v, "bool");
  }
  return v->i != 0;
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (v->type != static_cast<uint32_t>(ValueType::kString)) {
    return WrongType(path(), key, *v, "string");
  }
  return std::string(v->str);
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(
    absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (v->type != static_cast<uint32_t>(ValueType::kArray) ||
      v->elem_type != static_cast<uint32_t>(ValueType::kString)) {
    return WrongType(path(), key, *v, "array of string");
  }
  return std::vector<std::string>(v->strings.begin(), v->strings.end());
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(
    absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  const bool f32 = v->elem_type == static_cast<uint32_t>(ValueType::kFloat32);
  const bool f64 = v->elem_type == static_cast<uint32_t>(ValueType::kFloat64);
  if (v->type != static_cast<uint32_t>(ValueType::kArray) || !(f32 || f64)) {
    return WrongType(path(), key, *v, "array of float32");
  }
  std::vector<float> out(v->count);
  const uint32_t size = f32 ? 4 : 8;
  for (uint64_t k = 0; k < v->count; ++k) {
    GgufValue e;
    DecodeGgufScalar(v->elem_type, v->elems + k * size, &e);
    out[k] = static_cast<float>(e.f);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(
    absl::string_view key) const {
  const GgufValue* v = FindValue(key);
  if (v == nullptr) return MissingKey(path(), key);
  if (v->type != static_cast<uint32_t>(ValueType::kArray) ||
      !gguf::IsIntegerType(v->elem_type)) {
    return WrongType(path(), key, *v, "array of integers");
  }
  const uint32_t size = *gguf::ValueTypeSize(v->elem_type);
  std::vector<int64_t> out(v->count);
  for (uint64_t k = 0; k < v->count; ++k) {
    GgufValue e;
    DecodeGgufScalar(v->elem_type, v->elems + k * size, &e);
    out[k] = e.i;
  }
  return out;
}

}  // namespace kvasir::engine
