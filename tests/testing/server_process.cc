#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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

// Spawns argv with stdout and stderr redirected to files.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
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

// Waits for `pid` up to `timeout`; the decoded exit status, or nullopt.
std::optional<int> WaitPid(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return DecodeStatus(status);
    if (r < 0) return -1;
    if (absl::Now() >= give_up) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("free port: ", strerror(err)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  const std::string dir = MakeTempDir();
  if (dir.empty()) return absl::InternalError("cannot make a temp dir");
  const std::string out_path = dir + "/stdout";
  const std::string err_path = dir + "/stderr";
  absl::StatusOr<pid_t> pid = Spawn(argv, out_path, err_path);
  if (!pid.ok()) return pid.status();
  std::optional<int> status = WaitPid(*pid, timeout);
  if (!status.has_value()) {
    kill(*pid, SIGKILL);
    WaitPid(*pid, absl::Seconds(10));
    return absl::DeadlineExceededError(absl::StrCat(
        argv[0], " still ran after ", absl::FormatDuration(timeout)));
  }
  CommandResult r;
  r.exit_code = *status;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  rmdir(dir.c_str());
  return r;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    Options options) {
  if (options.binary.empty()) options.binary = BinaryDir() + "/tools/kvasir";
  if (options.log_path.empty()) {
    const std::string dir = MakeTempDir();
    if (dir.empty()) return absl::InternalError("cannot make a temp dir");
    options.log_path = dir + "/server.log";
  }
  if (options.health_command.empty()) {
    options.health_command = {options.binary, "client",    "health", "--addr",
                              "{addr}",       "--timeout", "2"};
  }
  std::unique_ptr<ServerProcess> p(new ServerProcess(options));
  std::vector<std::string> argv = {options.binary};
  if (!options.subcommand.empty()) argv.push_back(options.subcommand);
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  if (options.pick_ports) {
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) return port.status();
    absl::StatusOr<int> metrics = PickFreePort();
    if (!metrics.ok()) return metrics.status();
    p->port_ = *port;
    p->metrics_port_ = *metrics;
    argv.insert(argv.end(),
                {"--listen", absl::StrCat("127.0.0.1:", *port),
                 "--metrics-listen", absl::StrCat("127.0.0.1:", *metrics)});
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, options.log_path, options.log_path);
  if (!pid.ok()) return pid.status();
  p->pid_ = *pid;

  std::vector<std::string> health;
  for (const std::string& a : options.health_command) {
    health.push_back(absl::StrReplaceAll(a, {{"{addr}", p->address()}}));
  }
  const absl::Time give_up = absl::Now() + options.ready_timeout;
  while (true) {
    if (!p->Running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the server exited with status ", p->exit_status_,
                       " before it was ready; its log:\n", p->ReadLog()));
    }
    absl::StatusOr<CommandResult> check = RunCommand(health, absl::Seconds(10));
    if (check.ok() && check->exit_code == 0) return p;
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("the server was not ready after ",
                       absl::FormatDuration(options.ready_timeout),
                       "; its log:\n", p->ReadLog()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, absl::Seconds(10));
  }
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::Status ServerProcess::Signal(int signo) {
  if (reaped_) return absl::FailedPreconditionError("the server has exited");
  if (kill(pid_, signo) != 0) return absl::InternalError(strerror(errno));
  return absl::OkStatus();
}

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  if (reaped_) return exit_status_;
  std::optional<int> status = WaitPid(pid_, timeout);
  if (!status.has_value()) {
    return absl::DeadlineExceededError("the server is still running");
  }
  reaped_ = true;
  exit_status_ = *status;
  return exit_status_;
}

bool ServerProcess::Running() {
  if (reaped_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  reaped_ = true;
  exit_status_ = r == pid_ ? DecodeStatus(status) : -1;
  return false;
}

absl::StatusOr<CommandResult> ServerProcess::Client(
    std::vector<std::string> args, absl::Duration timeout) const {
  std::vector<std::string> argv = {options_.binary, "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--addr", address()});
  return RunCommand(argv, timeout);
}

std::string ServerProcess::ReadLog() const {
  return ReadFile(options_.log_path);
}

}  // namespace kvasir::testing
