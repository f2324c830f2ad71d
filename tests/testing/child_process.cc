#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/paths.h"

extern char** environ;

namespace kvasir::testing {
namespace {

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv,
                                   const std::string& out_path,
                                   const std::string& err_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err_path == out_path) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  // The child starts with no blocked signals, whatever this test does.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("posix_spawn ", argv[0], ": ", strerror(rc)));
  }
  return pid;
}

std::optional<int> WaitProcess(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0 && errno != EINTR) return -1;
    if (absl::Now() >= give_up) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  const TempDir dir;
  const std::string out_path = dir.File("stdout");
  const std::string err_path = dir.File("stderr");
  absl::StatusOr<CommandResult> result;
  absl::StatusOr<pid_t> pid = SpawnProcess(argv, out_path, err_path);
  if (!pid.ok()) {
    result = pid.status();
  } else if (std::optional<int> status = WaitProcess(*pid, timeout);
             !status.has_value()) {
    kill(*pid, SIGKILL);
    WaitProcess(*pid, absl::Seconds(10));
    result = absl::DeadlineExceededError(absl::StrCat(
        argv[0], " still ran after ", absl::FormatDuration(timeout)));
  } else {
    result = CommandResult{*status, ReadFile(out_path), ReadFile(err_path)};
  }
  return result;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    std::vector<std::string> argv, std::string log_path) {
  std::optional<TempDir> own_dir;
  if (log_path.empty()) {
    own_dir.emplace();
    log_path = own_dir->File("output.log");
  }
  std::unique_ptr<ChildProcess> p(new ChildProcess(
      std::move(argv), std::move(log_path), std::move(own_dir)));
  absl::StatusOr<pid_t> pid =
      SpawnProcess(p->argv_, p->log_path_, p->log_path_);
  if (!pid.ok()) return pid.status();
  p->pid_ = *pid;
  return p;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    WaitProcess(pid_, absl::Seconds(10));
  }
}

absl::Status ChildProcess::Signal(int signo) {
  if (reaped_) {
    return absl::FailedPreconditionError(
        absl::StrCat(argv_[0], " has exited already"));
  }
  if (kill(pid_, signo) != 0) return absl::InternalError(strerror(errno));
  return absl::OkStatus();
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (reaped_) return exit_status_;
  std::optional<int> status = WaitProcess(pid_, timeout);
  if (!status.has_value()) {
    return absl::DeadlineExceededError(absl::StrCat(
        argv_[0], " still runs after ", absl::FormatDuration(timeout)));
  }
  reaped_ = true;
  exit_status_ = *status;
  return exit_status_;
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  reaped_ = true;
  exit_status_ = r == pid_ ? DecodeStatus(status) : -1;
  return false;
}

std::string ChildProcess::ReadLog() const { return ReadFile(log_path_); }

}  // namespace kvasir::testing
