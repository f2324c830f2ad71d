#ifndef KVASIR_TOOLS_COMMANDS_H_
#define KVASIR_TOOLS_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "server/serve.h"

namespace kvasir::tools {

// Parses argv as `kvasir <command> ...` and runs the command; returns the
// process exit code (2 for a usage error). `serve` builds its engine with
// `serve_engine`: tools::BuildEngine in the real binary, a test's factory in
// test binaries.
int RunCommandLine(int argc, char** argv,
                   const server::EngineFactory& serve_engine);

// Each `kvasir <command>` lives in its own file and adds itself to the app
// here. The callback it installs runs the command and sets `*exit_code`.
void AddInspectCommand(CLI::App& app, int* exit_code);  // inspect_command.cc
void AddServeCommand(CLI::App& app, int* exit_code,     // serve_command.cc
                     server::EngineFactory engine);
void AddClientCommand(CLI::App& app, int* exit_code);    // client_command.cc
void AddHashKeyCommand(CLI::App& app, int* exit_code);   // hash_key_command.cc
void AddGenerateCommand(CLI::App& app, int* exit_code);  // generate_command.cc
void AddBenchCommand(CLI::App& app, int* exit_code);     // bench_command.cc
void AddQuantizeCommand(CLI::App& app, int* exit_code);  // quantize_command.cc
void AddPerplexityCommand(CLI::App& app,  // perplexity_command.cc
                          int* exit_code);
void AddKvReportCommand(CLI::App& app, int* exit_code);  // kv_report_command.cc
void AddConvertCommand(CLI::App& app, int* exit_code);   // convert_command.cc

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMANDS_H_
