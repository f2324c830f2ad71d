// kvasir serve --config FILE [--model M] [--tokenizer T] [--listen A]
//              [--http-listen A] [--metrics-listen A]
#include <memory>
#include <utility>

#include "server/serve.h"
#include "tools/commands.h"

namespace kvasir::tools {

void AddServeCommand(CLI::App& app, int* exit_code,
                     server::EngineFactory engine) {
  auto flags = std::make_shared<server::ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the gRPC and OpenAI-compatible HTTP server (SIGHUP reloads the "
      "config, SIGTERM drains)");
  cmd->add_option("--config", flags->config_path, "YAML config file")
      ->required();
  cmd->add_option("--model", flags->model,
                  "Model file or dummy:<preset>; overrides model.path");
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "Tokenizer file; overrides model.tokenizer");
  cmd->add_option("--listen", flags->listen,
                  "gRPC host:port; overrides server.listen");
  cmd->add_option("--http-listen", flags->http_listen,
                  "OpenAI HTTP API host:port or 'off'; overrides "
                  "server.http_listen");
  cmd->add_option("--metrics-listen", flags->metrics_listen,
                  "Metrics host:port or 'off'; overrides "
                  "server.metrics_listen");
  cmd->callback([flags, exit_code, engine = std::move(engine)] {
    *exit_code = server::RunServe(*flags, engine);
  });
}

}  // namespace kvasir::tools
