#ifndef KVASIR_SERVER_SERVE_H_
#define KVASIR_SERVER_SERVE_H_

// Everything `kvasir serve --config FILE [--model M] [--tokenizer T]
// [--listen A] [--http-listen A] [--metrics-listen A]` does, given a way to
// build the engine: block the signals, read the config, set up logging, listen
// (health NOT_SERVING), build the engine (the model loads), serve, reload on
// SIGHUP and file changes, drain on SIGTERM/SIGINT, exit 0.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "server/config/config.h"

namespace kvasir::server {

struct ServeFlags {
  std::string config_path;     // required
  std::string model;           // overrides model.path when set
  std::string tokenizer;       // overrides model.tokenizer
  std::string listen;          // overrides server.listen
  std::string http_listen;     // overrides server.http_listen ("off")
  std::string metrics_listen;  // overrides server.metrics_listen ("off")
};

// Builds the engine the config describes (model loader + runner +
// Engine::Create, with ToEngineOptions / ToTenantConfigs). Called once, on
// the main thread, while the server already answers health checks.
using EngineFactory =
    std::function<absl::StatusOr<std::unique_ptr<engine::Engine>>(
        const ServerConfig&)>;

// Runs the server until SIGTERM or SIGINT and returns the process exit
// code: 0 after a clean drain, 2 for a bad config or flags, 1 when the
// server cannot start (address in use, model fails to load). Call it from
// main before any other thread exists (it blocks SIGHUP/SIGTERM/SIGINT for
// the whole process and handles them on a thread of its own).
int RunServe(const ServeFlags& flags, const EngineFactory& factory);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_SERVE_H_
