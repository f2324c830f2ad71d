#ifndef KVASIR_SERVER_CONFIG_CACHE_SHARE_H_
#define KVASIR_SERVER_CONFIG_CACHE_SHARE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::server {

// A tenant's `cache_share` as the config file gives it, in bytes: a byte
// size ("64MiB", common/units.h) or a percentage of the KV capacity
// ("10%", "12.5%"; 0..100, rounded down to whole bytes). A percentage is
// resolved against `capacity_bytes` once, when the file is read.
// InvalidArgument naming `field` and the text: negative, above 100%, not a
// number, or an unknown unit. A byte size above the capacity is the
// engine's rule (kvcache::CheckBudgetBytes), checked with the budgets.
absl::StatusOr<int64_t> ParseCacheShare(absl::string_view text,
                                        absl::string_view field,
                                        int64_t capacity_bytes);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CACHE_SHARE_H_
