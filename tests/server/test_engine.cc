#include "tests/server/test_engine.h"

#include <utility>

#include "server/config/config_engine.h"
#include "tests/testing/ascii_tokenizer.h"

namespace kvasir::server {

absl::StatusOr<TestEngine> BuildTestEngine(const ServerConfig& config,
                                           Clock* clock,
                                           absl::Duration step_delay) {
  const engine::Engine::Options eo = ToEngineOptions(config, clock);
  testing::FakeRunner::Options ro;
  ro.tokenizer = std::make_shared<testing::AsciiTokenizer>();
  ro.context_length = 256;
  ro.n_layers = 2;
  ro.n_heads = 4;
  ro.n_kv_heads = 2;
  ro.head_dim = 8;
  ro.max_batch_tokens = eo.max_batch_tokens;
  ro.max_seqs = eo.max_running;
  ro.step_delay = step_delay;
  absl::StatusOr<std::unique_ptr<testing::FakeRunner>> runner =
      testing::FakeRunner::Create(ro);
  if (!runner.ok()) return runner.status();
  TestEngine t;
  t.runner = runner->get();
  absl::StatusOr<std::unique_ptr<engine::Engine>> e =
      engine::Engine::Create(eo, *std::move(runner), ToTenantConfigs(config));
  if (!e.ok()) return e.status();
  t.engine = *std::move(e);
  return t;
}

std::vector<int32_t> TextPromptIds(const std::string& text) {
  absl::StatusOr<std::vector<int32_t>> ids =
      testing::AsciiTokenizer().Encode(text, {.add_special = true});
  return ids.ok() ? *ids : std::vector<int32_t>();
}

std::vector<int32_t> ContinuationIds(const std::vector<int32_t>& prompt,
                                     int n) {
  return testing::FakeRunner::Generate(prompt, n);
}

std::string ContinuationText(const std::vector<int32_t>& prompt, int n) {
  const testing::AsciiTokenizer tokenizer;
  std::string text;
  for (int32_t id : ContinuationIds(prompt, n)) {
    text += std::string(tokenizer.TokenBytes(id));
  }
  return text;
}

}  // namespace kvasir::server
