#ifndef KVASIR_ENGINE_MODEL_LOADER_H_
#define KVASIR_ENGINE_MODEL_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/model.h"

namespace kvasir::engine {

struct LoadOptions {
  // "dummy:<preset>" (see dummy_model.h), a GGUF file (recognised by its
  // magic, whatever its name) or a llama2.c checkpoint (.bin).
  std::string path_or_spec;
  // The llama2.c tokenizer file a llama2.c checkpoint needs (`--tokenizer`);
  // ignored for GGUF files (they carry their vocabulary) and dummy models.
  std::string tokenizer_path;
  // Seed of a dummy model's random weights.
  uint64_t seed = 0;
};

// Loads a model with its tokenizer. Errors: NotFound naming a missing
// file; InvalidArgument for a llama2.c checkpoint without tokenizer_path
// (naming the --tokenizer flag), an unknown dummy preset or malformed
// content; DataLoss for truncated files. Every message names the file.
absl::StatusOr<std::unique_ptr<Model>> LoadModel(const LoadOptions& options);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_LOADER_H_
