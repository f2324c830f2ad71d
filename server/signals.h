#ifndef KVASIR_SERVER_SIGNALS_H_
#define KVASIR_SERVER_SIGNALS_H_

// Process signals for `kvasir serve`, handled on a dedicated thread
// (signalfd): SIGHUP reloads the config, SIGTERM and SIGINT drain and stop.
// Nothing runs in an async signal handler.

#include <functional>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvasir::server {

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread; threads created
// afterwards inherit the mask. Call first thing in main (before any thread
// exists), so that only the SignalThread receives them.
absl::Status BlockServerSignals();

class SignalThread {
 public:
  struct Callbacks {
    std::function<void()> on_hangup;              // SIGHUP
    std::function<void(int signo)> on_terminate;  // SIGTERM, SIGINT
  };

  // The signals must be blocked (BlockServerSignals). Callbacks run on the
  // signal thread, one at a time; they should not block for long.
  static absl::StatusOr<std::unique_ptr<SignalThread>> Start(
      Callbacks callbacks);
  ~SignalThread();  // Stop()

  // Wakes the thread and joins it. Idempotent.
  void Stop();

 private:
  SignalThread(int signal_fd, int stop_fd, Callbacks callbacks);
  void Loop();

  const int signal_fd_;
  const int stop_fd_;  // eventfd
  const Callbacks callbacks_;
  std::thread thread_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_SIGNALS_H_
