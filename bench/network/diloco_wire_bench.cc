// Training communication, measured on the wire: a real DiLoCo training job (the real scheduler
// reactor and W real plume agents, CPU backend, all in this process) with the agents connected
// through a byte-counting TCP proxy (counting_proxy.h). The job runs twice, with R_a and R_b
// rounds; everything that does not repeat per round (registration, the data shard download)
// cancels in the difference, so
//   bytes per worker per round = (bytes(R_b) - bytes(R_a)) / (R_b - R_a) / W
// including heartbeats and CURVE/ZMTP framing. diloco_comm_bench computes the same quantity from
// the model config; this checks it.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "counting_proxy.h"
#include "plume/agent/agent.h"
#include "plume/kernels/checkpoint.h"
#include "plume/protocol/blob_service.h"
#include "plume/protocol/blob_store.h"
#include "plume/scheduler/reactor.h"

namespace fs = std::filesystem;
using namespace plume;

namespace {

struct Args {
  int workers = 2;
  int rounds_a = 1;
  int rounds_b = 3;
  int local_steps = 25;  // H of examples/net-train.toml
  std::string data = "data/tinyshakespeare.txt";
  std::string dir = "/var/tmp";
};

struct Measured {
  uint64_t up = 0, down = 0;
  double seconds = 0;
};

std::string TrainToml(const Args& a, int rounds) {
  return "[job]\nname = \"bench-diloco-wire\"\nkind = \"train\"\nseed = 1\n\n"
         "[model]\nn_layer = 2\nn_head = 2\nn_embd = 64\ncontext = 64\nvocab = 256\n\n"
         "[data]\npath = \"data.txt\"\nval_fraction = 0\n\n"
         "[train]\nsteps = " +
         std::to_string(rounds * a.local_steps) +
         "\nbatch = 4\nseq_len = 64\nlr = 3e-3\nmin_lr = 3e-4\nwarmup_steps = 2\n"
         "schedule = \"cosine\"\nweight_decay = 0.1\ngrad_clip = 1.0\n\n"
         "[network]\nworkers = " +
         std::to_string(a.workers) + "\nrounds = " + std::to_string(rounds) +
         "\nlocal_steps = " + std::to_string(a.local_steps) +
         "\nouter_lr = 0.7\nouter_momentum = 0.9\nround_timeout_s = 600\n\n"
         "[payment]\nmax_price_micro_plume_per_pflop = 1000000\nbudget_micro_plume = 50000000\n";
}

Result<Measured> RunJob(const Args& a, int rounds, const std::string& data) {
  char tmpl[512];
  std::snprintf(tmpl, sizeof tmpl, "%s/plume-diloco-wire-XXXXXX", a.dir.c_str());
  if (mkdtemp(tmpl) == nullptr) return Fail("cannot create a directory under " + a.dir);
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};

  const Identity sched_id = Identity::Generate();
  std::atomic<bool> stop{false};
  std::promise<Result<std::string>> started;
  auto endpoint_future = started.get_future();
  std::thread reactor_thread([&] {
    scheduler::ReactorOptions o;
    o.state_dir = dir / "scheduler";
    auto r = scheduler::Reactor::Start(sched_id, std::move(o));
    if (!r) return started.set_value(tl::unexpected(r.error()));
    started.set_value((*r)->endpoint());
    (void)(*r)->Run(stop);
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop.store(true);
      t.join();
    }
  } join_reactor{stop, reactor_thread};
  auto endpoint = endpoint_future.get();
  if (!endpoint) return tl::unexpected(endpoint.error());
  const auto port = static_cast<uint16_t>(std::stoi(endpoint->substr(endpoint->rfind(':') + 1)));
  auto proxy = bench::CountingProxy::Start(port);
  if (!proxy) return tl::unexpected(proxy.error());

