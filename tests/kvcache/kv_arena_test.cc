// KvArena::Create commits the whole arena: every page is resident before
// the first decode step writes K/V into it (kv_arena.cc says why).
#include "kvcache/kv_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kvcache/kv_layout.h"

namespace kvasir::kvcache {
namespace {

TEST(KvArenaTest, CreateCommitsEveryPageZeroed) {
  const KvLayout layout{
      .n_layers = 4, .n_kv_heads = 2, .head_dim = 64, .block_size = 16};
  constexpr int64_t kCapacity = int64_t{8} << 20;
  auto arena = KvArena::Create(layout, kCapacity);
  ASSERT_TRUE(arena.ok()) << arena.status();
  const size_t bytes =
      static_cast<size_t>(arena->num_blocks() * layout.BlockBytes());
  ASSERT_GT(bytes, size_t{4} << 20);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((bytes + page - 1) / page);
  // Untouched since Create: mincore reports what Create committed.
  ASSERT_EQ(mincore(arena->block(0), bytes, resident.data()), 0);
  size_t missing = 0;
  for (unsigned char r : resident) missing += (r & 1) == 0;
  EXPECT_EQ(missing, 0u) << "of " << resident.size() << " pages";
  const std::byte* base = arena->block(0);
  for (size_t off = 0; off < bytes; off += page / 2) {
    ASSERT_EQ(base[off], std::byte{0}) << off;
  }
}

}  // namespace
}  // namespace kvasir::kvcache
