#include "server/config/cache_share.h"

#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/units.h"

namespace kvasir::server {

absl::StatusOr<int64_t> ParseCacheShare(absl::string_view text,
                                        absl::string_view field,
                                        int64_t capacity_bytes) {
  const absl::string_view s = absl::StripAsciiWhitespace(text);
  if (!absl::EndsWith(s, "%")) return ParseByteSize(s, field);
  const absl::string_view number =
      absl::StripTrailingAsciiWhitespace(s.substr(0, s.size() - 1));
  double percent = 0;
  if (!absl::SimpleAtod(number, &percent) || !std::isfinite(percent)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", std::string(text),
                     "' is not a percentage (use e.g. 10% or 64MiB)"));
  }
  if (percent < 0 || percent > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", std::string(text),
                     "' must be between 0% and 100% of the KV capacity"));
  }
  // capacity * percent / 100 <= capacity: no overflow; a double's 53 bits
  // are exact for any capacity below 8 PiB.
  return static_cast<int64_t>(
      std::floor(static_cast<double>(capacity_bytes) * percent / 100.0));
}

}  // namespace kvasir::server
