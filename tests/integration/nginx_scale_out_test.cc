// Scale-out on loopback (issue 6): two `kvasir serve` replicas behind
// Debian's nginx running docker/nginx.conf, the file the compose setup
// mounts, with only its addresses and paths rewritten (replica lines to the
// two loopback ports, the third dropped; listen port; pid and temp paths
// into a temp dir). Shows: every request through nginx succeeds; one API
// key always lands on the same replica; two keys can land on different
// replicas; after one replica stops, its tenant is served by the other;
// the OpenAI HTTP API is hashed on the key the same way.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/http_client.h"
#include "tests/integration/live_server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"

namespace kvasir::integration {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr char kNginx[] = KVASIR_NGINX_PATH;
// Enough tenants that two of them hash to different replicas in all but a
// 2^-23 fraction of runs (the ring depends on the replicas' ports).
constexpr int kTenants = 24;
constexpr int kRequestsPerTenant = 3;
constexpr int32_t kTokens = 16;

std::string TenantName(int i) { return absl::StrFormat("t%02d", i); }
std::string TenantKey(int i) { return absl::StrFormat("tenant-key-%02d", i); }

ConfigSpec ReplicaConfig() {
  ConfigSpec spec;
  spec.capacity = "4000KiB";
  for (int i = 0; i < kTenants; ++i) {
    TenantSpec t;
    t.name = TenantName(i);
    t.api_key = TenantKey(i);
    spec.tenants.push_back(t);
  }
  return spec;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Where the rewritten conf points: nginx's two listen ports and the
// replicas' gRPC and HTTP ports (replica N of the conf is index N-1).
struct NginxPorts {
  int grpc_listen = 0;
  int http_listen = 0;
  std::vector<int> grpc;
  std::vector<int> http;
};

// docker/nginx.conf with loopback addresses and private paths. Fails the
// test (via the returned error) when the file no longer has what the
// rewrite expects, so a changed conf cannot pass unnoticed.
absl::StatusOr<std::string> RewriteConf(const std::string& conf,
                                        const std::string& dir,
                                        const NginxPorts& ports) {
  std::string out = conf;
  if (out.find("/tmp/kvasir-nginx") == std::string::npos) {
    return absl::FailedPreconditionError(
        "docker/nginx.conf: no /tmp/kvasir-nginx pid/temp paths to move");
  }
  out = absl::StrReplaceAll(out, {{"/tmp/kvasir-nginx", dir + "/nginx"}});

  // Line by line (std::regex trips GCC 12's -Wmaybe-uninitialized in the
  // sanitizer build): `listen 50051 ...` (gRPC) and `listen 8080 ...`
  // (HTTP) -> the loopback ports; `server kvasir-N:50051 ...;` and
  // `server kvasir-N:8080 ...;` -> the N-th replica's port, or dropped.
  struct Kind {
    const char* port;
    int listen;
    const std::vector<int>* replicas;
    int listens = 0;
    int servers = 0;
  };
  Kind kinds[] = {{"50051", ports.grpc_listen, &ports.grpc},
                  {"8080", ports.http_listen, &ports.http}};
  constexpr absl::string_view kServer = "server kvasir-";
  std::string rewritten;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    const absl::string_view code = absl::StripLeadingAsciiWhitespace(line);
    const absl::string_view indent = line.substr(0, line.size() - code.size());
    bool done = false;
    for (Kind& k : kinds) {
      const std::string listen = absl::StrCat("listen ", k.port, " ");
      if (absl::StartsWith(code, listen)) {
        ++k.listens;
        absl::StrAppend(&rewritten, indent, "listen 127.0.0.1:", k.listen, " ",
                        code.substr(listen.size()), "\n");
        done = true;
        break;
      }
      if (!absl::StartsWith(code, kServer)) continue;
      const absl::string_view rest = code.substr(kServer.size());
      const std::string suffix = absl::StrCat(":", k.port);
      const size_t colon = rest.find(suffix);
      if (colon == absl::string_view::npos) continue;
      int n = 0;
      if (!absl::SimpleAtoi(rest.substr(0, colon), &n)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "docker/nginx.conf: cannot read the server line '", code, "'"));
      }
      ++k.servers;
      if (n >= 1 && n <= static_cast<int>(k.replicas->size())) {
        absl::StrAppend(&rewritten, indent,
                        "server 127.0.0.1:", (*k.replicas)[n - 1],
                        rest.substr(colon + suffix.size()), "\n");
      }
      done = true;
      break;
    }
    if (!done) absl::StrAppend(&rewritten, line, "\n");
  }
  for (const Kind& k : kinds) {
    if (k.listens != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("docker/nginx.conf: ", k.listens, " `listen ", k.port,
                       "` lines, need 1"));
    }
    if (k.servers < static_cast<int>(k.replicas->size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "docker/nginx.conf: ", k.servers, " `server kvasir-N:", k.port,
          "` lines, need ", k.replicas->size()));
    }
  }
  return rewritten;
}

class NginxScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::unique_ptr<LiveServer>> s =
          LiveServer::Start(ReplicaConfig());
      ASSERT_TRUE(s.ok()) << s.status();
      replicas_.push_back(*std::move(s));
    }
    std::ifstream golden(testing::GoldenPath("stories260K.jsonl"));
    std::string line;
    ASSERT_TRUE(std::getline(golden, line));
    const auto ids = nlohmann::json::parse(line)
                         .at("continuation_token_ids")
                         .get<std::vector<int32_t>>();
    reference_.assign(ids.begin(), ids.begin() + kTokens);
    StartNginx();
  }

  void StartNginx() {
    // nginx's workers drop root privileges: let them into the temp dir.
    chmod(dir_.path().c_str(), 0755);
    absl::StatusOr<int> port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    absl::StatusOr<int> http_port = testing::PickFreePort();
    ASSERT_TRUE(http_port.ok()) << http_port.status();
    nginx_address_ = absl::StrCat("127.0.0.1:", *port);
    nginx_http_port_ = *http_port;
    const std::string source =
        ReadText(testing::SourceDir() + "/docker/nginx.conf");
    ASSERT_FALSE(source.empty()) << "cannot read docker/nginx.conf";
    NginxPorts ports;
    ports.grpc_listen = *port;
    ports.http_listen = *http_port;
    for (const auto& r : replicas_) {
      ports.grpc.push_back(r->process().port());
      ports.http.push_back(r->process().http_port());
    }
    absl::StatusOr<std::string> conf = RewriteConf(source, dir_.path(), ports);
    ASSERT_TRUE(conf.ok()) << conf.status();
    const std::string conf_path = dir_.File("nginx.conf");
    std::ofstream(conf_path) << *conf;

    struct stat st;
    ASSERT_EQ(stat(kNginx, &st), 0)
        << kNginx << " not found: install nginx (scripts/install-deps.sh)";
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> nginx =
        testing::ChildProcess::Spawn(
            {kNginx, "-p", dir_.path() + "/", "-e", "stderr", "-c", conf_path,
             "-g", "daemon off;"},
            dir_.File("nginx.log"));
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
    // Ready when a health check through it reaches a replica. A fresh
    // channel per probe: a channel that failed to connect (nginx not yet
    // listening) would wait out gRPC's reconnect backoff.
    ASSERT_TRUE(WaitUntil([&] {
      if (!nginx_->Running()) return true;  // reported below
      auto health = grpc::health::v1::Health::NewStub(Channel(nginx_address_));
      auto ctx = Context(TenantKey(0), absl::Seconds(5));
      grpc::health::v1::HealthCheckResponse r;
      return health
                 ->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &r)
                 .ok() &&
             r.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    })) << nginx_->ReadLog();
    ASSERT_TRUE(nginx_->Running()) << "nginx exited; its log:\n"
                                   << nginx_->ReadLog() << "\nconf:\n"
                                   << *conf;
    channel_ = Channel(nginx_address_);
    stub_ = v1::Generation::NewStub(channel_);
  }

  void TearDown() override {
    // Close the client's connection first: a graceful nginx stop waits for
    // open client connections.
    stub_.reset();
    channel_.reset();
    if (nginx_ != nullptr && nginx_->Running()) {
      // SIGQUIT: graceful stop of the master and its workers.
      nginx_->Signal(SIGQUIT).IgnoreError();
      absl::StatusOr<int> code = nginx_->Wait(absl::Seconds(30));
      EXPECT_TRUE(code.ok()) << code.status();
    }
    nginx_.reset();
  }

  // Generated tokens of tenant i on replica r (0 when it served none, -1
  // when the replica does not answer).
  int64_t Generated(int r, int tenant) {
    absl::StatusOr<v1::GetStatsResponse> s = replicas_[r]->Stats();
    if (!s.ok()) return -1;
    return FindTenant(*s, TenantName(tenant)).generated_tokens();
  }

  // One request through nginx for `tenant`, alternating the two RPCs; it
  // must succeed with the reference output.
  void SendThroughNginx(int tenant, int n) {
    v1::GenerateRequest r = TextRequest("Once upon a time", kTokens);
    r.mutable_stopping()->set_ignore_eos(false);
    const Outcome out = n % 2 == 0 ? RunUnary(*stub_, TenantKey(tenant), r)
                                   : RunStream(*stub_, TenantKey(tenant), r);
    ASSERT_TRUE(out.status.ok())
        << "tenant " << tenant << " request " << n << ": "
        << out.status.error_message() << "\nnginx log:\n"
        << nginx_->ReadLog();
    EXPECT_THAT(out.ids, ElementsAreArray(reference_));
  }

  std::vector<std::unique_ptr<LiveServer>> replicas_;
  std::vector<int32_t> reference_;
  testing::TempDir dir_;  // outlives nginx_, which writes into it
  std::string nginx_address_;
  int nginx_http_port_ = 0;
  std::unique_ptr<testing::ChildProcess> nginx_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(NginxScaleOutTest, HashesTenantsOntoReplicasAndFailsOver) {
  // Tenants one after the other until two of them sit on different
  // replicas; each sends several requests, and all of a tenant's tokens
  // are on one replica.
  std::vector<int> home(kTenants, -1);
  int first_on[2] = {-1, -1};
  for (int t = 0; t < kTenants && (first_on[0] < 0 || first_on[1] < 0); ++t) {
    SCOPED_TRACE(TenantName(t));
    for (int n = 0; n < kRequestsPerTenant; ++n) {
      ASSERT_NO_FATAL_FAILURE(SendThroughNginx(t, n));
    }
    // Stats are a snapshot taken at the end of an engine step, which may
    // come a moment after the call saw its last token.
    const int64_t all = int64_t{kRequestsPerTenant} * kTokens;
    int64_t on0 = 0;
    int64_t on1 = 0;
    WaitUntil([&] {
      on0 = Generated(0, t);
      on1 = Generated(1, t);
      return on0 + on1 >= all;
    });
    ASSERT_TRUE((on0 == all && on1 == 0) || (on0 == 0 && on1 == all))
        << "tenant " << t << ": " << on0 << " tokens on replica 0, " << on1
        << " on replica 1; expected all " << all << " on one";
    home[t] = on0 == all ? 0 : 1;
    if (first_on[home[t]] < 0) first_on[home[t]] = t;
  }
  ASSERT_GE(first_on[0], 0) << "no tenant hashed to replica 0";
  ASSERT_GE(first_on[1], 0) << "no tenant hashed to replica 1";

  // Stop replica 0 (SIGTERM: drains, exits 0). Its tenant moves to
  // replica 1; replica 1's own tenant stays there.
  const int moved = first_on[0];
  const int stayed = first_on[1];
  const int64_t moved_before = Generated(1, moved);
  const int64_t stayed_before = Generated(1, stayed);
  EXPECT_EQ(moved_before, 0);
  ASSERT_TRUE(replicas_[0]->process().Signal(SIGTERM).ok());
  absl::StatusOr<int> code = replicas_[0]->process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << replicas_[0]->process().ReadLog();
  for (int n = 0; n < kRequestsPerTenant; ++n) {
    ASSERT_NO_FATAL_FAILURE(SendThroughNginx(moved, n));
    ASSERT_NO_FATAL_FAILURE(SendThroughNginx(stayed, n));
  }
  const int64_t sent = int64_t{kRequestsPerTenant} * kTokens;
  EXPECT_TRUE(WaitUntil([&] {
    return Generated(1, moved) == moved_before + sent &&
           Generated(1, stayed) == stayed_before + sent;
  })) << "replica 1 served "
      << Generated(1, moved) - moved_before
      << " tokens of the moved tenant and "
      << Generated(1, stayed) - stayed_before << " of its own; expected "
      << sent << " each";
  EXPECT_TRUE(nginx_->Running()) << nginx_->ReadLog();
}

