#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/testing/paths.h"

namespace kvasir::testing {

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

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    Options options) {
  if (options.binary.empty()) options.binary = BinaryDir() + "/tools/kvasir";
  if (options.health_command.empty()) {
    options.health_command = {options.binary, "client",    "health", "--addr",
                              "{addr}",       "--timeout", "2"};
  }
  // A picked port can be taken by another process before the server binds
  // it; the server then exits saying it cannot listen (it never shares a
  // port: SO_REUSEPORT is off), and a fresh pair of ports is tried.
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> p = StartOnce(options);
    if (p.ok() || !options.pick_ports || attempt == kAttempts ||
        !absl::StrContains(p.status().message(), "cannot listen on")) {
      return p;
    }
  }
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartOnce(
    const Options& options) {
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
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn(std::move(argv), options.log_path);
  if (!child.ok()) return child.status();
  p->child_ = *std::move(child);

  std::vector<std::string> health;
  for (const std::string& a : options.health_command) {
    health.push_back(absl::StrReplaceAll(a, {{"{addr}", p->address()}}));
  }
  const absl::Time give_up = absl::Now() + options.ready_timeout;
  while (true) {
    if (!p->Running()) {
      absl::StatusOr<int> status = p->Wait(absl::ZeroDuration());
      return absl::FailedPreconditionError(absl::StrCat(
          "the server exited with status ", status.ok() ? *status : -1,
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

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::StatusOr<CommandResult> ServerProcess::Client(
    std::vector<std::string> args, absl::Duration timeout) const {
  std::vector<std::string> argv = {options_.binary, "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--addr", address()});
  return RunCommand(argv, timeout);
}

}  // namespace kvasir::testing
