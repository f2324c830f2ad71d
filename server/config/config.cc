// Strict YAML reading of the server config. Semantic checks live in
// config_validate.cc.
#include "server/config/config.h"

#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/bounded_text.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "common/units.h"
#include "kvcache/kv_layout.h"
#include "server/config/cache_share.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/yaml.h"

namespace kvasir::server {
namespace {

using Keys = std::initializer_list<absl::string_view>;

absl::string_view KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Reads typed values out of YAML nodes; every error names the source, the
// line and the key path.
class Reader {
 public:
  explicit Reader(absl::string_view source) : source_(source) {}

  absl::Status Error(const YAML::Node& node, absl::string_view path,
                     absl::string_view message) const {
    const YAML::Mark mark = node.Mark();
    std::string where = mark.is_null()
                            ? absl::StrCat(source_, ": ")
                            : absl::StrCat(source_, ":", mark.line + 1, ": ");
    return absl::InvalidArgumentError(
        absl::StrCat(where, path, path.empty() ? "" : ": ", message));
  }

  // Prefixes an error from a helper (ParseByteSize, ...) that already names
  // the key with the source and line.
  absl::Status Wrap(const YAML::Node& node, const absl::Status& status) const {
    if (status.ok()) return status;
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": ", status.message()));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", mark.line + 1, ": ", status.message()));
  }

  // `node` must be a map (null counts as empty) whose keys are all in
  // `known`, each at most once.
  absl::Status CheckMap(const YAML::Node& node, absl::string_view path,
                        Keys known) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return Error(node, path,
                   absl::StrCat("must be a map, got ", KindName(node)));
    }
    std::vector<std::string> seen;
    for (const auto& kv : node) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        return Error(key, path, "keys must be plain names");
      }
      const std::string& name = key.Scalar();
      std::string key_path =
          path.empty() ? name : absl::StrCat(path, ".", name);
      bool ok = false;
      for (absl::string_view k : known) ok = ok || (k == name);
      if (!ok) {
        return Error(
            key, Abbreviated(key_path),
            absl::StrCat("unknown key ", Quoted(name),
                         " (known keys: ", absl::StrJoin(known, ", "), ")"));
      }
      for (const std::string& s : seen) {
        if (s == name)
          return Error(key, Abbreviated(key_path), "key given twice");
      }
      seen.push_back(name);
    }
    return absl::OkStatus();
  }

  // The value of `key` in `map`, or an undefined node. A null value counts
  // as absent: keys written as `key:` or `key: null` keep their default.
  static YAML::Node Get(const YAML::Node& map, absl::string_view key) {
    if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node v = map[std::string(key)];
    if (!v.IsDefined() || v.IsNull()) {
      return YAML::Node(YAML::NodeType::Undefined);
    }
    return v;
  }

  absl::Status Scalar(const YAML::Node& node, absl::string_view path,
                      absl::string_view what) const {
    if (node.IsScalar()) return absl::OkStatus();
    return Error(node, path,
                 absl::StrCat("must be ", what, ", got ", KindName(node)));
  }

  absl::Status String(const YAML::Node& map, absl::string_view key,
                      absl::string_view path, std::string* out) const {
    const YAML::Node v = Get(map, key);
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "a string"));
    *out = v.Scalar();
    return absl::OkStatus();
  }

  absl::Status Int(const YAML::Node& map, absl::string_view key,
                   absl::string_view path, int64_t lo, int64_t hi,
                   int64_t* out) const {
    const YAML::Node v = Get(map, key);
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "an integer"));
    int64_t value = 0;
    if (!absl::SimpleAtoi(v.Scalar(), &value)) {
      return Error(v, path,
                   absl::StrCat("'", v.Scalar(), "' is not an integer"));
    }
    if (value < lo || value > hi) {
      return Error(
          v, path,
          absl::StrCat(value, " is out of range [", lo, ", ", hi, "]"));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Int32(const YAML::Node& map, absl::string_view key,
                     absl::string_view path, int32_t lo, int32_t hi,
                     int32_t* out) const {
    int64_t v = *out;
    RETURN_IF_ERROR(Int(map, key, path, lo, hi, &v));
    *out = static_cast<int32_t>(v);
    return absl::OkStatus();
  }

  absl::Status Double(const YAML::Node& map, absl::string_view key,
                      absl::string_view path, double* out) const {
    const YAML::Node v = Get(map, key);
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "a number"));
    double value = 0;
    if (!absl::SimpleAtod(v.Scalar(), &value) || !std::isfinite(value)) {
      return Error(v, path,
                   absl::StrCat("'", v.Scalar(), "' is not a finite number"));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Bool(const YAML::Node& map, absl::string_view key,
                    absl::string_view path, bool* out) const {
    const YAML::Node v = Get(map, key);
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "true or false"));
    std::string s = absl::AsciiStrToLower(v.Scalar());
    if (s == "true" || s == "yes" || s == "on") {
      *out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      *out = false;
    } else {
      return Error(v, path,
                   absl::StrCat("'", v.Scalar(), "' is not true or false"));
    }
    return absl::OkStatus();
  }

  // A byte size with units ("512MiB", "2GiB", 0); `*set` tells whether the
  // key was present.
  absl::Status Bytes(const YAML::Node& map, absl::string_view key,
                     absl::string_view path, int64_t* out,
                     bool* set = nullptr) const {
    const YAML::Node v = Get(map, key);
    if (set != nullptr) *set = v.IsDefined();
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "a byte size such as 512MiB"));
    absl::StatusOr<int64_t> bytes = ParseByteSize(v.Scalar(), path);
    if (!bytes.ok()) return Wrap(v, bytes.status());
    *out = *bytes;
    return absl::OkStatus();
  }

  // A duration: "30s", "1m30s", "500ms", or a plain number of seconds; at
  // most `max`.
  absl::Status Duration(const YAML::Node& map, absl::string_view key,
                        absl::string_view path, absl::Duration max,
                        absl::Duration* out) const {
    const YAML::Node v = Get(map, key);
    if (!v.IsDefined()) return absl::OkStatus();
    RETURN_IF_ERROR(Scalar(v, path, "a duration such as 30s"));
    const std::string& s = v.Scalar();
    double seconds = 0;
    absl::Duration d;
    if (absl::SimpleAtod(s, &seconds) && std::isfinite(seconds)) {
      d = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(s, &d) || d == absl::InfiniteDuration()) {
      return Error(v, path,
                   absl::StrCat(Quoted(s),
                                " is not a duration (use e.g. 30s, 2m, "
                                "500ms, or a number of seconds)"));
    }
    if (d < absl::ZeroDuration()) {
      return Error(v, path, absl::StrCat(Quoted(s), " must not be negative"));
    }
    if (d > max) {
      return Error(v, path,
                   absl::StrCat(Quoted(s), " is more than the maximum ",
                                absl::FormatDuration(max)));
    }
    *out = d;
    return absl::OkStatus();
  }

 private:
  std::string source_;
};

