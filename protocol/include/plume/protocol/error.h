// Error values shared by protocol, ledger, scheduler, node-agent and cli.
// Operating errors (bad input, dead peer, full disk) are values with a message saying what was
// wrong and what to do; no exception crosses a public header.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace plume {

struct Error {
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace plume
