#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
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
#include "tests/testing/child_process.h"
#include "tests/testing/paths.h"

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
  absl::StatusOr<pid_t> pid = SpawnProcess(argv, out_path, err_path);
  if (!pid.ok()) return pid.status();
  std::optional<int> status = WaitProcess(*pid, timeout);
  if (!status.has_value()) {
    kill(*pid, SIGKILL);
    WaitProcess(*pid, absl::Seconds(10));
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
  absl::StatusOr<pid_t> pid =
      SpawnProcess(argv, options.log_path, options.log_path);
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
    WaitProcess(pid_, absl::Seconds(10));
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
  std::optional<int> status = WaitProcess(pid_, timeout);
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
