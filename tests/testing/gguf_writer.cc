#include "tests/testing/gguf_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/model/gguf_dequant.h"
#include "engine/model/gguf_types.h"
#include "engine/model/gguf_writer.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::testing {
namespace {

using engine::gguf::TensorType;
using engine::gguf::ValueType;

// The encodings are the product writer's (engine/model/gguf_writer.h); this
// writer only adds the freedom to break them.
template <typename T>
void Put(std::string* out, T v) {
  engine::gguf::AppendLe(v, out);
}

void PutString(std::string* out, absl::string_view s) {
  engine::gguf::AppendString(s, out);
}

uint32_t TypeId(ValueType t) { return static_cast<uint32_t>(t); }

std::vector<uint64_t> ToNe(const std::vector<int64_t>& shape) {
  return std::vector<uint64_t>(shape.rbegin(), shape.rend());
}

}  // namespace

GgufWriter& GgufWriter::SetMagic(std::string magic) {
  magic_ = std::move(magic);
  return *this;
}
GgufWriter& GgufWriter::SetVersion(uint32_t version) {
  version_ = version;
  return *this;
}
GgufWriter& GgufWriter::SetAlignment(uint64_t alignment) {
  alignment_ = alignment;
  return *this;
}

GgufWriter& GgufWriter::AddRawValue(const std::string& key, uint32_t type,
                                    std::string encoded) {
  metadata_.push_back({key, type, std::move(encoded)});
  return *this;
}

GgufWriter& GgufWriter::AddString(const std::string& key,
                                  const std::string& value) {
  std::string e;
  PutString(&e, value);
  return AddRawValue(key, TypeId(ValueType::kString), std::move(e));
}

GgufWriter& GgufWriter::AddUint32(const std::string& key, uint32_t value) {
  std::string e;
  Put(&e, value);
  return AddRawValue(key, TypeId(ValueType::kUint32), std::move(e));
}

GgufWriter& GgufWriter::AddInt32(const std::string& key, int32_t value) {
  std::string e;
  Put(&e, value);
  return AddRawValue(key, TypeId(ValueType::kInt32), std::move(e));
}

GgufWriter& GgufWriter::AddUint64(const std::string& key, uint64_t value) {
  std::string e;
  Put(&e, value);
  return AddRawValue(key, TypeId(ValueType::kUint64), std::move(e));
}

GgufWriter& GgufWriter::AddFloat32(const std::string& key, float value) {
  std::string e;
  Put(&e, value);
  return AddRawValue(key, TypeId(ValueType::kFloat32), std::move(e));
}

GgufWriter& GgufWriter::AddBool(const std::string& key, bool value) {
  std::string e;
  Put<uint8_t>(&e, value ? 1 : 0);
  return AddRawValue(key, TypeId(ValueType::kBool), std::move(e));
}

GgufWriter& GgufWriter::AddStringArray(const std::string& key,
                                       const std::vector<std::string>& values) {
  std::string e;
  Put(&e, TypeId(ValueType::kString));
  Put<uint64_t>(&e, values.size());
  for (const std::string& v : values) PutString(&e, v);
  return AddRawValue(key, TypeId(ValueType::kArray), std::move(e));
}

GgufWriter& GgufWriter::AddFloat32Array(const std::string& key,
                                        const std::vector<float>& values) {
  std::string e;
  Put(&e, TypeId(ValueType::kFloat32));
  Put<uint64_t>(&e, values.size());
  for (float v : values) Put(&e, v);
  return AddRawValue(key, TypeId(ValueType::kArray), std::move(e));
}

GgufWriter& GgufWriter::AddInt32Array(const std::string& key,
                                      const std::vector<int32_t>& values) {
  std::string e;
  Put(&e, TypeId(ValueType::kInt32));
  Put<uint64_t>(&e, values.size());
  for (int32_t v : values) Put(&e, v);
  return AddRawValue(key, TypeId(ValueType::kArray), std::move(e));
}

GgufWriter& GgufWriter::RemoveKey(const std::string& key) {
  std::erase_if(metadata_, [&](const Entry& e) { return e.key == key; });
  return *this;
}

