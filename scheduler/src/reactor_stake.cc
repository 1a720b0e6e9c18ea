// Reactor: stake between the ledger and the core (docs/payments.md "Stake"). The core places
// only nodes whose free stake covers the minimum, so it must hear the ledger's stake of a node
// when the node registers and after every append that moves stake:/unbond: money: a stake or
// unstake over the protocol, a slash the core asked for, a withdrawal on the tick, an entry from
// the inbox. The ledger side reports which agents such appends touched (stake_changes) and what
// they hold (stake_of); this file turns that into StakeChanged events, once per agent per turn,
// and runs the ledger's own tick work (withdrawing matured unbonding stake).
#include <spdlog/spdlog.h>

#include "reactor_impl.h"

namespace plume::scheduler {

void Reactor::Impl::ReportStake(const NodeId& node) {
  if (!opt.stake_of || !core.state().nodes.contains(node)) return;
  const StakeView v = opt.stake_of(node);
  const Node& n = core.state().nodes.at(node);
  if (n.stake_micro_plume == v.staked && n.unbonding_micro_plume == v.unbonding) return;
  Feed(StakeChanged{node, v.staked, v.unbonding});
}

void Reactor::Impl::PollStake(bool tick) {
  if (tick && opt.ledger_tick) opt.ledger_tick();
  if (!opt.stake_changes) return;
  // Agents that are not nodes (yet) are asked when they register.
  for (const NodeId& node : opt.stake_changes()) ReportStake(node);
}

}  // namespace plume::scheduler
