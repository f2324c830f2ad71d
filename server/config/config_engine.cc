#include "server/config/config_engine.h"

namespace kvasir::server {

engine::Engine::Options ToEngineOptions(const ServerConfig& config,
                                        Clock* clock) {
  engine::Engine::Options o;
  o.max_batch_tokens = config.scheduler.max_batch_tokens;
  o.max_running = config.scheduler.max_running;
  o.max_queued = config.scheduler.max_queued;
  o.kv_capacity_bytes = config.kv_cache.capacity_bytes;
  o.block_size = config.kv_cache.block_size;
  o.kv_dtype = config.kv_cache.dtype;
  o.prefix_caching = config.kv_cache.prefix_caching;
  o.clock = clock;
  return o;
}

std::vector<engine::TenantConfig> ToTenantConfigs(const ServerConfig& config) {
  std::vector<engine::TenantConfig> out;
  out.reserve(config.tenants.size());
  for (const TenantSpec& t : config.tenants) {
    out.push_back(static_cast<const engine::TenantConfig&>(t));
  }
  return out;
}

}  // namespace kvasir::server
