#ifndef KVASIR_ENGINE_MODEL_QUANTIZE_MODEL_H_
#define KVASIR_ENGINE_MODEL_QUANTIZE_MODEL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

// Re-encodes a llama model into a GGUF file of another tensor type (what
// `kvasir quantize` runs).
namespace kvasir::engine {

struct QuantizeOptions {
  // A GGUF file, or "dummy:<preset>" (see dummy_model.h) for a random model.
  std::string input;
  std::string output;  // the GGUF file to write
  std::string type;    // a QuantMix name (quant_mix.h): "q8_0", "q4_k_m", ...
  // For dummy inputs (required then, rejected otherwise): a GGUF file whose
  // tokenizer.ggml.* metadata is copied. Its tokenizer.ggml.tokens count
  // must equal the preset's vocab_size (32000 for 15m, 110m, 1b, which is
  // llama's SentencePiece vocabulary; dummy:tiny's 512 matches none of the
  // shipped vocabularies and so cannot be written).
  std::string vocab_from;
  uint64_t seed = 0;  // seed of a dummy model's weights
};

// One tensor as it is written, for progress output.
struct QuantizedTensor {
  int index = 0;  // 0-based, in file order
  int count = 0;  // tensors in the file
  std::string name;
  std::string shape;         // outermost first: "[32000, 288]"
  uint32_t from_type = 0;    // gguf::TensorType of the source
  uint32_t wanted_type = 0;  // the mix's choice before a row-length fallback
  uint32_t type = 0;         // what was written
  uint64_t bytes = 0;        // data bytes written
};

struct QuantizeSummary {
  uint64_t input_bytes = 0;   // input file size (dummy: its weights as f32)
  uint64_t output_bytes = 0;  // output file size
  uint64_t tensor_bytes = 0;  // output tensor data, without padding
  uint64_t n_elements = 0;    // weights in all tensors
  uint32_t file_type = 0;     // general.file_type written
  // 8 * tensor_bytes / n_elements.
  double BitsPerWeight() const {
    return n_elements == 0 ? 0.0 : 8.0 * tensor_bytes / n_elements;
  }
};

// Writes options.output: the input's metadata (all of a GGUF input's keys
// in order; for a dummy input the llama hyperparameter keys,
// general.architecture/name and the vocabulary's tokenizer.ggml.* keys),
// general.file_type set to the mix's LLAMA_FTYPE and
// general.quantization_version 2, then every tensor: 2-D ones re-encoded to
// TensorTypeFor(mix, ...), 1-D ones and rope_freqs.weight as F32. A tensor
// already of its target type is copied byte for byte. Rows are encoded in
// parallel (OpenMP); memory stays bounded by a chunk of rows per tensor
// (plus, for a dummy input, the f32 model itself).
//
// `on_tensor` (may be empty) is called after each tensor is written.
// Errors: InvalidArgument for an unknown type (listing the valid ones), a
// dummy input without vocab_from or with a vocabulary of the wrong size, a
// vocab_from on a GGUF input, an unwritable output path, or a source tensor
// of a type that cannot be read; NotFound for a missing input; the
// GgufFile errors for malformed inputs. On error no output file is left.
absl::StatusOr<QuantizeSummary> QuantizeModel(
    const QuantizeOptions& options,
    const std::function<void(const QuantizedTensor&)>& on_tensor);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_QUANTIZE_MODEL_H_
