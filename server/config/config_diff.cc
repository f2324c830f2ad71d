#include "server/config/config_diff.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/units.h"
#include "engine/tenant_rules.h"

namespace kvasir::server {
namespace {

std::string Str(const std::string& s) { return s.empty() ? "(none)" : s; }
std::string Str(int64_t v) { return absl::StrCat(v); }
std::string Str(double v) { return absl::StrCat(v); }
std::string Str(bool v) { return v ? "true" : "false"; }
std::string Str(absl::Duration d) { return absl::FormatDuration(d); }
std::string Str(kvcache::KvDtype d) { return std::string(KvDtypeName(d)); }
std::string Str(const std::optional<int32_t>& v) {
  return v.has_value() ? absl::StrCat(*v) : "(checkpoint's)";
}
// Key hashes are not secrets, but a short prefix is enough to tell them
// apart in a log.
std::string Hash(const std::string& h) {
  return h.empty() ? "(none)" : absl::StrCat(h.substr(0, 8), "...");
}
std::string Bytes(int64_t b) { return FormatByteSize(b); }

class Differ {
 public:
  explicit Differ(ConfigChanges* out) : out_(out) {}

  template <typename T>
  bool Live(absl::string_view key, const T& a, const T& b) {
    if (a == b) return false;
    out_->live.push_back(absl::StrCat(key, ": ", Str(a), " -> ", Str(b)));
    return true;
  }
  template <typename T>
  void Restart(absl::string_view key, const T& a, const T& b) {
    if (a == b) return;
    out_->restart.push_back(
        absl::StrCat(key, ": ", Str(a), " -> ", Str(b), " (needs a restart)"));
  }

