// Error values for the kernels library. Kernels depend on nothing else of Plume's, so they carry
// their own small error type; the other components use plume/protocol/error.h.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace plume::kernels {

// An operating error: what went wrong and, where it helps, what to do about it.
struct Error {
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace plume::kernels
