// Reactor: the messages agents send (register, heartbeat, drain, deregister, taskResult,
// taskFailed), each checked against what the sender may say before the core hears of it. Kept
// apart from reactor.cc (start-up, the loop turn, dispatch and acting on the core's decisions)
// because this is where untrusted agent input enters: every text bound and every claim the core
// must not take as fact is decided here.
#include <spdlog/spdlog.h>

#include <cmath>

#include "peer_text.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/owner.h"
#include "plume/protocol/receipt.h"
#include "plume/scheduler/limits.h"
#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

NodeInfo NodeFromRegister(const std::string& id, wire::Register::Reader r) {
  NodeInfo n;
  n.id = id;
  n.name = r.getName();
  n.price_micro_plume_per_pflop = r.getPriceMicroPlumePerPflop();
  n.kernel_class = r.getKernelBuild();  // bounded by CheckRegister before this runs
  double flops = 0;
  bool any_passed = false;
  n.backend = Backend::kCpu;
  for (auto g : r.getGpus()) {
    const Backend b = g.getBackend() == wire::Backend::CUDA ? Backend::kCuda : Backend::kCpu;
    if (!g.getSelftestPassed()) continue;  // a device that failed its selftest is not offered
    any_passed = true;
    if (b == Backend::kCuda) n.backend = Backend::kCuda;
    n.gpus.push_back(GpuInfo{g.getName(), g.getMemoryBytes(), g.getCount()});
    if (b == Backend::kCpu) {
      // A CPU device that reports no memory size is not limited by the memory filter.
      const uint64_t bytes = g.getMemoryBytes() == 0 ? UINT64_MAX : g.getMemoryBytes();
      n.host_memory_bytes = std::max(n.host_memory_bytes, bytes);
    }
    flops += g.getMeasuredFlopsPerSec();
  }
  if (n.backend == Backend::kCuda) {  // usable memory is per GPU: keep only the CUDA devices
    std::erase_if(n.gpus, [](const GpuInfo& g) { return g.name == "cpu"; });
  }
  n.selftest_passed = any_passed;
  n.flops_per_s = FlopsFromPeer(flops);
  return n;
}

// Every text field of a Register, before any of it is kept (peer_text.h says why).
Status CheckRegister(wire::Register::Reader r) {
  if (auto st = CheckPeerText("name", TextOf(r.getName()), kNodeNameBytesMax); !st) return st;
  auto st = CheckPeerText("kernelBuild", TextOf(r.getKernelBuild()), kAgentVersionBytesMax);
  if (!st) return st;
  st = CheckPeerText("agentVersion", TextOf(r.getAgentVersion()), kAgentVersionBytesMax);
  if (!st) return st;
  if (r.getGpus().size() > kNodeDevicesMax) {
    return Fail("gpus lists " + std::to_string(r.getGpus().size()) + " devices; at most " +
                std::to_string(kNodeDevicesMax) + " are accepted");
  }
  uint32_t i = 0;
  for (auto g : r.getGpus()) {
    const std::string field = "gpus[" + std::to_string(i++) + "].name";
    if (auto st = CheckPeerText(field, TextOf(g.getName()), kDeviceNameBytesMax); !st) return st;
  }
  return {};
}

struct OwnerRefusal {
  wire::ErrorCode code;
  std::string why;
};

// The owner a Register declares (hex), or the agent's own id when it sends no attestation. An
// attestation that is malformed, names another agent or scheduler, or is not the owner's
// signature is refused whole: the agent is not registered under a guess.
tl::expected<NodeId, OwnerRefusal> OwnerFromRegister(wire::Register::Reader r,
                                                     const PublicKey& agent,
                                                     const PublicKey& self) {
  if (!r.hasOwnerAttestation()) return ToHex(agent);
  auto a = OwnerAttestationFromWire(r.getOwnerAttestation());
  if (!a) return tl::unexpected(OwnerRefusal{wire::ErrorCode::BAD_MESSAGE, a.error().message});
  if (const AttestationCheck c = CheckOwnerAttestation(*a, agent, self);
      c != AttestationCheck::kOk) {
    return tl::unexpected(OwnerRefusal{wire::ErrorCode::UNAUTHORIZED, AttestationRefusal(c, *a)});
  }
  return ToHex(a->owner);
}

}  // namespace

