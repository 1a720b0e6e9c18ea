// A round's checkpoint fact (ledger/lineage.h CheckpointFact) as the text the core keeps in the
// request's LedgerOp::memo until the ledger bridge appends it. The core links neither the ledger
// nor the protocol library, so this is plain text, header-only, in both directions:
//   "<round> <final 0|1> <params in> <params out> <lr bits> <momentum bits> <delta>:<weight>..."
// hashes in 64 hex digits, the doubles' IEEE-754 bits in 16, so the entry the bridge builds is
// the same bytes whenever it is built (a request re-sent after a restart appends nothing new).
#pragma once

#include <bit>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "plume/ledger/lineage.h"

namespace plume::scheduler {

inline std::optional<Hash256> MemoHash(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Hash256 h{};
  for (size_t i = 0; i < 64; ++i) {
    const char c = hex[i];
    const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    h[i / 2] = static_cast<uint8_t>(h[i / 2] | (i % 2 == 0 ? v << 4 : v));
  }
  return h;
}

inline std::string MemoHex(const Hash256& h) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : h) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

inline std::string CheckpointMemo(const ledger::CheckpointFact& f) {
  char bits[40];
  std::snprintf(bits, sizeof bits, "%016llx %016llx",
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(f.outer_lr)),
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(f.outer_momentum)));
  std::string out = std::to_string(f.round) + (f.final ? " 1 " : " 0 ") + MemoHex(f.params_in) +
                    " " + MemoHex(f.params_out) + " " + bits;
  for (size_t i = 0; i < f.deltas.size() && i < f.weights.size(); ++i) {
    out += " " + MemoHex(f.deltas[i]) + ":" + std::to_string(f.weights[i]);
  }
  return out;
}

// nullopt for any text CheckpointMemo would not write (the ledger then checks the fact itself).
inline std::optional<ledger::CheckpointFact> ParseCheckpointMemo(const std::string& memo) {
  std::istringstream in(memo);
  ledger::CheckpointFact f;
  std::string round, final, pin, pout, lr, mom;
  if (!(in >> round >> final >> pin >> pout >> lr >> mom) || (final != "0" && final != "1") ||
      lr.size() != 16 || mom.size() != 16) {
    return std::nullopt;
  }
  try {
    f.round = static_cast<uint32_t>(std::stoul(round));
    f.outer_lr = std::bit_cast<double>(static_cast<uint64_t>(std::stoull(lr, nullptr, 16)));
    f.outer_momentum = std::bit_cast<double>(static_cast<uint64_t>(std::stoull(mom, nullptr, 16)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  f.final = final == "1";
  auto a = MemoHash(pin), b = MemoHash(pout);
  if (!a || !b) return std::nullopt;
  f.params_in = *a;
  f.params_out = *b;
  for (std::string d; in >> d;) {
    const size_t colon = d.find(':');
    auto h = colon == 64 ? MemoHash(std::string_view(d).substr(0, 64)) : std::nullopt;
    if (!h || d.size() == 65) return std::nullopt;
    try {
      f.weights.push_back(std::stoull(d.substr(65)));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    f.deltas.push_back(*h);
  }
  return f;
}

}  // namespace plume::scheduler