absl::Status ReadServer(const Reader& r, const YAML::Node& root,
                        ServerConfig::Server* s) {
  const YAML::Node n = Reader::Get(root, "server");
  if (!n.IsDefined()) return absl::OkStatus();
  RETURN_IF_ERROR(r.CheckMap(
      n, "server",
      {"listen", "http_listen", "metrics_listen", "admin_api_key_sha256",
       "metrics_api_key_sha256", "drain_timeout", "http_max_body_bytes",
       "http_max_connections"}));
  RETURN_IF_ERROR(r.String(n, "listen", "server.listen", &s->listen));
  // "off" or an explicit null turns the HTTP API off.
  if (n.IsMap()) {
    const YAML::Node http = n["http_listen"];
    if (http.IsDefined() && http.IsNull()) s->http_listen.clear();
  }
  RETURN_IF_ERROR(
      r.String(n, "http_listen", "server.http_listen", &s->http_listen));
  if (s->http_listen == "off") s->http_listen.clear();
  RETURN_IF_ERROR(r.Bytes(n, "http_max_body_bytes",
                          "server.http_max_body_bytes",
                          &s->http_max_body_bytes));
  RETURN_IF_ERROR(r.Int32(n, "http_max_connections",
                          "server.http_max_connections", 1, 65536,
                          &s->http_max_connections));
  // An explicit null turns metrics off.
  if (n.IsMap()) {
    const YAML::Node metrics = n["metrics_listen"];
    if (metrics.IsDefined() && metrics.IsNull()) s->metrics_listen.clear();
  }
  RETURN_IF_ERROR(r.String(n, "metrics_listen", "server.metrics_listen",
                           &s->metrics_listen));
  RETURN_IF_ERROR(r.String(n, "admin_api_key_sha256",
                           "server.admin_api_key_sha256",
                           &s->admin_api_key_sha256));
  if (!s->admin_api_key_sha256.empty()) {
    absl::StatusOr<std::string> hex = NormalizeSha256Hex(
        s->admin_api_key_sha256, "server.admin_api_key_sha256");
    if (!hex.ok()) {
      return r.Wrap(Reader::Get(n, "admin_api_key_sha256"), hex.status());
    }
    s->admin_api_key_sha256 = *std::move(hex);
  }
  RETURN_IF_ERROR(r.String(n, "metrics_api_key_sha256",
                           "server.metrics_api_key_sha256",
                           &s->metrics_api_key_sha256));
  if (!s->metrics_api_key_sha256.empty()) {
    absl::StatusOr<std::string> hex = NormalizeSha256Hex(
        s->metrics_api_key_sha256, "server.metrics_api_key_sha256");
    if (!hex.ok()) {
      return r.Wrap(Reader::Get(n, "metrics_api_key_sha256"), hex.status());
    }
    s->metrics_api_key_sha256 = *std::move(hex);
  }
  return r.Duration(n, "drain_timeout", "server.drain_timeout",
                    kMaxDrainTimeout, &s->drain_timeout);
}

absl::Status ReadModel(const Reader& r, const YAML::Node& root,
                       ServerConfig* config) {
  ServerConfig::Model* m = &config->model;
  const YAML::Node n = Reader::Get(root, "model");
  m->path.clear();
  if (n.IsDefined()) {
    RETURN_IF_ERROR(r.CheckMap(
        n, "model",
        {"path", "name", "tokenizer", "kv_heads", "kv_heads_conversion",
         "calibration_text", "weights_dtype", "chat_template"}));
    RETURN_IF_ERROR(r.String(n, "path", "model.path", &m->path));
    RETURN_IF_ERROR(r.String(n, "name", "model.name", &m->name));
    RETURN_IF_ERROR(r.String(n, "tokenizer", "model.tokenizer", &m->tokenizer));
    if (Reader::Get(n, "kv_heads").IsDefined()) {
      int32_t kv_heads = 0;
      RETURN_IF_ERROR(
          r.Int32(n, "kv_heads", "model.kv_heads", 1, 4096, &kv_heads));
      m->kv_heads = kv_heads;
    }
    RETURN_IF_ERROR(r.String(n, "kv_heads_conversion",
                             "model.kv_heads_conversion",
                             &m->kv_heads_conversion));
    RETURN_IF_ERROR(r.String(n, "calibration_text", "model.calibration_text",
                             &m->calibration_text));
    RETURN_IF_ERROR(
        r.String(n, "weights_dtype", "model.weights_dtype", &m->weights_dtype));
    RETURN_IF_ERROR(
        r.String(n, "chat_template", "model.chat_template", &m->chat_template));
  }
  if (m->path.empty()) {
    m->path = std::string(kDefaultModel);
    config->model_defaulted = true;
  }
  return absl::OkStatus();
}

absl::Status ReadKvCache(const Reader& r, const YAML::Node& root,
                         ServerConfig::KvCache* kv) {
  const YAML::Node n = Reader::Get(root, "kv_cache");
  if (!n.IsDefined()) return absl::OkStatus();
  RETURN_IF_ERROR(r.CheckMap(
      n, "kv_cache", {"capacity", "block_size", "dtype", "prefix_caching"}));
  RETURN_IF_ERROR(
      r.Bytes(n, "capacity", "kv_cache.capacity", &kv->capacity_bytes));
  if (kv->capacity_bytes <= 0) {
    return r.Error(Reader::Get(n, "capacity"), "kv_cache.capacity",
                   "must be more than 0 bytes");
  }
  RETURN_IF_ERROR(r.Int32(n, "block_size", "kv_cache.block_size", 1,
                          kvcache::kMaxBlockSize, &kv->block_size));
  std::string dtype;
  RETURN_IF_ERROR(r.String(n, "dtype", "kv_cache.dtype", &dtype));
  if (!dtype.empty()) {
    absl::StatusOr<kvcache::KvDtype> d =
        kvcache::ParseKvDtype(dtype, "kv_cache.dtype");
    if (!d.ok()) return r.Wrap(Reader::Get(n, "dtype"), d.status());
    kv->dtype = *d;
  }
  return r.Bool(n, "prefix_caching", "kv_cache.prefix_caching",
                &kv->prefix_caching);
}

absl::Status ReadScheduler(const Reader& r, const YAML::Node& root,
                           ServerConfig::Scheduler* s) {
  const YAML::Node n = Reader::Get(root, "scheduler");
  if (!n.IsDefined()) return absl::OkStatus();
  RETURN_IF_ERROR(r.CheckMap(
      n, "scheduler", {"max_batch_tokens", "max_running", "max_queued"}));
  constexpr int32_t kMax = 1 << 20;
  RETURN_IF_ERROR(r.Int32(n, "max_batch_tokens", "scheduler.max_batch_tokens",
                          1, kMax, &s->max_batch_tokens));
  RETURN_IF_ERROR(r.Int32(n, "max_running", "scheduler.max_running", 1, kMax,
                          &s->max_running));
  return r.Int32(n, "max_queued", "scheduler.max_queued", 1, kMax,
                 &s->max_queued);
}

