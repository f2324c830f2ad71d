// test_kvasir: the real `kvasir` command line (tools::RunCommandLine), whose
// `serve` runs the real engine on the FakeRunner (test_engine.h) instead of
// loading a model, for the process tests (signals, drain, reload, exit
// codes). Each step takes 2 ms, so a long request is still running when a
// test signals the server. --model fake:fail makes loading fail.
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "tests/server/test_engine.h"
#include "tools/command_line.h"

namespace {

absl::StatusOr<std::unique_ptr<kvasir::engine::Engine>> TestEngineFactory(
    const kvasir::server::ServerConfig& config) {
  if (config.model.path == "fake:fail") {
    return absl::NotFoundError("fake:fail: no such model (as asked)");
  }
  absl::StatusOr<kvasir::server::TestEngine> t =
      kvasir::server::BuildTestEngine(config, /*clock=*/nullptr,
                                      absl::Milliseconds(2));
  if (!t.ok()) return t.status();
  return std::move(t->engine);
}

}  // namespace

int main(int argc, char** argv) {
  return kvasir::tools::RunCommandLine(argc, argv, &TestEngineFactory);
}