// The OpenAI HTTP API through the same nginx: its upstreams are hashed on
// the Authorization header like gRPC's, so a tenant's HTTP requests land on
// one replica, and the output is the reference.
TEST_F(NginxScaleOutTest, HttpRequestsAreHashedOnTheKeyToo) {
  const std::string body = nlohmann::json({{"prompt", "Once upon a time"},
                                           {"max_tokens", kTokens},
                                           {"temperature", 0}})
                               .dump();
  for (int t = 0; t < 4; ++t) {
    SCOPED_TRACE(TenantName(t));
    for (int n = 0; n < kRequestsPerTenant; ++n) {
      const HttpReply r =
          HttpPost(nginx_http_port_, "/v1/completions", TenantKey(t), body);
      ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n"
                               << nginx_->ReadLog();
      EXPECT_EQ(r.json["usage"]["completion_tokens"], kTokens);
    }
    const int64_t all = int64_t{kRequestsPerTenant} * kTokens;
    int64_t on0 = 0;
    int64_t on1 = 0;
    WaitUntil([&] {
      on0 = Generated(0, t);
      on1 = Generated(1, t);
      return on0 + on1 >= all;
    });
    EXPECT_TRUE((on0 == all && on1 == 0) || (on0 == 0 && on1 == all))
        << on0 << " tokens on replica 0, " << on1 << " on replica 1";
  }
}