// `rate_limit: {tokens_per_second, burst, prompt_tokens_per_second,
// prompt_burst}`; absent keys stay unset. Ranges are the engine's rules.
absl::Status ReadRateLimit(const Reader& r, const YAML::Node& n,
                           const std::string& path, engine::RateLimit* out) {
  if (!n.IsDefined()) return absl::OkStatus();
  RETURN_IF_ERROR(r.CheckMap(n, path,
                             {"tokens_per_second", "burst",
                              "prompt_tokens_per_second", "prompt_burst"}));
  for (auto [key, field] :
       {std::pair{"tokens_per_second", &out->tokens_per_second},
        std::pair{"burst", &out->burst},
        std::pair{"prompt_tokens_per_second", &out->prompt_tokens_per_second},
        std::pair{"prompt_burst", &out->prompt_burst}}) {
    if (!Reader::Get(n, key).IsDefined()) continue;
    double v = 0;
    RETURN_IF_ERROR(r.Double(n, key, absl::StrCat(path, ".", key), &v));
    *field = v;
  }
  return absl::OkStatus();
}

absl::Status ReadTenant(const Reader& r, const YAML::Node& n,
                        const std::string& path, int64_t capacity,
                        TenantSpec* t) {
  RETURN_IF_ERROR(r.CheckMap(n, path,
                             {"name", "api_key_sha256", "reserved", "limit",
                              "weight", "max_concurrent", "max_queued",
                              "prefix_caching", "rate_limit", "cache_share"}));
  if (!n.IsMap()) {
    return r.Error(n, path, "must be a map with at least `name`");
  }
  if (!n.Mark().is_null()) t->line = n.Mark().line + 1;
  // CheckMap above: every key is a known scalar.
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (!kv.first.Mark().is_null()) {
      t->key_lines[key] = kv.first.Mark().line + 1;
    }
    if (key == "rate_limit" && kv.second.IsMap()) {
      for (const auto& sub : kv.second) {
        if (!sub.first.Mark().is_null()) {
          t->key_lines[absl::StrCat(key, ".", sub.first.Scalar())] =
              sub.first.Mark().line + 1;
        }
      }
    }
  }
  RETURN_IF_ERROR(r.String(n, "name", path + ".name", &t->name));
  if (t->name.empty()) return r.Error(n, path + ".name", "is required");
  RETURN_IF_ERROR(r.String(n, "api_key_sha256", path + ".api_key_sha256",
                           &t->api_key_sha256));
  if (!t->api_key_sha256.empty()) {
    absl::StatusOr<std::string> hex =
        NormalizeSha256Hex(t->api_key_sha256, path + ".api_key_sha256");
    if (!hex.ok())
      return r.Wrap(Reader::Get(n, "api_key_sha256"), hex.status());
    t->api_key_sha256 = *std::move(hex);
  }
  RETURN_IF_ERROR(
      r.Bytes(n, "reserved", path + ".reserved", &t->reserved_bytes));
  bool limit_set = false;
  RETURN_IF_ERROR(
      r.Bytes(n, "limit", path + ".limit", &t->limit_bytes, &limit_set));
  if (!limit_set) t->limit_bytes = capacity;
  if (const YAML::Node v = Reader::Get(n, "cache_share"); v.IsDefined()) {
    RETURN_IF_ERROR(r.Scalar(v, path + ".cache_share", "64MiB or 10%"));
    absl::StatusOr<int64_t> share =
        ParseCacheShare(v.Scalar(), path + ".cache_share", capacity);
    if (!share.ok()) return r.Wrap(v, share.status());
    t->cache_share_bytes = *share;
  }
  RETURN_IF_ERROR(r.Double(n, "weight", path + ".weight", &t->weight));
  // Only the file's sanity bound here; ">= 0" is the engine's rule
  // (engine::CheckTenantConfigs, run by ValidateConfig).
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int32_t kMax = 1 << 20;
  RETURN_IF_ERROR(r.Int32(n, "max_concurrent", path + ".max_concurrent", kMin,
                          kMax, &t->max_concurrent));
  RETURN_IF_ERROR(r.Int32(n, "max_queued", path + ".max_queued", kMin, kMax,
                          &t->max_queued));
  RETURN_IF_ERROR(r.Bool(n, "prefix_caching", path + ".prefix_caching",
                         &t->prefix_caching));
  return ReadRateLimit(r, Reader::Get(n, "rate_limit"), path + ".rate_limit",
                       &t->rate_limit);
}

