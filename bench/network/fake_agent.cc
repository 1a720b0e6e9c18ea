#include "fake_agent.h"

#include <chrono>

#include "plume/protocol/message.h"
#include "plume/protocol/receipt.h"

namespace plume::bench {

void AckBoard::Record(const std::string& job, Clock::time_point acked, double assign_to_ack_us) {
  {
    std::lock_guard lock(mu_);
    JobDone& d = jobs_[job];
    ++d.acked;
    d.last = std::max(d.last, acked);
    latencies_us_.push_back(assign_to_ack_us);
  }
  cv_.notify_all();
}

bool AckBoard::WaitJob(const std::string& job, uint64_t tasks, std::chrono::milliseconds timeout,
                       Clock::time_point* last) {
  std::unique_lock lock(mu_);
  const bool done = cv_.wait_for(lock, timeout, [&] {
    auto it = jobs_.find(job);
    return it != jobs_.end() && it->second.acked >= tasks;
  });
  if (done && last != nullptr) *last = jobs_[job].last;
  return done;
}

std::vector<double> AckBoard::TakeLatenciesUs() {
  std::lock_guard lock(mu_);
  std::vector<double> out;
  out.swap(latencies_us_);
  return out;
}

FakeAgent::FakeAgent(FakeAgentOptions options)
    : opt_(std::move(options)), identity_(Identity::Generate()) {
  thread_ = std::thread([this] { Run(); });
}

FakeAgent::~FakeAgent() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::string FakeAgent::error() const {
  std::lock_guard lock(error_mu_);
  return error_;
}

void FakeAgent::Run() {
  if (auto st = Loop(); !st) {
    std::lock_guard lock(error_mu_);
    error_ = st.error().message;
  }
}

Status FakeAgent::Loop() {
  auto client = TransportClient::Connect(opt_.endpoint, opt_.scheduler, identity_, opt_.context);
  if (!client) return tl::unexpected(client.error());
  TransportClient& c = **client;

  auto send_register = [&]() -> Status {
    MessageBuilder m = c.NewRequest();
    auto r = m.body().initRegister();
    r.setName("bench-" + identity_.Id().substr(0, 8));
    auto gpu = r.initGpus(1)[0];
    gpu.setName("cpu");
    gpu.setMemoryBytes(uint64_t{64} << 30);
    gpu.setCount(1);
    gpu.setBackend(wire::Backend::CPU);
    gpu.setSelftestPassed(true);
    gpu.setMeasuredFlopsPerSec(1e12);
    r.setPriceMicroPlumePerPflop(1);  // the scheduler refuses 0
    r.setMaxConcurrentTasks(1);
    return c.Send(m);
  };
  if (auto st = send_register(); !st) return st;

  struct Pending {
    std::string job;
    uint32_t attempt = 0;
    Clock::time_point assigned;
  };
  std::map<uint64_t, Pending> unacked;  // answered, waiting for TaskResultAck
  auto heartbeat_every = std::chrono::milliseconds(1000);
  auto next_heartbeat = Clock::now() + heartbeat_every;
  const Hash256 out = opt_.output_blob;

  while (!stop_.load()) {
    auto in = c.Recv(std::chrono::milliseconds(20));
    if (!in) return tl::unexpected(in.error());
    const auto now = Clock::now();
    if (registered_.load() && now >= next_heartbeat) {
      MessageBuilder m = c.NewRequest();
      auto hb = m.body().initHeartbeat();
      auto running = hb.initRunning(static_cast<unsigned>(unacked.size()));
      unsigned i = 0;
      for (const auto& [id, p] : unacked) {
        running[i].setTaskId(id);
        running[i++].setAttempt(p.attempt);
      }
      (void)c.Send(m);
      next_heartbeat = now + heartbeat_every;
    }
    if (!in->has_value()) continue;
    const Message& msg = **in;
    switch (msg.kind()) {
      case MessageKind::REGISTER_ACK: {
        auto ack = msg.body().getRegisterAck();
        heartbeat_every =
            std::chrono::milliseconds(std::max<uint64_t>(100, ack.getHeartbeatIntervalMs()));
        registered_.store(true);
        break;
      }
      case MessageKind::HEARTBEAT_ACK:
        if (msg.body().getHeartbeatAck().getReRegister()) {
          if (auto st = send_register(); !st) return st;
        }
        break;
      case MessageKind::TASK_ASSIGN: {
        auto a = msg.body().getTaskAssign();
        ReceiptFields f;
        f.job_id = a.getJobId();
        f.task_id = a.getTaskId();
        f.attempt = a.getAttempt();
        if (a.getParams().isInfer()) {
          if (auto h = HashFromData(a.getParams().getInfer().getCheckpoint().getHash())) {
            f.inputs.push_back(*h);
          }
        }
        f.output = out;
        f.tokens = 1;
        f.finished_at_ms =
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
        auto receipt = SignReceipt(identity_, f);
        if (!receipt) return tl::unexpected(receipt.error());
        MessageBuilder m = c.NewRequest();
        auto r = m.body().initTaskResult();
        r.setTaskId(f.task_id);
        r.setAttempt(f.attempt);
        auto ref = r.initOutput();
        ref.setHash(AsData(out));
        ref.setSizeBytes(opt_.output_size_bytes);
        ref.setName("outputs.jsonl");
        auto metrics = r.initMetrics();
        metrics.setTokens(1);
        metrics.setValLoss(0);
        r.setReceipt(AsData(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(receipt->bytes.data()), receipt->bytes.size())));
        r.setReceiptSignature(AsData(receipt->signature));
        if (auto st = c.Send(m); !st) return st;
        unacked[f.task_id] = Pending{f.job_id, f.attempt, now};
        answered_.fetch_add(1);
        break;
      }
      case MessageKind::TASK_RESULT_ACK: {
        auto ack = msg.body().getTaskResultAck();
        auto it = unacked.find(ack.getTaskId());
        if (it == unacked.end()) break;
        if (ack.getAccepted()) {
          const double us =
              std::chrono::duration<double, std::micro>(now - it->second.assigned).count();
          opt_.board->Record(it->second.job, now, us);
        } else {
          opt_.board->CountRejected();
        }
        unacked.erase(it);
        break;
      }
      default:
        break;  // TaskCancel, Error: nothing to do for a task that is already answered
    }
  }
  return {};
}

}  // namespace plume::bench
