// Semantic checks of a parsed ServerConfig: addresses, hashes, and the
// engine's tenant rules pointed at the file's lines.
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "engine/model/kv_heads.h"
#include "engine/ops/linear.h"
#include "engine/tenant_rules.h"
#include "kvcache/kv_layout.h"
#include "kvcache/tenant_budgets.h"
#include "server/config/config.h"
#include "server/config/config_engine.h"

namespace kvasir::server {
namespace {

// The config file's spelling of a TenantConfig field.
absl::string_view YamlKey(absl::string_view field) {
  if (field == "reserved_bytes") return "reserved";
  if (field == "limit_bytes") return "limit";
  if (field == "cache_share_bytes") return "cache_share";
  return field;
}

}  // namespace

absl::Status TenantRuleStatus(const ServerConfig& config,
                              const kvcache::TenantRuleError& e) {
  int32_t line = 0;
  std::string path;
  if (e.index >= 0 && static_cast<size_t>(e.index) < config.tenants.size()) {
    const TenantSpec& t = config.tenants[static_cast<size_t>(e.index)];
    const auto key = t.key_lines.find(YamlKey(e.field));
    line = key != t.key_lines.end() ? key->second : t.line;
    path = absl::StrCat("tenants[", e.index, "].", YamlKey(e.field));
  } else {
    if (!config.tenants.empty()) line = config.tenants[0].line;
    path = e.field.empty() ? std::string("tenants")
                           : absl::StrCat("tenants[].", YamlKey(e.field));
  }
  std::string where;
  if (!config.source.empty()) {
    where = line > 0 ? absl::StrCat(config.source, ":", line, ": ")
                     : absl::StrCat(config.source, ": ");
  }
  return WithLogDetail(
      absl::InvalidArgumentError(absl::StrCat(where, path, ": ", e.message)),
      e.detail);
}

std::optional<absl::Status> EngineTenantRuleError(const ServerConfig& config,
                                                  const absl::Status& status) {
  const std::optional<kvcache::TenantRuleError> rule =
      kvcache::TenantRuleErrorOf(status);
  if (!rule.has_value()) return std::nullopt;
  const absl::Status bad = TenantRuleStatus(config, *rule);
  return WithMessage(
      bad, absl::StrCat(bad.message(), " (with the model's KV blocks)"));
}

namespace {

absl::Status ValidateModel(const ServerConfig& config, absl::string_view src) {
  const ServerConfig::Model& m = config.model;
  if (m.path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, "model.path: must not be empty"));
  }
  if (absl::StartsWith(m.path, "dummy:") && m.path.size() == 6) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "model.path: 'dummy:' needs a preset name, e.g. ", kDefaultModel));
  }
  if (m.kv_heads.has_value() && *m.kv_heads <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "model.kv_heads: ", *m.kv_heads, " must be a positive number"));
  }
  // The engine owns the lists of KV-head conversions and weight dtypes.
  if (absl::Status s = engine::ParseKvConversion(m.kv_heads_conversion,
                                                 "model.kv_heads_conversion")
                           .status();
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(src, s.message()));
  }
  if (absl::Status s =
          engine::ParseWeightsDtype(m.weights_dtype, "model.weights_dtype")
              .status();
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(src, s.message()));
  }
  return absl::OkStatus();
}

// The HTTP API on the port of another listener would fail to bind; say
// which keys collide. Port 0 (any free port, tests) never collides.
absl::Status CheckHttpPort(const ServerConfig::Server& s,
                           absl::string_view src) {
  if (s.http_listen.empty() || absl::EndsWith(s.http_listen, ":0")) {
    return absl::OkStatus();
  }
  for (const auto& [key, address] :
       {std::pair<absl::string_view, const std::string*>{"server.listen",
                                                         &s.listen},
        {"server.metrics_listen", &s.metrics_listen}}) {
    if (*address == s.http_listen) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, "server.http_listen: ", Quoted(s.http_listen), " is also ", key,
          "; give the HTTP API a port of its own"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHttp(const ServerConfig::Server& s,
                          absl::string_view src) {
  if (!s.http_listen.empty()) {
    if (absl::Status st =
            ValidateListenAddress(s.http_listen, "server.http_listen");
        !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(src, st.message()));
    }
  }
  if (s.http_max_body_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "server.http_max_body_bytes: ", s.http_max_body_bytes,
        " bytes is too small (at least 1KiB; requests carry JSON bodies)"));
  }
  if (s.http_max_connections < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "server.http_max_connections: ", s.http_max_connections,
        " must be >= 1"));
  }
  return CheckHttpPort(s, src);
}

