#include "server/auth.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::server {
namespace {

constexpr absl::string_view kBearerHelp =
    "send metadata 'authorization: Bearer <api key>'";

}  // namespace

std::optional<absl::string_view> ParseBearer(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      !absl::ascii_isspace(static_cast<unsigned char>(value[kScheme.size()]))) {
    return std::nullopt;
  }
  absl::string_view key =
      absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  if (key.empty()) return std::nullopt;
  return key;
}

absl::StatusOr<std::optional<absl::string_view>> SingleAuthorization(
    absl::Span<const absl::string_view> values, absl::string_view header) {
  if (values.empty()) return std::nullopt;
  if (values.size() > 1) {
    return absl::UnauthenticatedError(
        absl::StrCat("the '", header, "' header is given ", values.size(),
                     " times; send it once"));
  }
  return values[0];
}

absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              const Sha256Digest& expected,
                              absl::string_view what) {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " needs a token: send 'Authorization: Bearer <token>'"));
  }
  const std::optional<absl::string_view> token = ParseBearer(*authorization);
  if (!token.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed Authorization header for ", what,
                     ": send 'Authorization: Bearer <token>'"));
  }
  ASSIGN_OR_RETURN(const Sha256Digest hash, Sha256(*token));
  if (CRYPTO_memcmp(hash.data(), expected.data(), hash.size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat("wrong token for ", what));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const AuthTable>> AuthTable::Create(
    const ServerConfig& config) {
  std::shared_ptr<AuthTable> table(new AuthTable());
  for (size_t i = 0; i < config.tenants.size(); ++i) {
    const TenantSpec& t = config.tenants[i];
    if (t.name == kDefaultTenantName) table->has_default_ = true;
    if (t.api_key_sha256.empty()) continue;
    Entry e;
    if (!HexToDigest(t.api_key_sha256, &e.hash)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tenants[", i, "].api_key_sha256: '", t.api_key_sha256,
                       "' is not 64 hex digits"));
    }
    e.tenant = t.name;
    table->entries_.push_back(std::move(e));
  }
  if (!config.server.admin_api_key_sha256.empty()) {
    Sha256Digest admin;
    if (!HexToDigest(config.server.admin_api_key_sha256, &admin)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server.admin_api_key_sha256: '", config.server.admin_api_key_sha256,
          "' is not 64 hex digits"));
    }
    table->admin_ = admin;
  }
  return std::shared_ptr<const AuthTable>(std::move(table));
}

int AuthTable::Match(const Sha256Digest& hash) const {
  int found = -1;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const int equal =
        CRYPTO_memcmp(hash.data(), entries_[i].hash.data(), hash.size()) == 0;
    // Selects without branching on the comparison.
    found = equal * static_cast<int>(i) + (1 - equal) * found;
  }
  return found;
}

absl::StatusOr<std::string> AuthTable::AuthenticateTenant(
    std::optional<absl::string_view> authorization) const {
  if (!authorization.has_value()) {
    if (has_default_) return std::string(kDefaultTenantName);
    return absl::UnauthenticatedError(absl::StrCat(
        "missing API key: ", kBearerHelp,
        " (this server has no default tenant for calls without a key)"));
  }
  std::optional<absl::string_view> key = ParseBearer(*authorization);
  if (!key.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed authorization metadata: ", kBearerHelp));
  }
  ASSIGN_OR_RETURN(Sha256Digest hash, Sha256(*key));
  const int i = Match(hash);
  if (i < 0) {
    return absl::UnauthenticatedError(
        "unknown API key (no tenant has a key with this SHA-256)");
  }
  return entries_[i].tenant;
}

absl::Status AuthTable::AuthenticateAdmin(
    std::optional<absl::string_view> authorization) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing admin key: ", kBearerHelp));
  }
  std::optional<absl::string_view> key = ParseBearer(*authorization);
  if (!key.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed authorization metadata: ", kBearerHelp));
  }
  ASSIGN_OR_RETURN(Sha256Digest hash, Sha256(*key));
  const Sha256Digest zero{};
  const bool is_admin = CRYPTO_memcmp(hash.data(), admin_.value_or(zero).data(),
                                      hash.size()) == 0 &&
                        admin_.has_value();
  const bool is_tenant = Match(hash) >= 0;
  if (is_admin) return absl::OkStatus();
  if (!admin_.has_value()) {
    return absl::PermissionDeniedError(
        "the Admin API is disabled: set server.admin_api_key_sha256 in the "
        "config (`kvasir hash-key <key>` prints the hash)");
  }
  if (is_tenant) {
    return absl::PermissionDeniedError(
        "a tenant's API key cannot call the Admin API; use the admin key");
  }
  return absl::UnauthenticatedError("unknown admin key");
}

std::shared_ptr<const AuthTable> Authenticator::table() const {
  absl::MutexLock lock(&mu_);
  return table_;
}

void Authenticator::Swap(std::shared_ptr<const AuthTable> table) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
}

}  // namespace kvasir::server
