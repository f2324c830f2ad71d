#include "kvcache/kv_layout.h"

#include "absl/strings/str_cat.h"

namespace kvasir::kvcache {

absl::Span<const KvDtype> AllKvDtypes() {
  static constexpr KvDtype kAll[] = {KvDtype::kF32, KvDtype::kBF16};
  return kAll;
}

int KvDtypeSize(KvDtype dtype) { return dtype == KvDtype::kF32 ? 4 : 2; }

absl::string_view KvDtypeName(KvDtype dtype) {
  return dtype == KvDtype::kF32 ? "f32" : "bf16";
}

absl::StatusOr<KvDtype> ParseKvDtype(absl::string_view text,
                                     absl::string_view field) {
  if (text == "f32") return KvDtype::kF32;
  if (text == "bf16") return KvDtype::kBF16;
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", text, "' is not one of f32, bf16"));
}

absl::Status KvLayout::Validate() const {
  if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid KV layout: ", DebugString(),
                     " (every dimension must be positive)"));
  }
  return absl::OkStatus();
}

std::string KvLayout::DebugString() const {
  return absl::StrCat("layers=", n_layers, " kv_heads=", n_kv_heads,
                      " head_dim=", head_dim, " block_size=", block_size,
                      " dtype=", KvDtypeName(dtype));
}

}  // namespace kvasir::kvcache
