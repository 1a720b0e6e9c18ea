// Reactor: the TaskAssign members of a dispute on commitment chains (core_dispute.cc decides;
// this only writes what the agent needs). An export names the disputed run by its wire id and
// attempt, which is how the agent that ran it keyed the states it kept; a segment referee gets
// the link, the state it starts from and both chains, and replays only that segment. Also the
// evidence blob a dispute/1 verdict names (WriteEvidence).
#include <spdlog/spdlog.h>

#include "plume/protocol/hash.h"
#include "plume/scheduler/dispute_evidence.h"
#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

// Long enough for a CPU agent to read and upload a kept state of the largest model it keeps.
constexpr uint64_t kExportDeadlineMs = 600'000;

void FillChain(capnp::List<capnp::Data>::Builder out, const std::vector<std::string>& hex) {
  for (unsigned i = 0; i < out.size(); ++i) {
    auto h = HashFromHex(hex[i]);
    if (h) out.set(i, AsData(*h));
  }
}

}  // namespace

bool Reactor::Impl::FillDisputeAssign(wire::TaskAssign::Builder t, const Task& task) {
  const auto& tasks = core.state().tasks;
  if (task.audit_role == AuditRole::kExport) {
    const auto src = tasks.find(task.dispute_source);
    if (src == tasks.end()) return false;
    auto x = t.getParams().initExportState();
    x.setSourceTaskId(src->second.wire_id);
    x.setSourceAttempt(src->second.attempt);
    x.setLink(static_cast<uint32_t>(task.dispute_link));
    t.setDeadlineMs(kExportDeadlineMs);
    return true;
  }
  if (task.audit_role != AuditRole::kReferee || task.dispute_link < 0) return false;
  const auto orig = tasks.find(task.audit_of);
  const auto audit = tasks.find(task.audit_of + "/audit");
  if (orig == tasks.end() || audit == tasks.end()) return false;
  auto seg = t.initSegment();
  seg.setLink(static_cast<uint32_t>(task.dispute_link));
  FillBlobRef(seg.initStartState(), task.start_state_blob, "state");
  FillChain(seg.initChainA(static_cast<unsigned>(orig->second.commitments.size())),
            orig->second.commitments);
  FillChain(seg.initChainB(static_cast<unsigned>(audit->second.commitments.size())),
            audit->second.commitments);
  return true;
}

}  // namespace plume::scheduler

namespace plume::scheduler {

// A dispute/1 verdict's evidence blob (dispute_evidence.h): rebuilt from the saved state and
// stored under the hash the verdict names, so the owner's `plume audit` can fetch it. Called
// after the turn that recorded the verdict is saved, before its ledger entry is sent, and for
// every verdict after a start (a crash between the save and the write). A rebuild that does not
// give the named hash (a state changed since) is an alert, never a different blob.
void Reactor::Impl::WriteEvidence(const Verdict& v) {
  if (v.evidence_blob.empty()) return;
  auto want = HashFromHex(v.evidence_blob);
  if (!want || blobs->Has(*want)) return;
  auto e = DisputeEvidenceOf(core.state(), v.task);
  if (!e) {
    spdlog::error("job={} task={}: the evidence {} of its verdict cannot be rebuilt", v.job,
                  v.task, v.evidence_blob.substr(0, 16));
    return;
  }
  const std::vector<uint8_t> bytes = verify::EncodeEvidence(*e);
  if (verify::EvidenceHash(bytes) != *want) {
    spdlog::error("job={} task={}: the rebuilt evidence is not {}: not stored", v.job, v.task,
                  v.evidence_blob.substr(0, 16));
    return;
  }
  if (auto put = blobs->Put(std::span<const uint8_t>(bytes)); !put) {
    spdlog::error("job={} task={}: cannot store the evidence blob {}: {}", v.job, v.task,
                  v.evidence_blob.substr(0, 16), put.error().message);
    return;
  }
  spdlog::info("job={} task={} evidence={}: dispute evidence stored ({} bytes)", v.job, v.task,
               v.evidence_blob.substr(0, 16), bytes.size());
}

}  // namespace plume::scheduler
