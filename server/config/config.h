#ifndef KVASIR_SERVER_CONFIG_CONFIG_H_
#define KVASIR_SERVER_CONFIG_CONFIG_H_

// The server's YAML config: schema, strict parsing and validation.
//
//   server:    { listen, http_listen, metrics_listen, admin_api_key_sha256,
//                metrics_api_key_sha256, drain_timeout, http_max_body_bytes,
//                http_max_connections }
//   model:     { path, name, tokenizer, kv_heads, weights_dtype,
//                chat_template }
//   kv_cache:  { capacity, block_size, dtype, prefix_caching }
//   scheduler: { max_batch_tokens, max_running, max_queued }
//   tenants:   [ { name, api_key_sha256, reserved, limit, weight,
//                  max_concurrent, max_queued, prefix_caching,
//                  rate_limit: { tokens_per_second, burst,
//                                prompt_tokens_per_second, prompt_burst },
//                  cache_share } ]
//   logging:   { level, format }
//
// Every section and key is optional except `tenants` (at least one). Unknown
// keys, wrong types, bad units and impossible budgets are InvalidArgument
// errors that start with "<file>:<line>: " and name the key path
// (`tenants[1].limit`) and the value. See configs/*.yaml for examples.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "engine/engine.h"
#include "kvcache/kv_layout.h"
#include "kvcache/tenant_budgets.h"

namespace kvasir::server {

// The tenant that serves requests without an API key (the engine names it).
using engine::kDefaultTenantName;
// The model served when the config names none (random weights).
inline constexpr absl::string_view kDefaultModel = "dummy:tiny";
// The longest server.drain_timeout: a drain that needs longer is a stuck
// request, and an orchestrator kills the process long before anyway.
inline constexpr absl::Duration kMaxDrainTimeout = absl::Hours(1);

// A tenant as the config file gives it: the engine's TenantConfig (its
// rules are the engine's, engine/tenant_rules.h; a limit unset in the file
// is the capacity) plus the key that identifies it.
struct TenantSpec : engine::TenantConfig {
  // SHA-256 of the tenant's API key: 64 lowercase hex digits (the parser
  // lowercases). Empty only for the `default` tenant.
  std::string api_key_sha256;
  // The file line where the tenant's entry starts (1-based; 0 unknown), and
  // the line of each key it has ("weight", "rate_limit.burst", ...), so
  // that the engine's verdict on a field can point at it.
  int32_t line = 0;
  absl::flat_hash_map<std::string, int32_t> key_lines;
};

struct ServerConfig {
  struct Server {
    std::string listen = "0.0.0.0:50051";  // host:port of the gRPC server
    // host:port of the OpenAI-compatible HTTP API; empty = no HTTP API
    // ("off" in the file and on the command line).
    std::string http_listen = "0.0.0.0:8080";
    // Largest HTTP request body accepted; bigger ones get 413. Bounds the
    // memory one request can take before it is even parsed.
    int64_t http_max_body_bytes = int64_t{4} << 20;
    // HTTP connections served at once. cpp-httplib serves each connection
    // on a thread of its own, and a streaming response holds its thread
    // until the stream ends, so this is also the most concurrent streams
    // (and idle keep-alive connections) the HTTP API serves; connections
    // beyond it wait for a thread. Threads are started as connections
    // need them (idle ones stay for reuse), up to this many.
    int32_t http_max_connections = 512;
    // host:port of the Prometheus /metrics endpoint; empty = no metrics.
    // It lists every tenant's name: bind it where only the scraper reaches
    // it, or set metrics_api_key_sha256.
    std::string metrics_listen = "0.0.0.0:9090";
    // SHA-256 (hex) of the bearer token /metrics requires; empty = none.
    // Needs a restart to change (the endpoint starts with it).
    std::string metrics_api_key_sha256;
    // SHA-256 (hex) of the key Admin calls need; empty = Admin disabled.
    std::string admin_api_key_sha256;
    // SIGTERM waits this long for running requests before cancelling them;
    // 0..kMaxDrainTimeout.
    absl::Duration drain_timeout = absl::Seconds(30);
  };
  struct Model {
    // A GGUF or llama2.c checkpoint, or "dummy:<preset>".
    std::string path = std::string(kDefaultModel);
    // The id the HTTP API lists (GET /v1/models) and requests' `model` must
    // equal; empty: the model file's name.
    std::string name;
    std::string tokenizer;            // empty: the model's own
    std::optional<int32_t> kv_heads;  // convert to this many KV heads
    // How heads are merged when kv_heads is below the model's: "mean" or
    // "calibrated" (engine/model/kv_heads_calibrated.h).
    std::string kv_heads_conversion = "mean";
    // The text file `calibrated` calibrates on; empty: text the model
    // samples from its BOS.
    std::string calibration_text;
    std::string weights_dtype = "f32";  // "f32" or "bf16"
    // A Jinja chat template file replacing the model's own; empty: the
    // model's (GGUF tokenizer.chat_template), if any.
    std::string chat_template;
  };
  struct KvCache {
    int64_t capacity_bytes = int64_t{256} << 20;
    int32_t block_size = 16;  // tokens per block, 1..1024
    kvcache::KvDtype dtype = kvcache::KvDtype::kF32;
    bool prefix_caching = true;
  };
  struct Scheduler {
    int32_t max_batch_tokens = 512;
    int32_t max_running = 64;
    int32_t max_queued = 1024;
  };