void Reactor::Impl::OnRegister(Incoming& in) {
  const NodeId id = ToHex(in.principal);
  if (auto st = CheckRegister(in.message.body().getRegister()); !st) {
    spdlog::warn("node={} register refused: {}", id.substr(0, 16), st.error().message);
    return ReplyError(in.peer, in.message.request_id(), wire::ErrorCode::BAD_MESSAGE,
                      "register refused: " + st.error().message +
                          " (give the agent a shorter UTF-8 --name; device names come from the "
                          "driver)");
  }
  // A price of 0 or less would rank first for every job and pay nothing or take from the team
  // (security review F3): refused before the core sees it, so the node is never placed.
  if (const int64_t price = in.message.body().getRegister().getPriceMicroPlumePerPflop();
      price <= 0) {
    spdlog::warn("node={} register refused: price {} micro-PLUME/PFLOP", id.substr(0, 16), price);
    return ReplyError(in.peer, in.message.request_id(), wire::ErrorCode::BAD_MESSAGE,
                      "register refused: priceMicroPlumePerPflop is " + std::to_string(price) +
                          "; it must be more than 0 (plume-agent --price N, micro-PLUME per "
                          "PFLOP)");
  }
  // One ed25519 check (about 50 us), as for a submit's spec signature: cheap enough for the
  // reactor thread, and only a Register that carries an attestation pays it.
  auto owner =
      OwnerFromRegister(in.message.body().getRegister(), in.principal, identity.public_key());
  if (!owner) {
    spdlog::warn("node={} register refused: {}", id.substr(0, 16), owner.error().why);
    return ReplyError(in.peer, in.message.request_id(), owner.error().code,
                      "register refused: " + owner.error().why);
  }
  peers[id] = in.peer;
  NodeInfo info = NodeFromRegister(id, in.message.body().getRegister());
  if (*owner != id) info.owner = *owner;
  Feed(AgentRegistered{std::move(info)});
  ReportStake(id);  // placement counts the ledger's stake from the first turn
  auto m = NewMessage(in.message.request_id());
  auto ack = m.body().initRegisterAck();
  ack.setNodeId(id);
  ack.setLeaseMs(static_cast<uint64_t>(opt.core.lease_ms));
  ack.setHeartbeatIntervalMs(static_cast<uint64_t>(opt.core.lease_ms / 3));
  if (opt.ledger_id) ack.setLedgerId(AsData(*opt.ledger_id));
  Reply(in.peer, m);
}

void Reactor::Impl::OnHeartbeat(Incoming& in) {
  const NodeId id = ToHex(in.principal);
  peers[id] = in.peer;
  auto hb = in.message.body().getHeartbeat();
  Heartbeat e{id, {}};
  std::map<uint64_t, std::pair<uint64_t, double>> progress;
  for (auto p : hb.getProgress()) progress[p.getTaskId()] = {p.getStep(), p.getLoss()};
  for (auto r : hb.getRunning()) {
    const Task* t = core.FindTaskByWireId(r.getTaskId());
    // A task id we never issued: report it under a name no task has, so the core cancels it.
    TaskProgress tp{t ? t->id : "unknown/" + std::to_string(r.getTaskId()), r.getAttempt(), 0, 0};
    if (auto it = progress.find(r.getTaskId()); it != progress.end()) {
      tp.step = it->second.first;
      tp.loss = std::isnan(it->second.second) ? 0 : it->second.second;
    }
    e.held.push_back(tp);
  }
  bool rejected = false;
  for (const Action& a : Feed(e)) rejected |= std::holds_alternative<Rejected>(a);
  auto m = NewMessage(in.message.request_id());
  auto ack = m.body().initHeartbeatAck();
  ack.setLeaseMs(static_cast<uint64_t>(opt.core.lease_ms));
  ack.setReRegister(rejected);
  Reply(in.peer, m);
}

void Reactor::Impl::OnDrain(Incoming& in) {
  Feed(AgentDraining{ToHex(in.principal)});
  auto m = NewMessage(in.message.request_id());
  m.body().initAck();
  Reply(in.peer, m);
}

void Reactor::Impl::OnDeregister(Incoming& in) {
  Feed(AgentGone{ToHex(in.principal)});
  auto m = NewMessage(in.message.request_id());
  m.body().initAck();
  Reply(in.peer, m);
}

