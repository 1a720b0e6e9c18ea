// The scheduler's reactor: start-up and recovery, the loop turn (receive → core → save → act),
// agent messages, and carrying out the core's actions. See reactor.h for the contract.
#include "plume/scheduler/reactor.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "peer_text.h"
#include "plume/protocol/file_util.h"
#include "plume/protocol/limits.h"
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

}  // namespace

Reactor::Reactor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reactor::~Reactor() = default;
const std::string& Reactor::endpoint() const { return impl_->server->endpoint(); }
const Core& Reactor::core() const { return impl_->core; }
ReactorStats Reactor::stats() const {
  const auto& b = impl_->blob_service->stats();
  return {impl_->server->stats(), b.bytes_received, b.bytes_served, impl_->results_screened,
          impl_->results_refused};
}

Result<std::unique_ptr<Reactor>> Reactor::Start(const Identity& identity, ReactorOptions options) {
  if (options.ledger && options.sync != Sync::kFull) {
    return Fail("--sync normal is unsafe with a ledger: a power cut could lose acknowledged "
                "results whose settles the ledger kept (one provider paid for a forgotten "
                "result, the next refused); use --sync full");
  }
  if (auto st = CreateDirsDurably(options.state_dir / "momentum"); !st) {
    return Fail("cannot create state directory " + options.state_dir.string() + ": " +
                st.error().message);
  }
  auto store = Store::Open(options.state_dir / "scheduler.db", options.sync);
  if (!store) return tl::unexpected(store.error());
  auto state = store->Load();
  if (!state) return tl::unexpected(state.error());
  const int64_t base_ms = state->now_ms;
  Core core(options.core, std::move(*state));
  auto impl = std::make_unique<Impl>(identity, std::move(options), std::move(*store),
                                     std::move(core));
  Impl& m = *impl;
  m.blob_index.AddAll(m.core.state());
  auto blobs = BlobStore::Open(m.opt.state_dir / "blobs");
  if (!blobs) return tl::unexpected(blobs.error());
  m.blobs = std::move(*blobs);
  // SQLite makes its WAL's name durable but not a new database file's, and blobs/ (ledger/ too,
  // opened before) is new on a first start: make their entries durable.
  if (auto st = SyncDir(m.opt.state_dir); !st) return tl::unexpected(st.error());
  m.blob_service = std::make_unique<BlobService>(
      *m.blobs, identity.public_key(),
      [&m](const PublicKey& p, const Hash256& h) { return m.CanRead(p, h); },
      [&m](const PublicKey& p, const Hash256& h, uint64_t size) { return m.CanWrite(p, h, size); },
      [&m](const PublicKey& p, const Hash256& h, uint64_t size) { m.OnBlobStored(p, h, size); });
  ServerOptions so;
  so.endpoint = m.opt.endpoint;
  so.agent_allow_list = m.opt.agent_allow_list;
  so.on_refusal = [](RefusalReason, std::string_view detail) {
    spdlog::warn("refused peer: {}", detail);
  };
  auto server = TransportServer::Bind(identity, std::move(so));
  if (!server) return tl::unexpected(server.error());
  m.server = std::move(*server);
  m.started = std::chrono::steady_clock::now();
  m.clock_base_ms = base_ms + 1;
  // Re-send what the previous process may have decided without carrying out.
  std::vector<Action> recovered = m.core.Recover(m.NowMs());
  m.actions.insert(m.actions.end(), recovered.begin(), recovered.end());
  // The ledger is the truth about stake: bring the saved records up to it.
  std::vector<NodeId> known;
  for (const auto& [node, n] : m.core.state().nodes) known.push_back(node);
  for (const NodeId& node : known) m.ReportStake(node);
  if (auto st = m.Persist(); !st) return tl::unexpected(st.error());
  m.Act();
  spdlog::info("plume-scheduler {} listening on {}", identity.Id(), m.server->endpoint());
  return std::unique_ptr<Reactor>(new Reactor(std::move(impl)));
}

