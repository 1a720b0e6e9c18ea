// GovRequest -> GovReply (docs/protocol.md "Governance"): parameters with their bounds and who
// set them, proposals with their tallies, and proposals and votes clients signed.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "plume/gov/proposal.h"
#include "plume/ledger/gov.h"
#include "plume/scheduler/gov_driver.h"

namespace plume::scheduler {
namespace {
using Body = wire::Envelope::Body;

void SetError(Body::Builder reply, wire::ErrorCode code, const std::string& why) {
  auto e = reply.initError();
  e.setCode(code);
  e.setMessage(why);
}

void WriteProposal(const gov::ProposalView& v, wire::GovProposal::Builder out) {
  out.setId(v.id);
  out.setKind(std::string(ledger::ProposalKindName(v.body.kind)));
  out.setTitle(v.body.title);
  out.setParam(v.body.param);
  out.setValue(v.body.value);
  out.setGrantTo(v.body.grant_to);
  out.setGrantMicroPlume(v.body.grant_amount.value());
  out.setPurpose(v.body.purpose);
  out.setProposer(v.proposer);
  out.setDepositMicroPlume(v.deposit.value());
  out.setIndex(v.index);
  out.setOpenedAtMs(v.opened_at_ms);
  out.setVotingEndMs(v.body.voting_end_ms);
  out.setExecutableAtMs(v.ExecutableAtMs());
  out.setYesMicroPlume(v.tally.yes.value());
  out.setNoMicroPlume(v.tally.no.value());
  out.setAbstainMicroPlume(v.tally.abstain.value());
  out.setVetoMicroPlume(v.tally.veto.value());
  out.setStakedMicroPlume(v.tally.staked.value());
  out.setVoters(v.tally.voters);
  out.setQuorumPpm(v.body.quorum_ppm);
  out.setThresholdPpm(v.body.threshold_ppm);
  out.setVetoPpm(v.body.veto_ppm);
  out.setOutcome(v.outcome ? std::string(ledger::OutcomeResultName(*v.outcome)) : "");
  out.setExecuted(v.executed);
  out.setExecutedAtMs(v.executed_at_ms);
}

}  // namespace

void GovDriver::Answer(Body::Reader request, Body::Builder reply) {
  if (Status s = CatchUp(); !s) return SetError(reply, wire::ErrorCode::RETRY_LATER, s.error().message);
  const auto req = request.getGovRequest();
  switch (req.which()) {
    case wire::GovRequest::PARAMS: {
      auto p = reply.initGovReply().initParams();
      const auto table = gov::ParamTable();
      auto values = p.initValues(static_cast<unsigned>(table.size()));
      for (unsigned i = 0; i < table.size(); ++i) {
        values[i].setName(std::string(table[i].name));
        values[i].setValue(book_.params().Get(table[i].param));
        values[i].setMin(table[i].min);
        values[i].setMax(table[i].max);
        values[i].setUnit(std::string(table[i].unit));
        values[i].setSetBy(book_.SetBy(table[i].param));
      }
      p.setNowUnixMs(bridge_.NowUnixMs());
      p.setClockSkewMs(gov::kProposalClockSkewMs);
      p.setUnbondingMs(static_cast<uint64_t>(std::max<int64_t>(0, bridge_.unbonding_ms())));
      p.setOpenProposals(static_cast<uint32_t>(book_.open_count()));
      p.setTreasuryMicroPlume(
          bridge_.ledger().Balance(ledger::kTreasury).value_or(ledger::MicroPlume(0)).value());
      return;
    }
    case wire::GovRequest::LIST:
    case wire::GovRequest::SHOW: {
      std::vector<gov::ProposalView> list;
      if (req.isShow()) {
        auto v = book_.Find(std::string(req.getShow()).substr(0, 64));
        if (!v) return SetError(reply, wire::ErrorCode::NOT_FOUND, "no such proposal");
        list.push_back(std::move(*v));
      } else {
        list = book_.List();
        // The newest kGovListMax, oldest first.
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
        if (list.size() > kGovListMax) list.erase(list.begin(), list.end() - kGovListMax);
      }
      auto out = reply.initGovReply().initProposals(static_cast<unsigned>(list.size()));
      for (unsigned i = 0; i < list.size(); ++i) WriteProposal(list[i], out[i]);
      return;
    }
    case wire::GovRequest::PROPOSE:
    case wire::GovRequest::VOTE: {
      const auto bytes = req.isPropose() ? req.getPropose() : req.getVote();
      auto entry = ledger::Decode(std::span<const uint8_t>(bytes.begin(), bytes.size()));
      if (!entry) {
        return SetError(reply, wire::ErrorCode::BAD_MESSAGE,
                        "not a ledger entry: " + entry.error().message);
      }
      const auto want = req.isPropose() ? ledger::EntryType::kGovProposal : ledger::EntryType::kGovVote;
      if (entry->type != want) {
        return SetError(reply, wire::ErrorCode::BAD_MESSAGE, "wrong entry type for this request");
      }
      std::string why;
      auto r = Submit(*entry, why);
      if (!r) {
        return SetError(reply, wire::ErrorCode::INTERNAL,
                        "the ledger cannot be written now (" + r.error().message +
                            "); nothing was applied: retry with the same id later");
      }
      if (r->code != ledger::Code::kOk && r->code != ledger::Code::kIdExists) {
        const std::string reason =
            why.empty() ? "the ledger refused it: " + std::string(ledger::CodeName(r->code)) : why;
        spdlog::info("entry={} {} refused: {}", entry->id.substr(0, 64),
                     ledger::EntryTypeName(entry->type), reason);
        return SetError(reply, wire::ErrorCode::BAD_MESSAGE, reason);
      }
      spdlog::info("entry={} {} applied (#{})", entry->id, ledger::EntryTypeName(entry->type),
                   r->index);
      auto a = reply.initGovReply().initApplied();
      a.setEntryId(entry->id);
      a.setIndex(r->index);
      a.setRepeated(r->code == ledger::Code::kIdExists);
      return;
    }
  }
  SetError(reply, wire::ErrorCode::BAD_MESSAGE, "unknown governance request");
}

}  // namespace plume::scheduler