// The config's own rules for a tenant: its API key. (Names, weights, caps
// and budgets are the engine's: engine::CheckTenantConfigs.)
absl::Status ValidateTenantKey(const ServerConfig& config, size_t i,
                               absl::string_view src) {
  const TenantSpec& t = config.tenants[i];
  const std::string path = absl::StrCat("tenants[", i, "]");
  auto bad = [&](absl::string_view key, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, path, ".", key, ": ", message));
  };
  if (t.api_key_sha256.empty()) {
    if (t.name != kDefaultTenantName) {
      return bad("api_key_sha256",
                 absl::StrCat("is required for tenant '", t.name,
                              "' (only the '", kDefaultTenantName,
                              "' tenant serves requests without a key); "
                              "get one with `kvasir hash-key <key>`"));
    }
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(
      NormalizeSha256Hex(t.api_key_sha256, path + ".api_key_sha256").status());
  for (size_t j = 0; j < i; ++j) {
    if (config.tenants[j].api_key_sha256 == t.api_key_sha256) {
      return bad("api_key_sha256",
                 absl::StrCat("same key hash as tenants[", j, "] ('",
                              config.tenants[j].name,
                              "'); every tenant needs its own key"));
    }
  }
  if (t.api_key_sha256 == config.server.admin_api_key_sha256) {
    return bad("api_key_sha256",
               "equals server.admin_api_key_sha256; use a separate admin "
               "key");
  }
  return absl::OkStatus();
}

// A scrape token that is also an API key would let a tenant read every
// tenant's numbers, and leak that key with every scrape config.
absl::Status ValidateMetricsKey(const ServerConfig& config,
                                absl::string_view src) {
  const std::string& key = config.server.metrics_api_key_sha256;
  if (key.empty()) return absl::OkStatus();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, "server.metrics_api_key_sha256: equals ", what,
                     "; use a separate scrape token"));
  };
  if (key == config.server.admin_api_key_sha256) {
    return bad("server.admin_api_key_sha256");
  }
  for (size_t i = 0; i < config.tenants.size(); ++i) {
    if (config.tenants[i].api_key_sha256 == key) {
      return bad(absl::StrCat("tenants[", i, "].api_key_sha256 ('",
                              config.tenants[i].name, "')"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> NormalizeSha256Hex(absl::string_view hex,
                                               absl::string_view field) {
  std::string lower = absl::AsciiStrToLower(hex);
  bool ok = lower.size() == 64;
  for (char c : lower) {
    ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", Quoted(hex),
        " is not a SHA-256 hash (64 hex digits; `kvasir hash-key <key>` "
        "prints one)"));
  }
  return lower;
}

absl::StatusOr<HostPort> SplitListenAddress(absl::string_view address,
                                            absl::string_view field) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", Quoted(address), " ", why,
        " (expected host:port, e.g. 0.0.0.0:50051 or [::]:50051)"));
  };
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return bad("has no host:port form");
  }
  absl::string_view host = address.substr(0, colon);
  absl::string_view port = address.substr(colon + 1);
  if (host.front() == '[' ? host.back() != ']' || host.size() < 3
                          : host.find(':') != absl::string_view::npos) {
    return bad("has a malformed host (IPv6 hosts go in brackets)");
  }
  HostPort out;
  if (port.empty() || !absl::SimpleAtoi(port, &out.port) || out.port < 0 ||
      out.port > 65535) {
    return bad("has a port outside 0..65535");
  }
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  out.host = std::string(host);
  return out;
}

absl::Status ValidateListenAddress(absl::string_view address,
                                   absl::string_view field) {
  return SplitListenAddress(address, field).status();
}