  std::vector<std::unique_ptr<agent::Agent>> agents;
  std::vector<std::thread> agent_threads;
  struct AgentJoiner {
    std::vector<std::unique_ptr<agent::Agent>>& agents;
    std::vector<std::thread>& threads;
    ~AgentJoiner() {
      for (auto& ag : agents) ag->RequestDrain();
      for (auto& t : threads) t.join();
    }
  } join_agents{agents, agent_threads};
  for (int w = 0; w < a.workers; ++w) {
    agent::AgentOptions o;
    o.scheduler_endpoint = (*proxy)->endpoint();
    o.scheduler_id = sched_id.public_key();
    o.name = "wire-bench-" + std::to_string(w);
    o.cache_dir = dir / ("agent-" + std::to_string(w));
    o.devices = {
        agent::DeviceOffer{"cpu", uint64_t{8} << 30, 1, agent::DeviceBackend::kCpu, true, 1e9, 0}};
    o.kernel_build = "bench";
    o.threads = 1;
    auto ag = agent::Agent::Create(std::move(o), Identity::Generate());
    if (!ag) return tl::unexpected(ag.error());
    agents.push_back(std::move(*ag));
    agent_threads.emplace_back([raw = agents.back().get()] { (void)raw->Run(); });
  }

  // The client talks to the scheduler directly: its upload is not counted.
  const Identity me = Identity::Generate();
  auto client = TransportClient::Connect(*endpoint, sched_id.public_key(), me);
  if (!client) return tl::unexpected(client.error());
  auto local = BlobStore::Open(dir / "client-blobs");
  if (!local) return tl::unexpected(local.error());
  auto data_hash = (*local)->Put(data);
  if (!data_hash) return tl::unexpected(data_hash.error());
  if (auto st = PushBlob(**client, **local, *data_hash, std::chrono::seconds(30)); !st) {
    return tl::unexpected(st.error());
  }
  const std::string toml = TrainToml(a, rounds);
  MessageBuilder m = (*client)->NewRequest();
  auto s = m.body().initSubmitJob();
  s.setSpecToml(toml);
  const Hash256 h = Blake2b256(toml);
  s.setSpecHash(AsData(h));
  s.setSignature(AsData(me.Sign(std::span<const uint8_t>(h))));
  auto ref = s.initDataBlobs(1)[0];
  ref.setName("data");
  ref.setHash(AsData(*data_hash));
  ref.setSizeBytes(data.size());
  s.setClientJobKey("wire");
  const auto t0 = std::chrono::steady_clock::now();
  auto ack = (*client)->Call(m, std::chrono::seconds(60));
  if (!ack) return tl::unexpected(ack.error());
  if (ack->kind() != MessageKind::SUBMIT_ACK) {
    return Fail("submit refused: " + (ack->kind() == MessageKind::ERROR
                                          ? std::string(ack->body().getError().getMessage().cStr())
                                          : std::string(KindName(ack->kind()))));
  }
  const std::string job = ack->body().getSubmitAck().getJobId();
  // Polling the job's state every 100 ms is what `plume submit --wait` does too.
  const auto deadline = t0 + std::chrono::seconds(90);
  std::string last_seen = "no status yet";
  while (true) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail("job did not finish in 90 s; last status: " + last_seen);
    }
    MessageBuilder q = (*client)->NewRequest();
    q.body().initJobStatus().setJobId(job);
    auto r = (*client)->Call(q, std::chrono::seconds(30));
    if (!r) return tl::unexpected(r.error());
    if (r->kind() != MessageKind::JOB_STATUS_REPLY) return Fail("job status refused");
    const auto info = r->body().getJobStatusReply().getJob();
    const auto state = info.getState();
    last_seen = "round " + std::to_string(info.getRound()) + ", tasks queued " +
                std::to_string(info.getTasksQueued()) + " running " +
                std::to_string(info.getTasksRunning()) + " done " +
                std::to_string(info.getTasksDone()) + " failed " +
                std::to_string(info.getTasksFailed());
    if (state == wire::JobState::SUCCEEDED) break;
    if (state == wire::JobState::FAILED || state == wire::JobState::CANCELLED) {
      auto reasons = r->body().getJobStatusReply().getJob().getReasons();
      return Fail("job failed: " + (reasons.size() ? std::string(reasons[0].cStr()) : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Measured out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.up = (*proxy)->bytes_up();
  out.down = (*proxy)->bytes_down();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  spdlog::set_level(spdlog::level::warn);
  Args a;
  CLI::App app{"DiLoCo bytes per round, measured through a counting proxy"};
  app.add_option("--workers", a.workers)->check(CLI::Range(1, 8));
  app.add_option("--rounds-a", a.rounds_a)->check(CLI::Range(1, 100));
  app.add_option("--rounds-b", a.rounds_b)->check(CLI::Range(2, 100));
  app.add_option("--local-steps", a.local_steps)->check(CLI::Range(1, 1000));
  app.add_option("--data", a.data, "training text (byte tokens); synthetic text when missing");
  app.add_option("--dir", a.dir);
  CLI11_PARSE(app, argc, argv);
  if (a.rounds_b <= a.rounds_a) {
    std::fprintf(stderr, "--rounds-b must be larger than --rounds-a\n");
    return 2;
  }
  std::string data;
  {
    std::ifstream f(a.data, std::ios::binary);
    if (f) data.assign(std::istreambuf_iterator<char>(f), {});
    if (data.size() > (256u << 10)) data.resize(256u << 10);
    if (data.size() < 65536) {
      data.clear();
      for (int i = 0; data.size() < 65536; ++i) data += "line " + std::to_string(i) + " of text\n";
    }
  }
  const kernels::ModelConfig model{2, 2, 64, 64, 256};
  std::vector<float> zeros(static_cast<size_t>(model.NumParams()), 0.0f);
  auto blob = kernels::SaveCheckpointBytes(model, zeros);
  if (!blob) return 1;
  std::printf(
      "# DiLoCo on the wire: tiny demo model (2L 2H 64), W=%d, H=%d, %zu B of data, "
      "rounds %d and %d\n",
      a.workers, a.local_steps, data.size(), a.rounds_a, a.rounds_b);
  auto ra = RunJob(a, a.rounds_a, data);
  if (!ra) {
    std::fprintf(stderr, "run with %d rounds failed: %s\n", a.rounds_a, ra.error().message.c_str());
    return 1;
  }
  auto rb = RunJob(a, a.rounds_b, data);
  if (!rb) {
    std::fprintf(stderr, "run with %d rounds failed: %s\n", a.rounds_b, rb.error().message.c_str());
    return 1;
  }
  const double per = static_cast<double>(a.rounds_b - a.rounds_a) * a.workers;
  const double up = (static_cast<double>(rb->up) - static_cast<double>(ra->up)) / per;
  const double down = (static_cast<double>(rb->down) - static_cast<double>(ra->down)) / per;
  std::printf(
      "\n| run | rounds | agents -> scheduler | scheduler -> agents | wall |\n"
      "|---|---|---|---|---|\n");
  std::printf("| a | %d | %llu B | %llu B | %.1f s |\n", a.rounds_a,
              static_cast<unsigned long long>(ra->up), static_cast<unsigned long long>(ra->down),
              ra->seconds);
  std::printf("| b | %d | %llu B | %llu B | %.1f s |\n", a.rounds_b,
              static_cast<unsigned long long>(rb->up), static_cast<unsigned long long>(rb->down),
              rb->seconds);
  std::printf(
      "\n| per worker per round | measured (wire) | params blob (encoded) |\n|---|---|---|\n");
  std::printf("| upload (delta) | %.0f B | %zu B |\n", up, blob->size());
  std::printf("| download (round params) | %.0f B | %zu B |\n", down, blob->size());
  std::printf("| total | %.0f B | %zu B (2 blobs) |\n", up + down, 2 * blob->size());
  const double ring = 2.0 * (a.workers - 1) / a.workers * 4.0 * model.NumParams() * a.local_steps;
  std::printf(
      "| ring all-reduce for the same %d steps | %.0f B | ratio all-reduce / DiLoCo "
      "measured: %.2f |\n",
      a.local_steps, ring, ring / (up + down));
  return 0;
}
