// `serve` as a real process (test_kvasir) answering what a client or an
// operator gets wrong: requests that are not protobuf, a duplicated
// authorization header, and configs whose error would list thousands of
// tenants. The statuses must be the right ones, the messages bounded and
// the log in the server's own format.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "kvasir/v1/admin.grpc.pb.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/sha256.h"
#include "tests/server/serve_fixture.h"
#include "tests/server/test_server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::CommandResult;
using ::kvasir::testing::RunCommand;
using ::kvasir::testing::WaitUntil;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A status message comfortably inside gRPC's 8 KiB metadata limit.
constexpr size_t kBoundedMessageBytes = 2048;

std::string KeyHash(const std::string& key) {
  absl::StatusOr<Sha256Digest> d = Sha256(key);
  return d.ok() ? DigestToHex(*d) : std::string();
}

// The test config (alpha, beta, default) plus `n` tenants t0..t{n-1} with
// keys, each reserving 64KiB of the 256KiB capacity: floors that cannot
// fit.
std::string ConfigWithTenants(int n) {
  std::string yaml = TestConfigYaml();
  yaml.reserve(yaml.size() + static_cast<size_t>(n) * 120);
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&yaml, "  - { name: t", i, ", api_key_sha256: \"",
                    KeyHash(absl::StrCat("key-", i)),
                    "\", reserved: 64KiB, limit: 64KiB }\n");
  }
  return yaml;
}

// A unary call of `method` with `request` as its raw bytes.
grpc::Status RawUnaryCall(grpc::GenericStub& stub, const std::string& method,
                          const std::string& request,
                          const std::string& key = kAlphaKey) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + key);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue cq;
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  auto call = stub.PrepareUnaryCall(&ctx, method, out, &cq);
  call->StartCall();
  grpc::ByteBuffer in;
  grpc::Status status;
  call->Finish(&in, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// A server-streaming call of `method` with raw request bytes; its status.
grpc::Status RawStreamCall(grpc::GenericStub& stub, const std::string& method,
                           const std::string& request) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kAlphaKey);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::CompletionQueue cq;
  void* tag = nullptr;
  bool ok = false;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->WriteLast(out, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

class ServeErrorsTest : public ServeFixture {
 protected:
  // Admin.ReloadConfig with the admin key.
  grpc::Status Reload() {
    auto admin = v1::Admin::NewStub(channel_);
    auto ctx = TestServer::Context(kAdminKey, absl::Seconds(120));
    v1::ReloadConfigResponse response;
    return admin->ReloadConfig(ctx.get(), v1::ReloadConfigRequest(), &response);
  }
};

// GenerateRequest{text (field 2): "a\xff"}: valid wire format, invalid
// UTF-8 in a proto3 string; TokenizeRequest{text (field 1): "a\xff"}.
const std::string kBadGenerateText("\x12\x02\x61\xff", 4);
const std::string kBadTokenizeText("\x0a\x02\x61\xff", 4);
// Not protobuf at all: field 0 with an impossible wire type.
const std::string kGarbage("\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);

TEST_F(ServeErrorsTest, UnparsableRequestsAreInvalidArgumentNamingTheMethod) {
  WriteConfig(TestConfigYaml() + "logging: { format: json }\n");
  StartServer();
  grpc::GenericStub stub(channel_);

  ASSERT_EQ(
      v1::GenerateRequest::descriptor()->FindFieldByName("text")->number(), 2);
  grpc::Status s =
      RawUnaryCall(stub, "/kvasir.v1.Generation/Generate", kBadGenerateText);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("kvasir.v1.Generation/Generate"),
                    HasSubstr("could not be parsed as a "
                              "kvasir.v1.GenerateRequest"),
                    HasSubstr("string field 'text' is not valid UTF-8")));

  s = RawStreamCall(stub, "/kvasir.v1.Generation/GenerateStream",
                    kBadGenerateText);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("kvasir.v1.Generation/GenerateStream"),
                    HasSubstr("'text' is not valid UTF-8")));

  // GenerateRequest{text: "a", stopping (field 5): {stop_sequences (field
  // 2): "\xc3"}} (a cut character), and {request_id (field 1): "\xff"}.
  const std::string bad_stop("\x12\x01\x61\x2a\x03\x12\x01\xc3", 8);
  s = RawUnaryCall(stub, "/kvasir.v1.Generation/Generate", bad_stop);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("'stopping.stop_sequences' is not valid UTF-8"));
  s = RawUnaryCall(stub, "/kvasir.v1.Generation/Generate",
                   std::string("\x0a\x01\xff", 3));
  EXPECT_THAT(s.error_message(), HasSubstr("'request_id' is not valid UTF-8"));

  s = RawUnaryCall(stub, "/kvasir.v1.Generation/Tokenize", kBadTokenizeText);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("kvasir.v1.Generation/Tokenize"),
                    HasSubstr("'text' is not valid UTF-8")));

  for (const char* method :
       {"/kvasir.v1.Generation/Generate", "/kvasir.v1.Generation/Tokenize",
        "/kvasir.v1.Generation/ModelInfo", "/kvasir.v1.Admin/GetStats",
        "/kvasir.v1.Admin/ReloadConfig"}) {
    s = RawUnaryCall(stub, method, kGarbage, kAdminKey);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(s.error_message(),
                AllOf(HasSubstr(std::string(method).substr(1)),
                      HasSubstr("not protobuf wire data")))
        << method;
  }
  s = RawStreamCall(stub, "/kvasir.v1.Generation/GenerateStream", kGarbage);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // The server keeps serving, and a well-formed request still works.
  auto gen = v1::Generation::NewStub(channel_);
  auto ctx = TestServer::Context(kAlphaKey);
  v1::GenerateResponse response;
  ASSERT_TRUE(gen->Generate(ctx.get(), TextRequest("ab", 3), &response).ok());
  EXPECT_EQ(response.text(), ContinuationText(TextPromptIds("ab"), 3));

  // Protobuf's complaint about the UTF-8 went through our logger: every
  // line of the log is a JSON object, none a raw "[libprotobuf ...]".
  std::string log;
  ASSERT_TRUE(WaitUntil([&] {
    log = server_->ReadLog();
    return log.find("protobuf: ") != std::string::npos;
  })) << log;
  EXPECT_THAT(log, Not(HasSubstr("[libprotobuf")));
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
}

