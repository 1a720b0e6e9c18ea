// History and formatting helpers (see query.h).
#include "plume/ledger/query.h"

#include <deque>

namespace plume::ledger {

bool Touches(const Entry& e, std::string_view account) {
  if (e.from == account || e.to == account) return true;
  return e.type == EntryType::kSettle && account == kTreasury;
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

std::string DescribeEntry(const LoggedEntry& l) {
  const Entry& e = l.entry;
  std::string out =
      "#" + std::to_string(l.index) + " " + std::string(EntryTypeName(e.type)) + " id=" + e.id;
  if (!e.job.empty()) out += " job=" + e.job;
  if (!e.from.empty() || !e.to.empty()) out += " " + e.from + " -> " + e.to;
  if (e.amount.value() != 0) out += " " + FormatPlume(e.amount);
  if (e.receipt) {
    const TaskReceipt& r = *e.receipt;
    out += " task=" + r.task_id + " attempt=" + std::to_string(r.attempt) +
           " flops=" + std::to_string(r.flops) +
           " price=" + std::to_string(r.price_micro_plume_per_pflop) + "uPLUME/PFLOP";
    if (auto pay = PayForFlops(r.price_micro_plume_per_pflop, r.flops)) {
      out += " pay=" + FormatPlume(*pay) + " fee=" + FormatPlume(FeeFor(*pay, r.fee_bps));
    }
  }
  return out;
}

}  // namespace plume::ledger
