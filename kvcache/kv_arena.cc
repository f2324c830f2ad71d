#include "kvcache/kv_arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/units.h"

namespace kvasir::kvcache {

void KvArena::Unmap::operator()(std::byte* p) const {
  if (p != nullptr) munmap(p, bytes);
}

absl::StatusOr<KvArena> KvArena::Create(const KvLayout& layout,
                                        int64_t capacity_bytes) {
  RETURN_IF_ERROR(layout.Validate());
  const int64_t block_bytes = layout.BlockBytes();
  const int64_t blocks = layout.BlocksInBytes(capacity_bytes);
  if (blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_cache.capacity: ", FormatByteSize(capacity_bytes),
        " holds no block; one block of ", layout.block_size, " tokens is ",
        FormatByteSize(block_bytes), " (", layout.DebugString(), ")"));
  }
  if (blocks > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_cache.capacity: ", FormatByteSize(capacity_bytes),
                     " is more than 2^31 blocks"));
  }
  const size_t bytes = static_cast<size_t>(blocks * block_bytes);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv_cache.capacity: cannot allocate ",
                     FormatByteSize(static_cast<int64_t>(bytes)), ": ",
                     std::strerror(errno)));
  }
  // Transparent huge pages where the kernel allows them (a hint: without
  // them the arena works the same). Attention reads a block's K or V rows
  // of one head (a few KB) and then jumps to another block: with 4 KB pages
  // every such run is a TLB miss and a new page the hardware prefetcher
  // does not enter.
  madvise(p, bytes, MADV_HUGEPAGE);
  return KvArena(layout, static_cast<int32_t>(blocks),
                 std::unique_ptr<std::byte, Unmap>(static_cast<std::byte*>(p),
                                                   Unmap{bytes}));
}

}  // namespace kvasir::kvcache
