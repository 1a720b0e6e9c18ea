// Amounts typed on the command line: PLUME with up to six decimals ("12", "0.5", "1.000001"),
// parsed as integers into micro-PLUME, never through floating point (0.1 + 0.2 is not 0.3 in a
// double, and a ledger does not round). Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "plume/protocol/error.h"

namespace plume::cli {

// micro-PLUME of a positive amount in PLUME: digits, optionally '.' and 1..6 more digits. Refused
// with a message that says what to type: empty text, signs, spaces, exponents, more than six
// decimals, zero, and amounts over the ledger's int64 range.
Result<int64_t> ParsePlumeAmount(std::string_view text);

// "12.5 PLUME" style text of micro-PLUME, exact (no trailing zeros past the point).
std::string PlumeText(int64_t micro_plume);

}  // namespace plume::cli
