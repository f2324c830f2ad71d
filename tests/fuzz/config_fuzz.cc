// The YAML config parser and validator: bytes -> ParseConfig. A config it
// accepts must pass ValidateConfig and the engine's tenant rules again (as
// `kvasir serve` and reloads use it), convert to engine options, and diff
// as unchanged against itself.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/tenant_rules.h"
#include "server/config/config.h"
#include "server/config/config_diff.h"
#include "server/config/config_engine.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto config = server::ParseConfig(yaml, "fuzz.yaml");
  if (!config.ok()) {
    fuzz::Check(config.status().code() == absl::StatusCode::kInvalidArgument,
                absl::StrCat("ParseConfig: not InvalidArgument: ",
                             config.status().ToString()));
    return 0;
  }
  const absl::Status valid = server::ValidateConfig(*config);
  fuzz::Check(valid.ok(), absl::StrCat("accepted config fails ValidateConfig: ",
                                       valid.ToString()));
  (void)server::ToEngineOptions(*config);
  const absl::Status tenants = engine::ValidateTenantConfigs(
      server::ToTenantConfigs(*config), config->kv_cache.capacity_bytes);
  fuzz::Check(tenants.ok(),
              absl::StrCat("accepted config fails the engine's tenant rules: ",
                           tenants.ToString()));
  fuzz::Check(server::DiffConfigs(*config, *config).empty(),
              "a config differs from itself");
  const server::ServerConfig merged =
      server::MergeLiveChanges(*config, *config);
  fuzz::Check(server::DiffConfigs(*config, merged).empty(),
              "merging a config's live changes into itself changed it");
  return 0;
}
