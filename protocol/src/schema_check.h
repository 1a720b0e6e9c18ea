// Private to message.cc and its tests: checks that a Cap'n Proto message matches the Envelope
// schema everywhere, so that reading any field afterwards cannot throw.
//
// Two implementations: a precompiled plan (fast path: pointer indexes, enum offsets and union
// tags taken from the schema once, then checked with raw AnyStruct access), and a walk through
// capnp's dynamic API (slow, obviously complete; the reference the tests compare against).
#pragma once

#include <string>

#include <capnp/any.h>
#include <capnp/dynamic.h>

namespace plume::detail {

// Both return an error text, or empty when the struct and everything below it match the schema.
// Both may throw kj::Exception on malformed pointers; the caller catches.
std::string CheckEnvelopeFast(capnp::AnyStruct::Reader envelope);
std::string CheckStructDynamic(const capnp::DynamicStruct::Reader& s);

}  // namespace plume::detail