absl::Status ConfigOverrides::ApplyTo(ServerConfig* config) const {
  // No flag: the parsed config is already valid.
  if (model.empty() && tokenizer.empty() && listen.empty() &&
      http_listen.empty() && metrics_listen.empty()) {
    return absl::OkStatus();
  }
  // The flags are checked first, so that their errors name the flag the
  // user typed rather than the config key it replaces.
  if (!listen.empty()) {
    RETURN_IF_ERROR(ValidateListenAddress(listen, "--listen"));
  }
  if (!http_listen.empty() && http_listen != "off") {
    RETURN_IF_ERROR(
        ValidateListenAddress(http_listen, "--http-listen (or 'off')"));
  }
  if (!metrics_listen.empty() && metrics_listen != "off") {
    RETURN_IF_ERROR(
        ValidateListenAddress(metrics_listen, "--metrics-listen (or 'off')"));
  }
  if (!model.empty()) {
    config->model.path = model;
    config->model_defaulted = false;
  }
  if (!tokenizer.empty()) config->model.tokenizer = tokenizer;
  if (!listen.empty()) config->server.listen = listen;
  if (http_listen == "off") {
    config->server.http_listen.clear();
  } else if (!http_listen.empty()) {
    config->server.http_listen = http_listen;
  }
  if (metrics_listen == "off") {
    config->server.metrics_listen.clear();
  } else if (!metrics_listen.empty()) {
    config->server.metrics_listen = metrics_listen;
  }
  return ValidateConfig(*config);
}

absl::Status ValidateConfig(const ServerConfig& config) {
  const std::string src =
      config.source.empty() ? std::string() : absl::StrCat(config.source, ": ");
  auto wrap = [&](const absl::Status& s) {
    return s.ok() ? s
                  : absl::InvalidArgumentError(absl::StrCat(src, s.message()));
  };
  RETURN_IF_ERROR(
      wrap(ValidateListenAddress(config.server.listen, "server.listen")));
  if (!config.server.metrics_listen.empty()) {
    RETURN_IF_ERROR(wrap(ValidateListenAddress(config.server.metrics_listen,
                                               "server.metrics_listen")));
    if (config.server.metrics_listen == config.server.listen &&
        !absl::EndsWith(config.server.listen, ":0")) {
      return absl::InvalidArgumentError(absl::StrCat(
          src, "server.metrics_listen: '", config.server.metrics_listen,
          "' is also server.listen; give metrics a port of their own"));
    }
  }
  RETURN_IF_ERROR(ValidateHttp(config.server, src));
  if (!config.server.admin_api_key_sha256.empty()) {
    RETURN_IF_ERROR(wrap(NormalizeSha256Hex(config.server.admin_api_key_sha256,
                                            "server.admin_api_key_sha256")
                             .status()));
  }
  if (!config.server.metrics_api_key_sha256.empty()) {
    RETURN_IF_ERROR(
        wrap(NormalizeSha256Hex(config.server.metrics_api_key_sha256,
                                "server.metrics_api_key_sha256")
                 .status()));
  }
  if (config.server.drain_timeout < absl::ZeroDuration() ||
      config.server.drain_timeout > kMaxDrainTimeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "server.drain_timeout: ",
        absl::FormatDuration(config.server.drain_timeout),
        " is out of range [0, ", absl::FormatDuration(kMaxDrainTimeout), "]"));
  }
  RETURN_IF_ERROR(ValidateModel(config, src));
  const ServerConfig::KvCache& kv = config.kv_cache;
  if (kv.capacity_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, "kv_cache.capacity: ", kv.capacity_bytes, " must be > 0 bytes"));
  }
  if (kv.block_size < 1 || kv.block_size > kvcache::kMaxBlockSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, "kv_cache.block_size: ", kv.block_size,
                     " is out of range [1, ", kvcache::kMaxBlockSize, "]"));
  }
  const ServerConfig::Scheduler& s = config.scheduler;
  for (const auto& [key, value] : {std::pair<absl::string_view, int32_t>{
                                       "max_batch_tokens", s.max_batch_tokens},
                                   {"max_running", s.max_running},
                                   {"max_queued", s.max_queued}}) {
    if (value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(src, "scheduler.", key, ": ", value, " must be >= 1"));
    }
  }
  if (const std::optional<kvcache::TenantRuleError> e =
          engine::CheckTenantConfigs(ToTenantConfigs(config),
                                     kv.capacity_bytes)) {
    return TenantRuleStatus(config, *e);
  }
  for (size_t i = 0; i < config.tenants.size(); ++i) {
    RETURN_IF_ERROR(ValidateTenantKey(config, i, src));
  }
  RETURN_IF_ERROR(ValidateMetricsKey(config, src));
  return wrap(ValidateLoggingOptions(config.logging));
}

}  // namespace kvasir::server