absl::Status ReadTenants(const Reader& r, const YAML::Node& root,
                         ServerConfig* config) {
  const YAML::Node n = Reader::Get(root, "tenants");
  if (!n.IsDefined()) {
    return r.Error(root, "tenants",
                   absl::StrCat("at least one tenant is required (a tenant "
                                "named '",
                                kDefaultTenantName,
                                "' serves requests without an API key)"));
  }
  if (!n.IsSequence()) {
    return r.Error(n, "tenants",
                   absl::StrCat("must be a list, got ", KindName(n)));
  }
  for (size_t i = 0; i < n.size(); ++i) {
    TenantSpec t;
    RETURN_IF_ERROR(ReadTenant(r, n[i], absl::StrCat("tenants[", i, "]"),
                               config->kv_cache.capacity_bytes, &t));
    config->tenants.push_back(std::move(t));
  }
  return absl::OkStatus();
}

absl::Status ReadLogging(const Reader& r, const YAML::Node& root,
                         LoggingOptions* logging) {
  const YAML::Node n = Reader::Get(root, "logging");
  if (!n.IsDefined()) return absl::OkStatus();
  RETURN_IF_ERROR(r.CheckMap(n, "logging", {"level", "format"}));
  RETURN_IF_ERROR(r.String(n, "level", "logging.level", &logging->level));
  return r.String(n, "format", "logging.format", &logging->format);
}

absl::StatusOr<ServerConfig> ParseRoot(const Reader& r, const YAML::Node& root,
                                       absl::string_view source) {
  if (!root.IsDefined() || root.IsNull()) {
    return r.Error(root, "",
                   "the config is empty; it needs at least a `tenants` list");
  }
  RETURN_IF_ERROR(r.CheckMap(
      root, "",
      {"server", "model", "kv_cache", "scheduler", "tenants", "logging"}));
  ServerConfig config;
  config.source = std::string(source);
  RETURN_IF_ERROR(ReadServer(r, root, &config.server));
  RETURN_IF_ERROR(ReadModel(r, root, &config));
  RETURN_IF_ERROR(ReadKvCache(r, root, &config.kv_cache));
  RETURN_IF_ERROR(ReadScheduler(r, root, &config.scheduler));
  RETURN_IF_ERROR(ReadTenants(r, root, &config));
  RETURN_IF_ERROR(ReadLogging(r, root, &config.logging));
  RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

}  // namespace

const TenantSpec* ServerConfig::FindTenant(absl::string_view name) const {
  for (const TenantSpec& t : tenants) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<ServerConfig> ParseConfig(absl::string_view yaml,
                                         absl::string_view source) {
  Reader reader(source);
  // yaml-cpp reports syntax and conversion errors by throwing; they end
  // here and become a Status.
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return ParseRoot(reader, root, source);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message is only "bad file"; its mark is where the
    // parser stopped.
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": invalid YAML: nested more than ", e.depth(),
                     " levels deep (the parser gave up at line ",
                     e.mark.line + 1, ", column ", e.mark.column + 1,
                     "); a Kvasir config is at most 4 levels deep "
                     "(tenants[i].rate_limit.key)"));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": invalid YAML: ", e.msg));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": invalid YAML: ", Abbreviated(e.msg, 512)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot read the config: ", e.what()));
  }
}

namespace {

// Relative file names in a config file are relative to the file's folder,
// so that `kvasir serve --config DIR/x.yaml` works from any directory.
void ResolveModelPaths(const std::filesystem::path& dir, ServerConfig* c) {
  auto resolve = [&](std::string* file) {
    if (file->empty() || absl::StartsWith(*file, "dummy:")) return;
    const std::filesystem::path p(*file);
    if (p.is_relative()) *file = (dir / p).lexically_normal().string();
  };
  resolve(&c->model.path);
  resolve(&c->model.tokenizer);
  resolve(&c->model.chat_template);
  resolve(&c->model.calibration_text);
}

}  // namespace

absl::StatusOr<ServerConfig> LoadConfigFile(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path, "config file"));
  ASSIGN_OR_RETURN(ServerConfig config, ParseConfig(text, path));
  ResolveModelPaths(std::filesystem::path(path).parent_path(), &config);
  return config;
}

}  // namespace kvasir::server