int64_t Reactor::Impl::NowMs() const {
  const auto elapsed = std::chrono::steady_clock::now() - started;
  return clock_base_ms + std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

std::vector<Action> Reactor::Impl::Feed(const Event& e) {
  std::vector<Action> acts = core.Handle(NowMs(), e);
  actions.insert(actions.end(), acts.begin(), acts.end());
  return acts;
}

void Reactor::Impl::Reply(const PeerId& peer, const MessageBuilder& m) {
  auto frame = m.Encode();
  if (!frame) {
    spdlog::error("reply not encodable: {}", frame.error().message);
    return;
  }
  replies.emplace_back(peer, std::move(*frame));
}

void Reactor::Impl::ReplyError(const PeerId& peer, uint64_t rid, wire::ErrorCode code,
                               const std::string& why) {
  replies.emplace_back(peer, EncodeError(rid, identity.public_key(), code, why));
}

Status Reactor::RunOnce(std::chrono::milliseconds wait) {
  Impl& m = *impl_;
  // Work decided already (internal events fed, actions or replies waiting) must not wait for a
  // message: a lone job's TaskAssign would otherwise sit out the whole receive timeout.
  bool decided = !m.internal.empty() || !m.actions.empty() || !m.replies.empty();
  // Results checked and offloaded work finished since the last turn. While either is outstanding
  // the wait is short: the workers cannot wake the socket wait, and their results should not
  // sit for 50 ms.
  for (const ResultToVerify& r : m.receipts->TakeDone()) m.OnResultVerified(r);
  for (const Offload::Continuation& then : m.offload->TakeDone()) then();
  const bool checking = m.receipts->Outstanding() > 0 || m.offload->Outstanding() > 0;
  while (!m.internal.empty()) {
    m.Feed(m.internal.front());
    m.internal.pop_front();
  }
  decided = decided || !m.actions.empty() || !m.replies.empty();
  const int64_t until_tick = std::max<int64_t>(0, m.next_tick_ms - m.NowMs());
  auto timeout = std::chrono::milliseconds(
      decided ? 0 : std::min<int64_t>({wait.count(), until_tick, checking ? 1 : INT64_MAX}));
  for (uint32_t n = 0; n < m.opt.events_per_turn_max; ++n) {
    auto in = m.server->Recv(n == 0 ? timeout : std::chrono::milliseconds(0));
    if (!in) return tl::unexpected(in.error());
    if (!in->has_value()) break;
    m.Dispatch(**in);
  }
  const bool tick = m.NowMs() >= m.next_tick_ms;
  m.PollStake(tick);
  if (tick) m.PollGov();
  if (tick) {
    // Ahead of this turn's requests: a job's later request (its release) must not overtake the
    // one deferred before it (ApplyLedger keeps each job's requests in order).
    std::vector<Action> retried;
    for (LedgerOp& op : m.ledger_retry) retried.push_back(LedgerRequest{std::move(op)});
    m.ledger_retry.clear();
    m.actions.insert(m.actions.begin(), retried.begin(), retried.end());
    m.Feed(Tick{});
    m.next_tick_ms = m.NowMs() + m.opt.tick.count();
  }
  if (m.NowMs() >= m.next_upload_sweep_ms) {
    // Abandoned uploads hold disk until swept; an hour lets an honest sender resume.
    const uint64_t closed = m.blob_service->CloseIdleUploads(std::chrono::hours(1));
    if (closed > 0) spdlog::info("closed {} idle uploads and removed their partial files", closed);
    m.DropSpentAllowances();
    m.next_upload_sweep_ms = m.NowMs() + 60'000;
  }
  if (auto st = m.Persist(); !st) return st;
  m.Act();
  return {};
}

Status Reactor::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    // A signal that sets `stop` also interrupts the socket wait: that is a stop, not a failure.
    if (auto st = RunOnce(std::chrono::milliseconds(50)); !st) return stop.load() ? Status{} : st;
  }
  return {};
}

