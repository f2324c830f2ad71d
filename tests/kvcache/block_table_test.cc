#include "kvcache/block_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir::kvcache {
namespace {

using ::testing::ElementsAre;

TEST(BlockTableTest, MapsPositionsToBlockAndSlot) {
  BlockTable table(4);
  table.Append(7);
  table.Append(2);
  table.Append(9);
  EXPECT_EQ(table.size(), 3);
  EXPECT_EQ(table.capacity_tokens(), 12);
  EXPECT_THAT(table.ids(), ElementsAre(7, 2, 9));
  EXPECT_EQ(table.SlotOf(0).block, 7);
  EXPECT_EQ(table.SlotOf(0).offset, 0);
  EXPECT_EQ(table.SlotOf(3).block, 7);
  EXPECT_EQ(table.SlotOf(3).offset, 3);
  EXPECT_EQ(table.SlotOf(4).block, 2);
  EXPECT_EQ(table.SlotOf(4).offset, 0);
  EXPECT_EQ(table.SlotOf(11).block, 9);
  EXPECT_EQ(table.SlotOf(11).offset, 3);
}

TEST(BlockTableTest, CopyIsExplicitAndIndependent) {
  BlockTable table(16);
  table.Append(1);
  BlockTable copy = table.Copy();
  copy.Append(5);
  EXPECT_THAT(table.ids(), ElementsAre(1));
  EXPECT_THAT(copy.ids(), ElementsAre(1, 5));
  EXPECT_EQ(copy.block_size(), 16);
  table.Clear();
  EXPECT_TRUE(table.empty());
}

}  // namespace
}  // namespace kvasir::kvcache