GgufWriter& GgufWriter::AddTensorRaw(const std::string& name,
                                     const std::vector<uint64_t>& ne,
                                     uint32_t type, std::string data,
                                     std::optional<uint64_t> offset) {
  tensors_.push_back({name, ne, type, std::move(data), offset});
  return *this;
}

GgufWriter& GgufWriter::AddTensorF32(const std::string& name,
                                     const std::vector<int64_t>& shape,
                                     const std::vector<float>& values) {
  std::string data;
  for (float v : values) Put(&data, v);
  return AddTensorRaw(name, ToNe(shape),
                      static_cast<uint32_t>(TensorType::kF32), std::move(data));
}

GgufWriter& GgufWriter::AddTensorF16(const std::string& name,
                                     const std::vector<int64_t>& shape,
                                     const std::vector<float>& values) {
  std::string data;
  for (float v : values) Put(&data, engine::gguf::FloatToHalf(v));
  return AddTensorRaw(name, ToNe(shape),
                      static_cast<uint32_t>(TensorType::kF16), std::move(data));
}

GgufWriter& GgufWriter::AddTensorBF16(const std::string& name,
                                      const std::vector<int64_t>& shape,
                                      const std::vector<float>& values) {
  std::string data;
  for (float v : values) Put(&data, engine::gguf::FloatToBf16(v));
  return AddTensorRaw(name, ToNe(shape),
                      static_cast<uint32_t>(TensorType::kBF16),
                      std::move(data));
}

GgufWriter& GgufWriter::AddTensorQ8_0(const std::string& name,
                                      const std::vector<int64_t>& shape,
                                      const std::vector<float>& values) {
  std::string data;
  for (size_t b = 0; b + 32 <= values.size(); b += 32) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j)
      amax = std::max(amax, std::fabs(values[b + j]));
    const float d = amax / 127.0f;
    const float inv = d != 0 ? 1.0f / d : 0.0f;
    Put(&data, engine::gguf::FloatToHalf(d));
    for (size_t j = 0; j < 32; ++j) {
      Put<int8_t>(&data, static_cast<int8_t>(std::lround(values[b + j] * inv)));
    }
  }
  return AddTensorRaw(name, ToNe(shape),
                      static_cast<uint32_t>(TensorType::kQ8_0),
                      std::move(data));
}

GgufWriter& GgufWriter::RemoveTensor(const std::string& name) {
  std::erase_if(tensors_, [&](const TensorEntry& t) { return t.name == name; });
  return *this;
}

bool GgufWriter::HasTensor(const std::string& name) const {
  return std::any_of(tensors_.begin(), tensors_.end(),
                     [&](const TensorEntry& t) { return t.name == name; });
}

std::string GgufWriter::Build(Layout* layout) const {
  auto align = [this](uint64_t x) {
    return (x + alignment_ - 1) / alignment_ * alignment_;
  };
  std::string out = magic_;
  Put(&out, version_);
  Put<uint64_t>(&out, tensors_.size());
  Put<uint64_t>(&out, metadata_.size());
  Layout l;
  l.metadata_begin = out.size();
  for (const Entry& e : metadata_) {
    PutString(&out, e.key);
    Put(&out, e.type);
    out += e.encoded;
  }
  l.tensor_infos_begin = out.size();
  std::vector<uint64_t> offsets;
  uint64_t next = 0;
  for (const TensorEntry& t : tensors_) {
    const uint64_t offset = t.offset.value_or(align(next));
    offsets.push_back(offset);
    if (!t.data.empty()) next = std::max(next, offset + t.data.size());
    PutString(&out, t.name);
    Put<uint32_t>(&out, t.ne.size());
    for (uint64_t d : t.ne) Put(&out, d);
    Put(&out, t.type);
    Put(&out, offset);
  }
  if (!tensors_.empty()) {
    out.resize(align(out.size()), '\0');
    l.data_begin = out.size();
    std::string data(next, '\0');
    for (size_t i = 0; i < tensors_.size(); ++i) {
      std::memcpy(data.data() + offsets[i], tensors_[i].data.data(),
                  tensors_[i].data.size());
    }
    out += data;
  } else {
    l.data_begin = out.size();
  }
  if (layout != nullptr) *layout = l;
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  return WriteBytes(path, Build());
}

