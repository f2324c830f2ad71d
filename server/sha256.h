#ifndef KVASIR_SERVER_SHA256_H_
#define KVASIR_SERVER_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::server {

using Sha256Digest = std::array<uint8_t, 32>;

// SHA-256 of `data` (OpenSSL EVP). Internal only if OpenSSL fails.
absl::StatusOr<Sha256Digest> Sha256(absl::string_view data);

// 64 lowercase hex digits.
std::string DigestToHex(const Sha256Digest& digest);

// Parses 64 hex digits (either case); false otherwise.
bool HexToDigest(absl::string_view hex, Sha256Digest* out);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_SHA256_H_
