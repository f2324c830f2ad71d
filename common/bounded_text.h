#ifndef KVASIR_COMMON_BOUNDED_TEXT_H_
#define KVASIR_COMMON_BOUNDED_TEXT_H_

// Error messages travel in gRPC trailing metadata (a few KiB at most: a
// bigger one turns the call's status into RESOURCE_EXHAUSTED "received
// initial metadata size exceeds limit"), in HTTP error bodies and on one
// terminal line. Every message part that comes from operator or client
// input (a value, a list with one entry per tenant) goes through these
// helpers so that a message stays small whatever the input; the full
// listing, when it matters, rides along as the status's log detail and is
// written to the server log instead of being sent to the client.

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvasir {

// How many items of a list an error message names (the rest are counted).
inline constexpr size_t kMaxListedItems = 5;
// The most bytes of one operator or client value an error message quotes.
inline constexpr size_t kMaxQuotedBytes = 128;

// `value` in single quotes; a longer one cut to its first `max_bytes`
// (never inside a UTF-8 sequence) and marked: 'abc...' (5000 bytes).
std::string Quoted(absl::string_view value, size_t max_bytes = kMaxQuotedBytes);

// Quoted() without the quotes: abc... (5000 bytes).
std::string Abbreviated(absl::string_view value,
                        size_t max_bytes = kMaxQuotedBytes);

// The first `max_items` of `items` joined by `separator`, then how many
// were left out: "a, b, c, d, e ... and 995 more". Every item is cut to
// kMaxQuotedBytes as Abbreviated() cuts them.
std::string JoinBounded(absl::Span<const std::string> items,
                        absl::string_view separator,
                        size_t max_items = kMaxListedItems);

// `status` with `detail` attached for the log (not sent to clients): the
// full text a bounded message left out. OK statuses, and an empty
// detail, leave `status` as it is.
absl::Status WithLogDetail(absl::Status status, absl::string_view detail);

// The detail WithLogDetail attached, if any.
std::optional<std::string> LogDetailOf(const absl::Status& status);

// `status`'s code and payloads (field, log detail) with a new message: what
// a caller that adds context to an error uses, so nothing attached is lost.
absl::Status WithMessage(const absl::Status& status, absl::string_view message);

// Logs the log detail of `status` (if any) at error level through spdlog's
// default logger, as "<what>: full detail: <detail>".
void LogDetail(const absl::Status& status, absl::string_view what);

}  // namespace kvasir

#endif  // KVASIR_COMMON_BOUNDED_TEXT_H_