TEST(NginxConfRewriteTest, MovesAddressesAndPathsOnly) {
  const std::string source =
      ReadText(testing::SourceDir() + "/docker/nginx.conf");
  NginxPorts ports;
  ports.grpc_listen = 1234;
  ports.http_listen = 1235;
  ports.grpc = {1001, 1002};
  ports.http = {2001, 2002};
  absl::StatusOr<std::string> conf = RewriteConf(source, "/x", ports);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:1001 "));
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:1002 "));
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:2001 "));
  EXPECT_THAT(*conf, HasSubstr("server 127.0.0.1:2002 "));
  EXPECT_THAT(*conf, ::testing::Not(HasSubstr("kvasir-3")));
  EXPECT_THAT(*conf, HasSubstr("listen 127.0.0.1:1234 "));
  EXPECT_THAT(*conf, HasSubstr("listen 127.0.0.1:1235 "));
  EXPECT_THAT(*conf, HasSubstr("proxy_pass http://kvasir_http;"));
  EXPECT_THAT(*conf, ::testing::Not(HasSubstr("/tmp/")));
  EXPECT_THAT(*conf, HasSubstr("hash $http_authorization consistent;"));
  EXPECT_THAT(*conf, HasSubstr("grpc_pass grpc://kvasir;"));
}

}  // namespace
}  // namespace kvasir::integration
