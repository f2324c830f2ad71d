#ifndef KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
#define KVASIR_ENGINE_OPS_SPIN_BARRIER_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

namespace kvasir::engine::ops {

// A barrier for the threads of one OpenMP team that spins before it
// sleeps, for a decode step that runs all its ops in one parallel region.
//
// Why not libgomp's barriers or one parallel region per op: libgomp spins
// only 100 times before a futex sleep once the process holds more OpenMP
// threads than cores ("throttled" spinning), and a serving process always
// does (the main thread keeps the idle team that loading used, the engine
// thread has its own), so every parallel region and barrier of a decode
// step put a thread to sleep and woke it again: ~208 context switches per
// 110M token, each wake-up tens of microseconds on a VM.
//
// Here a waiter spins before it sleeps on a futex until the last thread
// arrives, and the spin adapts: it doubles (up to kMaxSpins pauses, ~55 us
// at ~27 ns a pause on Zen) after a wait that the spin ended, and halves
// (down to kMinSpins, ~2 us) after one that had to sleep. On a quiet
// machine a step's waits are microseconds and every one ends spinning; on
// a loaded one (a team mate descheduled, or both threads on one core) it
// falls to short spins, since a long spin then only takes the core from the
// thread that is working (measured: a fixed 110 us spin made steps 3x
// slower under load). It never yields instead of sleeping: sched_yield on a
// shared machine hands the core to another process for its whole time
// slice, where a futex wake-up puts the sleeper back at once.
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
      // seq_cst with the sleepers' count: either this load sees a sleeper
      // (and wakes it) or that sleeper's futex sees the new generation.
      generation_.store(generation + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) Wake(&generation_);
      return;
    }
    // Racy updates of the limit are fine: it is a hint.
    const int limit = spin_limit_.load(std::memory_order_relaxed);
    for (int spins = 0; spins < limit; ++spins) {
      if (generation_.load(std::memory_order_acquire) != generation) {
        if (limit < kMaxSpins) {
          spin_limit_.store(2 * limit, std::memory_order_relaxed);
        }
        return;
      }
      Pause();
    }
    if (limit > kMinSpins) {
      spin_limit_.store(limit / 2, std::memory_order_relaxed);
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (generation_.load(std::memory_order_seq_cst) == generation) {
      Sleep(&generation_, generation);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  static constexpr int kMinSpins = 1 << 6;
  static constexpr int kMaxSpins = 1 << 11;

  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  // Sleeps while *word == value (spurious returns are fine: Wait loops).
  static void Sleep(std::atomic<uint32_t>* word, uint32_t value) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
            value, nullptr, nullptr, 0);
  }
  static void Wake(std::atomic<uint32_t>* word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE,
            INT_MAX, nullptr, nullptr, 0);
  }

  // Apart, so that arriving threads do not take the line waiters poll.
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> spin_limit_{kMaxSpins};
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
