// kvasir: the command line. One subcommand per file (see commands.h).
#include <cstdio>

#include "CLI/CLI.hpp"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Kvasir: a multi-tenant LLM inference server for the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvasir 0.1.0");
  int exit_code = 0;
  kvasir::tools::AddInspectCommand(app, &exit_code);
  kvasir::tools::AddServeCommand(app, &exit_code);
  kvasir::tools::AddClientCommand(app, &exit_code);
  kvasir::tools::AddHashKeyCommand(app, &exit_code);
  kvasir::tools::AddGenerateCommand(app, &exit_code);
  kvasir::tools::AddBenchCommand(app, &exit_code);
  kvasir::tools::AddQuantizeCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any usage error exits 2, as the commands
    // do for bad input (CLI11's own codes, like 106 for a missing flag, mean
    // nothing to a shell script).
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}
