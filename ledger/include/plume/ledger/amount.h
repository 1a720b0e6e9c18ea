// Money in the ledger: a strong integer type for micro-PLUME (1 PLUME = 1,000,000 micro-PLUME).
// Amounts never wrap: every add/sub/multiply that could overflow goes through a checked helper
// that answers "no" instead. Plain value type; thread-compatible.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

namespace plume::ledger {

class MicroPlume {
 public:
  constexpr MicroPlume() = default;
  constexpr explicit MicroPlume(int64_t value) : value_(value) {}
  constexpr int64_t value() const { return value_; }
  constexpr auto operator<=>(const MicroPlume&) const = default;

  static constexpr MicroPlume Max() { return MicroPlume(std::numeric_limits<int64_t>::max()); }

 private:
  int64_t value_ = 0;
};

inline constexpr int64_t kMicroPlumePerPlume = 1'000'000;
// Prices are in micro-PLUME per PFLOP, so pay = price * flops / 1e15 (rounded down).
inline constexpr uint64_t kFlopsPerPflop = 1'000'000'000'000'000ULL;
inline constexpr uint32_t kBasisPointsPerUnit = 10'000;

// nullopt on overflow.
constexpr std::optional<MicroPlume> CheckedAdd(MicroPlume a, MicroPlume b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a.value(), b.value(), &out)) return std::nullopt;
  return MicroPlume(out);
}

constexpr std::optional<MicroPlume> CheckedSub(MicroPlume a, MicroPlume b) {
  int64_t out = 0;
  if (__builtin_sub_overflow(a.value(), b.value(), &out)) return std::nullopt;
  return MicroPlume(out);
}

// price * flops / 1e15, rounded down; nullopt when the result does not fit an int64.
constexpr std::optional<MicroPlume> PayForFlops(uint64_t price_micro_plume_per_pflop,
                                                uint64_t flops) {
  const unsigned __int128 product =
      static_cast<unsigned __int128>(price_micro_plume_per_pflop) * flops / kFlopsPerPflop;
  if (product > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return MicroPlume(static_cast<int64_t>(product));
}

// amount * bps / 10,000, rounded down (amount >= 0).
constexpr MicroPlume FeeFor(MicroPlume amount, uint32_t fee_bps) {
  const __int128 fee = static_cast<__int128>(amount.value()) * fee_bps / kBasisPointsPerUnit;
  // fee_bps is bounded by limits (<= 10,000), so fee <= amount and always fits.
  return MicroPlume(static_cast<int64_t>(fee));
}

// What a hold must cover for `flops` at `price` plus the fee: the scheduler's maximum job cost
// (FLOPs from the spec x the job's maximum price, plus the fee). nullopt on overflow.
constexpr std::optional<MicroPlume> CostWithFee(uint64_t price_micro_plume_per_pflop,
                                                uint64_t flops, uint32_t fee_bps) {
  const auto pay = PayForFlops(price_micro_plume_per_pflop, flops);
  if (!pay) return std::nullopt;
  return CheckedAdd(*pay, FeeFor(*pay, fee_bps));
}

}  // namespace plume::ledger
