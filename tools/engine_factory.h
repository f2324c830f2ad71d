#ifndef KVASIR_TOOLS_ENGINE_FACTORY_H_
#define KVASIR_TOOLS_ENGINE_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "server/config/config.h"

namespace kvasir::tools {

// Builds the engine `kvasir serve` runs from the server config: loads
// config.model (a GGUF / llama2.c path, or "dummy:<preset>"; tokenizer and
// kv_heads conversion as configured), creates the runner and calls
// engine::Engine::Create with server::ToEngineOptions(config) and
// server::ToTenantConfigs(config). Errors name the file and the problem.
// Defined in engine_factory.cc.
absl::StatusOr<std::unique_ptr<engine::Engine>> BuildEngine(
    const server::ServerConfig& config);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_ENGINE_FACTORY_H_
