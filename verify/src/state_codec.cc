// Encoded training states (state_codec.h).
#include "plume/verify/state_codec.h"

#include <bit>
#include <cstring>
#include <limits>

namespace plume::verify {
namespace {

static_assert(std::endian::native == std::endian::little, "states are little-endian floats");

constexpr uint8_t kMagic[4] = {'P', 'L', 'S', 'T'};
constexpr uint64_t kHeadBytes = sizeof(kMagic) + sizeof(uint64_t);

}  // namespace

uint64_t EncodedStateBytes(uint64_t n_params) {
  constexpr uint64_t kPer = 3 * sizeof(float);
  if (n_params > (std::numeric_limits<uint64_t>::max() - kHeadBytes) / kPer) return 0;
  return kHeadBytes + n_params * kPer;
}

kernels::Result<std::vector<uint8_t>> EncodeState(const kernels::TrainState& s) {
  const uint64_t n = s.params.size();
  if (s.m.size() != n || s.v.size() != n) {
    return kernels::Fail("training state: parameters and moments differ in length");
  }
  std::vector<uint8_t> bytes(EncodedStateBytes(n));
  uint8_t* p = bytes.data();
  std::memcpy(p, kMagic, sizeof(kMagic)), p += sizeof(kMagic);
  std::memcpy(p, &n, sizeof(n)), p += sizeof(n);
  for (const auto* part : {&s.params, &s.m, &s.v}) {
    if (n > 0) std::memcpy(p, part->data(), n * sizeof(float));
    p += n * sizeof(float);
  }
  return bytes;
}

kernels::Result<kernels::TrainState> DecodeState(std::span<const uint8_t> bytes,
                                                 uint64_t n_params_expected) {
  if (bytes.size() < kHeadBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return kernels::Fail("not a training state (no PLST header)");
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes.data() + sizeof(kMagic), sizeof(n));
  // Checked before anything is allocated: the count is the peer's word until the size agrees.
  if (EncodedStateBytes(n) == 0 || EncodedStateBytes(n) != bytes.size()) {
    return kernels::Fail("training state of " + std::to_string(bytes.size()) +
                         " bytes does not hold the " + std::to_string(n) + " parameters it names");
  }
  if (n_params_expected > 0 && n != n_params_expected) {
    return kernels::Fail("training state has " + std::to_string(n) + " parameters; the model has " +
                         std::to_string(n_params_expected));
  }
  kernels::TrainState s;
  const uint8_t* p = bytes.data() + kHeadBytes;
  for (auto* part : {&s.params, &s.m, &s.v}) {
    part->resize(n);
    if (n > 0) std::memcpy(part->data(), p, n * sizeof(float));
    p += n * sizeof(float);
  }
  return s;
}

}  // namespace plume::verify
