#include "server/signals.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

sigset_t ServerSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

absl::Status BlockServerSignals() {
  const sigset_t set = ServerSignals();
  const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("pthread_sigmask: ", strerror(rc)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SignalThread>> SignalThread::Start(
    Callbacks callbacks) {
  const sigset_t set = ServerSignals();
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) {
    return absl::InternalError(absl::StrCat("signalfd: ", strerror(errno)));
  }
  const int efd = eventfd(0, EFD_CLOEXEC);
  if (efd < 0) {
    const int err = errno;
    close(sfd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(err)));
  }
  return std::unique_ptr<SignalThread>(
      new SignalThread(sfd, efd, std::move(callbacks)));
}

SignalThread::SignalThread(int signal_fd, int stop_fd, Callbacks callbacks)
    : signal_fd_(signal_fd),
      stop_fd_(stop_fd),
      callbacks_(std::move(callbacks)) {
  thread_ = std::thread([this] { Loop(); });
}

SignalThread::~SignalThread() {
  Stop();
  close(signal_fd_);
  close(stop_fd_);
}

void SignalThread::Stop() {
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    // Called from a callback: the loop ends by itself; the owner joins.
    return;
  }
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("signal thread: cannot wake it: {}", strerror(errno));
  }
  thread_.join();
}

void SignalThread::Loop() {
  pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (true) {
    const int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("signal thread: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo info;
    if (read(signal_fd_, &info, sizeof(info)) != sizeof(info)) continue;
    const int signo = static_cast<int>(info.ssi_signo);
    if (signo == SIGHUP) {
      if (callbacks_.on_hangup) callbacks_.on_hangup();
    } else if (callbacks_.on_terminate) {
      callbacks_.on_terminate(signo);
    }
  }
}

}  // namespace kvasir::server
