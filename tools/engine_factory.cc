// tools::BuildEngine for `kvasir serve`: the server config mapped onto the
// engine builder (engine/engine_builder.h) that `generate` and `bench` use.
#include "tools/engine_factory.h"

#include <utility>

#include "engine/engine_builder.h"
#include "engine/model/kv_heads.h"
#include "engine/ops/linear.h"
#include "server/config/config_engine.h"

namespace kvasir::tools {

absl::StatusOr<std::unique_ptr<engine::Engine>> BuildEngine(
    const server::ServerConfig& config) {
  absl::StatusOr<engine::WeightsDtype> weights_dtype =
      engine::ParseWeightsDtype(config.model.weights_dtype,
                                "model.weights_dtype");
  if (!weights_dtype.ok()) return weights_dtype.status();
  engine::EngineBuildOptions options;
  options.model.path = config.model.path;
  options.model.tokenizer = config.model.tokenizer;
  options.model.chat_template = config.model.chat_template;
  options.model.kv_heads = config.model.kv_heads;
  absl::StatusOr<engine::KvConversion> conversion = engine::ParseKvConversion(
      config.model.kv_heads_conversion, "model.kv_heads_conversion");
  if (!conversion.ok()) return conversion.status();
  options.model.kv_conversion = *conversion;
  options.model.calibration_text = config.model.calibration_text;
  options.runner.weights_dtype = *weights_dtype;
  options.engine = server::ToEngineOptions(config);
  options.tenants = server::ToTenantConfigs(config);
  return engine::BuildEngine(options);
}

}  // namespace kvasir::tools
