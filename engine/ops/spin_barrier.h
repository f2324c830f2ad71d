#ifndef KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
#define KVASIR_ENGINE_OPS_SPIN_BARRIER_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
// Here a waiter spins (PAUSE, the clock read every kRoundPauses) before it
// sleeps on a futex until the last thread arrives. The spin lasts up to a
// time limit that adapts: it doubles (up to kMaxSpinNs) after a wait that
// the spin ended, and halves (down to kMinSpinNs) only when the spinner
// was itself descheduled while it spun (one round took kPreemptedNs or
// more): then the machine has more runnable threads than cores, and a
// long spin only takes the core from a thread with work (measured: a fixed
// 110 us spin made steps 3x slower under load). A wait that outlasts the
// limit without that sleeps and keeps the limit: on a quiet machine the
// team's waits are a serial op of thread 0 or the end of a projection,
// often 10-200 us, and halving on each of them (the policy before) left
// the spin at its minimum and 84% of the waits of the yardstick's
// batched steps in a futex sleep (~200 per step, each woken vCPU late).
// It never yields instead of sleeping: sched_yield on a shared machine
// hands the core to another process for its whole time slice, where a
// futex wake-up puts the sleeper back at once.
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
    const int64_t limit = spin_limit_ns_.load(std::memory_order_relaxed);
    const int64_t start = NowNs();
    int64_t round_start = start;
    bool preempted = false;
    while (round_start - start < limit) {
      for (int i = 0; i < kRoundPauses; ++i) {
        if (generation_.load(std::memory_order_acquire) != generation) {
          if (limit < kMaxSpinNs) {
            spin_limit_ns_.store(std::min(2 * limit, kMaxSpinNs),
                                 std::memory_order_relaxed);
          }
          return;
        }
        Pause();
      }
      const int64_t now = NowNs();
      if (now - round_start >= kPreemptedNs) {
        preempted = true;
        break;
      }
      round_start = now;
    }
    if (preempted && limit > kMinSpinNs) {
      spin_limit_ns_.store(std::max(limit / 2, kMinSpinNs),
                           std::memory_order_relaxed);
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (generation_.load(std::memory_order_seq_cst) == generation) {
      Sleep(&generation_, generation);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  // ~0.4-2 us of PAUSE (27 ns each on Zen, 4-40 ns on Intel) per clock read.
  static constexpr int kRoundPauses = 64;
  static constexpr int64_t kMinSpinNs = 2'000;
  static constexpr int64_t kMaxSpinNs = 250'000;
  // A round this long was not spent spinning: the thread lost its core.
  static constexpr int64_t kPreemptedNs = 50'000;

  static int64_t NowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
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
  std::atomic<int64_t> spin_limit_ns_{kMaxSpinNs};
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_SPIN_BARRIER_H_
