// plume-scheduler's ledger wiring (main.cc): the reactor's ledger hooks bound to the ledger
// bridge that main opened under the ledger key. Kept apart from main.cc so that main stays the
// flags and the order of start-up; what each hook means is in reactor.h.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_bridge.h"
#include "plume/scheduler/reactor.h"

namespace plume::scheduler {

// Sets every ledger hook of `options` (settle receipts, ledger requests, queries, stake,
// datasets, the ledger's tick, escrow signatures) to call `bridge`, which must outlive the
// reactor started with them.
inline void BindLedgerHooks(LedgerBridge& bridge, const PublicKey& op_key,
                            ReactorOptions& options) {
  options.settle_receipt = [b = &bridge](const SettleReceipt& r) { return b->KeepSettle(r); };
  options.ledger_operator = op_key;
  options.ledger_id = bridge.ledger().keys().ledger_id;
  options.ledger_service = [b = &bridge](wire::Envelope::Body::Reader request,
                                         const std::string& account,
                                         wire::Envelope::Body::Builder reply,
                                         const std::function<bool(const std::string&)>& may_read) {
    b->Answer(request, account, reply, may_read);
  };
  options.stake_of = [b = &bridge](const std::string& node) {
    StakeView v;
    if (auto key = PublicKeyFromHex(node)) {
      const auto s = b->StakeOf(*key);
      v.staked = s.staked;
      v.unbonding = s.unbonding;
    }
    return v;
  };
  options.stake_changes = [b = &bridge] { return b->TakeStakeChanges(); };
  options.dataset_of = [b = &bridge](const std::string& id) {
    std::optional<DatasetView> v;
    if (auto d = b->ledger().Dataset(id)) v = DatasetView{d->terms, d->revoked};
    return v;
  };
  options.ledger_kept_blobs = [b = &bridge] {
    std::vector<BlobHash> out;
    for (const Hash256& h : b->ledger().LiveDatasetBlobs()) out.push_back(ToHex(h));
    return out;
  };
  options.ledger_tick = [b = &bridge] {
    if (auto w = b->WithdrawMatured(); !w) {
      spdlog::warn("withdrawing matured unbonding stake: {} (retried next tick)",
                   w.error().message);
    }
  };
  options.ledger = [b = &bridge](const LedgerOp& op, std::string& refusal) {
    return b->Apply(op, refusal);
  };
  options.escrow_signature = [b = &bridge](const std::string& job, std::span<const uint8_t> sig) {
    Signature s{};
    if (sig.size() != s.size()) return Status{};  // the hold is refused as unsigned
    std::copy(sig.begin(), sig.end(), s.begin());
    return b->RememberHoldSignature(job, s);
  };
}

}  // namespace plume::scheduler
