#include "common/units.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/bounded_text.h"

namespace kvasir {
namespace {

struct Unit {
  const char* name;
  double factor;
};

constexpr Unit kUnits[] = {
    {"", 1.0},
    {"B", 1.0},
    {"K", 1024.0},
    {"KiB", 1024.0},
    {"M", 1048576.0},
    {"MiB", 1048576.0},
    {"G", 1073741824.0},
    {"GiB", 1073741824.0},
    {"T", 1099511627776.0},
    {"TiB", 1099511627776.0},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
};

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text,
                                      absl::string_view field) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  size_t i = 0;
  while (
      i < s.size() &&
      (absl::ascii_isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    ++i;
  }
  absl::string_view number = s.substr(0, i);
  absl::string_view unit = absl::StripAsciiWhitespace(s.substr(i));
  if (number.empty() && !s.empty() && s[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", Quoted(text), " is negative; a byte size is 0 or more"));
  }
  if (number.empty() || number == ".") {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", Quoted(text),
        " is not a byte size (expected a number with an optional unit such "
        "as 512MiB or 2GiB)"));
  }
  std::string number_str(number);
  char* end = nullptr;
  double value = std::strtod(number_str.c_str(), &end);
  if (end != number_str.c_str() + number_str.size() || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", Quoted(text), " is not a valid number"));
  }
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      if (unit.empty() && number.find('.') != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": ", Quoted(text),
                         " is a fraction of a byte; give a unit"));
      }
      double bytes = std::floor(value * u.factor);
      constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 2;
      if (bytes > static_cast<double>(kMax)) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": ", Quoted(text), " is too large (at most ",
                         FormatByteSize(kMax), ")"));
      }
      return static_cast<int64_t>(bytes);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", Quoted(text), " has unknown unit ", Quoted(unit),
      " (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"));
}

std::string FormatByteSize(int64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (u < 4 && std::fabs(v) >= 1024.0) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return absl::StrCat(bytes, "B");
  std::string s = absl::StrFormat("%.2f", v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return absl::StrCat(s, kNames[u]);
}

}  // namespace kvasir
