#ifndef KVASIR_SERVER_CONFIG_CONFIG_ENGINE_H_
#define KVASIR_SERVER_CONFIG_CONFIG_ENGINE_H_

// Mapping of the server config to the engine's types (engine/engine.h).
// What the engine factory (`kvasir serve`) and reloads use.

#include <vector>

#include "common/clock.h"
#include "engine/engine.h"
#include "server/config/config.h"

namespace kvasir::server {

// Scheduler and KV-cache settings. `clock` is passed through (not owned;
// nullptr = the system clock).
engine::Engine::Options ToEngineOptions(const ServerConfig& config,
                                        Clock* clock = nullptr);

// One TenantConfig per configured tenant, in config order.
std::vector<engine::TenantConfig> ToTenantConfigs(const ServerConfig& config);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CONFIG_ENGINE_H_
