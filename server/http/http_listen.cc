#include "server/http/http_listen.h"

#include <sys/socket.h>

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {

absl::StatusOr<int> BindAndServe(httplib::Server& http, const std::string& host,
                                 int port, absl::string_view field,
                                 absl::string_view address,
                                 std::thread* thread) {
  // httplib's default options set SO_REUSEPORT: a second server on the
  // same port would start and take half the connections. SO_REUSEADDR
  // alone (a restart does not wait out TIME_WAIT) makes it an error, as
  // for the gRPC port.
  // (httplib keeps the callback for the server's life: the descriptor
  // goes to a shared slot, not to this frame.)
  auto listener = std::make_shared<int>(-1);
  http.set_socket_options([listener](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *listener = fd;
  });
  if (port == 0) {
    port = http.bind_to_any_port(host);
  } else if (!http.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    return absl::UnavailableError(
        absl::StrCat(field, ": cannot listen on '", address,
                     "' (address in use, or not an address of this "
                     "machine?)"));
  }
  // httplib 0.11 listens with a backlog of 5: a burst of connections
  // beyond it waits out a SYN retry (1 s). Listening again raises it.
  // (A failure leaves httplib's backlog: not worth refusing to serve.)
  if (*listener >= 0 && listen(*listener, SOMAXCONN) != 0) {
    spdlog::warn("{}: could not raise the listen backlog", std::string(field));
  }
  *thread = std::thread([&http] { http.listen_after_bind(); });
  // stop() only takes effect once the loop runs; wait for it.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!http.is_running() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port;
}

}  // namespace kvasir::server
