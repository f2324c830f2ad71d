#ifndef KVASIR_COMMON_STATUS_MACROS_H_
#define KVASIR_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) and returns it
// from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status kvasir_status_ = (expr);          \
    if (!kvasir_status_.ok()) return kvasir_status_; \
  } while (0)

#define KVASIR_CONCAT_INNER_(a, b) a##b
#define KVASIR_CONCAT_(a, b) KVASIR_CONCAT_INNER_(a, b)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// returns its status when not OK, otherwise moves the value into `lhs`
// (which may be a declaration: `ASSIGN_OR_RETURN(auto x, F());`).
#define ASSIGN_OR_RETURN(lhs, rexpr)                                        \
  KVASIR_ASSIGN_OR_RETURN_IMPL_(KVASIR_CONCAT_(kvasir_statusor_, __LINE__), \
                                lhs, rexpr)

#define KVASIR_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // KVASIR_COMMON_STATUS_MACROS_H_
