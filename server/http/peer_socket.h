#ifndef KVASIR_SERVER_HTTP_PEER_SOCKET_H_
#define KVASIR_SERVER_HTTP_PEER_SOCKET_H_

// Whether the client of an HTTP request went away, for a handler that
// waits long before it answers (a unary generation). cpp-httplib 0.11
// (Debian 12) hands a handler the connection's addresses but not its
// socket (later versions have Request::is_connection_closed), so the
// socket is found by its addresses among this process's descriptors.
//
// Thread-safety: a PeerSocket is used by the handler's thread only. The
// descriptor stays open while the handler runs (httplib closes it after
// the response), which is the only time a PeerSocket may be used.

#include "absl/status/statusor.h"
#include "httplib.h"

namespace kvasir::server {

class PeerSocket {
 public:
  // The socket whose local and peer addresses are req's (local_addr,
  // local_port, remote_addr, remote_port); when none is but a socket of
  // the same local address has lost its peer (getpeername: not connected,
  // as after a reset), the request's connection is that one, and
  // PeerClosed() is true. NotFound otherwise (the handler then cannot watch
  // its client). Costs a scan of /proc/self/fd: a few syscalls per open
  // descriptor.
  static absl::StatusOr<PeerSocket> Find(const httplib::Request& req);

  // Whether the peer closed or reset the connection: a pending end of
  // input (also after pipelined bytes), a hang-up or an error. Does not
  // block and consumes no input.
  bool PeerClosed() const;

 private:
  explicit PeerSocket(int fd) : fd_(fd) {}
  int fd_;  // -1: the connection was reset before Find looked
};

// Shuts down the read side (SHUT_RD: a response being written still goes
// out whole; the descriptors stay open, their owners close them) of every
// accepted connection of this process on local TCP port `port`, whatever
// its local address (a wildcard listener's connections have the
// interface's). For a server's stop, after its listener closed: a
// connection thread blocked reading a client that trickles bytes (or sits
// idle until the read timeout) sees the end of input and returns instead of
// holding the stop. Returns how many it shut down.
int ShutdownConnections(int port);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_PEER_SOCKET_H_
