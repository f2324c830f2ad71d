// The `kvasir` command line: every subcommand (one per file, see
// commands.h) on one CLI11 app.
#include "tools/command_line.h"

#include "CLI/CLI.hpp"
#include "common/logging.h"
#include "tools/commands.h"

namespace kvasir::tools {

int RunCommandLine(int argc, char** argv,
                   const server::EngineFactory& serve_engine) {
  // Logs go to stderr for every command (serve reconfigures them from its
  // config): stdout is the commands' output, e.g. one JSON object.
  (void)InitLogging(LoggingOptions{});
  CLI::App app{"Kvasir: a multi-tenant LLM inference server for the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvasir 0.1.0");
  int exit_code = 0;
  AddInspectCommand(app, &exit_code);
  AddServeCommand(app, &exit_code, serve_engine);
  AddClientCommand(app, &exit_code);
  AddHashKeyCommand(app, &exit_code);
  AddGenerateCommand(app, &exit_code);
  AddBenchCommand(app, &exit_code);
  AddQuantizeCommand(app, &exit_code);
  AddPerplexityCommand(app, &exit_code);
  AddKvReportCommand(app, &exit_code);
  AddConvertCommand(app, &exit_code);
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

}  // namespace kvasir::tools
