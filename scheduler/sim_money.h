// The money side of a simulated world (sim_world.h) through the real pure ledger rules
// (ledger::State): each ledger request of the core becomes the entry the ledger bridge would
// append (escrow hold, settle of the task's receipt at its fixed price and its job's fee, release,
// slash) and is applied by State::Apply, the same rules the ledger runs on every append. Signatures
// are left out: Authorize (stateless) is the bridge's business and is tested with it. After every
// entry the ledger's invariants are checked (money is conserved, holds add up); any break, and
// any settle whose pay differs from what the core decided, is recorded in `violations`.
//
// A slash is the ledger's own (entry.h MakeSlash): the faulty run's receipt, the amount and the
// core's legs, which the ledger checks and moves (stake first, then unbonding tranches).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/state.h"
#include "sim_world.h"

namespace plume::scheduler::testing {

class MoneyLedger : public SimLedger {
 public:
  MoneyLedger() = default;

  // A team with `funds` minted to it; a provider with `stake` minted and staked.
  void OpenTeam(const ClientId& team, MicroPlume funds);
  void OpenProvider(const NodeId& node, MicroPlume stake);

  bool Apply(const LedgerOp& op, const State& core, std::string& refusal) override;
  std::pair<MicroPlume, MicroPlume> StakeOf(const NodeId& node) const override;

  // The ledger's balances of the sim's names.
  MicroPlume Earned(const NodeId& node) const;  // provider:<k>: what it was paid
  MicroPlume Staked(const NodeId& node) const;  // stake:<k>
  MicroPlume TeamBalance(const ClientId& team) const;
  MicroPlume Treasury() const;
  // Slash legs by kind (verify/slash.h SlashLegKind values), summed over all slashes applied.
  const std::map<uint8_t, MicroPlume>& legs() const { return legs_; }
  // Verdict entries appended (each checked against the runs' outputs: violations otherwise).
  uint64_t verdicts() const { return verdicts_; }
  // Finder legs credited to a provider (part of its provider:<k> balance besides its pay).
  MicroPlume FinderFees(const NodeId& node) const;
  const ledger::State& state() const { return state_; }

  // The ledger key of a sim name ("agent-00003", "client-2"): BLAKE2b-256 of it, so that the
  // ledger's account names are well formed.
  static PublicKey KeyOf(const std::string& name);
  // A core account name ("team:<client>", "provider:<node>", "treasury") as the ledger's.
  static std::string LedgerAccount(const std::string& core_account);

  std::vector<std::string> violations;

 private:
  bool Put(const ledger::Entry& e, std::string& refusal);
  static ledger::TaskReceipt ReceiptOf(const LedgerOp& op, const State& core);

  ledger::State state_;
  std::map<uint8_t, MicroPlume> legs_;
  uint64_t verdicts_ = 0;
  std::map<std::string, MicroPlume> finder_fees_;  // by core account name
  uint64_t setup_ = 0;  // ids of setup entries
};

}  // namespace plume::scheduler::testing
