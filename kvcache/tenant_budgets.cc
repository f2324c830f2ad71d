#include "kvcache/tenant_budgets.h"

#include <algorithm>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/bounded_text.h"
#include "common/status_macros.h"
#include "common/units.h"

namespace kvasir::kvcache {
namespace {

std::string Blocks(int64_t n) {
  return absl::StrCat(n, n == 1 ? " block" : " blocks");
}

// "64MiB" when a whole number of units says it exactly, "2.93KiB (3000
// bytes)" otherwise, "100 bytes" when the unit adds nothing.
std::string Bytes(int64_t bytes) {
  const std::string formatted = FormatByteSize(bytes);
  if (formatted == absl::StrCat(bytes, "B")) {
    return absl::StrCat(bytes, " bytes");
  }
  // A whole number of units is exact; "1.5KiB" may be rounded.
  const absl::StatusOr<int64_t> back = ParseByteSize(formatted, "");
  if (formatted.find('.') == std::string::npos && back.ok() && *back == bytes) {
    return formatted;
  }
  return absl::StrCat(formatted, " (", bytes, " bytes)");
}

// Whole blocks a floor of `reserved` bytes needs, never above the limit's
// block count (reserved == limit must be valid for any block size).
int64_t ReservedBlocks(int64_t reserved, int64_t limit_blocks,
                       int64_t block_bytes) {
  const int64_t up = reserved / block_bytes + (reserved % block_bytes != 0);
  return std::min(up, limit_blocks);
}

TenantRuleError Broken(size_t index, const TenantBudget& b,
                       absl::string_view field, std::string message) {
  return TenantRuleError{.index = static_cast<int32_t>(index),
                         .tenant = b.name,
                         .field = std::string(field),
                         .message = std::move(message)};
}

// The rules of one tenant's bytes that hold whatever the capacity.
std::optional<TenantRuleError> CheckOne(size_t i, const TenantBudget& b) {
  if (b.reserved_bytes < 0) {
    return Broken(i, b, "reserved_bytes",
                  absl::StrCat(b.reserved_bytes, " bytes must be >= 0"));
  }
  if (b.limit_bytes <= 0) {
    return Broken(i, b, "limit_bytes",
                  absl::StrCat(b.limit_bytes, " bytes must be > 0"));
  }
  if (b.reserved_bytes > b.limit_bytes) {
    return Broken(
        i, b, "reserved_bytes",
        absl::StrCat(Bytes(b.reserved_bytes), " exceeds the tenant's limit ",
                     Bytes(b.limit_bytes)));
  }
  if (b.effective_cache_share_bytes() < 0) {
    return Broken(
        i, b, "cache_share_bytes",
        absl::StrCat(b.effective_cache_share_bytes(), " bytes must be >= 0"));
  }
  return std::nullopt;
}

}  // namespace

namespace {
constexpr absl::string_view kRulePayload = "kvasir.dev/tenant-rule";
}  // namespace

std::optional<TenantRuleError> TenantRuleErrorOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kRulePayload);
  if (!payload.has_value()) return std::nullopt;
  // "index\ntenant\nfield\nmessage" (names and fields have no newline).
  const std::vector<std::string> parts =
      absl::StrSplit(std::string(*payload), absl::MaxSplits('\n', 3));
  TenantRuleError e;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &e.index)) {
    return std::nullopt;
  }
  e.tenant = parts[1];
  e.field = parts[2];
  e.message = parts[3];
  if (std::optional<std::string> detail = LogDetailOf(status)) {
    e.detail = *std::move(detail);
  }
  return e;
}

absl::Status TenantRuleError::ToStatus() const {
  std::string who;
  if (index < 0) {
    who = "tenants";
  } else if (tenant.empty()) {
    who = absl::StrCat("tenants[", index, "]");
  } else {
    who = absl::StrCat("tenant ", Quoted(tenant));
  }
  absl::Status status =
      WithLogDetail(absl::InvalidArgumentError(absl::StrCat(
                        who, ": ", field, field.empty() ? "" : ": ", message)),
                    detail);
  status.SetPayload(kRulePayload,
                    absl::Cord(absl::StrCat(index, "\n", tenant, "\n", field,
                                            "\n", message)));
  return status;
}

