#ifndef KVASIR_TESTS_TESTING_STATUS_MATCHERS_H_
#define KVASIR_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace kvasir::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(f(), IsOk());
MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

// EXPECT_THAT(f(), StatusIs(absl::StatusCode::kInvalidArgument,
//                           HasSubstr("top_p")));
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + ::testing::PrintToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

}  // namespace kvasir::testing

// ASSERT_OK_AND_ASSIGN(auto x, F()); fails the test when F() is not OK.
#define KVASIR_TESTING_CONCAT_INNER_(a, b) a##b
#define KVASIR_TESTING_CONCAT_(a, b) KVASIR_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                  \
  auto KVASIR_TESTING_CONCAT_(statusor_, __LINE__) = (rexpr);             \
  ASSERT_TRUE(KVASIR_TESTING_CONCAT_(statusor_, __LINE__).ok())           \
      << KVASIR_TESTING_CONCAT_(statusor_, __LINE__).status().ToString(); \
  lhs = std::move(KVASIR_TESTING_CONCAT_(statusor_, __LINE__)).value()

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::absl::Status kvasir_s_ = ::kvasir::testing::GetStatus(expr); \
    ASSERT_TRUE(kvasir_s_.ok()) << kvasir_s_.ToString();                 \
  } while (0)
#define EXPECT_OK(expr)                                                  \
  do {                                                                   \
    const ::absl::Status kvasir_s_ = ::kvasir::testing::GetStatus(expr); \
    EXPECT_TRUE(kvasir_s_.ok()) << kvasir_s_.ToString();                 \
  } while (0)

#endif  // KVASIR_TESTS_TESTING_STATUS_MATCHERS_H_