absl::Status WriteBytes(const std::string& path, absl::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

GgufWriter MakeTinyLlamaGguf(const TinyLlamaSpec& spec) {
  GgufWriter w;
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  std::vector<float> scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    pieces.push_back(absl::StrFormat("<0x%02X>", b));
    types.push_back(6);
    scores.push_back(0);
  }
  const std::vector<std::string> normal = {"\xE2\x96\x81", "a", "b",
                                           "\xE2\x96\x81"
                                           "a",
                                           "ab"};
  for (size_t i = 0; i < normal.size(); ++i) {
    pieces.push_back(normal[i]);
    types.push_back(1);
    scores.push_back(-static_cast<float>(i));
  }
  w.AddString("general.architecture", "llama")
      .AddString("general.name", "tiny-test")
      .AddUint32("llama.context_length", spec.context_length)
      .AddUint32("llama.embedding_length", spec.dim)
      .AddUint32("llama.feed_forward_length", spec.hidden_dim)
      .AddUint32("llama.block_count", spec.n_layers)
      .AddUint32("llama.attention.head_count", spec.n_heads)
      .AddUint32("llama.attention.head_count_kv", spec.n_kv_heads)
      .AddFloat32("llama.rope.freq_base", 10000.0f)
      .AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .AddString("tokenizer.ggml.model", "llama")
      .AddStringArray("tokenizer.ggml.tokens", pieces)
      .AddFloat32Array("tokenizer.ggml.scores", scores)
      .AddInt32Array("tokenizer.ggml.token_type", types)
      .AddUint32("tokenizer.ggml.bos_token_id", 1)
      .AddUint32("tokenizer.ggml.eos_token_id", 2)
      .AddUint32("tokenizer.ggml.unknown_token_id", 0);

  std::mt19937 rng(static_cast<uint32_t>(spec.seed));
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  auto matrix = [&](const std::string& name, std::vector<int64_t> shape) {
    std::vector<float> v(shape[0] * shape[1]);
    for (float& x : v) x = dist(rng);
    switch (static_cast<TensorType>(spec.tensor_type)) {
      case TensorType::kF16:
        w.AddTensorF16(name, shape, v);
        break;
      case TensorType::kBF16:
        w.AddTensorBF16(name, shape, v);
        break;
      case TensorType::kQ8_0:
        w.AddTensorQ8_0(name, shape, v);
        break;
      case TensorType::kF32:
        w.AddTensorF32(name, shape, v);
        break;
      default: {  // any other block type, encoded by the product's quantizer
        const int64_t row_bytes =
            engine::quant::RowBytes(spec.tensor_type, shape[1]);
        std::string data(static_cast<size_t>(row_bytes * shape[0]), '\0');
        for (int64_t r = 0; r < shape[0]; ++r) {
          engine::quant::QuantizeRow(spec.tensor_type, v.data() + r * shape[1],
                                     shape[1], data.data() + r * row_bytes);
        }
        w.AddTensorRaw(
            name,
            {static_cast<uint64_t>(shape[1]), static_cast<uint64_t>(shape[0])},
            spec.tensor_type, std::move(data));
      }
    }
  };
  auto norm = [&](const std::string& name) {
    w.AddTensorF32(name, {spec.dim}, std::vector<float>(spec.dim, 1.0f));
  };
  const int64_t d = spec.dim, f = spec.hidden_dim, v = kTinyLlamaVocab;
  const int64_t hd = spec.dim / spec.n_heads;
  matrix("token_embd.weight", {v, d});
  for (int l = 0; l < spec.n_layers; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    norm(b + "attn_norm.weight");
    matrix(b + "attn_q.weight", {spec.n_heads * hd, d});
    matrix(b + "attn_k.weight", {spec.n_kv_heads * hd, d});
    matrix(b + "attn_v.weight", {spec.n_kv_heads * hd, d});
    matrix(b + "attn_output.weight", {d, spec.n_heads * hd});
    norm(b + "ffn_norm.weight");
    matrix(b + "ffn_gate.weight", {f, d});
    matrix(b + "ffn_up.weight", {f, d});
    matrix(b + "ffn_down.weight", {d, f});
  }
  norm("output_norm.weight");
  if (spec.with_output) matrix("output.weight", {v, d});
  return w;
}

}  // namespace kvasir::testing
