// grpc.health.v1 (Check and Watch), server reflection and the Prometheus
// endpoint of a running server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "server/sha256.h"
#include "tests/server/test_server.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::kvasir::testing::WaitUntil;
using ::testing::HasSubstr;
using ::testing::Not;

class HealthTest : public ServerTest {
 protected:
  grpc::Status Check(const std::string& service, HealthCheckResponse* out) {
    auto stub = server_->Health();
    grpc::ClientContext ctx;
    HealthCheckRequest request;
    request.set_service(service);
    return stub->Check(&ctx, request, out);
  }
};

TEST_F(HealthTest, ServingWhenTheEngineIsAttached) {
  StartServer();
  HealthCheckResponse r;
  ASSERT_TRUE(Check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("kvasir.v1.Generation", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("no.such.Service", &r).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(HealthTest, NotServingWhileLoading) {
  StartServer(EngineNotAttached());
  HealthCheckResponse r;
  ASSERT_TRUE(Check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(Check("kvasir.v1.Generation", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  server_->AttachEngine();
  ASSERT_TRUE(Check("", &r).ok());
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
}

TEST_F(HealthTest, WatchSeesDrainAsNotServing) {
  TestServer::Options o;
  o.start_paused = true;
  StartServer(o);
  // A running request (held in its first step) keeps the drain going while
  // we look.
  auto gen = server_->Generation();
  auto gen_ctx = TestServer::Context();
  auto stream = gen->GenerateStream(gen_ctx.get(), TextRequest("a", 250));
  server_->runner().WaitForStepsStarted(1);

  auto stub = server_->Health();
  grpc::ClientContext ctx;
  HealthCheckRequest request;
  request.set_service("kvasir.v1.Generation");
  auto watch = stub->Watch(&ctx, request);
  HealthCheckResponse r;
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);

  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  // Check agrees while the drain runs.
  HealthCheckResponse checked;
  ASSERT_TRUE(Check("", &checked).ok());
  EXPECT_EQ(checked.status(), HealthCheckResponse::NOT_SERVING);
  ctx.TryCancel();
  while (watch->Read(&r)) {
  }
  watch->Finish();
  server_->runner().Resume();
  v1::GenerateResponse m;
  int messages = 0;
  while (stream->Read(&m)) ++messages;
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  EXPECT_GT(messages, 0);
  shutdown.join();
}

// A watcher never ends by itself: the shutdown cancels it after the flush
// grace, and stops.
TEST_F(HealthTest, AWatchOpenAtShutdownIsCancelled) {
  StartServer();
  auto stub = server_->Health();
  grpc::ClientContext ctx;
  HealthCheckRequest request;
  auto watch = stub->Watch(&ctx, request);
  HealthCheckResponse r;
  ASSERT_TRUE(watch->Read(&r));
  EXPECT_EQ(r.status(), HealthCheckResponse::SERVING);
  server_->server().Shutdown();
  while (watch->Read(&r)) {
    EXPECT_EQ(r.status(), HealthCheckResponse::NOT_SERVING);
  }
  EXPECT_FALSE(watch->Finish().ok());
}

// Server reflection lists our services (v1alpha, over a generic stream).
TEST_F(HealthTest, ReflectionListsTheServices) {
  StartServer();
  grpc::GenericStub stub(server_->channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  // ServerReflectionRequest{list_services: "*"}: field 7, length 1.
  const std::string request("\x3a\x01*", 3);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, HasSubstr("kvasir.v1.Generation"));
  EXPECT_THAT(bytes, HasSubstr("kvasir.v1.Admin"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// Sends `request` (raw HTTP/1.0) to 127.0.0.1:port; the whole response.
std::string HttpExchange(int port, const std::string& request);

// A plain HTTP/1.0 GET of 127.0.0.1:port/path with extra header lines
// ("Name: value\r\n" each); the whole response.
std::string HttpGet(int port, const std::string& path,
                    const std::string& headers = "") {
  return HttpExchange(port, "GET " + path + " HTTP/1.0\r\n" + headers + "\r\n");
}

std::string HttpExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
  close(fd);
  return response;
}

// gRPC would share a busy port (SO_REUSEPORT) and split its connections
// between two servers; ours refuses to start instead, naming the key.
TEST_F(HealthTest, ABusyPortIsAnErrorNotShared) {
  StartServer();
  TestServer::Options second;
  second.yaml = ReplaceOnce(TestConfigYaml(), "listen: \"127.0.0.1:0\"",
                            "listen: \"" + server_->address() + "\"");
  absl::StatusOr<std::unique_ptr<TestServer>> other = TestServer::Start(second);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(other.status().message(),
              HasSubstr("server.listen: cannot listen on '" +
                        server_->address() + "'"));
  HealthCheckResponse response;  // the first one still serves
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

// A client trickling header bytes (one every 200 ms, under httplib's 5 s
// read timeout) held its connection thread, and the HTTP server's stop
// joined it: shutdown waited for as long as the client went on. Now the
// stop shuts the connection down.
TEST_F(HealthTest, ShutdownDoesNotWaitForATricklingClient) {
  StartServer();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->server().http_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // A first request answered on the connection: httplib has accepted it
  // (a connection still in the backlog would just be dropped).
  const std::string first = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(fd, first.data(), first.size()),
            static_cast<ssize_t>(first.size()));
  std::string answer;
  char buf[1024];
  while (answer.find("\"status\"") == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0) << answer;
    answer.append(buf, static_cast<size_t>(n));
  }
  const std::string start = "GET /health HTTP/1.1\r\nX-Slow: ";
  ASSERT_EQ(write(fd, start.data(), start.size()),
            static_cast<ssize_t>(start.size()));
  absl::Notification stopped;
  std::thread trickle([&] {
    // Up to 100 s, far longer than a stop takes.
    for (int i = 0; i < 500 && !stopped.HasBeenNotified(); ++i) {
      if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  std::thread stopper([&] {
    server_->server().Shutdown();
    stopped.Notify();
  });
  const bool done = stopped.WaitForNotificationWithTimeout(absl::Seconds(60));
  EXPECT_TRUE(done) << "Shutdown still waits for the trickling client";
  stopper.join();
  trickle.join();
  close(fd);
}

// httplib's listeners set SO_REUSEPORT by default: a second server on the
// metrics (or HTTP API) port started and split the scrapes. Refused now.
TEST_F(HealthTest, ABusyMetricsPortIsAnErrorNotShared) {
  StartServer();
  const std::string busy =
      absl::StrCat("127.0.0.1:", server_->server().metrics_port());
  TestServer::Options second;
  second.yaml = ReplaceOnce(TestConfigYaml(), "metrics_listen: \"127.0.0.1:0\"",
                            "metrics_listen: \"" + busy + "\"");
  absl::StatusOr<std::unique_ptr<TestServer>> other = TestServer::Start(second);
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(
      other.status().message(),
      HasSubstr("server.metrics_listen: cannot listen on '" + busy + "'"));
  EXPECT_THAT(HttpGet(server_->server().metrics_port(), "/metrics"),
              HasSubstr("200 OK"));
}

TEST_F(HealthTest, MetricsEndpointServesTheFamilies) {
  StartServer();
  auto gen = server_->Generation();
  auto ctx = TestServer::Context();
  v1::GenerateResponse response;
  ASSERT_TRUE(gen->Generate(ctx.get(), TextRequest("a", 4), &response).ok());
  auto bad = TestServer::Context("nope");
  gen->Generate(bad.get(), TextRequest("a", 4), &response);
  ASSERT_GT(server_->server().metrics_port(), 0);
  // A call's metrics are recorded when it completes and the gauges come
  // from the engine's per-step snapshot, so each line may appear a moment
  // after the client saw its status: wait until every one is there.
  const std::vector<std::string> expected = {
      "200 OK",
      "text/plain; version=0.0.4",
      "kvasir_requests_total{finish_reason=\"length\",tenant=\"alpha\"} 1",
      "kvasir_prompt_tokens_total{tenant=\"alpha\"} 3",
      "kvasir_generated_tokens_total{tenant=\"alpha\"} 4",
      "kvasir_time_to_first_token_seconds_bucket{",
      "kvasir_time_per_output_token_seconds_count{",
      "kvasir_requests_rejected_total{code=\"UNAUTHENTICATED\",tenant=\"\"} 1",
      "kvasir_queue_depth 0",
      "kvasir_running_requests 0",
      "kvasir_tenant_kv_blocks_limit{tenant=\"alpha\"} 32",
      "kvasir_tenant_kv_blocks_reserved{tenant=\"beta\"} 8",
      "kvasir_tenant_kv_blocks_used{tenant=\"default\"} 0",
      "kvasir_preemptions_total 0",
      "kvasir_prefix_cache_hit_rate 0",
      "kvasir_ready 1",
  };
  std::string text;
  std::vector<std::string> missing;
  EXPECT_TRUE(WaitUntil([&] {
    text = HttpGet(server_->server().metrics_port(), "/metrics");
    missing.clear();
    for (const std::string& line : expected) {
      if (text.find(line) == std::string::npos) missing.push_back(line);
    }
    return missing.empty();
  })) << "missing: "
      << absl::StrJoin(missing, " | ") << "\n"
      << text;
}

}  // namespace
}  // namespace kvasir::server

namespace kvasir::server {
namespace {

// With server.metrics_api_key_sha256 set, /metrics needs the token as a
// bearer token (401 without it, with a wrong one, or with two headers).
TEST_F(HealthTest, MetricsTokenIsRequiredWhenConfigured) {
  TestServer::Options options;
  // The hash of "scrape-token" (`kvasir hash-key scrape-token`).
  absl::StatusOr<Sha256Digest> hash = Sha256("scrape-token");
  ASSERT_TRUE(hash.ok());
  options.yaml =
      ReplaceOnce(TestConfigYaml(), "metrics_listen: \"127.0.0.1:0\"",
                  "metrics_listen: \"127.0.0.1:0\"\n"
                  "  metrics_api_key_sha256: \"" +
                      DigestToHex(*hash) + "\"");
  StartServer(options);
  const int port = server_->server().metrics_port();
  ASSERT_GT(port, 0);
  std::string text = HttpGet(port, "/metrics");
  EXPECT_THAT(text, HasSubstr("401"));
  EXPECT_THAT(text, HasSubstr("WWW-Authenticate: Bearer"));
  EXPECT_THAT(text, Not(HasSubstr("kvasir_")));
  text = HttpGet(port, "/metrics", "Authorization: Bearer wrong\r\n");
  EXPECT_THAT(text, HasSubstr("401"));
  EXPECT_THAT(text, HasSubstr("wrong token"));
  EXPECT_THAT(text, Not(HasSubstr("tenant=")));
  text = HttpGet(port, "/metrics",
                 "Authorization: Bearer scrape-token\r\n"
                 "Authorization: Bearer scrape-token\r\n");
  EXPECT_THAT(text, HasSubstr("401"));
  EXPECT_THAT(text, HasSubstr("given 2 times"));
  text = HttpGet(port, "/metrics", "Authorization: Bearer scrape-token\r\n");
  EXPECT_THAT(text, HasSubstr("200 OK"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_tenant_kv_blocks_limit{tenant=\"alpha\"}"));
}

// A reload rotates the scrape token at once (it needed a restart).
TEST_F(HealthTest, AReloadRotatesTheMetricsToken) {
  auto with_token = [](const std::string& token) {
    absl::StatusOr<Sha256Digest> hash = Sha256(token);
    EXPECT_TRUE(hash.ok());
    return ReplaceOnce(TestConfigYaml(), "metrics_listen: \"127.0.0.1:0\"",
                       "metrics_listen: \"127.0.0.1:0\"\n"
                       "  metrics_api_key_sha256: \"" +
                           DigestToHex(*hash) + "\"");
  };
  TestServer::Options options;
  options.yaml = with_token("old-token");
  StartServer(options);
  const int port = server_->server().metrics_port();
  auto scrape = [&](const std::string& token) {
    return HttpGet(port, "/metrics", "Authorization: Bearer " + token + "\r\n");
  };
  EXPECT_THAT(scrape("old-token"), HasSubstr("200 OK"));
  server_->WriteConfig(with_token("new-token"));
  auto ctx = TestServer::Context(kAdminKey);
  v1::ReloadConfigResponse r;
  ASSERT_TRUE(server_->Admin()
                  ->ReloadConfig(ctx.get(), v1::ReloadConfigRequest(), &r)
                  .ok());
  EXPECT_THAT(scrape("old-token"), HasSubstr("401"));
  EXPECT_THAT(scrape("new-token"), HasSubstr("200 OK"));
  server_->WriteConfig(TestConfigYaml());
  auto ctx2 = TestServer::Context(kAdminKey);
  ASSERT_TRUE(server_->Admin()
                  ->ReloadConfig(ctx2.get(), v1::ReloadConfigRequest(), &r)
                  .ok());
  EXPECT_THAT(HttpGet(port, "/metrics"), HasSubstr("200 OK"));
}

TEST_F(HealthTest, MetricsNeedNoTokenByDefault) {
  StartServer();
  const std::string text =
      HttpGet(server_->server().metrics_port(), "/metrics");
  EXPECT_THAT(text, HasSubstr("200 OK"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_tenant_kv_blocks_limit{tenant=\"alpha\"}"));
}

// The OpenAI HTTP API refuses a request with two Authorization headers
// (401 naming the header), as gRPC does with duplicated metadata.
TEST_F(HealthTest, HttpApiRefusesADuplicatedAuthorizationHeader) {
  StartServer();
  const int port = server_->server().http_port();
  ASSERT_GT(port, 0);
  const std::string body = R"({"prompt": "ab", "max_tokens": 2})";
  auto post = [&](const std::string& headers) {
    return HttpExchange(port,
                        "POST /v1/completions HTTP/1.0\r\n"
                        "Content-Type: application/json\r\n" +
                            headers + "Content-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  std::string text = post(std::string("Authorization: Bearer ") + kAlphaKey +
                          "\r\nauthorization: Bearer " + kBetaKey + "\r\n");
  EXPECT_THAT(text, HasSubstr("401"));
  EXPECT_THAT(text, HasSubstr("the 'Authorization' header is given 2 times"));
  text = post(std::string("Authorization: Bearer ") + kAlphaKey + "\r\n");
  EXPECT_THAT(text, HasSubstr("200 OK"));
}

}  // namespace
}  // namespace kvasir::server
