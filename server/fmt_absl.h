#ifndef KVASIR_SERVER_FMT_ABSL_H_
#define KVASIR_SERVER_FMT_ABSL_H_

// Lets spdlog/fmt 9 format absl::string_view (Debian's Abseil does not alias
// it to std::string_view), e.g. spdlog::error("{}", status.message()).

#include "absl/strings/string_view.h"
#include "fmt/core.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const
      -> decltype(ctx.out()) {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(s.data(), s.size()), ctx);
  }
};

#endif  // KVASIR_SERVER_FMT_ABSL_H_
