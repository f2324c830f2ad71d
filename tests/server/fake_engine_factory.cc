// tools::BuildEngine for fake_kvasir: a FakeEngine sized from the config.
// model.path "fake:fail" makes loading fail (to test that exit path).
#include "server/config_engine.h"
#include "tests/testing/fake_engine.h"
#include "tools/engine_factory.h"

namespace kvasir::tools {

absl::StatusOr<std::unique_ptr<engine::Engine>> BuildEngine(
    const server::ServerConfig& config) {
  if (config.model.path == "fake:fail") {
    return absl::NotFoundError("fake:fail: no such model (as asked)");
  }
  testing::FakeEngine::Options o;
  o.block_size = config.kv_cache.block_size;
  // The fake model's KV takes 256 bytes per token.
  o.capacity_blocks =
      config.kv_cache.capacity_bytes / (int64_t{256} * o.block_size);
  o.max_running = config.scheduler.max_running;
  o.max_queued = config.scheduler.max_queued;
  absl::StatusOr<std::unique_ptr<testing::FakeEngine>> engine =
      testing::FakeEngine::Create(o, server::ToTenantConfigs(config));
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<engine::Engine>(*std::move(engine));
}

}  // namespace kvasir::tools
