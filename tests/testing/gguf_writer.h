#ifndef KVASIR_TESTS_TESTING_GGUF_WRITER_H_
#define KVASIR_TESTS_TESTING_GGUF_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kvasir::testing {

// Writes GGUF files for tests, valid or deliberately broken: any magic,
// version, metadata (typed values or raw bytes) and tensors (encoded from
// floats as F32/F16/BF16/Q8_0, or raw bytes of any type at any offset).
// Tensor data is laid out in insertion order, each tensor at the next
// multiple of the alignment, unless an explicit offset is given.
class GgufWriter {
 public:
  // File offsets of the sections of the last Build().
  struct Layout {
    size_t metadata_begin = 0;      // first key/value pair
    size_t tensor_infos_begin = 0;  // first tensor info
    size_t data_begin = 0;          // tensor data section
  };

  GgufWriter& SetMagic(std::string magic);   // 4 bytes, default "GGUF"
  GgufWriter& SetVersion(uint32_t version);  // default 3
  // Alignment used to lay out tensor data (default 32). Does not write the
  // general.alignment key; add it with AddUint32 when wanted.
  GgufWriter& SetAlignment(uint64_t alignment);

  GgufWriter& AddString(const std::string& key, const std::string& value);
  GgufWriter& AddUint32(const std::string& key, uint32_t value);
  GgufWriter& AddInt32(const std::string& key, int32_t value);
  GgufWriter& AddUint64(const std::string& key, uint64_t value);
  GgufWriter& AddFloat32(const std::string& key, float value);
  GgufWriter& AddBool(const std::string& key, bool value);
  GgufWriter& AddStringArray(const std::string& key,
                             const std::vector<std::string>& values);
  GgufWriter& AddFloat32Array(const std::string& key,
                              const std::vector<float>& values);
  GgufWriter& AddInt32Array(const std::string& key,
                            const std::vector<int32_t>& values);
  // A value of any type id given as its encoded bytes (after the type).
  GgufWriter& AddRawValue(const std::string& key, uint32_t type,
                          std::string encoded);
  // Removes every metadata entry with this key.
  GgufWriter& RemoveKey(const std::string& key);

  // Tensors; `shape` is outermost first ([out, in]) as engine::Tensor.
  GgufWriter& AddTensorF32(const std::string& name,
                           const std::vector<int64_t>& shape,
                           const std::vector<float>& values);
  GgufWriter& AddTensorF16(const std::string& name,
                           const std::vector<int64_t>& shape,
                           const std::vector<float>& values);
  GgufWriter& AddTensorBF16(const std::string& name,
                            const std::vector<int64_t>& shape,
                            const std::vector<float>& values);
  // Quantizes as ggml does: per block of 32, d = max|x| / 127, q = round(x/d).
  GgufWriter& AddTensorQ8_0(const std::string& name,
                            const std::vector<int64_t>& shape,
                            const std::vector<float>& values);
  // A tensor header with GGUF dims `ne` (innermost first), type id and raw
  // data, optionally at an explicit offset in the data section.
  GgufWriter& AddTensorRaw(const std::string& name,
                           const std::vector<uint64_t>& ne, uint32_t type,
                           std::string data,
                           std::optional<uint64_t> offset = std::nullopt);
  GgufWriter& RemoveTensor(const std::string& name);
  bool HasTensor(const std::string& name) const;

  // The file's bytes.
  std::string Build(Layout* layout = nullptr) const;
  absl::Status WriteFile(const std::string& path) const;

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
    std::string data;
    std::optional<uint64_t> offset;
  };

  std::string magic_ = "GGUF";
  uint32_t version_ = 3;
  uint64_t alignment_ = 32;
  std::vector<Entry> metadata_;
  std::vector<TensorEntry> tensors_;
};

// Writes `bytes` to `path`; for hand-made files of any format.
absl::Status WriteBytes(const std::string& path, absl::string_view bytes);

// A complete, small `llama` GGUF model with random weights, for loader
// tests: byte-fallback SentencePiece vocab (<unk>, <s>, </s>, 256 byte
// tokens, then "▁", "a", "b", "▁a", "ab"), all hyperparameter keys and all
// tensors, in `tensor_type` (any ggml type quant::QuantizeRow encodes;
// norms are F32). Block types need dim and hidden_dim multiples of the
// block size (256 for the K-quants).
struct TinyLlamaSpec {
  int dim = 32;
  int hidden_dim = 64;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 2;
  int context_length = 128;
  uint32_t tensor_type = 0;
  bool with_output = true;  // write output.weight (else tied)
  uint64_t seed = 1;
};
GgufWriter MakeTinyLlamaGguf(const TinyLlamaSpec& spec);
// The vocabulary size of MakeTinyLlamaGguf models.
inline constexpr int kTinyLlamaVocab = 3 + 256 + 5;

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_GGUF_WRITER_H_