 private:
  ConfigChanges* out_;
};

std::string DescribeTenant(const TenantSpec& t) {
  return absl::StrCat("reserved ", Bytes(t.reserved_bytes), ", limit ",
                      Bytes(t.limit_bytes), ", weight ", t.weight);
}

void DiffTenant(const TenantSpec& a, const TenantSpec& b, ConfigChanges* out) {
  const std::string p = absl::StrCat("tenants.", a.name, ".");
  auto add = [&](absl::string_view key, const std::string& before,
                 const std::string& after) {
    if (before == after) return;
    out->live.push_back(absl::StrCat(p, key, ": ", before, " -> ", after));
    out->tenants_changed = true;
  };
  add("reserved", Bytes(a.reserved_bytes), Bytes(b.reserved_bytes));
  add("limit", Bytes(a.limit_bytes), Bytes(b.limit_bytes));
  add("weight", Str(a.weight), Str(b.weight));
  add("max_concurrent", Str(int64_t{a.max_concurrent}),
      Str(int64_t{b.max_concurrent}));
  add("max_queued", Str(int64_t{a.max_queued}), Str(int64_t{b.max_queued}));
  add("prefix_caching", Str(a.prefix_caching), Str(b.prefix_caching));
  add("rate_limit", engine::DescribeRateLimit(a.rate_limit),
      engine::DescribeRateLimit(b.rate_limit));
  auto share = [](const TenantSpec& t) {
    return t.cache_share_bytes.has_value() ? Bytes(*t.cache_share_bytes)
                                           : std::string("(reserved)");
  };
  add("cache_share", share(a), share(b));
  if (a.api_key_sha256 != b.api_key_sha256) {
    out->live.push_back(absl::StrCat(p,
                                     "api_key_sha256: ", Hash(a.api_key_sha256),
                                     " -> ", Hash(b.api_key_sha256)));
    out->auth_changed = true;
  }
}

}  // namespace

ConfigChanges DiffConfigs(const ServerConfig& before,
                          const ServerConfig& after) {
  ConfigChanges out;
  Differ d(&out);
  d.Restart("server.listen", before.server.listen, after.server.listen);
  d.Restart("server.http_listen", before.server.http_listen,
            after.server.http_listen);
  d.Restart("server.http_max_body_bytes", before.server.http_max_body_bytes,
            after.server.http_max_body_bytes);
  d.Restart("server.http_max_connections",
            int64_t{before.server.http_max_connections},
            int64_t{after.server.http_max_connections});
  d.Restart("server.metrics_listen", before.server.metrics_listen,
            after.server.metrics_listen);
  if (before.server.metrics_api_key_sha256 !=
      after.server.metrics_api_key_sha256) {
    out.live.push_back(absl::StrCat("server.metrics_api_key_sha256: ",
                                    Hash(before.server.metrics_api_key_sha256),
                                    " -> ",
                                    Hash(after.server.metrics_api_key_sha256)));
    out.metrics_key_changed = true;
  }
  if (before.server.admin_api_key_sha256 != after.server.admin_api_key_sha256) {
    out.live.push_back(absl::StrCat("server.admin_api_key_sha256: ",
                                    Hash(before.server.admin_api_key_sha256),
                                    " -> ",
                                    Hash(after.server.admin_api_key_sha256)));
    out.auth_changed = true;
  }
  d.Live("server.drain_timeout", before.server.drain_timeout,
         after.server.drain_timeout);

  d.Restart("model.path", before.model.path, after.model.path);
  d.Restart("model.name", before.model.name, after.model.name);
  d.Restart("model.tokenizer", before.model.tokenizer, after.model.tokenizer);
  d.Restart("model.kv_heads", before.model.kv_heads, after.model.kv_heads);
  d.Restart("model.kv_heads_conversion", before.model.kv_heads_conversion,
            after.model.kv_heads_conversion);
  d.Restart("model.calibration_text", before.model.calibration_text,
            after.model.calibration_text);
  d.Restart("model.weights_dtype", before.model.weights_dtype,
            after.model.weights_dtype);
  d.Restart("model.chat_template", before.model.chat_template,
            after.model.chat_template);

  const auto& kb = before.kv_cache;
  const auto& ka = after.kv_cache;
  if (kb.capacity_bytes != ka.capacity_bytes) {
    out.restart.push_back(
        absl::StrCat("kv_cache.capacity: ", Bytes(kb.capacity_bytes), " -> ",
                     Bytes(ka.capacity_bytes), " (needs a restart)"));
  }
  d.Restart("kv_cache.block_size", int64_t{kb.block_size},
            int64_t{ka.block_size});
  d.Restart("kv_cache.dtype", kb.dtype, ka.dtype);
  d.Restart("kv_cache.prefix_caching", kb.prefix_caching, ka.prefix_caching);

  const auto& sb = before.scheduler;
  const auto& sa = after.scheduler;
  d.Restart("scheduler.max_batch_tokens", int64_t{sb.max_batch_tokens},
            int64_t{sa.max_batch_tokens});
  d.Restart("scheduler.max_running", int64_t{sb.max_running},
            int64_t{sa.max_running});
  d.Restart("scheduler.max_queued", int64_t{sb.max_queued},
            int64_t{sa.max_queued});

  for (const TenantSpec& t : before.tenants) {
    const TenantSpec* n = after.FindTenant(t.name);
    if (n == nullptr) {
      out.live.push_back(absl::StrCat("tenants.", t.name, ": removed"));
      out.tenants_changed = true;
      out.auth_changed = true;
    } else {
      DiffTenant(t, *n, &out);
    }
  }
  for (const TenantSpec& t : after.tenants) {
    if (before.FindTenant(t.name) == nullptr) {
      out.live.push_back(absl::StrCat("tenants.", t.name, ": added (",
                                      DescribeTenant(t), ")"));
      out.tenants_changed = true;
      out.auth_changed = true;
    }
  }

  out.logging_changed |=
      d.Live("logging.level", before.logging.level, after.logging.level);
  out.logging_changed |=
      d.Live("logging.format", before.logging.format, after.logging.format);
  return out;
}

ServerConfig MergeLiveChanges(const ServerConfig& running,
                              const ServerConfig& loaded) {
  ServerConfig merged = loaded;
  merged.server.listen = running.server.listen;
  merged.server.metrics_listen = running.server.metrics_listen;
  merged.model = running.model;
  merged.model_defaulted = running.model_defaulted;
  merged.kv_cache = running.kv_cache;
  merged.scheduler = running.scheduler;
  return merged;
}

}  // namespace kvasir::server
