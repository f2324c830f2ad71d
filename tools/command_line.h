#ifndef KVASIR_TOOLS_COMMAND_LINE_H_
#define KVASIR_TOOLS_COMMAND_LINE_H_

// The entry point of the `kvasir` command line, apart from commands.h so
// that its callers (main.cc, the test binaries' mains) do not compile
// CLI11, a header-only library that costs each file that includes it
// several seconds of every build.

#include "server/serve.h"

namespace kvasir::tools {

// Parses argv as `kvasir <command> ...` and runs the command; returns the
// process exit code (2 for a usage error). `serve` builds its engine with
// `serve_engine`: tools::BuildEngine in the real binary, a test's factory in
// test binaries.
int RunCommandLine(int argc, char** argv,
                   const server::EngineFactory& serve_engine);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_COMMAND_LINE_H_
