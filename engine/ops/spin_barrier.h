#ifndef KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
#define KVASIR_ENGINE_OPS_SPIN_BARRIER_H_

#include <atomic>
#include <cstdint>
#include <thread>

namespace kvasir::engine::ops {

// A barrier for the threads of one OpenMP team that waits by spinning, for
// a decode step that runs all its ops in one parallel region.
//
// Why not libgomp's barriers or one parallel region per op: libgomp spins
// only 100 times before a futex sleep once the process holds more OpenMP
// threads than cores ("throttled" spinning), and a serving process always
// does (the main thread keeps the idle team that loading used, the engine
// thread has its own), so every parallel region and barrier of a decode
// step put a thread to sleep and woke it again: ~200 context switches per
// 110M token, each wake-up tens of microseconds on a VM.
//
// After kSpinsBeforeYield pauses (tens of microseconds) a waiter yields
// its core on every further check, so a team mate that a shared machine
// descheduled can run; it never sleeps, so the team must not outlive a
// step (the step's parallel region ends, and libgomp's own idling
// resumes).
class SpinBarrier {
 public:
  SpinBarrier() = default;
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;

  // Returns once `threads` callers (every thread of the team, all passing
  // the same count) have called it; all writes before it are visible after
  // it to every caller.
  void Wait(int threads) {
    if (threads <= 1) return;
    const uint32_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == threads - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    for (int spins = 0;
         generation_.load(std::memory_order_acquire) == generation; ++spins) {
      if (spins < kSpinsBeforeYield) {
        Pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  static constexpr int kSpinsBeforeYield = 1 << 11;

  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Apart, so that arriving threads do not take the line waiters poll.
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
