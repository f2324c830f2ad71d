#include "tests/testing/subprocess.h"

#include "absl/time/time.h"

namespace kvasir::testing {

ProcessResult RunProcess(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandResult> result =
      RunCommand(argv, absl::InfiniteDuration());
  if (result.ok()) return *std::move(result);
  ProcessResult failed;
  failed.err = std::string(result.status().message());
  return failed;
}

}  // namespace kvasir::testing