std::optional<TenantRuleError> CheckBudgetBytes(
    absl::Span<const TenantBudget> budgets, int64_t capacity_bytes) {
  int64_t floors = 0;
  for (size_t i = 0; i < budgets.size(); ++i) {
    const TenantBudget& b = budgets[i];
    if (std::optional<TenantRuleError> e = CheckOne(i, b)) return e;
    if (b.limit_bytes > capacity_bytes) {
      return Broken(
          i, b, "limit_bytes",
          absl::StrCat(Bytes(b.limit_bytes), " exceeds the KV cache capacity ",
                       Bytes(capacity_bytes)));
    }
    if (b.effective_cache_share_bytes() > capacity_bytes) {
      return Broken(i, b, "cache_share_bytes",
                    absl::StrCat(Bytes(b.effective_cache_share_bytes()),
                                 " exceeds the KV cache capacity ",
                                 Bytes(capacity_bytes)));
    }
    floors += b.reserved_bytes;  // each <= capacity: no overflow
  }
  if (floors > capacity_bytes) {
    std::vector<std::string> parts;
    for (const TenantBudget& b : budgets) {
      if (b.reserved_bytes == 0) continue;
      parts.push_back(absl::StrCat(b.name, " ", Bytes(b.reserved_bytes)));
    }
    return TenantRuleError{
        .field = "reserved_bytes",
        .message = absl::StrCat(
            "the floors of ", parts.size(), " tenants add up to ",
            Bytes(floors), " (", JoinBounded(parts, " + "),
            "), which exceeds the KV cache capacity ", Bytes(capacity_bytes)),
        .detail = absl::StrCat("tenant floors: ", absl::StrJoin(parts, " + "))};
  }
  return std::nullopt;
}