TEST_F(ServeErrorsTest, ADuplicatedAuthorizationHeaderIsRefused) {
  StartServer();
  auto gen = v1::Generation::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Bearer ") + kAlphaKey);
  ctx.AddMetadata("authorization", std::string("Bearer ") + kBetaKey);
  v1::GenerateResponse response;
  grpc::Status s = gen->Generate(&ctx, TextRequest("a", 2), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(),
              HasSubstr("the 'authorization' header is given 2 times"));
  // The same key twice is refused too: the rule is about the header.
  auto admin = v1::Admin::NewStub(channel_);
  grpc::ClientContext twice;
  twice.AddMetadata("authorization", std::string("Bearer ") + kAdminKey);
  twice.AddMetadata("authorization", std::string("Bearer ") + kAdminKey);
  v1::GetStatsResponse stats;
  s = admin->GetStats(&twice, v1::GetStatsRequest(), &stats);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // One header still works.
  auto one = TestServer::Context(kAdminKey);
  EXPECT_TRUE(admin->GetStats(one.get(), v1::GetStatsRequest(), &stats).ok());
}

// The case: a reload whose floors do not fit, with 1,000 and 10,000
// tenants, used to fail with RESOURCE_EXHAUSTED (a 12 KB / 129 KB message
// does not fit in gRPC metadata).
TEST_F(ServeErrorsTest, ReloadErrorsStayBoundedWithThousandsOfTenants) {
  StartServer();
  for (int n : {1000, 10000}) {
    WriteConfig(ConfigWithTenants(n));
    const grpc::Status s = Reload();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << n << ": " << s.error_message().substr(0, 300);
    EXPECT_LT(s.error_message().size(), kBoundedMessageBytes) << n;
    // Alpha, beta and the first three of the new tenants are named.
    EXPECT_THAT(s.error_message(),
                AllOf(HasSubstr("floors of "), HasSubstr("alpha 64KiB"),
                      HasSubstr("t2 64KiB"), Not(HasSubstr("t3 64KiB")),
                      HasSubstr(absl::StrCat("... and ", n + 2 - 5, " more"))))
        << n;
    // The whole listing is in the log.
    const std::string last = absl::StrCat("t", n - 1, " 64KiB");
    ASSERT_TRUE(WaitUntil([&] {
      return server_->ReadLog().find(last) != std::string::npos;
    })) << n;
  }
  // The server still serves with its old config.
  auto gen = v1::Generation::NewStub(channel_);
  auto ctx = TestServer::Context(kAlphaKey);
  v1::GenerateResponse response;
  EXPECT_TRUE(gen->Generate(ctx.get(), TextRequest("a", 2), &response).ok());
}

TEST_F(ServeErrorsTest, ServePrintsTheBoundedMessageForAHugeInvalidConfig) {
  WriteConfig(ConfigWithTenants(10000));
  absl::StatusOr<CommandResult> r = RunCommand(
      {kTestKvasir, "serve", "--config", config_}, absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2);
  std::vector<std::string> lines =
      absl::StrSplit(r->err, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  // The last line is the error itself, bounded; the full listing comes
  // before it in the log.
  EXPECT_LT(lines.back().size(), kBoundedMessageBytes);
  EXPECT_THAT(lines.back(), HasSubstr("... and 9997 more"));
  EXPECT_THAT(r->err, HasSubstr("full detail"));
  EXPECT_THAT(r->err, HasSubstr("t9999 64KiB"));
}

}  // namespace
}  // namespace kvasir::server
