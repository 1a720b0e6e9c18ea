// Offline ledger verification (see verify.h). Records are read in chunks; the signature checks
// of a chunk (stateless) run on several threads, then the order, chain, rules and heads are
// checked one record at a time, so the first problem is named exactly as a serial pass would.
#include "plume/ledger/verify.h"

#include <algorithm>
#include <thread>
#include <unordered_map>
#include <variant>

#include "plume/ledger/log.h"
#include "plume/ledger/merkle.h"
#include "plume/ledger/state.h"
#include "plume/ledger/verdict.h"
#include "record.h"

namespace plume::ledger {
namespace {

constexpr size_t kChunkRecords = 4096;

struct Item {
  uint64_t offset = 0;
  std::variant<EntryRecord, SignedTreeHead> record;
  Hash256 leaf{};         // entries: MerkleLeafHash(payload)
  Code auth = Code::kOk;  // entries: Authorize()
};

class Verifier {
 public:
  Verifier(LogReader& reader, unsigned threads)
      : reader_(reader),
        keys_{reader.header().ledger, reader.header().operator_key, LedgerIdOf(reader.header())},
        threads_(threads) {}

  VerifyReport Run() {
    while (true) {
      const bool more = ReadChunk();
      AuthorizeChunk();
      for (const Item& item : items_) {
        if (!Check(item)) return report_;
      }
      if (stop_reason_) return Fail(stop_offset_, *stop_reason_);
      if (!more) break;
    }
    return Finish();
  }

 private:
  // Reads up to kChunkRecords records; false at the end of the log or at a bad record (then
  // stop_reason_ says why).
  bool ReadChunk() {
    items_.clear();
    while (items_.size() < kChunkRecords) {
      const LogReader::Next next = reader_.ReadNext();
      if (next == LogReader::Next::kEnd) return false;
      if (next == LogReader::Next::kBad) return Stop(reader_.bad_reason());
      auto rec = DecodeRecord(reader_.payload());
      if (!rec) return Stop(rec.error().message);
      Item item{reader_.offset(), std::move(*rec), {}, Code::kOk};
      if (std::holds_alternative<EntryRecord>(item.record)) {
        item.leaf = MerkleLeafHash(reader_.payload());
      }
      items_.push_back(std::move(item));
    }
    return true;
  }

  bool Stop(std::string why) {
    stop_reason_ = std::move(why);
    stop_offset_ = reader_.offset();
    return false;
  }

  void AuthorizeChunk() {
    const auto work = [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        if (auto* e = std::get_if<EntryRecord>(&items_[i].record)) {
          items_[i].auth = Authorize(e->entry, keys_);
        }
      }
    };
    const unsigned threads = std::max<unsigned>(1, std::min<size_t>(threads_, items_.size() / 64));
    std::vector<std::thread> pool;
    const size_t chunk = (items_.size() + threads - 1) / threads;
    for (unsigned t = 1; t < threads; ++t) {
      const size_t begin = std::min(items_.size(), t * chunk);
      pool.emplace_back(work, begin, std::min(items_.size(), begin + chunk));
    }
    work(0, std::min(items_.size(), chunk));
    for (std::thread& t : pool) t.join();
  }

  bool Check(const Item& item) {
    if (const auto* e = std::get_if<EntryRecord>(&item.record)) return CheckEntry(item, *e);
    const SignedTreeHead& head = std::get<SignedTreeHead>(item.record);
    const auto bad = [&](std::string why) {
      Fail(item.offset, std::move(why));
      return false;
    };
    if (head.tree_size != tree_.size()) {
      return bad("tree head claims " + std::to_string(head.tree_size) + " entries");
    }
    if (head.root != tree_.Root()) return bad("tree head root does not match the entries");
    if (!VerifyHead(head, keys_.ledger)) return bad("tree head signature does not verify");
    if (report_.last_head && head.timestamp_unix_ms < report_.last_head->timestamp_unix_ms) {
      return bad("tree head time goes backwards");
    }
    report_.last_head = head;
    ++report_.heads;
    return true;
  }

