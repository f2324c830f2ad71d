#ifndef KVASIR_TESTS_TESTING_CHILD_PROCESS_H_
#define KVASIR_TESTS_TESTING_CHILD_PROCESS_H_

// Child processes for tests, the one place that spawns them: spawn with
// output captured in files, wait with a timeout, signal, and kill on
// teardown. RunCommand runs a command to completion; ChildProcess is for
// anything a test runs in the background (a client to be killed
// mid-stream, nginx); ServerProcess (server_process.h) and RunProcess
// (subprocess.h) build on these.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/paths.h"

namespace kvasir::testing {

// posix_spawn of argv[0] (a path; no PATH search, no shell) with stdin from
// /dev/null, stdout to `out_path` and stderr to `err_path` (the same file
// when equal; both truncated), and no blocked signals in the child.
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv,
                                   const std::string& out_path,
                                   const std::string& err_path);

// Waits for `pid` (a child of this process) up to `timeout` and reaps it.
// Returns its exit code, 128 + signal when killed, -1 when waitpid fails;
// nullopt when it is still running at `timeout`.
std::optional<int> WaitProcess(pid_t pid, absl::Duration timeout);

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv[0] (a path) with the arguments to completion, capturing stdout
// and stderr. DeadlineExceeded (after killing it) when it runs past
// `timeout`; Internal when it cannot be started.
absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv,
    absl::Duration timeout = absl::Seconds(60));

class ChildProcess {
 public:
  // Spawns argv with stdout and stderr both going to `log_path` (default: a
  // file in a fresh temp dir, removed with this object). Does not wait for
  // anything.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(
      std::vector<std::string> argv, std::string log_path = "");

  ~ChildProcess();  // SIGKILL and reap if still running

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // FailedPrecondition once the process has been reaped.
  absl::Status Signal(int signo);
  // The exit status (128 + signal when killed); DeadlineExceeded when it
  // still runs at `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // False once it has exited (and reaps it then).
  bool Running();
  // Everything it wrote to stdout and stderr so far.
  std::string ReadLog() const;

 private:
  ChildProcess(std::vector<std::string> argv, std::string log_path,
               std::optional<TempDir> own_dir)
      : argv_(std::move(argv)),
        log_path_(std::move(log_path)),
        own_dir_(std::move(own_dir)) {}

  std::vector<std::string> argv_;
  std::string log_path_;
  std::optional<TempDir> own_dir_;  // the temp dir of the default log
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_status_ = -1;
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_CHILD_PROCESS_H_
