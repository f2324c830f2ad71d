#ifndef KVASIR_TOOLS_PERPLEXITY_EVAL_H_
#define KVASIR_TOOLS_PERPLEXITY_EVAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/engine_builder.h"
#include "engine/model/kv_heads.h"
#include "engine/model/model.h"
#include "engine/model/perplexity.h"
#include "kvcache/kv_layout.h"

namespace kvasir::tools {

// One perplexity measurement as `kvasir perplexity` and `kvasir kv-report`
// make it: the model loaded and converted as serving loads it
// (engine::LoadModelForEngine: --kv-heads and the conversion method live in
// `model`), the real Llama runner, and engine::ComputePerplexity.
struct PerplexitySetup {
  engine::ModelSource model;
  kvcache::KvDtype kv_dtype = kvcache::KvDtype::kF32;
  int32_t ctx = 512;
  int32_t threads = 0;  // 0: all cores
  // The flag errors about ctx name.
  std::string ctx_flag = "--ctx";
};

struct PerplexityRun {
  engine::PerplexityResult result;
  std::string model_name;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;  // after conversion
  double seconds = 0.0;    // wall time of the chunks (not the load)
};

// The K/V-head conversion methods `kvasir kv-report` compares, in column
// order (engine::KvConversionName of each engine::KvConversion): "mean"
// (engine/model/kv_heads.h: mean pooling towards MQA, duplication towards
// MHA) and "calibrated" (engine/model/kv_heads_calibrated.h).
std::vector<engine::KvConversion> KvConversionMethods();

// Loads the model, tokenizes `text` (BOS first when the vocabulary adds
// one, special tokens as plain text, as llama.cpp does) and computes the
// perplexity. Errors name the flag or file (see engine::ComputePerplexity).
absl::StatusOr<PerplexityRun> MeasurePerplexity(
    const PerplexitySetup& setup, absl::string_view text,
    const engine::PerplexityProgress& progress = nullptr);

// The same on a model the caller loaded and converted (setup.model is not
// read): kv-report converts one loaded copy per row with statistics of a
// single calibration pass.
absl::StatusOr<PerplexityRun> MeasurePerplexity(
    const PerplexitySetup& setup, std::unique_ptr<engine::Model> model,
    absl::string_view text,
    const engine::PerplexityProgress& progress = nullptr);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_PERPLEXITY_EVAL_H_
