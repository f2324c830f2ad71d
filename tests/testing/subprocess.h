#ifndef KVASIR_TESTS_TESTING_SUBPROCESS_H_
#define KVASIR_TESTS_TESTING_SUBPROCESS_H_

#include <string>
#include <vector>

namespace kvasir::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: could not start, or killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv[0] (a path) with the arguments as given (no shell), waits for
// it and returns its exit code and output.
ProcessResult RunProcess(const std::vector<std::string>& argv);

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_SUBPROCESS_H_
