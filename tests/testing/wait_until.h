#ifndef KVASIR_TESTS_TESTING_WAIT_UNTIL_H_
#define KVASIR_TESTS_TESTING_WAIT_UNTIL_H_

#include <functional>

#include "absl/time/time.h"

namespace kvasir::testing {

// Polls `condition` every millisecond until it holds or `timeout` (real
// time) passes; returns whether it held. For waiting on another thread or
// process, never for measuring time.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(20));

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_WAIT_UNTIL_H_
