#ifndef KVASIR_SERVER_AUTH_H_
#define KVASIR_SERVER_AUTH_H_

// Tenant and admin authentication from `authorization: Bearer <key>`
// metadata. The config stores only SHA-256 hashes of keys; a presented key
// is hashed and compared in constant time against every configured hash
// (CRYPTO_memcmp, no early exit), so timing reveals neither which tenant
// matched nor how much of a hash did.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/config/config.h"
#include "server/sha256.h"

namespace kvasir::server {

// An immutable key table built from one config. Thread-safe.
class AuthTable {
 public:
  // InvalidArgument when a hash is not 64 hex digits (a validated config
  // never has one).
  static absl::StatusOr<std::shared_ptr<const AuthTable>> Create(
      const ServerConfig& config);

  // The tenant a call belongs to. `authorization` is the metadata value, or
  // nullopt when the call has none. No key: the `default` tenant if
  // configured. UNAUTHENTICATED for a missing key (no default tenant), a
  // malformed value, or an unknown key.
  absl::StatusOr<std::string> AuthenticateTenant(
      std::optional<absl::string_view> authorization) const;

  // OK only for the admin key. UNAUTHENTICATED for a missing, malformed or
  // unknown key; PERMISSION_DENIED for a tenant's key or when no admin key
  // is configured.
  absl::Status AuthenticateAdmin(
      std::optional<absl::string_view> authorization) const;

  bool has_default_tenant() const { return has_default_; }
  bool admin_enabled() const { return admin_.has_value(); }

 private:
  struct Entry {
    Sha256Digest hash;
    std::string tenant;
  };
  AuthTable() = default;

  // Index into entries_ of the matching hash, or -1; looks at every entry.
  int Match(const Sha256Digest& hash) const;

  std::vector<Entry> entries_;
  std::optional<Sha256Digest> admin_;
  bool has_default_ = false;
};

// The key table in use; Swap replaces it atomically (config reload) while
// calls keep using the table they started with. Thread-safe.
class Authenticator {
 public:
  explicit Authenticator(std::shared_ptr<const AuthTable> table)
      : table_(std::move(table)) {}

  std::shared_ptr<const AuthTable> table() const ABSL_LOCKS_EXCLUDED(mu_);
  void Swap(std::shared_ptr<const AuthTable> table) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthTable> table_ ABSL_GUARDED_BY(mu_);
};

// The one authorization value of a call from all the values it carries
// under `header` ("authorization" metadata, HTTP "Authorization"): nullopt
// for none; UNAUTHENTICATED naming the header for more than one (proxies
// and libraries differ in which one they pick, so none is picked).
absl::StatusOr<std::optional<absl::string_view>> SingleAuthorization(
    absl::Span<const absl::string_view> values, absl::string_view header);

// OK when `authorization` is "Bearer <token>" and SHA-256(token) equals
// `expected` (compared in constant time); UNAUTHENTICATED otherwise, naming
// `what` ("the metrics endpoint") and never the token.
absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              const Sha256Digest& expected,
                              absl::string_view what);

// The key in "Bearer <key>" (scheme case-insensitive); InvalidArgument-free:
// nullopt when the value has another form.
std::optional<absl::string_view> ParseBearer(absl::string_view value);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_AUTH_H_