  bool CheckEntry(const Item& item, const EntryRecord& e) {
    const auto bad = [&](std::string why) {
      Fail(item.offset, std::move(why));
      return false;
    };
    const std::string what = std::string(EntryTypeName(e.entry.type)) + " '" + e.entry.id + "'";
    if (e.index != tree_.size()) {
      return bad("record holds entry " + std::to_string(e.index) +
                 " here: a record was dropped, duplicated or reordered");
    }
    if (e.prev_hash != chain_) return bad("hash chain broken: prev hash does not match");
    if (item.auth != Code::kOk) {
      return bad(what + " is not authorised: " + std::string(CodeName(item.auth)));
    }
    if (ApplyResult r = state_.Apply(e.entry, BodyHash(e.entry)); r.code != Code::kOk) {
      return bad(what + " breaks the rules: " + std::string(CodeName(r.code)));
    }
    chain_ = item.leaf;
    tree_.AddLeafHash(item.leaf);
    // Verdicts are checked at the end against every receipt of the log (one may come after the
    // verdict that names it); the receipts' outputs by (job, task) until then.
    if (e.entry.receipt) {
      outputs_[e.entry.job + '\n' + e.entry.receipt->task_id] = e.entry.receipt->output_hash;
    }
    if (e.entry.type == EntryType::kVerdict) {
      verdicts_.push_back(PendingVerdict{e.index, item.offset, e.entry.job, e.entry.id,
                                         *DecodeVerdict(e.entry.body)});  // Authorize decoded it
      if (verdicts_.back().fact.evidence) ++report_.evidence_verdicts;
    }
    return true;
  }

  // The first verdict whose runs' receipts contradict it, as a bad entry; true when none does.
  bool CheckVerdicts() {
    for (const PendingVerdict& v : verdicts_) {
      std::vector<std::optional<Hash256>> outputs;
      for (const VerdictRun& r : v.fact.runs) {
        auto it = outputs_.find(v.job + '\n' + r.task);
        outputs.push_back(it == outputs_.end() ? std::nullopt : std::optional(it->second));
      }
      if (std::string p = VerdictProblem(v.fact, outputs); !p.empty()) {
        report_.first_bad_entry = v.index;
        report_.bad_offset = v.offset;
        report_.problem = "entry " + std::to_string(v.index) + " (offset " +
                          std::to_string(v.offset) + "): verdict '" + v.id +
                          "' contradicts its runs' receipts: " + p;
        return false;
      }
    }
    return true;
  }

  VerifyReport Fail(uint64_t offset, std::string why) {
    report_.first_bad_entry = tree_.size();
    report_.bad_offset = offset;
    report_.problem = "entry " + std::to_string(tree_.size()) + " (offset " +
                      std::to_string(offset) + "): " + std::move(why);
    report_.entries = tree_.size();
    return report_;
  }

  VerifyReport Finish() {
    report_.entries = tree_.size();
    const uint64_t signed_size = report_.last_head ? report_.last_head->tree_size : 0;
    if (tree_.size() != signed_size) {
      report_.first_bad_entry = signed_size;
      report_.problem = "entries from " + std::to_string(signed_size) +
                        " on have no signed tree head (an uncommitted tail; opening the ledger "
                        "cuts it)";
      return report_;
    }
    if (auto s = state_.CheckInvariants(); !s) {
      report_.problem = s.error().message;
      return report_;
    }
    if (!CheckVerdicts()) return report_;
    for (const auto& [account, balance] : state_.balances()) report_.balances[account] = balance;
    report_.minted = state_.minted();
    report_.ok = true;
    return report_;
  }

  LogReader& reader_;
  const Keys keys_;
  const unsigned threads_;
  std::vector<Item> items_;
  std::optional<std::string> stop_reason_;
  uint64_t stop_offset_ = 0;
  State state_;
  MerkleTree tree_;
  Hash256 chain_{};
  VerifyReport report_;
  struct PendingVerdict {
    uint64_t index = 0, offset = 0;
    std::string job, id;
    VerdictFact fact;
  };
  std::unordered_map<std::string, Hash256> outputs_;  // job '\n' receipt task -> output
  std::vector<PendingVerdict> verdicts_;
};

}  // namespace

Result<VerifyReport> Verify(const std::filesystem::path& dir, unsigned threads) {
  const std::filesystem::path path = dir / "ledger.log";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Fail("no ledger at " + dir.string() + " (ledger.log is missing)");
  }
  auto reader = LogReader::Open(path);
  if (!reader) {
    VerifyReport report;
    report.problem = reader.error().message;
    return report;
  }
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 16u);
  return Verifier(**reader, threads).Run();
}

std::string DescribeReport(const VerifyReport& r) {
  std::string out = r.ok ? "ledger OK: " : "ledger BAD: ";
  out += std::to_string(r.entries) + " entries, " + std::to_string(r.heads) + " signed heads";
  if (r.last_head) out += ", root " + ToHex(r.last_head->root);
  out += "\n";
  if (!r.ok) out += "first problem: " + r.problem + "\n";
  if (r.evidence_verdicts > 0) {
    out += std::to_string(r.evidence_verdicts) +
           " dispute verdicts name an evidence blob: their receipts are checked here, their "
           "outcomes by `plume audit JOB --scheduler ..`, which fetches the blob\n";
  }
  return out;
}

}  // namespace plume::ledger
