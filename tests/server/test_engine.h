#ifndef KVASIR_TESTS_SERVER_TEST_ENGINE_H_
#define KVASIR_TESTS_SERVER_TEST_ENGINE_H_

// The engine behind the server tests: the real engine (engine::Engine::
// Create) on the deterministic FakeRunner (tests/testing/fake_runner.h)
// with the AsciiTokenizer, sized by the server config the way `kvasir
// serve` sizes it (server::ToEngineOptions / ToTenantConfigs).
//
// The model: "fake", 2 layers, 4 query heads over 2 KV heads of dim 8
// (GQA, group 2), context 256, vocabulary 131; 256 bytes of f32 KV per
// token, so a 16-token block is 4 KiB. Its greedy output is
// FakeRunner::NextToken's: after a text prompt, lowercase letters chosen by
// a hash of the whole sequence; after a digit, a countdown to EOS.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "server/config/config.h"
#include "tests/testing/fake_runner.h"

namespace kvasir::server {

struct TestEngine {
  std::unique_ptr<engine::Engine> engine;
  testing::FakeRunner* runner = nullptr;  // owned by `engine`
};

// The engine for `config` on the FakeRunner. `clock` (not owned; nullptr =
// system) is the engine's; `step_delay` paces the runner.
absl::StatusOr<TestEngine> BuildTestEngine(
    const ServerConfig& config, Clock* clock = nullptr,
    absl::Duration step_delay = absl::ZeroDuration());

// The prompt ids of a text prompt as the server encodes it (BOS, then the
// AsciiTokenizer's " " + text).
std::vector<int32_t> TextPromptIds(const std::string& text);
// The model's greedy continuation of `prompt`: n token ids (fewer when it
// reaches EOS, which is included), and their text.
std::vector<int32_t> ContinuationIds(const std::vector<int32_t>& prompt, int n);
std::string ContinuationText(const std::vector<int32_t>& prompt, int n);

}  // namespace kvasir::server

#endif  // KVASIR_TESTS_SERVER_TEST_ENGINE_H_
