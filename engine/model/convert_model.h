#ifndef KVASIR_ENGINE_MODEL_CONVERT_MODEL_H_
#define KVASIR_ENGINE_MODEL_CONVERT_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/kv_calibration.h"
#include "engine/model/kv_heads.h"

// Converts a GGUF model's K/V heads once, into a new GGUF file (what
// `kvasir convert` runs): the calibration pass of a large model then runs
// once, not at every load.
namespace kvasir::engine {

struct ConvertOptions {
  std::string input;   // a GGUF file (llama, qwen2)
  std::string output;  // the GGUF file to write
  int kv_heads = 0;    // the new KV-head count (kv_heads.h rules)
  KvConversion method = KvConversion::kMean;
  CalibrationOptions calibration;  // for kCalibrated
};

struct ConvertSummary {
  int from_kv_heads = 0;
  int to_kv_heads = 0;
  int rewritten_tensors = 0;  // tensors written from the converted model
  uint64_t output_bytes = 0;
};

// Loads options.input, converts it with ConvertKvHeadsWith and writes
// options.output: the input's metadata in order with
// <arch>.attention.head_count_kv set to kv_heads, and its tensors in order,
// the converted ones (attn_k/attn_v weights and biases; with merging
// `calibrated` also attn_q weight/bias and attn_output) as F32, every other
// tensor byte for byte. The file loads like any other and gives the logits
// of the in-memory conversion. Errors: InvalidArgument naming `--kv-heads`
// or the file; those of LoadModel, of the conversion and of the writer.
// No output file is left on error.
absl::StatusOr<ConvertSummary> ConvertModelFile(const ConvertOptions& options);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_CONVERT_MODEL_H_
