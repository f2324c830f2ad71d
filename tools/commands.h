#ifndef KVASIR_TOOLS_COMMANDS_H_
#define KVASIR_TOOLS_COMMANDS_H_

#include "CLI/CLI.hpp"

namespace kvasir::tools {

// Each `kvasir <command>` lives in its own file and adds itself to the app
// here. The callback it installs runs the command and sets `*exit_code`.
void AddInspectCommand(CLI::App& app, int* exit_code);   // inspect_command.cc
void AddServeCommand(CLI::App& app, int* exit_code);     // serve_command.cc
void AddClientCommand(CLI::App& app, int* exit_code);    // client_command.cc
void AddHashKeyCommand(CLI::App& app, int* exit_code);   // hash_key_command.cc
void AddGenerateCommand(CLI::App& app, int* exit_code);  // generate_command.cc
void AddBenchCommand(CLI::App& app, int* exit_code);     // bench_command.cc
void AddQuantizeCommand(CLI::App& app, int* exit_code);  // quantize_command.cc

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMANDS_H_