  Server server;
  Model model;
  KvCache kv_cache;
  Scheduler scheduler;
  std::vector<TenantSpec> tenants;
  LoggingOptions logging;

  // Where the config was read from ("configs/default.yaml"), for messages.
  std::string source;
  // True when the file names no model and `model.path` fell back to
  // kDefaultModel: the server then warns loudly that output is random.
  bool model_defaulted = false;

  // The tenant named `name`, or nullptr.
  const TenantSpec* FindTenant(absl::string_view name) const;
};

// Command-line settings that replace the file's (`kvasir serve --model M
// --tokenizer T --listen A --http-listen A --metrics-listen A`); empty fields
// change nothing. Applied again after every reload so that the file's values
// never show up as changes.
struct ConfigOverrides {
  std::string model;
  std::string tokenizer;
  std::string listen;
  std::string http_listen;     // "off" turns the HTTP API off
  std::string metrics_listen;  // "off" turns metrics off

  // Checks the flags (InvalidArgument naming the flag; `config` stays as
  // it was), applies them and validates the result again. `config` must
  // be valid (as ParseConfig returns it); without flags, nothing is done.
  absl::Status ApplyTo(ServerConfig* config) const;
};

// Parses and validates YAML text. `source` names it in error messages.
absl::StatusOr<ServerConfig> ParseConfig(absl::string_view yaml,
                                         absl::string_view source);

// Reads and parses a file. NotFound / InvalidArgument naming the path.
absl::StatusOr<ServerConfig> LoadConfigFile(const std::string& path);

// The semantic checks ParseConfig runs after reading the keys (addresses,
// hex hashes, tenant names, budgets against the capacity). Run it again
// after changing a parsed config (command-line overrides).
absl::Status ValidateConfig(const ServerConfig& config);

// A tenant rule's error (the engine's, kvcache's) pointed at the file, the
// line and the key: "<file>:<line>: tenants[2].limit: ...".
absl::Status TenantRuleStatus(const ServerConfig& config,
                              const kvcache::TenantRuleError& e);

// When the engine refused `config`'s tenants with a rule that needs the
// model's KV block size (kvcache::TenantRuleErrorOf: a limit under one
// block, floors rounding up past the capacity): that refusal as
// TenantRuleStatus, marked "(with the model's KV blocks)". nullopt for
// any other error.
std::optional<absl::Status> EngineTenantRuleError(const ServerConfig& config,
                                                  const absl::Status& status);

// "host:port" (IPv6 hosts in brackets, port 0..65535) split into the host
// (brackets removed) and the port; InvalidArgument naming `field` when it is
// not one. ValidateListenAddress only checks.
struct HostPort {
  std::string host;
  int port = 0;
};
absl::StatusOr<HostPort> SplitListenAddress(absl::string_view address,
                                            absl::string_view field);
absl::Status ValidateListenAddress(absl::string_view address,
                                   absl::string_view field);

// "64 lowercase hex digits"; returns the lowercased form or InvalidArgument
// naming `field`.
absl::StatusOr<std::string> NormalizeSha256Hex(absl::string_view hex,
                                               absl::string_view field);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CONFIG_H_
