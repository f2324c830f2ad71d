#ifndef KVASIR_ENGINE_MODEL_KV_CALIBRATION_H_
#define KVASIR_ENGINE_MODEL_KV_CALIBRATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model.h"

// The calibration pass of the calibrated KV-head conversion
// (kv_heads_calibrated.h): the model itself, run by the real LlamaRunner
// (f32 weights, f32 KV cache), over calibration text, recording what the
// conversion fits its merged heads to.
namespace kvasir::engine {

struct CalibrationOptions {
  // A UTF-8 text file to calibrate on (tokenized with the model's own
  // tokenizer). Empty: text the model samples from its BOS.
  std::string text_file;
  // Tokens sampled (temperature 1, from `seed`) when text_file is empty,
  // in sequences of up to chunk_tokens that restart at BOS after an EOS.
  // 16 .. 65536.
  int generated_tokens = 1024;
  uint64_t seed = 1;
  // Tokens per forward pass (each chunk of the text starts at BOS, as in
  // perplexity), 2 .. 4096 (capped at the model's context length).
  int chunk_tokens = 256;
  // OpenMP threads of the runner; 0: all cores.
  int num_threads = 0;
};

// Per layer, the uncentered second moment E[x x^T] of the attention
// block's input x = [RMSNorm(h) ; 1] (D + 1 values: the constant 1 carries
// Q/K/V biases), over every calibration token: what the K and V activations'
// covariances are computed from (K = Wk x), for any candidate Wk.
struct CalibrationStats {
  int dim = 0;                              // D
  int64_t tokens = 0;                       // tokens averaged over
  std::vector<std::vector<double>> moment;  // [layers][(D+1)^2], row-major
};

// The token sequences of a calibration pass: options.text_file tokenized
// (with the vocabulary's BOS, if it adds one) and cut into chunks of at most
// chunk_tokens whose first token is BOS, or sampled text. InvalidArgument
// naming the field for bad options, NotFound / InvalidArgument naming the
// file when it cannot be read, is empty or yields fewer than 2 tokens.
absl::StatusOr<std::vector<std::vector<int32_t>>> CalibrationTokens(
    const Model& model, const CalibrationOptions& options);

// Runs `model` (not changed; it must stay alive during the call) over
// each sequence and averages the moments. The model's current K/V heads are
// used as they are. InvalidArgument for an empty or over-long sequence or a
// model the runner rejects.
absl::StatusOr<CalibrationStats> CollectCalibrationStats(
    const Model& model, const std::vector<std::vector<int32_t>>& sequences,
    int num_threads);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_KV_CALIBRATION_H_
