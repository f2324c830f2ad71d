#ifndef KVASIR_ENGINE_OPS_WORK_CURSOR_H_
#define KVASIR_ENGINE_OPS_WORK_CURSOR_H_

#include <atomic>
#include <cstdint>

namespace kvasir::engine::ops {

// One thread's share [next, end) of a split's work items, which its owner
// claims in order and the other threads claim from once theirs are done:
// on a shared machine one core often runs late (its vCPU preempted, its
// memory slower for a while), and a fixed split then waits for it at every
// barrier. One cache line each, so an owner's claims stay in its core.
//
// Protocol: every thread of the split calls Arm on its own cursor, then the
// team meets at a barrier (which publishes `end`), then every thread calls
// ClaimAll. Each item is run exactly once, by some thread.
struct alignas(64) WorkCursor {
  std::atomic<int64_t> next{0};
  int64_t end = 0;

  void Arm(int64_t begin, int64_t end_item) {
    next.store(begin, std::memory_order_relaxed);
    end = end_item;
  }
};

// Runs run(item, end) for the items of cursors[thread], then of the others
// (thread + 1, thread + 2, ... of `threads`), as long as any are left. `end`
// is the end of the share the item came from: the thread's next claim, if
// the share has one left, is item + 1 (what a caller may prefetch).
template <typename F>
void ClaimAll(WorkCursor* cursors, int thread, int threads, F&& run) {
  for (int i = 0; i < threads; ++i) {
    WorkCursor& c = cursors[(thread + i) % threads];
    for (;;) {
      const int64_t item = c.next.fetch_add(1, std::memory_order_relaxed);
      if (item >= c.end) break;
      run(item, c.end);
    }
  }
}

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_WORK_CURSOR_H_
