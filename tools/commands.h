#ifndef KVASIR_TOOLS_COMMANDS_H_
#define KVASIR_TOOLS_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "server/serve.h"

// The commands' side of the command line (command_line.h is its entry
// point). Only command files include this header: CLI11 is header-only and
// costs each file that includes it several seconds of every build.
namespace kvasir::tools {

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
// Adds `bench serve` to `bench` (bench_serve_command.cc).
void AddBenchServeCommand(CLI::App* bench, int* exit_code);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMANDS_H_
