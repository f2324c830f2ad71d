#include "engine/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"

namespace kvasir::engine {

absl::Status SamplingParams::Validate() const {
  // `value` keeps its type: an int prints as an int (-2147483648, not
  // -2.14748e+09).
  auto bad = [](absl::string_view field, auto value, absl::string_view rule) {
    return FieldError(absl::StrCat("sampling.", field),
                      absl::StrCat(value, " ", rule));
  };
  if (!std::isfinite(temperature) || temperature < 0) {
    return bad("temperature", temperature, "must be a finite number >= 0");
  }
  if (top_k < 0) return bad("top_k", top_k, "must be >= 0 (0 = off)");
  if (!std::isfinite(top_p) || top_p <= 0 || top_p > 1) {
    return bad("top_p", top_p, "must be in (0, 1]");
  }
  if (!std::isfinite(min_p) || min_p < 0 || min_p > 1) {
    return bad("min_p", min_p, "must be in [0, 1]");
  }
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0) {
    return bad("repetition_penalty", repetition_penalty,
               "must be a finite number > 0 (1 = off)");
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine
