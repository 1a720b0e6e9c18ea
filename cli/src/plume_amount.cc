// Command-line amounts (see plume_amount.h).
#include "plume_amount.h"

#include <limits>

namespace plume::cli {
namespace {

constexpr int kDecimals = 6;
constexpr int64_t kScale = 1'000'000;

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Result<int64_t> ParsePlumeAmount(std::string_view text) {
  const std::string shown(text.substr(0, 40));
  const auto bad = [&](const std::string& why) -> Result<int64_t> {
    return Fail("amount '" + shown + "': " + why +
                " (PLUME with up to 6 decimals, e.g. 12 or 0.5; 1 PLUME = 1000000 micro-PLUME)");
  };
  if (text.empty()) return bad("empty");
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || !AllDigits(whole) || !AllDigits(frac) ||
      (dot != std::string_view::npos && frac.empty())) {
    return bad("not a plain decimal number");
  }
  if (frac.size() > kDecimals) return bad("more than 6 decimals (micro-PLUME is the smallest unit)");
  // whole * 10^6 + frac, each step checked: the ledger holds int64 micro-PLUME.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t micro = 0;
  for (char c : whole) {
    const int64_t d = c - '0';
    if (micro > (kMax - d) / 10) return bad("too large");
    micro = micro * 10 + d;
  }
  if (micro > kMax / kScale) return bad("too large");
  micro *= kScale;
  int64_t f = 0, scale = kScale;
  for (char c : frac) {
    scale /= 10;
    f += (c - '0') * scale;
  }
  if (micro > kMax - f) return bad("too large");
  micro += f;
  if (micro == 0) return bad("must be more than 0");
  return micro;
}

std::string PlumeText(int64_t micro_plume) {
  const bool negative = micro_plume < 0;
  // As unsigned so that the most negative int64 has a magnitude too.
  const uint64_t magnitude =
      negative ? 0 - static_cast<uint64_t>(micro_plume) : static_cast<uint64_t>(micro_plume);
  std::string out = std::to_string(magnitude / kScale);
  if (const uint64_t frac = magnitude % kScale; frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, kDecimals - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return (negative ? "-" : "") + out + " PLUME";
}

}  // namespace plume::cli
