// Early return on an error value, so graph code reads as the list of ops it runs.
#pragma once

#include <utility>

#include <tl/expected.hpp>

#define PLUME_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    auto plume_status_ = (expr);                                      \
    if (!plume_status_) return tl::unexpected(std::move(plume_status_).error()); \
  } while (0)

#define PLUME_CONCAT_INNER_(a, b) a##b
#define PLUME_CONCAT_(a, b) PLUME_CONCAT_INNER_(a, b)
#define PLUME_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)                  \
  auto tmp = (expr);                                                  \
  if (!tmp) return tl::unexpected(std::move(tmp).error());           \
  lhs = std::move(*tmp)
// PLUME_ASSIGN_OR_RETURN(auto x, Compute()); declares x from a Result or returns its error.
#define PLUME_ASSIGN_OR_RETURN(lhs, expr) \
  PLUME_ASSIGN_OR_RETURN_IMPL_(PLUME_CONCAT_(plume_result_, __LINE__), lhs, expr)
