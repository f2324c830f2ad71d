#ifndef KVASIR_SERVER_HTTP_HTTP_LISTEN_H_
#define KVASIR_SERVER_HTTP_HTTP_LISTEN_H_

// Binding a configured cpp-httplib server and running it on its own thread:
// what the metrics endpoint and the OpenAI API share.

#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace kvasir::server {

// Binds `http` to host:port (port 0: a free one), starts its accept loop on
// `*thread` and waits (up to 10 s) until it runs, so that a stop() right
// after takes effect. Returns the bound port. Unavailable, naming `field`
// and `address`, when the address cannot be bound.
absl::StatusOr<int> BindAndServe(httplib::Server& http, const std::string& host,
                                 int port, absl::string_view field,
                                 absl::string_view address,
                                 std::thread* thread);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_HTTP_LISTEN_H_
