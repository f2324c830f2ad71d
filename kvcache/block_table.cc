#include "kvcache/block_table.h"

namespace kvasir::kvcache {

BlockTable BlockTable::Copy() const {
  BlockTable copy(block_size_);
  copy.ids_ = ids_;
  return copy;
}

}  // namespace kvasir::kvcache
