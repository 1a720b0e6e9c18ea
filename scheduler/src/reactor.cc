// The scheduler's reactor: start-up and recovery, the loop turn (receive → core → save → act),
// dispatch of each message to its handler, and carrying out the core's actions. The agents'
// messages are handled in reactor_agents.cc, clients' in reactor_jobs.cc. See reactor.h for the
// contract.
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
  for (const auto& [task, v] : m.core.state().verdicts) m.WriteEvidence(v);
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
  so.connections_max = m.opt.connections_max;
  so.connections_per_address_max = m.opt.connections_per_address_max;
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
  pending_reply_bytes[peer] += frame->size();
  pending_reply_total += frame->size();
  replies.emplace_back(peer, std::move(*frame));
}

void Reactor::Impl::ReplyError(const PeerId& peer, uint64_t rid, wire::ErrorCode code,
                               const std::string& why) {
  std::string frame = EncodeError(rid, identity.public_key(), code, why);
  pending_reply_bytes[peer] += frame.size();
  pending_reply_total += frame.size();
  replies.emplace_back(peer, std::move(frame));
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
  // Replies wait for the turn's save: a turn that has built kTurnReplyBytesMax of them ends, so
  // what a burst of requests makes the scheduler hold at once is bounded in bytes too.
  for (uint32_t n = 0; n < m.opt.events_per_turn_max && m.pending_reply_total < kTurnReplyBytesMax;
       ++n) {
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
  if (m.opt.retention_sweep_ms > 0 && m.NowMs() >= m.next_retention_sweep_ms) {
    m.SweepRetention();
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
  for (const Verdict& v : d.verdicts) WriteEvidence(v);  // before the turn's entries are sent
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
      // A chunk for a peer whose send budget is spent is not even read: the client asks again
      // after its timeout (protocol/limits.h kPeerSendQueueBytesMax).
      if (!server->AdmitReply(in.peer, pending_reply_bytes[in.peer] + kBlobGetReplyBytesMax)) {
        return;
      }
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
  pending_reply_bytes.clear();
  pending_reply_total = 0;
}

}  // namespace plume::scheduler
