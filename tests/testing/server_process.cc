#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
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
  std::unique_ptr<ServerProcess> p(new ServerProcess(options));
  std::vector<std::string> argv = {options.binary};
  if (!options.subcommand.empty()) argv.push_back(options.subcommand);
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  if (options.pick_ports) {
    // Port 0: the server binds ports nobody else holds and logs them. (A
    // port picked here and bound there could be taken in between, and the
    // health check would then reach another test's server.)
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--http-listen",
                             "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"});
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn(std::move(argv), options.log_path);
  if (!child.ok()) return child.status();
  p->child_ = *std::move(child);

  const absl::Time give_up = absl::Now() + options.ready_timeout;
  std::vector<std::string> health;
  while (true) {
    if (options.pick_ports && p->port_ == 0) p->ReadBoundPorts();
    if (health.empty() && (!options.pick_ports || p->port_ != 0)) {
      for (const std::string& a : options.health_command) {
        health.push_back(absl::StrReplaceAll(a, {{"{addr}", p->address()}}));
      }
    }
    if (!p->Running()) {
      absl::StatusOr<int> status = p->Wait(absl::ZeroDuration());
      return absl::FailedPreconditionError(absl::StrCat(
          "the server exited with status ", status.ok() ? *status : -1,
          " before it was ready; its log:\n", p->ReadLog()));
    }
    if (!health.empty()) {
      absl::StatusOr<CommandResult> check =
          RunCommand(health, absl::Seconds(10));
      if (check.ok() && check->exit_code == 0) return p;
    }
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

void ServerProcess::ReadBoundPorts() {
  // Server::Start logs "serving gRPC on HOST:0 (port N)[, OpenAI HTTP on
  // HOST:0 (port H)][, metrics on HOST:0 (port M)/metrics]" once it has
  // bound them.
  const std::string log = ReadLog();
  const size_t start = log.find("serving gRPC on ");
  if (start == std::string::npos) return;
  const size_t eol = log.find('\n', start);
  if (eol == std::string::npos) return;  // the line is still being written
  const std::string line = log.substr(start, eol - start);
  auto port_after = [&line](size_t from) {
    int port = 0;
    const size_t at = line.find("(port ", from);
    if (at == std::string::npos) return 0;
    const size_t end = line.find(')', at);
    if (end == std::string::npos ||
        !absl::SimpleAtoi(line.substr(at + 6, end - at - 6), &port)) {
      return 0;
    }
    return port;
  };
  const size_t metrics = line.find("metrics on ");
  metrics_port_ = metrics == std::string::npos ? 0 : port_after(metrics);
  const size_t http = line.find("OpenAI HTTP on ");
  http_port_ = http == std::string::npos ? 0 : port_after(http);
  port_ = port_after(0);
}

}  // namespace kvasir::testing
