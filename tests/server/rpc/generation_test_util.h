#ifndef KVASIR_TESTS_SERVER_RPC_GENERATION_TEST_UTIL_H_
#define KVASIR_TESTS_SERVER_RPC_GENERATION_TEST_UTIL_H_

// What the kvasir.v1.Generation tests share: the fixture (a real server in
// front of the real engine on the FakeRunner) and readers of the request
// log.

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "spdlog/pattern_formatter.h"
#include "tests/server/test_server.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {

// How requests are held still here: the runner paced slowly
// (SetStepDelay) keeps a long request running while the engine still takes
// submits and cancels between steps, so its Stats stay current; a paused
// runner (Pause) stops the engine thread in the middle of a step, with
// nothing applied until Resume.
inline constexpr absl::Duration kSlow = absl::Milliseconds(50);

// The request log's lines, one per finished call ("request finished: ...").
inline std::unique_ptr<testing::CapturedLog> CaptureLog() {
  return std::make_unique<testing::CapturedLog>(
      std::make_unique<spdlog::pattern_formatter>("%v"));
}

// The request log line of the one call that finished, once it is there.
inline std::string FinishedLine(const testing::CapturedLog& log) {
  std::string found;
  testing::WaitUntil([&] {
    for (const std::string& line : log.lines()) {
      if (line.find("request finished:") != std::string::npos) found = line;
    }
    return !found.empty();
  });
  return found;
}

// The generated_tokens=N of a request log line (-1 when missing).
inline int GeneratedTokens(const std::string& line) {
  const size_t p = line.find("generated_tokens=");
  if (p == std::string::npos) return -1;
  return std::atoi(line.c_str() + p + 17);
}

class GenerationTest : public ServerTest {
 protected:
  // Nothing runs or waits and every KV block is free again (cached prefix
  // blocks count as free).
  bool EngineIdle() {
    const engine::EngineStats s = server_->engine().Stats();
    return s.running == 0 && s.queued == 0 &&
           s.kv.free_blocks + s.kv.cached_blocks == s.kv.total_blocks;
  }

  grpc::Status Generate(const v1::GenerateRequest& request,
                        v1::GenerateResponse* response,
                        const std::string& key = kAlphaKey) {
    auto ctx = TestServer::Context(key);
    return generation_->Generate(ctx.get(), request, response);
  }
};

}  // namespace kvasir::server

#endif  // KVASIR_TESTS_SERVER_RPC_GENERATION_TEST_UTIL_H_
