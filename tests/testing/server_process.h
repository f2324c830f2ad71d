#ifndef KVASIR_TESTS_TESTING_SERVER_PROCESS_H_
#define KVASIR_TESTS_TESTING_SERVER_PROCESS_H_

// Runs `kvasir serve` (or a stand-in binary with the same flags) as a child
// process (child_process.h) for integration tests: free loopback ports,
// wait for health SERVING (by running `<binary> client health`), signals,
// and a kill on teardown. Also runs `kvasir client ...` commands and
// captures their output.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace kvasir::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released). Another process may take it before the caller binds it;
// ServerProcess does not use it (its servers bind port 0).
absl::StatusOr<int> PickFreePort();

class ServerProcess {
 public:
  struct Options {
    // The executable; default BinaryDir() + "/tools/kvasir".
    std::string binary;
    // The first argument; empty: none.
    std::string subcommand = "serve";
    // Arguments after it, e.g. {"--config", path}.
    std::vector<std::string> args;
    // Append --listen 127.0.0.1:0 --http-listen 127.0.0.1:0
    // --metrics-listen 127.0.0.1:0 and read the ports the server bound from
    // its log.
    bool pick_ports = true;
    // stdout and stderr of the server; default: a file in a fresh temp dir
    // (removed with the ServerProcess).
    std::string log_path;
    absl::Duration ready_timeout = absl::Seconds(60);
    // Exits 0 once the server is ready; "{addr}" is replaced by address().
    // Default: {binary, "client", "health", "--addr", "{addr}"}.
    std::vector<std::string> health_command;
  };

  // Spawns the server and waits until the health command succeeds. Fails
  // (with the log's tail) when the process exits or the timeout passes;
  // the process is killed then.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(Options options);

  ~ServerProcess() = default;  // SIGKILL and reap if still running

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return child_->pid(); }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }  // 0: no HTTP API
  std::string address() const;                  // "127.0.0.1:<port>"
  const std::string& binary() const { return options_.binary; }

  // FailedPrecondition once the server has exited.
  absl::Status Signal(int signo) { return child_->Signal(signo); }
  // Waits for the process to exit; returns its exit status (128 + signal
  // when killed). DeadlineExceeded when it is still running at `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout) {
    return child_->Wait(timeout);
  }
  bool Running() { return child_->Running(); }

  // Runs `<binary> client <args...> --addr <address>`.
  absl::StatusOr<CommandResult> Client(
      std::vector<std::string> args,
      absl::Duration timeout = absl::Seconds(60)) const;

  std::string ReadLog() const { return child_->ReadLog(); }

 private:
  explicit ServerProcess(Options options) : options_(std::move(options)) {}
  // Sets port_, http_port_ and metrics_port_ from the server's start-up log
  // line, once it is there.
  void ReadBoundPorts();

  Options options_;
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_SERVER_PROCESS_H_
