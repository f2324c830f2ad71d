// fake_kvasir: `kvasir` with the real serve, client and hash-key commands
// and the fake engine behind `serve` (fake_engine_factory.cc).
#include "CLI/CLI.hpp"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kvasir (fake engine, for tests)"};
  app.require_subcommand(1);
  int exit_code = 0;
  kvasir::tools::AddServeCommand(app, &exit_code);
  kvasir::tools::AddClientCommand(app, &exit_code);
  kvasir::tools::AddHashKeyCommand(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
