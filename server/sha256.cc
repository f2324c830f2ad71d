#include "server/sha256.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kvasir::server {

absl::StatusOr<Sha256Digest> Sha256(absl::string_view data) {
  Sha256Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(),
                 nullptr) != 1 ||
      size != digest.size()) {
    return absl::InternalError("OpenSSL EVP_Digest(SHA-256) failed");
  }
  return digest;
}

std::string DigestToHex(const Sha256Digest& digest) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool HexToDigest(absl::string_view hex, Sha256Digest* out) {
  if (hex.size() != 2 * out->size()) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  if (bytes.size() != out->size()) return false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    (*out)[i] = static_cast<uint8_t>(bytes[i]);
  }
  return true;
}

}  // namespace kvasir::server
