// Offline ledger verification (see verify.h).
#include "plume/ledger/verify.h"

#include "plume/ledger/log.h"
#include "plume/ledger/merkle.h"
#include "plume/ledger/state.h"
#include "record.h"

namespace plume::ledger {

Result<VerifyReport> Verify(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "ledger.log";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Fail("no ledger at " + dir.string() + " (ledger.log is missing)");
  }
  VerifyReport report;
  auto reader = LogReader::Open(path);
  if (!reader) {
    report.problem = reader.error().message;
    return report;
  }
  const Keys keys{(*reader)->header().ledger, (*reader)->header().operator_key};
  State state;
  MerkleTree tree;
  Hash256 chain{};
  const auto fail = [&](std::string why) {
    report.first_bad_entry = tree.size();
    report.bad_offset = (*reader)->offset();
    report.problem = "entry " + std::to_string(tree.size()) + " (offset " +
                     std::to_string((*reader)->offset()) + "): " + std::move(why);
    report.entries = tree.size();
    return report;
  };
  while (true) {
    const LogReader::Next next = (*reader)->ReadNext();
    if (next == LogReader::Next::kEnd) break;
    if (next == LogReader::Next::kBad) return fail((*reader)->bad_reason());
    auto rec = DecodeRecord((*reader)->payload());
    if (!rec) return fail(rec.error().message);
    if (auto* e = std::get_if<EntryRecord>(&*rec)) {
      if (e->index != tree.size()) {
        return fail("record holds entry " + std::to_string(e->index) +
                    " here: a record was dropped, duplicated or reordered");
      }
      if (e->prev_hash != chain) return fail("hash chain broken: prev hash does not match");
      if (Code c = Authorize(e->entry, keys); c != Code::kOk) {
        return fail(std::string(EntryTypeName(e->entry.type)) + " '" + e->entry.id +
                    "' is not authorised: " + std::string(CodeName(c)));
      }
      if (ApplyResult r = state.Apply(e->entry, BodyHash(e->entry)); r.code != Code::kOk) {
        return fail(std::string(EntryTypeName(e->entry.type)) + " '" + e->entry.id +
                    "' breaks the rules: " + std::string(CodeName(r.code)));
      }
      chain = MerkleLeafHash((*reader)->payload());
      tree.AddLeafHash(chain);
      continue;
    }
    const SignedTreeHead& head = std::get<SignedTreeHead>(*rec);
    if (head.tree_size != tree.size()) {
      return fail("tree head claims " + std::to_string(head.tree_size) + " entries");
    }
    if (head.root != tree.Root()) return fail("tree head root does not match the entries");
    if (!VerifyHead(head, keys.ledger)) return fail("tree head signature does not verify");
    if (report.last_head && head.timestamp_unix_ms < report.last_head->timestamp_unix_ms) {
      return fail("tree head time goes backwards");
    }
    report.last_head = head;
    ++report.heads;
  }
  report.entries = tree.size();
  const uint64_t signed_size = report.last_head ? report.last_head->tree_size : 0;
  if (tree.size() != signed_size) {
    report.first_bad_entry = signed_size;
    report.problem = "entries from " + std::to_string(signed_size) +
                     " on have no signed tree head (an uncommitted tail; opening the ledger "
                     "cuts it)";
    return report;
  }
  if (auto s = state.CheckInvariants(); !s) {
    report.problem = s.error().message;
    return report;
  }
  for (const auto& [account, balance] : state.balances()) report.balances[account] = balance;
  report.minted = state.minted();
  report.ok = true;
  return report;
}

std::string DescribeReport(const VerifyReport& r) {
  std::string out = r.ok ? "ledger OK: " : "ledger BAD: ";
  out += std::to_string(r.entries) + " entries, " + std::to_string(r.heads) + " signed heads";
  if (r.last_head) out += ", root " + ToHex(r.last_head->root);
  out += "\n";
  if (!r.ok) out += "first problem: " + r.problem + "\n";
  return out;
}

}  // namespace plume::ledger
