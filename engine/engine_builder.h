#ifndef KVASIR_ENGINE_ENGINE_BUILDER_H_
#define KVASIR_ENGINE_ENGINE_BUILDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/model/kv_heads.h"
#include "engine/model/model.h"
#include "engine/ops/linear.h"

namespace kvasir::engine {

// Where the weights come from and how they are prepared at load.
struct ModelSource {
  // A GGUF file, a llama2.c checkpoint (.bin) or "dummy:<preset>".
  std::string path;
  // The llama2.c tokenizer file a .bin checkpoint needs; empty otherwise.
  std::string tokenizer;
  // Convert to this many K/V heads at load (MHA/GQA/MQA; see kv_heads.h).
  std::optional<int32_t> kv_heads;
  // How K/V heads are merged when kv_heads is below the model's, and the
  // text file `kCalibrated` calibrates on (empty: text the model samples
  // from its BOS). See kv_heads_calibrated.h.
  KvConversion kv_conversion = KvConversion::kMean;
  std::string calibration_text;
  // Seed of a dummy model's random weights.
  uint64_t seed = 0;
  // A Jinja chat template file that replaces the model's own
  // (tokenizer.chat_template); empty: the model's, if it has one.
  std::string chat_template;
};

// How the Llama runner executes.
struct RunnerSettings {
  WeightsDtype weights_dtype = WeightsDtype::kF32;
  int32_t num_threads = 0;  // 0: all cores (OMP_NUM_THREADS)
};

// Loads the model, converts its K/V heads when asked and replaces its chat
// template by source.chat_template's. Errors name the file or the flag
// (`kv_heads`) and the problem; a template file that does not parse is an
// error naming the file and the line.
absl::StatusOr<std::unique_ptr<Model>> LoadModelForEngine(
    const ModelSource& source);

// model -> LlamaRunner -> Engine. The runner is sized from the engine
// options (max_batch_tokens, max_running sequences, block_size, kv_dtype),
// so the two always agree. Takes the model: the runner keeps what it needs
// and frees the f32 projection matrices as it lays them out. The model's
// chat template becomes options.chat_template (unless one is set), with the
// vocabulary's BOS and EOS text; a template from the model file that does
// not parse is logged and left out (completions still work; chat requests
// are refused), since the file is not the operator's to fix.
absl::StatusOr<std::unique_ptr<Engine>> BuildEngineFromModel(
    std::unique_ptr<Model> model, const RunnerSettings& runner,
    const Engine::Options& options, std::vector<TenantConfig> tenants);

// Everything `kvasir serve`, `generate` and `bench` need in one call.
struct EngineBuildOptions {
  ModelSource model;
  RunnerSettings runner;
  Engine::Options engine;
  std::vector<TenantConfig> tenants;
};
absl::StatusOr<std::unique_ptr<Engine>> BuildEngine(
    const EngineBuildOptions& options);

// The single tenant of the command-line tools: "default", no floor, the
// whole cache as its limit.
TenantConfig SoleTenant(int64_t kv_capacity_bytes);

// KV bytes that hold `tokens` tokens of `model` in whole blocks, at least
// one block.
int64_t KvBytesForTokens(const ModelConfig& model, kvcache::KvDtype dtype,
                         int32_t block_size, int64_t tokens);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_ENGINE_BUILDER_H_