absl::string_view AllocStatusName(AllocStatus status) {
  switch (status) {
    case AllocStatus::kOk:
      return "ok";
    case AllocStatus::kTenantLimit:
      return "tenant_limit";
    case AllocStatus::kOtherTenantsFloors:
      return "other_tenants_floors";
    case AllocStatus::kPoolExhausted:
      return "pool_exhausted";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<TenantBudgets>> TenantBudgets::Create(
    const Options& options, std::vector<TenantBudget> budgets) {
  if (options.block_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TenantBudgets: block_bytes ", options.block_bytes, " must be >= 1"));
  }
  if (options.total_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TenantBudgets: total_blocks ", options.total_blocks, " must be >= 1"));
  }
  std::unique_ptr<TenantBudgets> budgets_ptr(new TenantBudgets(options));
  RETURN_IF_ERROR(budgets_ptr->Set(std::move(budgets)));
  return budgets_ptr;
}

absl::Status TenantBudgets::Validate(const Options& options,
                                     absl::Span<const TenantBudget> budgets) {
  const std::optional<TenantRuleError> e = Check(options, budgets);
  return e.has_value() ? e->ToStatus() : absl::OkStatus();
}

std::optional<TenantRuleError> TenantBudgets::Check(
    const Options& options, absl::Span<const TenantBudget> budgets) {
  const int64_t block_bytes = options.block_bytes;
  const std::string block_desc =
      absl::StrCat("one KV block = ", Bytes(block_bytes));
  int64_t floors = 0;
  for (size_t i = 0; i < budgets.size(); ++i) {
    const TenantBudget& b = budgets[i];
    if (std::optional<TenantRuleError> e = CheckOne(i, b)) return e;
    const int64_t limit_blocks = b.limit_bytes / block_bytes;
    if (limit_blocks < 1) {
      return Broken(
          i, b, "limit_bytes",
          absl::StrCat(Bytes(b.limit_bytes), " is less than one KV block (",
                       block_desc, ")"));
    }
    const int64_t floor =
        ReservedBlocks(b.reserved_bytes, limit_blocks, block_bytes);
    if (floor > options.total_blocks) {
      return Broken(
          i, b, "reserved_bytes",
          absl::StrCat(Bytes(b.reserved_bytes), " rounds up to ", Blocks(floor),
                       ", more than the KV cache capacity of ",
                       Blocks(options.total_blocks), " (", block_desc, ")"));
    }
    floors += floor;  // <= tenants * 2^31: no overflow
  }
  if (floors > options.total_blocks) {
    std::vector<std::string> parts;
    for (const TenantBudget& t : budgets) {
      const int64_t floor = ReservedBlocks(
          t.reserved_bytes, t.limit_bytes / block_bytes, block_bytes);
      if (floor > 0) parts.push_back(absl::StrCat(t.name, " ", Blocks(floor)));
    }
    return TenantRuleError{
        .field = "reserved_bytes",
        .message = absl::StrCat(
            "the sum of reserved floors, ", Blocks(floors),
            ", exceeds the KV cache capacity of ", Blocks(options.total_blocks),
            " (", Bytes(int64_t{options.total_blocks} * block_bytes), "; ",
            block_desc, ", floors round up to whole blocks): ", parts.size(),
            " tenants with floors: ", JoinBounded(parts, ", ")),
        .detail = absl::StrCat("tenant floors in blocks: ",
                               absl::StrJoin(parts, ", "))};
  }
  return std::nullopt;
}

absl::Status TenantBudgets::Set(std::vector<TenantBudget> budgets) {
  RETURN_IF_ERROR(Validate(options_, budgets));
  // A tenant left out is removed: no floor, no new sequences, but its
  // running ones go on to their end within the limit it had.
  for (Tenant& t : tenants_) {
    t.configured = false;
    t.reserved_bytes = 0;
    t.reserved_blocks = 0;
    t.prefix_caching = false;
    t.cache_share_blocks = 0;
  }
  for (TenantBudget& b : budgets) {
    auto [it, inserted] =
        ids_.try_emplace(b.name, static_cast<int32_t>(tenants_.size()));
    if (inserted) {
      tenants_.emplace_back();
      tenants_.back().name = std::move(b.name);
    }
    Tenant& t = tenants_[it->second];
    t.configured = true;
    t.reserved_bytes = b.reserved_bytes;
    t.limit_bytes = b.limit_bytes;
    t.limit_blocks = b.limit_bytes / options_.block_bytes;
    t.reserved_blocks =
        ReservedBlocks(b.reserved_bytes, t.limit_blocks, options_.block_bytes);
    t.prefix_caching = b.prefix_caching;
    const int64_t share = b.effective_cache_share_bytes();
    t.cache_share_blocks = std::min<int64_t>(
        share / options_.block_bytes + (share % options_.block_bytes != 0),
        options_.total_blocks);
  }
  unused_floors_ = 0;
  for (const Tenant& t : tenants_) unused_floors_ += t.unused_floor();
  return absl::OkStatus();
}

std::optional<int32_t> TenantBudgets::Find(absl::string_view name) const {
  const auto it = ids_.find(name);
  if (it == ids_.end() || !tenants_[it->second].configured) {
    return std::nullopt;
  }
  return it->second;
}

AllocStatus TenantBudgets::CanTake(int32_t id, int64_t n,
                                   int64_t available) const {
  if (n <= 0) return AllocStatus::kOk;
  const Tenant& t = tenants_[id];
  if (t.used_blocks + n > t.limit_blocks) return AllocStatus::kTenantLimit;
  if (n > available) return AllocStatus::kPoolExhausted;
  const int64_t others_unused = unused_floors_ - t.unused_floor();
  if (available - n < others_unused) return AllocStatus::kOtherTenantsFloors;
  return AllocStatus::kOk;
}

int64_t TenantBudgets::MaxBlocks(int32_t id) const {
  const Tenant& t = tenants_[id];
  int64_t others_floors = 0;
  for (int32_t u = 0; u < size(); ++u) {
    if (u != id && tenants_[u].configured) {
      others_floors += tenants_[u].reserved_blocks;
    }
  }
  return std::max<int64_t>(
      0, std::min(t.limit_blocks, options_.total_blocks - others_floors));
}

void TenantBudgets::AddUsed(int32_t id, int64_t delta) {
  Tenant& t = tenants_[id];
  unused_floors_ -= t.unused_floor();
  t.used_blocks += delta;
  unused_floors_ += t.unused_floor();
}

void TenantBudgets::AddPrefixStats(int32_t id, int64_t lookup_tokens,
                                   int64_t hit_tokens) {
  tenants_[id].prefix_lookup_tokens += lookup_tokens;
  tenants_[id].prefix_hit_tokens += hit_tokens;
}

}  // namespace kvasir::kvcache
