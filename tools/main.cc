// kvasir: the command line (command_line.cc) with the engine `serve` loads
// from the config (engine_factory.cc).
#include "tools/command_line.h"
#include "tools/engine_factory.h"

int main(int argc, char** argv) {
  return kvasir::tools::RunCommandLine(argc, argv, &kvasir::tools::BuildEngine);
}
