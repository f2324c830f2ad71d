#ifndef KVASIR_ENGINE_MODEL_LLAMA2C_LOADER_H_
#define KVASIR_ENGINE_MODEL_LLAMA2C_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/mapped_file.h"
#include "engine/model/model.h"

namespace kvasir::engine {

// The 28-byte header of a llama2.c checkpoint (legacy export, version 0).
struct Llama2cHeader {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // negative: a separate classifier follows
  int32_t seq_len = 0;
};

// Parses and checks the header of a checkpoint image of `file_size` bytes:
// the hyperparameters must be valid and the file exactly as long as they
// imply, with or without the freq_cis block old exports carry (and with the
// classifier when vocab_size < 0). DataLoss when the file is shorter,
// InvalidArgument otherwise; messages give both sizes.
absl::StatusOr<Llama2cHeader> ParseLlama2cHeader(absl::string_view bytes,
                                                 absl::string_view source);

// Loads a llama2.c checkpoint (float32 weights in run.c's order:
// token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
// [freq_cis_real, freq_cis_imag], [wcls]) and its tokenizer file. The
// tokenizer must have exactly |vocab_size| tokens. rope_theta is 10000 and
// rms_eps 1e-5, as run.c hard-codes; context_length is seq_len.
absl::StatusOr<std::unique_ptr<Model>> LoadLlama2cModel(
    const std::string& checkpoint_path, const std::string& tokenizer_path);
// The same for a checkpoint that is already mapped.
absl::StatusOr<std::unique_ptr<Model>> Llama2cModelFromFile(
    const MappedFile& checkpoint, const std::string& tokenizer_path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_LLAMA2C_LOADER_H_
