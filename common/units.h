#ifndef KVASIR_COMMON_UNITS_H_
#define KVASIR_COMMON_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir {

// Parses a byte size: a non-negative integer with an optional unit.
// Binary units: KiB, MiB, GiB, TiB (also K, M, G, T); decimal units: KB, MB,
// GB, TB; plain B or no unit means bytes. Fractions are allowed with a unit
// ("1.5GiB") and rounded down to whole bytes. Whitespace between the number
// and the unit is allowed. Errors (InvalidArgument) name `field` and the
// offending text, e.g. "kv_cache.capacity: '12 XB' has unknown unit 'XB'".
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text,
                                      absl::string_view field);

// Formats bytes with the largest binary unit that keeps the value exact to
// two decimals: 268435456 -> "256MiB", 1536 -> "1.5KiB", 100 -> "100B".
std::string FormatByteSize(int64_t bytes);

}  // namespace kvasir

#endif  // KVASIR_COMMON_UNITS_H_
