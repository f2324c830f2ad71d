// `kvasir bench serve` as a process against the real `kvasir serve`
// (tests/integration/live_server.h: stories260K.gguf on 127.0.0.1 with
// the two-tenant config, gRPC and the OpenAI HTTP API both listening), over
// each protocol: exact counts, ordered percentiles, one section per tenant,
// --rate, a prompts file, and clear failures. No timing assertions: only counts
// and orderings.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/live_server.h"
#include "tests/testing/paths.h"
#include "tests/testing/subprocess.h"

namespace kvasir::integration {
namespace {

using ::kvasir::testing::BinaryDir;
using ::kvasir::testing::ProcessResult;
using ::kvasir::testing::RunProcess;
using ::testing::HasSubstr;

// One server for the suite: the real `kvasir serve` with the two-tenant
// config, gRPC and HTTP on free loopback ports.
class BenchServeTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<LiveServer>> s =
        LiveServer::Start(TwoTenantConfig());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
    ASSERT_GT(server_->process().http_port(), 0)
        << server_->process().ReadLog();
    http_addr_ = new std::string(
        "127.0.0.1:" + std::to_string(server_->process().http_port()));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete http_addr_;
    http_addr_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(http_addr_, nullptr);
  }

  static std::string Addr(const std::string& protocol) {
    return protocol == "http" ? *http_addr_ : server_->address();
  }

  // `kvasir bench serve --protocol <param> --addr <server> <args...>`.
  static ProcessResult Bench(std::vector<std::string> args,
                             const std::string& addr = "") {
    const std::string protocol = GetParam();
    std::vector<std::string> argv = {BinaryDir() + "/tools/kvasir",
                                     "bench",
                                     "serve",
                                     "--protocol",
                                     protocol,
                                     "--addr",
                                     addr.empty() ? Addr(protocol) : addr};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv);
  }

  static nlohmann::json Json(const ProcessResult& r) {
    EXPECT_EQ(r.exit_code, 0) << Diagnosis(r);
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // Why a run failed, the verdict first (CI logs keep only the head of a
  // failure's output): the bench's own error lines, then all its stderr
  // (progress included), then the end of the server's log.
  static std::string Diagnosis(const ProcessResult& r) {
    std::string verdict;
    for (absl::string_view line : absl::StrSplit(r.err, '\n')) {
      if (absl::StartsWith(line, "kvasir bench serve:")) {
        absl::StrAppend(&verdict, line, "\n");
      }
    }
    const std::string log = server_->process().ReadLog();
    constexpr size_t kLogTail = 16000;
    return absl::StrCat(
        verdict, "--- stderr ---\n", r.err, "--- end of the server log ---\n",
        log.size() > kLogTail ? log.substr(log.size() - kLogTail) : log);
  }

  // The three latency distributions are there, count as they should and
  // are ordered.
  static void ExpectDistributions(const nlohmann::json& g, int64_t requests,
                                  int64_t gen_len) {
    EXPECT_EQ(g["ttft_ms"]["count"], requests);
    EXPECT_EQ(g["e2e_ms"]["count"], requests);
    // One gap per token after each stream's first.
    EXPECT_EQ(g["itl_ms"]["count"], requests * (gen_len - 1));
    for (const char* name : {"ttft_ms", "itl_ms", "e2e_ms", "tpot_ms"}) {
      const nlohmann::json& d = g[name];
      EXPECT_LE(d["min"].get<double>(), d["p50"].get<double>()) << name;
      EXPECT_LE(d["p50"].get<double>(), d["p90"].get<double>()) << name;
      EXPECT_LE(d["p90"].get<double>(), d["p99"].get<double>()) << name;
      EXPECT_LE(d["p99"].get<double>(), d["max"].get<double>()) << name;
      EXPECT_GE(d["min"].get<double>(), 0) << name;
    }
    // A stream ends after its first token.
    EXPECT_LE(g["ttft_ms"]["max"].get<double>(),
              g["e2e_ms"]["max"].get<double>());
  }

  static LiveServer* server_;
  static std::string* http_addr_;
};

