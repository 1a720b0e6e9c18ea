// The scheduler's side of governance (docs/governance.md): it keeps a gov::Book fed with every
// entry of the ledger (replayed at start, then caught up each tick), so the network's current
// parameters are derived from the ledger alone; it appends, with the ledger key, the outcome of
// each proposal whose voting ended and the execution of each adopted one whose timelock ran
// out; and it answers GovRequest messages (gov_wire.cc): parameters, proposals, and proposals
// and votes clients signed, which it checks (gov/proposal.h), co-signs and appends.
//
// Every decision is a gov/ call; this class only moves entries between the ledger and the book.
// Restarts: outcome and execution ids are "gov-outcome-<p>" and "gov-exec-<p>", so an entry
// appended before a crash is found in the ledger (and in the replayed book) and never appended
// twice; one not appended is appended by the first tick after the restart.
// Thread-compatible: the reactor's thread only (the ledger serialises its own appends).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "plume/gov/book.h"
#include "plume/gov/params.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/scheduler/core.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {

// Bounds of the governance messages.
inline constexpr size_t kGovListMax = 256;        // proposals per list reply (the newest)
inline constexpr uint32_t kVoteChangesMax = 16;   // votes one staker may cast on one proposal
inline constexpr uint64_t kVoteClockSkewMs = 60'000;

// The governed values of a core config, and the config with governed values in force.
gov::Params ParamsOfConfig(const Config& config, gov::Params base);
void ApplyParams(const gov::Params& params, Config& config);
ParamsChanged ParamsChangedOf(const gov::Params& params);

struct GovStats {
  size_t open = 0;
  uint64_t passed = 0, no_quorum = 0, rejected = 0, vetoed = 0;
  uint64_t executed = 0;
  double last_turnout_ratio = 0;  // of the latest decided proposal
};

class GovDriver {
 public:
  // Replays `bridge`'s ledger into a book that starts from `initial` (the operator's flags).
  // `ledger_key` signs outcomes, executions and the co-signatures (the bridge's ledger key).
  static Result<std::unique_ptr<GovDriver>> Open(LedgerBridge& bridge, const Identity& ledger_key,
                                                 gov::Params initial);

  const gov::Params& params() const { return book_.params(); }
  const gov::Book& book() const { return book_; }
  GovStats stats() const;

  // Appends what is due at the bridge's clock; the new core parameters when an execution
  // changed them. An I/O error is logged and retried at the next tick.
  std::optional<ParamsChanged> Tick();
  // The GovRequest messages (gov_wire.cc).
  void Answer(wire::Envelope::Body::Reader request, wire::Envelope::Body::Builder reply);

  // Checks, co-signs and appends a proposal or vote a client signed. kOk/kIdExists carry the
  // index; other codes the ledger's refusal; `why` says what was wrong (set also when the
  // check refused it before the ledger: then the code is kInvalid).
  Result<ledger::ApplyResult> Submit(ledger::Entry entry, std::string& why);

 private:
  GovDriver(LedgerBridge& bridge, const Identity& key, gov::Params initial)
      : bridge_(bridge), key_(key), book_(initial) {}
  Status CatchUp();
  std::string VoteProblem(const ledger::Entry& e, uint64_t now_ms) const;
  Result<ledger::ApplyResult> AppendSigned(ledger::Entry e);

  LedgerBridge& bridge_;
  Identity key_;
  gov::Book book_;
  uint64_t fed_ = 0;  // entries of the ledger the book has seen
};

}  // namespace plume::scheduler
