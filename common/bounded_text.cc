#include "common/bounded_text.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace kvasir {
namespace {

constexpr absl::string_view kLogDetailPayload = "type.kvasir.dev/log-detail";

// The first `max_bytes` of `value`, moved back to a UTF-8 character start
// so that a cut never leaves half a character behind.
absl::string_view Cut(absl::string_view value, size_t max_bytes) {
  if (value.size() <= max_bytes) return value;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
  return value.substr(0, n);
}

std::string Bounded(absl::string_view value, size_t max_bytes,
                    absl::string_view quote) {
  const absl::string_view cut = Cut(value, max_bytes);
  if (cut.size() == value.size()) return absl::StrCat(quote, value, quote);
  return absl::StrCat(quote, cut, "...", quote, " (", value.size(), " bytes)");
}

}  // namespace

std::string Quoted(absl::string_view value, size_t max_bytes) {
  return Bounded(value, max_bytes, "'");
}

std::string Abbreviated(absl::string_view value, size_t max_bytes) {
  return Bounded(value, max_bytes, "");
}

std::string JoinBounded(absl::Span<const std::string> items,
                        absl::string_view separator, size_t max_items) {
  std::string out;
  const size_t shown = std::min(items.size(), max_items);
  for (size_t i = 0; i < shown; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : separator, Abbreviated(items[i]));
  }
  if (shown < items.size()) {
    absl::StrAppend(&out, " ... and ", items.size() - shown, " more");
  }
  return out;
}

absl::Status WithLogDetail(absl::Status status, absl::string_view detail) {
  if (!status.ok() && !detail.empty()) {
    status.SetPayload(kLogDetailPayload, absl::Cord(detail));
  }
  return status;
}

std::optional<std::string> LogDetailOf(const absl::Status& status) {
  const auto detail = status.GetPayload(kLogDetailPayload);
  if (!detail.has_value()) return std::nullopt;
  return std::string(*detail);
}

absl::Status WithMessage(const absl::Status& status,
                         absl::string_view message) {
  if (status.ok()) return status;
  absl::Status out(status.code(), message);
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    out.SetPayload(url, value);
  });
  return out;
}

void LogDetail(const absl::Status& status, absl::string_view what) {
  const std::optional<std::string> detail = LogDetailOf(status);
  if (detail.has_value()) {
    spdlog::error("{}: full detail: {}", std::string(what), *detail);
  }
}

}  // namespace kvasir