LiveServer* BenchServeTest::server_ = nullptr;
std::string* BenchServeTest::http_addr_ = nullptr;

TEST_P(BenchServeTest, ConcurrencyCountsAreExact) {
  const nlohmann::json j =
      Json(Bench({"--api-key", kAlphaKey, "--requests", "12", "--concurrency",
                  "4", "--prompt-len", "16", "--gen-len", "10", "--json"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["protocol"], GetParam());
  EXPECT_EQ(j["model"], "stories260K.gguf");
  EXPECT_EQ(j["mode"], "concurrency");
  EXPECT_EQ(j["concurrency"], 4);
  EXPECT_EQ(j["requests"], 12);
  const nlohmann::json& t = j["total"];
  EXPECT_EQ(t["ok"], 12);
  EXPECT_EQ(t["failed"], 0);
  EXPECT_EQ(t["output_tokens"], 12 * 10);
  EXPECT_EQ(t["prompt_tokens"], 12 * 16);
  EXPECT_GT(t["requests_per_s"].get<double>(), 0);
  EXPECT_GT(t["output_tokens_per_s"].get<double>(), 0);
  ExpectDistributions(t, 12, 10);
  EXPECT_GT(j["duration_s"].get<double>(), 0);
  EXPECT_GE(j["client_cpu"]["user_s"].get<double>(), 0);
  EXPECT_FALSE(j.contains("tenants"));
  // One token per stream message / SSE chunk at this pace is not promised,
  // but every token came in some chunk.
  EXPECT_GE(t["stream_chunks"].get<int64_t>(), 12);
  EXPECT_LE(t["stream_chunks"].get<int64_t>(), 12 * 10);
}

TEST_P(BenchServeTest, TwoKeysGiveOneSectionPerTenant) {
  const nlohmann::json j = Json(Bench(
      {"--api-key", kAlphaKey, "--api-key", kBetaKey, "--requests", "9",
       "--concurrency", "3", "--prompt-len", "8", "--gen-len", "6", "--json"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["total"]["ok"], 9);
  EXPECT_EQ(j["total"]["output_tokens"], 9 * 6);
  ASSERT_EQ(j["tenants"].size(), 2u);
  const nlohmann::json& alpha = j["tenants"][0];
  const nlohmann::json& beta = j["tenants"][1];
  EXPECT_EQ(alpha["key_index"], 1);
  EXPECT_EQ(alpha["key_prefix"], "alph");
  EXPECT_EQ(beta["key_prefix"], "beta");
  EXPECT_EQ(alpha["ok"], 5);  // requests 0, 2, 4, 6, 8
  EXPECT_EQ(beta["ok"], 4);
  EXPECT_EQ(alpha["output_tokens"], 5 * 6);
  EXPECT_EQ(beta["output_tokens"], 4 * 6);
  ExpectDistributions(alpha, 5, 6);
  ExpectDistributions(beta, 4, 6);
  // The text report has the sections too.
  const ProcessResult text =
      Bench({"--api-key", kAlphaKey, "--api-key", kBetaKey, "--requests", "2",
             "--prompt-len", "4", "--gen-len", "3", "--progress", "off"});
  EXPECT_EQ(text.exit_code, 0) << Diagnosis(text);
  EXPECT_THAT(text.out, HasSubstr("-- tenant #1 (key alph...)"));
  EXPECT_THAT(text.out, HasSubstr("-- tenant #2 (key beta...)"));
  EXPECT_THAT(text.out, HasSubstr("ttft"));
  EXPECT_EQ(text.err, "");
}

TEST_P(BenchServeTest, RateModeSendsEveryRequest) {
  const nlohmann::json j = Json(
      Bench({"--api-key", kAlphaKey, "--requests", "10", "--rate", "40",
             "--seed", "5", "--prompt-len", "8", "--gen-len", "5", "--json",
             "--progress", "lines", "--progress-interval", "0.05"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["mode"], "rate");
  EXPECT_EQ(j["rate"], 40.0);
  EXPECT_EQ(j["seed"], 5);
  EXPECT_FALSE(j.contains("concurrency"));
  EXPECT_EQ(j["total"]["ok"], 10);
  EXPECT_EQ(j["total"]["output_tokens"], 10 * 5);
  ExpectDistributions(j["total"], 10, 5);
}

TEST_P(BenchServeTest, PromptsFileOneRequestPerLine) {
  const testing::TempDir dir;
  const std::string path = dir.File("prompts.jsonl");
  std::ofstream(path)
      << "{\"prompt\": \"Once upon a time\", \"max_tokens\": 7}\n"
         "{\"prompt\": [1, 300, 301, 302]}\n";
  const nlohmann::json j = Json(Bench(
      {"--api-key", kAlphaKey, "--prompts", path, "--gen-len", "4", "--json"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["requests"], 2);
  EXPECT_EQ(j["prompts_file"], path);
  EXPECT_EQ(j["total"]["ok"], 2);
  EXPECT_EQ(j["total"]["output_tokens"], 7 + 4);  // ignore_eos: exact
  // The id prompt is used as given (4 ids); the text one is encoded.
  EXPECT_GT(j["total"]["prompt_tokens"].get<int64_t>(), 4);
}

TEST_P(BenchServeTest, BadKeyFailsClearlyBeforeTheRun) {
  const ProcessResult r = Bench({"--api-key", kAlphaKey, "--api-key",
                                 "not-a-key", "--requests", "4", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  const std::string refused =
      GetParam() == "http" ? "HTTP 401: " : "UNAUTHENTICATED: ";
  EXPECT_THAT(r.err, HasSubstr("--api-key #2: " + refused));
  EXPECT_THAT(r.err, HasSubstr("unknown API key"));
  EXPECT_EQ(r.out, "");
  // No key and no default tenant.
  const ProcessResult none = Bench({"--requests", "1"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("no --api-key: " + refused));
}

TEST_P(BenchServeTest, BadAddressFailsClearly) {
  absl::StatusOr<int> port = testing::PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string addr = "127.0.0.1:" + std::to_string(*port);
  const ProcessResult r = Bench({"--requests", "2"}, addr);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err,
              HasSubstr(GetParam() == "http"
                            ? "server http://" + addr + ": cannot connect"
                            : "server " + addr + ": UNAVAILABLE"));
}

TEST_P(BenchServeTest, RequestsTheServerRefusesAreCountedByStatus) {
  // beta's limit is 48 blocks (768 tokens): a 1000-token request can never
  // fit, so the server refuses every one; the report counts them.
  const ProcessResult r =
      Bench({"--api-key", kBetaKey, "--requests", "3", "--prompt-len", "900",
             "--gen-len", "100", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  // The same outcome under each protocol's name for it.
  const std::string status =
      GetParam() == "http" ? "HTTP 429" : "RESOURCE_EXHAUSTED";
  EXPECT_THAT(r.err, HasSubstr("3 of 3 requests failed (" + status));
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["total"]["ok"], 0);
  EXPECT_EQ(j["total"]["failed_by_status"][status], 3);
  EXPECT_EQ(j["total"]["ttft_ms"]["count"], 0);
}

TEST_P(BenchServeTest, BadOptionsAreUsageErrors) {
  ProcessResult r = RunProcess(
      {BinaryDir() + "/tools/kvasir", "bench", "serve", "--protocol", "smtp"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--protocol 'smtp' must be grpc or http"));
  r = Bench({"--rate", "1", "--concurrency", "2"});
  EXPECT_EQ(r.exit_code, 2);
  r = Bench({"--api-key", kAlphaKey, "--prompt-len", "2100", "--gen-len", "10",
             "--requests", "2"});
  if (GetParam() == "grpc") {
    // ModelInfo told the client the context length: refused before the run.
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("exceeds the model's context length 2048"));
  } else {
    // /v1/models does not say it: the server refuses each request.
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("2 of 2 requests failed (HTTP 400"));
  }
  r = Bench({"--prompts", "/nonexistent/prompts.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot open"));
}

INSTANTIATE_TEST_SUITE_P(Protocols, BenchServeTest,
                         ::testing::Values("grpc", "http"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param;
                         });

}  // namespace
}  // namespace kvasir::integration
