// libFuzzer harness for the protocol decoder (protocol/include/plume/protocol/message.h).
// Property: Decode never crashes or throws on any input, and when it accepts a frame, reading
// every field of the message (the dynamic-API walk) does not throw either.
//
// In the build: target plume_protocol_decode_fuzz with tests/fuzz/fuzz_driver.cc (seeded
// mutations for a bounded time; ctest runs it as ProtocolDecodeFuzz). As a real libFuzzer
// binary, with clang (the driver's main is then libFuzzer's):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//     -Iprotocol/include -Iprotocol/src -I<build>/protocol/gen
//     tests/fuzz/protocol_decode_fuzz.cc <build>/protocol/libplume_protocol.a
//     -lcapnp -lkj -lsodium -lspdlog -lfmt -o protocol_decode_fuzz      (one command)
//   ./protocol_decode_fuzz -max_len=65536
#include <cstdint>
#include <cstdlib>
#include <span>

#include <capnp/dynamic.h>

#include "message_samples.h"
#include "plume/protocol/message.h"
#include "schema_check.h"

// The seed corpus for fuzz_driver.cc: valid frames of several kinds.
std::vector<std::string> FuzzSeeds() { return plume::testing_samples::SampleFrames(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto message = plume::Decode(std::span(data, size));
  if (!message) return 0;
  try {
    if (!plume::detail::CheckStructDynamic(capnp::toDynamic(message->envelope())).empty()) {
      std::abort();  // Decode accepted what the reference walk refuses
    }
  } catch (...) {
    std::abort();  // reading an accepted message threw
  }
  (void)plume::KindName(message->kind());
  return 0;
}
