// The fixture of the tests that run `serve` as a real process
// (test_kvasir, TEST_KVASIR_PATH): a temp folder with the test config, and
// the server started on it.
#ifndef KVASIR_TESTS_SERVER_SERVE_FIXTURE_H_
#define KVASIR_TESTS_SERVER_SERVE_FIXTURE_H_

#include <memory>
#include <string>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/server/test_server.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"

namespace kvasir::server {

inline constexpr char kTestKvasir[] = TEST_KVASIR_PATH;

class ServeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.File("kvasir.yaml");
    WriteConfig(TestConfigYaml());
  }

  void WriteConfig(const std::string& yaml) {
    ASSERT_TRUE(testing::WriteFileAtomically(config_, yaml)) << config_;
  }

  // Starts test_kvasir on config_ (log in dir_) and opens channel_ to it.
  void StartServer() {
    testing::ServerProcess::Options o;
    o.binary = kTestKvasir;
    o.args = {"--config", config_};
    o.log_path = dir_.File("server.log");
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> p =
        testing::ServerProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = *std::move(p);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
  }

  // Declared before server_: the server writes its log here.
  testing::TempDir dir_;
  std::string config_;
  std::unique_ptr<testing::ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace kvasir::server

#endif  // KVASIR_TESTS_SERVER_SERVE_FIXTURE_H_
