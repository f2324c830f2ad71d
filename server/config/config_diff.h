#ifndef KVASIR_SERVER_CONFIG_CONFIG_DIFF_H_
#define KVASIR_SERVER_CONFIG_CONFIG_DIFF_H_

// What changed between two configs, and which changes a running server can
// apply live.
//
// Live: tenants (added, removed, budgets, weights, queue caps, keys,
// prefix caching, cache shares), server.admin_api_key_sha256,
// server.drain_timeout, logging.level and logging.format. Restart only:
// server.listen, server.metrics_listen, model.*, kv_cache.*, scheduler.*.

#include <string>
#include <vector>

#include "server/config/config.h"

namespace kvasir::server {

struct ConfigChanges {
  // One line per change, "key: old -> new", e.g.
  // "tenants.alpha.limit: 128MiB -> 64MiB", "tenants.beta: removed".
  std::vector<std::string> live;
  std::vector<std::string> restart;
  bool tenants_changed = false;  // the engine needs UpdateTenants
  bool auth_changed = false;     // tenant key hashes or the admin key
  bool logging_changed = false;
  bool metrics_key_changed = false;  // server.metrics_api_key_sha256

  bool empty() const { return live.empty() && restart.empty(); }
};

ConfigChanges DiffConfigs(const ServerConfig& before,
                          const ServerConfig& after);

// The config a running server has after applying `loaded` live: `loaded`
// with every restart-only setting kept from `running` (so a later diff still
// reports a pending restart-only change).
ServerConfig MergeLiveChanges(const ServerConfig& running,
                              const ServerConfig& loaded);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CONFIG_DIFF_H_
