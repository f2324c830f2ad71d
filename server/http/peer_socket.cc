#include "server/http/peer_socket.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kvasir::server {
namespace {

// The numeric host and port of `addr`, as httplib renders them
// (getnameinfo with NI_NUMERICHOST), or false.
bool HostPort(const sockaddr_storage& addr, socklen_t len, std::string* host,
              int* port) {
  char h[NI_MAXHOST];
  char s[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, h, sizeof(h),
                  s, sizeof(s), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  *host = h;
  return absl::SimpleAtoi(s, port);
}

// Whether the address of socket `fd` (its own when `peer` is false, its
// peer's when true) is (host, port).
bool Matches(int fd, bool peer, const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* a = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(fd, a, &len) : getsockname(fd, a, &len)) != 0) {
    return false;
  }
  if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) return false;
  std::string h;
  int p = 0;
  return HostPort(addr, len, &h, &p) && p == port && h == host;
}

// Calls fn(fd) for each socket descriptor of this process until it returns
// false; false when /proc/self/fd cannot be listed.
template <typename Fn>
bool ForEachSocket(Fn fn) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  while (const dirent* e = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(e->d_name, &fd) || fd == dirfd(dir)) continue;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (!fn(fd)) break;
  }
  closedir(dir);
  return true;
}

bool IsListener(int fd) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
         listening != 0;
}

// Whether socket `fd` is a connection that lost its peer: getpeername says
// it is not connected (as after a reset).
bool LostPeer(int fd) {
  if (IsListener(fd)) return false;
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 &&
         errno == ENOTCONN;
}

}  // namespace

absl::StatusOr<PeerSocket> PeerSocket::Find(const httplib::Request& req) {
  int found = -1;
  bool lost = false;
  const bool listed = ForEachSocket([&](int fd) {
    if (!Matches(fd, false, req.local_addr, req.local_port)) return true;
    if (Matches(fd, true, req.remote_addr, req.remote_port)) {
      found = fd;
      return false;
    }
    lost = lost || LostPeer(fd);
    return true;
  });
  if (!listed) {
    return absl::NotFoundError(
        absl::StrCat("cannot list /proc/self/fd: errno ", errno));
  }
  // httplib keeps the request's socket open while the handler runs, and
  // getpeername on it fails only once the connection was reset. So when
  // none of this address's connections has the request's peer but one has
  // lost its peer, that one is the request's.
  if (found < 0 && lost) return PeerSocket(-1);
  if (found < 0) {
    return absl::NotFoundError(
        absl::StrCat("no socket from ", req.remote_addr, ":", req.remote_port,
                     " to ", req.local_addr, ":", req.local_port));
  }
  return PeerSocket(found);
}

int ShutdownConnections(int port) {
  int n = 0;
  ForEachSocket([&](int fd) {
    if (IsListener(fd)) return true;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    std::string host;
    int local_port = 0;
    // The read side only: a response still being written goes out whole;
    // a thread waiting for request bytes sees the end of input.
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) &&
        HostPort(addr, len, &host, &local_port) && local_port == port &&
        shutdown(fd, SHUT_RD) == 0) {
      ++n;
    }
    return true;
  });
  return n;
}

bool PeerSocket::PeerClosed() const {
  if (fd_ < 0) return true;
  pollfd p{.fd = fd_, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) != 0) {
    return true;
  }
  if ((p.revents & POLLIN) == 0) return false;
  // Readable without a hang-up flag: an end of input, or bytes of a
  // pipelined request (the client is still there).
  char c;
  const ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 ||
         (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace kvasir::server