void Reactor::Impl::OnTaskResult(Incoming& in) {
  const NodeId node = ToHex(in.principal);
  auto r = in.message.body().getTaskResult();
  auto ack_with = [&](bool accepted, const std::string& why) {
    ReplyResultAck(in.peer, in.message.request_id(), r.getTaskId(), r.getAttempt(), accepted, why);
  };
  // The two ledger fields end up in a ledger receipt that `plume ledger`/`plume audit` print.
  auto st = CheckPeerText("ledgerDevice", TextOf(r.getLedgerDevice()), kLedgerDeviceBytesMax);
  if (st) {
    st = CheckPeerText("ledgerKernelBuild", TextOf(r.getLedgerKernelBuild()),
                       kLedgerKernelBuildBytesMax);
  }
  if (!st) return ack_with(false, "result refused: " + st.error().message);
  const Task* t = core.FindTaskByWireId(r.getTaskId());
  auto out = HashFromData(r.getOutput().getHash());
  if (t == nullptr || !out) return ack_with(false, "unknown task or malformed output hash");
  const BlobHash output = ToHex(*out);
  // The same result again (the ack was lost): acknowledge it once more, count nothing.
  if (t->state == TaskState::kSucceeded && t->node == node && t->attempt == r.getAttempt() &&
      t->output_blob == output) {
    return ack_with(true, "already recorded");
  }
  // Only the holder of the current attempt is heard: anything else the core would ignore after
  // the pool had spent a signature check (and a screen's blob reads) on it.
  if (t->state != TaskState::kAssigned || t->node != node || t->attempt != r.getAttempt()) {
    return ack_with(false, "task " + std::to_string(r.getTaskId()) + " attempt " +
                               std::to_string(r.getAttempt()) + " is not assigned to you");
  }
  // Overloaded: no ack, so the agent keeps its spooled result and sends it again after its
  // stall timeout (a refusal would make it drop the result).
  if (receipts->Outstanding() >= kResultsVerifyingMax) {
    spdlog::warn("result of task {} from {} left unanswered: {} results are being checked",
                 r.getTaskId(), node.substr(0, 16), receipts->Outstanding());
    return;
  }
  // The signature check runs on the pool; OnResultVerified (reactor_tasks.cc) carries on.
  auto metrics = r.getMetrics();
  auto receipt = r.getReceipt();
  auto signature = r.getReceiptSignature();
  ResultToVerify checked{
      in.peer, in.message.request_id(), in.principal, r.getTaskId(), r.getAttempt(), *out,
      metrics.getFinalLoss(), metrics.getTokens(), metrics.getFlops(),
      std::string(reinterpret_cast<const char*>(receipt.begin()), receipt.size()),
      std::string(reinterpret_cast<const char*>(signature.begin()), signature.size()), false, {},
      r.getLedgerDevice(), r.getLedgerKernelBuild(), r.getLedgerStartUnixMs(),
      r.getLedgerEndUnixMs(),
      std::string(reinterpret_cast<const char*>(r.getLedgerSignature().begin()),
                  r.getLedgerSignature().size()),
      ScreenFor(*t, *out)};
  checked.job_id = t->job;
  // Bounded before anything is copied: the list is the agent's, and the pool hashes all of it.
  auto commitments = r.getCommitments();
  if (commitments.size() > limits::kResultCommitmentsMax) {
    return ack_with(false, "result refused: more than " +
                               std::to_string(limits::kResultCommitmentsMax) + " commitments");
  }
  for (auto c : commitments) {
    auto h = HashFromData(c);
    if (!h) return ack_with(false, "result refused: a commitment is not 32 bytes");
    checked.commitments.push_back(*h);
  }
  receipts->Submit(std::move(checked));
}

void Reactor::Impl::OnTaskFailed(Incoming& in) {
  auto f = in.message.body().getTaskFailed();
  // The reason is kept as the task's error and may become its job's, shown to the team.
  if (auto st = CheckPeerText("reason", TextOf(f.getReason()), kFailureReasonBytesMax,
                              TextShape::kText);
      !st) {
    return ReplyError(in.peer, in.message.request_id(), wire::ErrorCode::BAD_MESSAGE,
                      "taskFailed refused: " + st.error().message + "; send it again shorter");
  }
  const Task* t = core.FindTaskByWireId(f.getTaskId());
  if (t == nullptr) return;
  Feed(TaskFailed{t->id, f.getAttempt(), ToHex(in.principal), f.getReason(), f.getRetryable()});
}

}  // namespace plume::scheduler
