// PeerSocket (a unary HTTP handler's view of its client) and
// ShutdownConnections, on real loopback sockets.
#include "server/http/peer_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "httplib.h"

namespace kvasir::server {
namespace {

int PortOf(int fd, bool peer) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  auto* a = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(fd, a, &len) : getsockname(fd, a, &len)) != 0) {
    return -1;
  }
  return ntohs(addr.sin_port);
}

// A listener on 127.0.0.1 and connections to it, accepted: what httplib
// holds while a handler runs.
class PeerSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    ASSERT_EQ(listen(listener_, 8), 0);
    port_ = PortOf(listener_, false);
  }
  void TearDown() override { close(listener_); }

  // Connects a client; *server gets the accepted end.
  int Connect(int* server) {
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    *server = accept(listener_, nullptr, nullptr);
    EXPECT_GE(*server, 0);
    return client;
  }

  // The request httplib would hand a handler for `client`'s connection.
  httplib::Request RequestOf(int client) const {
    httplib::Request req;
    req.local_addr = "127.0.0.1";
    req.local_port = port_;
    req.remote_addr = "127.0.0.1";
    req.remote_port = PortOf(client, false);
    return req;
  }

  int listener_ = -1;
  int port_ = 0;
};

TEST_F(PeerSocketTest, ALiveClientIsThere) {
  int server = -1;
  const int client = Connect(&server);
  absl::StatusOr<PeerSocket> s = PeerSocket::Find(RequestOf(client));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->PeerClosed());
  close(client);
  pollfd p{.fd = server, .events = POLLRDHUP, .revents = 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);
  EXPECT_TRUE(s->PeerClosed());
  close(server);
}

// getpeername fails on a reset connection, so a lookup after the reset
// found no socket ("the request runs to its end"). Now the connection that
// lost its peer stands for it, beside a live one on the same port.
TEST_F(PeerSocketTest, AClientResetBeforeTheLookupIsGone) {
  int live_server = -1;
  const int live = Connect(&live_server);
  int server = -1;
  const int client = Connect(&server);
  const httplib::Request req = RequestOf(client);
  const linger now{.l_onoff = 1, .l_linger = 0};
  ASSERT_EQ(setsockopt(client, SOL_SOCKET, SO_LINGER, &now, sizeof(now)), 0);
  close(client);
  pollfd p{.fd = server, .events = POLLIN, .revents = 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);
  absl::StatusOr<PeerSocket> s = PeerSocket::Find(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->PeerClosed());
  // The live one is still found as itself.
  absl::StatusOr<PeerSocket> l = PeerSocket::Find(RequestOf(live));
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_FALSE(l->PeerClosed());
  close(server);
  close(live);
  close(live_server);
}

TEST_F(PeerSocketTest, NoSocketIsNotFound) {
  httplib::Request req;
  req.local_addr = "127.0.0.1";
  req.local_port = port_;
  req.remote_addr = "127.0.0.1";
  req.remote_port = 1;
  EXPECT_EQ(PeerSocket::Find(req).status().code(), absl::StatusCode::kNotFound);
}

// A server's stop: the read side of its accepted connections ends (a
// thread waiting for request bytes returns), their writes still go out,
// the listener and the clients' own sockets are left alone.
TEST_F(PeerSocketTest, ShutdownConnectionsEndsTheReadSideOnly) {
  int server = -1;
  const int client = Connect(&server);
  EXPECT_EQ(ShutdownConnections(port_), 1);
  char c;
  EXPECT_EQ(read(server, &c, 1), 0);
  ASSERT_EQ(write(server, "x", 1), 1);
  ASSERT_EQ(read(client, &c, 1), 1);
  EXPECT_EQ(c, 'x');
  int listening = 0;
  socklen_t len = sizeof(listening);
  ASSERT_EQ(getsockopt(listener_, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len),
            0);
  EXPECT_NE(listening, 0);
  close(client);
  close(server);
}

}  // namespace
}  // namespace kvasir::server
