// Reactor: governance (docs/governance.md). GovRequest goes to the gov_service hook (main.cc
// binds it to GovDriver::Answer); on each tick gov_tick appends what is due and, when an
// adopted parameter change was executed, the core is told the new values (ParamsChanged) in
// the same turn, so the next submit is quoted and held under them.
#include "reactor_impl.h"

namespace plume::scheduler {

void Reactor::Impl::OnGovRequest(Incoming& in) {
  const uint64_t rid = in.message.request_id();
  if (!opt.gov_service) {
    return ReplyError(in.peer, rid, wire::ErrorCode::UNEXPECTED,
                      "this scheduler runs without a ledger, so without governance");
  }
  auto m = NewMessage(rid);
  opt.gov_service(in.message.body(), m.body());
  Reply(in.peer, m);
}

void Reactor::Impl::PollGov() {
  if (!opt.gov_tick) return;
  if (auto changed = opt.gov_tick()) Feed(*changed);
}

}  // namespace plume::scheduler
