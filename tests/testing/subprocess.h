#ifndef KVASIR_TESTS_TESTING_SUBPROCESS_H_
#define KVASIR_TESTS_TESTING_SUBPROCESS_H_

#include <string>
#include <vector>

#include "tests/testing/child_process.h"

namespace kvasir::testing {

// exit_code: the exit status, 128 + signal when killed, -1 when it could
// not start (`err` says why then); out: stdout; err: stderr.
using ProcessResult = CommandResult;

// Runs argv[0] (a path) with the arguments as given (no shell), waits for
// it however long it takes and returns its exit code and output
// (RunCommand without a time limit).
ProcessResult RunProcess(const std::vector<std::string>& argv);

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_SUBPROCESS_H_