Status Reactor::Impl::Persist() {
  Dirty d = core.TakeDirty();
  if (d.Empty()) return {};
  // Before anything of this turn is sent: a hash a client learns from a reply is indexed.
  blob_index.Note(core.state(), d);
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = store.Save(d);
  if (opt.on_commit) opt.on_commit(std::chrono::steady_clock::now() - t0);
  if (!st) {
    return Fail("cannot save the scheduler state (" + st.error().message +
                "); nothing of this turn was acted on: free disk space and restart");
  }
  return {};
}

void Reactor::Impl::Dispatch(Incoming& in) {
  switch (in.message.kind()) {
    case MessageKind::REGISTER: return OnRegister(in);
    case MessageKind::HEARTBEAT: return OnHeartbeat(in);
    case MessageKind::DRAIN: return OnDrain(in);
    case MessageKind::DEREGISTER: return OnDeregister(in);
    case MessageKind::TASK_RESULT: return OnTaskResult(in);
    case MessageKind::TASK_FAILED: return OnTaskFailed(in);
    case MessageKind::TASK_PROGRESS: return;  // heartbeats carry progress too
    case MessageKind::SUBMIT_JOB: return OnSubmitJob(in);
    case MessageKind::QUOTE_JOB: return OnQuoteJob(in);
    case MessageKind::JOB_STATUS: return OnJobStatus(in);
    case MessageKind::LIST_JOBS: return OnListJobs(in);
    case MessageKind::CANCEL_JOB: return OnCancelJob(in);
    case MessageKind::LIST_NODES: return OnListNodes(in);
    case MessageKind::FETCH_JOB: return OnFetchJob(in);
    case MessageKind::LEDGER_QUERY: return OnLedgerQuery(in);
    case MessageKind::LEDGER_MINT: return OnLedgerSubmit(in);
    case MessageKind::LEDGER_SUBMIT: return OnLedgerSubmit(in);
    case MessageKind::GOV_REQUEST: return OnGovRequest(in);
    case MessageKind::BLOB_GET:
      return Reply(in.peer, blob_service->OnBlobGet(in.principal, in.message));
    case MessageKind::BLOB_PUT:
      return Reply(in.peer, blob_service->OnBlobPut(in.principal, in.message));
    case MessageKind::PING: {
      auto m = NewMessage(in.message.request_id());
      m.body().setPong();
      return Reply(in.peer, m);
    }
    default:
      return ReplyError(in.peer, in.message.request_id(), wire::ErrorCode::UNEXPECTED,
                        "the scheduler does not accept " +
                            std::string(KindName(in.message.kind())) + " messages");
  }
}

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
  peers[id] = in.peer;
  Feed(AgentRegistered{NodeFromRegister(id, in.message.body().getRegister())});
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

void Reactor::Impl::Act() {
  std::vector<Action> todo;
  todo.swap(actions);
  for (const Action& action : todo) {
    if (const auto* a = std::get_if<SendTaskAssign>(&action)) {
      SendAssign(*a);
    } else if (const auto* c = std::get_if<SendTaskCancel>(&action)) {
      SendCancel(*c);
    } else if (const auto* g = std::get_if<AggregateRound>(&action)) {
      StartAggregate(*g);
    } else if (const auto* l = std::get_if<LedgerRequest>(&action)) {
      ApplyLedger(l->op);
    } else if (const auto* f = std::get_if<JobFinished>(&action)) {
      spdlog::info("job={} finished: {} {}", f->job, Name(f->state), f->reason);
    } else if (const auto* g2 = std::get_if<Log>(&action)) {
      const std::string keys = (g2->job.empty() ? "" : " job=" + g2->job) +
                               (g2->task.empty() ? "" : " task=" + g2->task) +
                               (g2->node.empty() ? "" : " node=" + g2->node.substr(0, 16));
      if (g2->level == LogLevel::kWarn) {
        spdlog::warn("{}{}", g2->message, keys);
      } else {
        spdlog::info("{}{}", g2->message, keys);
      }
    }
  }
  for (auto& [peer, frame] : replies) (void)server->Send(peer, frame);
  replies.clear();
}

}  // namespace plume::scheduler
