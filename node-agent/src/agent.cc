// plume-agent reactor: the loop, registration with backoff, heartbeats within the lease, lost
// scheduler detection and the SIGTERM drain. Task handling is in agent_tasks.cc, result delivery
// in agent_results.cc (all three share Agent::Impl, agent_impl.h).
#include <spdlog/spdlog.h>

#include <random>

#include "agent_impl.h"
#include "plume/agent/metrics.h"

namespace plume::agent {

std::string SpoolKey(uint64_t task_id, uint32_t attempt) {
  return "t" + std::to_string(task_id) + "-a" + std::to_string(attempt);
}

Result<std::unique_ptr<Agent>> Agent::Create(AgentOptions options, Identity identity) {
  if (options.devices.empty()) {
    return Fail("no device passed the kernel selftest, so there is nothing to offer; run "
                "`plume selftest` to see which check fails");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->identity = std::move(identity);
  auto store = BlobStore::Open(impl->options.cache_dir / "blobs",
                               BlobStoreOptions{impl->options.cache_bytes_max});
  if (!store) return tl::unexpected(store.error());
  impl->store = std::move(*store);
  auto spool = ResultSpool::Open(impl->options.cache_dir / "results");
  if (!spool) return tl::unexpected(spool.error());
  impl->spool = std::move(*spool);
  impl->dispute_states = std::make_shared<DisputeStates>(impl->options.cache_dir / "disputes");
  auto client = TransportClient::Connect(impl->options.scheduler_endpoint,
                                         impl->options.scheduler_id, impl->identity);
  if (!client) return tl::unexpected(client.error());
  impl->client = std::move(*client);
  impl->backoff = Backoff(kReconnectBackoffFirst, kReconnectBackoffMax, std::random_device{}());
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;
Status Agent::Run() { return impl_->Loop(); }
void Agent::RequestDrain() { impl_->drain_requested.store(true); }
AgentStats Agent::stats() const { return impl_->stats; }

Status Agent::Impl::Loop() {
  if (const size_t pending = spool->Size(); pending > 0) {
    spdlog::info("{} finished result(s) from an earlier run wait for delivery", pending);
  }
  next_register_at = Clock::now();
  while (true) {
    const auto now = Clock::now();
    if (drain_requested.load() && !draining) BeginDrain(now);
    if (draining && DrainDone(now)) break;
    Tick(now);
    if (options.metrics) {
      options.metrics->OnTurn(registered, held && held->running, store->used_bytes());
    }
    auto in = client->Recv(kPollInterval);
    if (!in) {
      // A signal (SIGTERM starting a drain) interrupts zmq_poll; that is not a broken socket.
      if (in.error().message.find("Interrupted") != std::string::npos) continue;
      return Fail("connection to the scheduler failed: " + in.error().message);
    }
    if (in->has_value()) Dispatch(std::move(**in), Clock::now());
    OnExecutorEvents(Clock::now());
  }
  if (registered) {
    auto b = client->NewRequest();
    b.body().initDeregister().setReason("agent shut down (drain complete)");
    Send(b);
  }
  spdlog::info("drain complete: {} task(s) succeeded, {} failed, {} result(s) delivered",
               stats.tasks_succeeded, stats.tasks_failed, stats.results_delivered);
  return {};
}

void Agent::Impl::Send(const MessageBuilder& b) {
  if (auto s = client->Send(b); !s) spdlog::warn("send to scheduler failed: {}", s.error().message);
}

// Timers: registration (with backoff while unanswered), heartbeats, silence, stalled transfers.
void Agent::Impl::Tick(Clock::time_point now) {
  const auto silence_max = std::max<std::chrono::milliseconds>(lease, kSchedulerSilenceMax);
  if (registered && now - last_heard > silence_max) {
    spdlog::warn("scheduler silent for {} ms; reconnecting", silence_max.count());
    registered = false;
    next_register_at = now;
  }
  if (!registered && now >= next_register_at && !(draining && !held)) SendRegister(now);
  if (registered && now >= next_heartbeat_at) SendHeartbeat(now);
  if (registered) {
    CheckFetchStall(now);
    CheckDeliveryStall(now);
    if (!delivery) StartNextDelivery(now);
  }
  if (draining && held && held->running && now >= drain_task_deadline) {
    // The task would not finish in time: ask it to stop; it is handed back when it ends.
    executor.RequestStop();
  }
}

void Agent::Impl::SendRegister(Clock::time_point now) {
  auto b = client->NewRequest();
  register_request_id = b.envelope().getRequestId();
  auto reg = b.body().initRegister();
  reg.setName(options.name);
  auto gpus = reg.initGpus(static_cast<unsigned>(options.devices.size()));
  for (size_t i = 0; i < options.devices.size(); ++i) {
    const DeviceOffer& d = options.devices[i];
    auto g = gpus[static_cast<unsigned>(i)];
    g.setName(d.name);
    g.setMemoryBytes(d.memory_bytes);
    g.setCount(d.count);
    g.setBackend(d.backend == DeviceBackend::kCuda ? wire::Backend::CUDA : wire::Backend::CPU);
    g.setSelftestPassed(d.selftest_passed);
    g.setMeasuredFlopsPerSec(d.measured_flops_per_sec);
  }
  reg.setPriceMicroPlumePerPflop(options.price_micro_plume_per_pflop);
  reg.setKernelBuild(options.kernel_build);
  reg.setAgentVersion("plume-agent 0.1");
  reg.setMaxConcurrentTasks(1);
  if (options.owner_attestation) {
    OwnerAttestationToWire(*options.owner_attestation, reg.initOwnerAttestation());
  }
  // Results finished while the scheduler was away: it must not requeue these tasks.
  std::vector<std::pair<uint64_t, uint32_t>> refs;
  for (const auto& key : spool->Keys()) {
    uint64_t task = 0;
    uint32_t attempt = 0;
    if (std::sscanf(key.c_str(), "t%lu-a%u", &task, &attempt) == 2) refs.emplace_back(task, attempt);
  }
  auto held_list = reg.initHeldResults(static_cast<unsigned>(refs.size()));
  for (size_t i = 0; i < refs.size(); ++i) {
    held_list[static_cast<unsigned>(i)].setTaskId(refs[i].first);
    held_list[static_cast<unsigned>(i)].setAttempt(refs[i].second);
  }
  Send(b);
  const auto wait = backoff.Next();
  next_register_at = now + wait;
  if (backoff.attempts() > 1) {
    spdlog::info("registering with {} (attempt {}, next try in {} ms)", options.scheduler_endpoint,
                 backoff.attempts(), wait.count());
  }
}

void Agent::Impl::SendHeartbeat(Clock::time_point now) {
  auto b = client->NewRequest();
  auto hb = b.body().initHeartbeat();
  std::vector<std::pair<uint64_t, uint32_t>> refs;
  if (held) refs.emplace_back(held->task_id, held->attempt);
  for (const auto& key : spool->Keys()) {
    uint64_t task = 0;
    uint32_t attempt = 0;
    if (std::sscanf(key.c_str(), "t%lu-a%u", &task, &attempt) == 2) refs.emplace_back(task, attempt);
  }
  auto running = hb.initRunning(static_cast<unsigned>(refs.size()));
  for (size_t i = 0; i < refs.size(); ++i) {
    running[static_cast<unsigned>(i)].setTaskId(refs[i].first);
    running[static_cast<unsigned>(i)].setAttempt(refs[i].second);
  }
  const bool with_progress = held && held->running;
  auto progress = hb.initProgress(with_progress ? 1 : 0);
  if (with_progress) {
    auto p = progress[0];
    p.setTaskId(held->task_id);
    p.setAttempt(held->attempt);
    p.setStep(static_cast<uint64_t>(held->progress.step));
    p.setStepsTotal(static_cast<uint64_t>(held->progress.steps_total));
    p.setLoss(held->progress.loss);
  }
  Send(b);
  next_heartbeat_at = now + heartbeat_interval;
}

void Agent::Impl::Dispatch(Message m, Clock::time_point now) {
  last_heard = now;
  switch (m.kind()) {
    case MessageKind::REGISTER_ACK: return OnRegisterAck(m, now);
    case MessageKind::HEARTBEAT_ACK: return OnHeartbeatAck(m, now);
    case MessageKind::TASK_ASSIGN: return OnTaskAssign(std::move(m), now);
    case MessageKind::TASK_CANCEL: return OnTaskCancel(m);
    case MessageKind::BLOB_CHUNK: return OnBlobChunk(m, now);
    case MessageKind::BLOB_ACK: return OnBlobAck(m, now);
    case MessageKind::TASK_RESULT_ACK: return OnTaskResultAck(m, now);
    case MessageKind::ERROR: return OnError(m, now);
    case MessageKind::ACK:
    case MessageKind::PONG: return;
    default:
      spdlog::warn("ignoring unexpected {} from the scheduler", KindName(m.kind()));
  }
}

void Agent::Impl::OnRegisterAck(const Message& m, Clock::time_point now) {
  auto ack = m.body().getRegisterAck();
  const bool first = !registered;
  registered = true;
  node_id = ack.getNodeId();
  ledger_id = Hash256{};
  if (auto id = ack.getLedgerId(); id.size() == ledger_id.size()) {
    std::copy(id.begin(), id.end(), ledger_id.begin());
  }
  if (ack.getLeaseMs() > 0) lease = std::chrono::milliseconds(ack.getLeaseMs());
  heartbeat_interval = ack.getHeartbeatIntervalMs() > 0
                           ? std::chrono::milliseconds(ack.getHeartbeatIntervalMs())
                           : std::chrono::duration_cast<std::chrono::milliseconds>(
                                 lease * kHeartbeatFractionOfLease);
  backoff.Reset();
  next_heartbeat_at = now + heartbeat_interval;
  ++stats.registrations;
  if (first) {
    spdlog::info("registered with {} as node {} (lease {} ms)", options.scheduler_endpoint,
                 node_id, lease.count());
  }
  if (draining) {
    auto b = client->NewRequest();
    b.body().initDrain().setReason("agent received SIGTERM");
    Send(b);
  }
}

void Agent::Impl::OnHeartbeatAck(const Message& m, Clock::time_point now) {
  auto ack = m.body().getHeartbeatAck();
  if (ack.getReRegister()) {
    spdlog::info("scheduler does not know this node (it restarted); registering again");
    registered = false;
    next_register_at = now;
    backoff.Reset();
    return;
  }
  if (ack.getLeaseMs() > 0) lease = std::chrono::milliseconds(ack.getLeaseMs());
  for (auto ref : ack.getCancel()) {
    CancelHeld(ref.getTaskId(), ref.getAttempt(), "cancelled by the scheduler");
  }
}

void Agent::Impl::OnError(const Message& m, Clock::time_point now) {
  auto err = m.body().getError();
  const uint64_t rid = m.request_id();
  const std::string text = err.getMessage();
  if (auto it = fetch_requests.find(rid); it != fetch_requests.end()) {
    const Hash256 hash = it->second;
    fetch_requests.erase(it);
    if (held && held->fetching.count(hash)) {
      spdlog::warn("job={} task={} attempt={}: fetching blob {} refused: {}", held->job_id,
                   held->task_id, held->attempt, ToHex(hash), text);
      const bool retry = err.getCode() == wire::ErrorCode::RETRY_LATER;
      if (!retry) {
        SendTaskFailed(held->job_id, held->task_id, held->attempt,
                       "cannot fetch input blob " + ToHex(hash) + ": " + text, true);
        ReleaseHeld();
      }
    }
    return;
  }
  // An unauthorized reply while unregistered answers one of our Registers (perhaps an older one,
  // resent by the backoff): the allow-list or the key is wrong, which the operator must fix.
  if (rid == register_request_id ||
      (!registered && err.getCode() == wire::ErrorCode::UNAUTHORIZED)) {
    spdlog::error("registration refused: {} (check --scheduler-id and the allow-list)", text);
    return;
  }
  spdlog::warn("scheduler error reply (request {}): {}", rid, text);
  if (delivery) {
    // An upload or TaskResult was refused (e.g. the scheduler restarted mid-transfer): start the
    // delivery over after the stall timeout rather than spinning.
    delivery->last_activity = now;
  }
}

void Agent::Impl::BeginDrain(Clock::time_point now) {
  draining = true;
  spdlog::info("SIGTERM: draining (no new tasks; finishing or handing back the running one)");
  if (registered) {
    auto b = client->NewRequest();
    b.body().initDrain().setReason("agent received SIGTERM");
    Send(b);
  }
  drain_task_deadline = now + kDrainTaskWaitMax;
  if (held && !held->running) {
    SendTaskFailed(held->job_id, held->task_id, held->attempt, "agent draining", true);
    ReleaseHeld();
  }
}

bool Agent::Impl::DrainDone(Clock::time_point now) {
  if (held) return false;
  if (!registered || spool->Size() == 0) return true;
  if (!drain_delivery_deadline_set) {
    drain_delivery_deadline = now + kDrainDeliveryWaitMax;
    drain_delivery_deadline_set = true;
  }
  if (now >= drain_delivery_deadline) {
    spdlog::warn("{} result(s) not acknowledged yet; they stay in {} for the next start",
                 spool->Size(), spool->dir().string());
    return true;
  }
  return false;
}

}  // namespace plume::agent
