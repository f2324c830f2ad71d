// The headers nearly every test includes, compiled once per build and
// reused by every kvasir_test() target (cmake/KvasirModule.cmake): it saves
// parsing GoogleTest, GoogleMock, nlohmann-json and the standard library
// anew in each test file (about 0.8 s of 5-13 s), and compiling is most of
// CI's time. Only third-party and standard headers: a header of ours here
// would make every test rebuild when it changes.
#ifndef KVASIR_TESTS_TESTING_PRECOMPILED_H_
#define KVASIR_TESTS_TESTING_PRECOMPILED_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#endif  // KVASIR_TESTS_TESTING_PRECOMPILED_H_
