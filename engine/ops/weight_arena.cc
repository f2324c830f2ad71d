#include "engine/ops/weight_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine::ops {
namespace {

constexpr int64_t kHugePage = int64_t{2} << 20;

int64_t RoundUp(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

}  // namespace

void* AllocateOnHugePages(int64_t bytes) {
  void* p = nullptr;
  if (bytes <= 0 ||
      posix_memalign(&p, kHugePage, static_cast<size_t>(bytes)) != 0) {
    return nullptr;
  }
  ::madvise(p, static_cast<size_t>(bytes), MADV_HUGEPAGE);
  return p;
}

void WeightArena::Free::operator()(uint8_t* p) const { std::free(p); }

absl::StatusOr<std::unique_ptr<WeightArena>> WeightArena::Create(
    const Options& options) {
  if (options.chunk_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight arena: chunk_bytes = ", options.chunk_bytes, " <= 0"));
  }
  return std::unique_ptr<WeightArena>(new WeightArena(options));
}

WeightArena::~WeightArena() = default;

absl::StatusOr<uint8_t*> WeightArena::Allocate(int64_t bytes,
                                               absl::string_view what) {
  if (bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight arena: ", what, " asks for ", bytes, " bytes (must be > 0)"));
  }
  const int64_t size = RoundUp(bytes, 64);
  uint8_t* out = nullptr;
  if (size > options_.chunk_bytes) {
    // A chunk of its own: the current chunk's free tail stays for the
    // requests after this one.
    ASSIGN_OR_RETURN(out, NewChunk(size, what, bytes));
  } else {
    if (size > left_) {
      ASSIGN_OR_RETURN(next_, NewChunk(options_.chunk_bytes, what, bytes));
      left_ = RoundUp(options_.chunk_bytes, kHugePage);
    }
    out = next_;
    next_ += size;
    left_ -= size;
  }
  allocated_ += size;
  return out;
}

absl::StatusOr<uint8_t*> WeightArena::NewChunk(int64_t min_bytes,
                                               absl::string_view what,
                                               int64_t bytes) {
  const int64_t chunk = RoundUp(min_bytes, kHugePage);
  void* p = AllocateOnHugePages(chunk);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("weight arena: out of memory for ", what, " (", bytes,
                     " bytes, in a chunk of ", chunk, ")"));
  }
  chunks_.emplace_back(static_cast<uint8_t*>(p));
  reserved_ += chunk;
  return static_cast<uint8_t*>(p);
}

}  // namespace kvasir::engine::ops
