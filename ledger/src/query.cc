// History and formatting helpers (see query.h).
#include "plume/ledger/query.h"

#include <algorithm>
#include <deque>

#include "plume/ledger/data_entries.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/verdict.h"

namespace plume::ledger {

std::vector<std::string> TouchedAccounts(const Entry& e) {
  std::vector<std::string> out;
  for (const std::string* a : {&e.from, &e.to}) {
    if (!a->empty()) out.push_back(*a);
  }
  if (e.type == EntryType::kSettle) {
    out.emplace_back(kTreasury);
    for (const Leg& leg : e.legs) out.push_back(leg.account);  // royalties
  }
  if (std::string owner = DataOwnerAccount(e); !owner.empty()) out.push_back(std::move(owner));
  if (e.type == EntryType::kSlash) {
    if (auto agent = AccountKey(e.from)) out.push_back(UnbondAccount(*agent));
    for (const Leg& leg : e.legs) out.push_back(leg.account);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool Touches(const Entry& e, std::string_view account) {
  const std::vector<std::string> touched = TouchedAccounts(e);
  return std::find(touched.begin(), touched.end(), account) != touched.end();
}

Result<std::vector<LoggedEntry>> History(const Ledger& ledger,
                                         const std::optional<std::string>& account, size_t limit) {
  std::deque<LoggedEntry> kept;
  auto s = ledger.ForEachEntry(0, [&](const LoggedEntry& e) {
    if (!account || Touches(e.entry, *account)) {
      kept.push_back(e);
      if (kept.size() > limit) kept.pop_front();
    }
    return true;
  });
  if (!s) return tl::unexpected(s.error());
  return std::vector<LoggedEntry>(kept.begin(), kept.end());
}

std::string FormatPlume(MicroPlume amount) {
  const int64_t v = amount.value();
  const uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  std::string frac = std::to_string(mag % kMicroPlumePerPlume);
  frac.insert(0, 6 - frac.size(), '0');
  return std::string(v < 0 ? "-" : "") + std::to_string(mag / kMicroPlumePerPlume) + "." + frac +
         " PLUME";
}

namespace {
// Memos come from the slasher: quoted, with quotes, backslashes and control characters (C0,
// DEL and the C1 range, which some terminals obey) escaped, so a memo cannot forge a line or
// drive the terminal. Other valid UTF-8 (the decoder checks) passes as is.
std::string Quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto escaped = [](std::string prefix, unsigned char u) {
    return prefix + kHex[u >> 4] + kHex[u & 0xf];
  };
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += escaped("\\x", u);
    } else if (u == 0xc2 && next >= 0x80 && next <= 0x9f) {
      out += escaped("\\u00", next);  // U+0080..U+009F
      ++i;
    } else {
      out += c;
    }
  }
  return out + "\"";
}
}  // namespace

std::string DescribeEntry(const LoggedEntry& l) {
  const Entry& e = l.entry;
  std::string out =
      "#" + std::to_string(l.index) + " " + std::string(EntryTypeName(e.type)) + " id=" + e.id;
  if (!e.job.empty()) out += " job=" + e.job;
  if (!e.from.empty() || !e.to.empty()) {
    out += " " + e.from + " -> " + (e.type == EntryType::kSlash ? std::string("legs") : e.to);
  }
  if (e.amount.value() != 0) out += " " + FormatPlume(e.amount);
  if (e.type == EntryType::kUnstake) out += " release_at_ms=" + std::to_string(e.at_ms);
  if (e.type == EntryType::kWithdraw) out += " at_ms=" + std::to_string(e.at_ms);
  if (e.receipt) {
    const TaskReceipt& r = *e.receipt;
    out += " task=" + r.task_id + " attempt=" + std::to_string(r.attempt) +
           " flops=" + std::to_string(r.flops) +
           " price=" + std::to_string(r.price_micro_plume_per_pflop) + "uPLUME/PFLOP";
    if (auto pay = PayForFlops(r.price_micro_plume_per_pflop, r.flops)) {
      out += " pay=" + FormatPlume(*pay) + " fee=" + FormatPlume(FeeFor(*pay, r.fee_bps));
    }
  }
  if (!e.legs.empty()) {
    out += " legs:";
    for (size_t i = 0; i < e.legs.size(); ++i) {
      const Leg& leg = e.legs[i];
      out += std::string(i == 0 ? " " : ", ") + std::string(LegKindName(leg.kind)) + " " +
             leg.account + " " + FormatPlume(leg.amount);
    }
  }
  if (e.type == EntryType::kSlash) out += " memo=" + Quoted(e.memo);
  out += DescribeDataEntry(e);
  out += DescribeCheckpoint(e);
  out += DescribeVerdict(e);
  return out;
}

}  // namespace plume::ledger
