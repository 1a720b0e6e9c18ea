// Dispatch benchmark (issue 3, "Benchmarks"): tasks that do no work, dispatched by the real
// scheduler reactor (in this process, on its own thread, SQLite WAL with Sync::kFull, i.e. one
// fsync per loop turn) to N fake agents (threads with their own identity and CURVE DEALER, see
// fake_agent.h) on loopback. Measured in one run:
//   1. bare CURVE DEALER/ROUTER round trip (libzmq alone) and a Ping through the reactor;
//   2. latency: one-task jobs submitted one after another, submit -> result recorded durably;
//   3. throughput: big jobs (many shards), first submit -> last result recorded, tasks/s, and the
//      per-task assign -> ack time under that load.
// A "task that does no work" is an infer shard of one prompt: the cheapest task the scheduler
// has (every job needs a model config and a checkpoint blob; the agent answers without running
// anything, reusing one output blob and signing a real receipt).
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <numeric>
#include <thread>

#include "curve_rtt.h"
#include "fake_agent.h"
#include "plume/protocol/blob_service.h"
#include "plume/protocol/blob_store.h"
#include "plume/scheduler/reactor.h"

namespace fs = std::filesystem;
using namespace plume;
using plume::bench::Clock;

namespace {

struct Summary {
  double p50 = 0, p99 = 0, mean = 0;
  size_t n = 0;
};

Summary Summarise(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  return s;
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string SpecToml(const std::string& name, uint32_t prompts) {
  std::string p;
  for (uint32_t i = 0; i < prompts; ++i) p += i == 0 ? "\"a\"" : ", \"a\"";
  return "[job]\nname = \"" + name +
         "\"\nkind = \"infer\"\nseed = 1\n\n"
         "[model]\nn_layer = 2\nn_head = 2\nn_embd = 64\ncontext = 64\nvocab = 256\n\n"
         "[infer]\ncheckpoint = \"bench.safetensors\"\nprompts = [" +
         p +
         "]\n"
         "max_new_tokens = 1\n\n"
         "[network]\nworkers = " +
         std::to_string(prompts) +
         "\n\n"
         "[payment]\nmax_price_micro_plume_per_pflop = 1000000\n"
         "budget_micro_plume = 1000000000\n";
}

// Submits one job (signed spec, "checkpoint" blob) and returns its id.
Result<std::string> Submit(TransportClient& c, const Identity& me, const std::string& toml,
                           const std::string& key, const Hash256& checkpoint, uint64_t ck_size) {
  MessageBuilder m = c.NewRequest();
  auto s = m.body().initSubmitJob();
  s.setSpecToml(toml);
  const Hash256 h = Blake2b256(toml);
  s.setSpecHash(AsData(h));
  const Signature sig = me.Sign(std::span<const uint8_t>(h));
  s.setSignature(AsData(sig));
  auto ref = s.initDataBlobs(1)[0];
  ref.setName("checkpoint");
  ref.setHash(AsData(checkpoint));
  ref.setSizeBytes(ck_size);
  s.setClientJobKey(key);
  auto reply = c.Call(m, std::chrono::seconds(30));
  if (!reply) return tl::unexpected(reply.error());
  if (reply->kind() != MessageKind::SUBMIT_ACK) {
    std::string why = reply->kind() == MessageKind::ERROR
                          ? std::string(reply->body().getError().getMessage().cStr())
                          : std::string(KindName(reply->kind()));
    return Fail("submit refused: " + why);
  }
  return std::string(reply->body().getSubmitAck().getJobId().cStr());
}

struct Args {
  int agents = 100;
  int jobs = 10;
  int shards = 1000;
  int latency_jobs = 200;
  int rtt_count = 2000;
  int io_threads = 1;
  std::string dir = "/var/tmp";
  std::string sync = "full";
};

int Run(const Args& a) {
  std::printf("# plume dispatch benchmark: %d fake agents, reactor in-process, sync=%s\n", a.agents,
              a.sync.c_str());
  std::printf("# hardware threads %u, load average at start %s\n",
              std::thread::hardware_concurrency(), LoadAverage().c_str());

  // 1a. bare CURVE round trip.
  auto rtt = bench::BareCurveRoundTripsUs(a.rtt_count, 200, 256);
  if (!rtt) {
    std::fprintf(stderr, "bare round trip failed: %s\n", rtt.error().message.c_str());
    return 1;
  }
  const Summary bare = Summarise(*rtt);

  // The scheduler: started and run on its own thread (a reactor is confined to one thread).
  char tmpl[512];
  std::snprintf(tmpl, sizeof tmpl, "%s/plume-dispatch-bench-XXXXXX", a.dir.c_str());
  if (mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "cannot create a directory under %s: pass --dir\n", a.dir.c_str());
    return 1;
  }
  const fs::path state_dir = tmpl;
  const Identity sched_id = Identity::Generate();
  std::atomic<bool> stop{false};
  std::promise<Result<std::string>> started;
  auto endpoint_future = started.get_future();
  std::string reactor_error;
  std::thread reactor_thread([&] {
    scheduler::ReactorOptions o;
    o.state_dir = state_dir / "scheduler";
    o.sync = a.sync == "normal" ? scheduler::Sync::kNormal : scheduler::Sync::kFull;
    auto r = scheduler::Reactor::Start(sched_id, std::move(o));
    if (!r) {
      started.set_value(tl::unexpected(r.error()));
      return;
    }
    started.set_value((*r)->endpoint());
    if (auto st = (*r)->Run(stop); !st) reactor_error = st.error().message;
  });
  auto stop_all = [&] {
    stop.store(true);
    reactor_thread.join();
    std::error_code ec;
    fs::remove_all(state_dir, ec);
  };
  auto endpoint = endpoint_future.get();
  if (!endpoint) {
    std::fprintf(stderr, "scheduler did not start: %s\n", endpoint.error().message.c_str());
    reactor_thread.join();
    return 1;
  }
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "benchmark failed: %s\n", why.c_str());
    stop_all();
    return 1;
  };

  const Identity client_id = Identity::Generate();
  auto client = TransportClient::Connect(*endpoint, sched_id.public_key(), client_id);
  if (!client) return fail(client.error().message);
  TransportClient& c = **client;

  // 1b. Ping through the real reactor (transport + Cap'n Proto + one loop turn, nothing saved).
  std::vector<double> ping_us;
  for (int i = 0; i < 700; ++i) {
    MessageBuilder m = c.NewRequest();
    m.body().setPing();
    const auto t0 = Clock::now();
    auto r = c.Call(m, std::chrono::seconds(10));
    if (!r) return fail("ping: " + r.error().message);
    if (i >= 200)
      ping_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const Summary ping = Summarise(ping_us);

  // The blobs every job and every result name, uploaded once.
  auto local = BlobStore::Open(state_dir / "client-blobs");
  if (!local) return fail(local.error().message);
  const std::string ck_bytes = "plume dispatch benchmark: stand-in checkpoint (never loaded)\n";
  const std::string out_bytes = "{\"prompt_index\":0,\"text\":\"\"}\n";
  auto ck = (*local)->Put(ck_bytes);
  auto out = (*local)->Put(out_bytes);
  if (!ck || !out) return fail("local blob store");
  for (const Hash256& h : {*ck, *out}) {
    if (auto st = PushBlob(c, **local, h, std::chrono::seconds(10)); !st) {
      return fail("upload: " + st.error().message);
    }
  }

  // The agents.
  bench::AckBoard board;
  auto ctx = TransportContext::Create(a.io_threads);
  std::vector<std::unique_ptr<bench::FakeAgent>> agents;
  for (int i = 0; i < a.agents; ++i) {
    agents.push_back(std::make_unique<bench::FakeAgent>(bench::FakeAgentOptions{
        *endpoint, sched_id.public_key(), *out, out_bytes.size(), ctx, &board}));
  }
  const auto reg_deadline = Clock::now() + std::chrono::seconds(60);
  for (auto& ag : agents) {
    while (!ag->registered()) {
      if (!ag->error().empty()) return fail("agent: " + ag->error());
      if (Clock::now() > reg_deadline) return fail("agents did not register within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // 2. latency: one one-task job at a time. Run twice: as a client would, and with a Ping sent
  // right after the SubmitAck. The Ping changes nothing in the scheduler's state; it only wakes
  // the reactor's receive wait, which shows how much of the latency is the reactor sitting in
  // Recv with decided-but-unsent work (see bench/RESULTS.md, "## Network").
  const std::string one = SpecToml("bench-latency", 1);
  auto latency_phase = [&](bool nudge, std::vector<double>& e2e_us) -> Status {
    for (int i = 0; i < a.latency_jobs; ++i) {
      const auto t0 = Clock::now();
      auto job = Submit(c, client_id, one, (nudge ? "nudge-" : "lat-") + std::to_string(i), *ck,
                        ck_bytes.size());
      if (!job) return tl::unexpected(job.error());
      if (nudge) {
        MessageBuilder m = c.NewRequest();
        m.body().setPing();
        if (auto r = c.Call(m, std::chrono::seconds(10)); !r) return tl::unexpected(r.error());
      }
      Clock::time_point last;
      if (!board.WaitJob(*job, 1, std::chrono::seconds(30), &last)) {
        return Fail("job " + *job + " did not finish within 30 s");
      }
      e2e_us.push_back(std::chrono::duration<double, std::micro>(last - t0).count());
    }
    return {};
  };
  std::vector<double> e2e_us, nudged_us;
  if (auto st = latency_phase(false, e2e_us); !st) return fail(st.error().message);
  const Summary e2e = Summarise(e2e_us);
  const Summary e2e_ack = Summarise(board.TakeLatenciesUs());
  if (auto st = latency_phase(true, nudged_us); !st) return fail(st.error().message);
  const Summary nudged = Summarise(nudged_us);
  (void)board.TakeLatenciesUs();

  // 3. throughput: all jobs submitted at once; each task is one shard.
  const std::string big = SpecToml("bench-throughput", static_cast<uint32_t>(a.shards));
  std::vector<std::string> ids;
  const auto t0 = Clock::now();
  for (int j = 0; j < a.jobs; ++j) {
    auto job = Submit(c, client_id, big, "tp-" + std::to_string(j), *ck, ck_bytes.size());
    if (!job) return fail(job.error().message);
    ids.push_back(*job);
  }
  Clock::time_point end = t0;
  for (const auto& id : ids) {
    Clock::time_point last;
    if (!board.WaitJob(id, static_cast<uint64_t>(a.shards), std::chrono::seconds(120), &last)) {
      return fail("job " + id + " did not finish within 120 s");
    }
    end = std::max(end, last);
  }
  const double seconds = std::chrono::duration<double>(end - t0).count();
  const uint64_t tasks = static_cast<uint64_t>(a.jobs) * static_cast<uint64_t>(a.shards);
  const Summary loaded = Summarise(board.TakeLatenciesUs());
  const uint64_t rejected = board.rejected();
  agents.clear();
  stop_all();
  if (!reactor_error.empty()) std::fprintf(stderr, "reactor: %s\n", reactor_error.c_str());

  std::printf("\n| measure | p50 | p99 | mean | n |\n|---|---|---|---|---|\n");
  auto row = [](const char* what, const Summary& s) {
    std::printf("| %s | %.0f us | %.0f us | %.0f us | %zu |\n", what, s.p50, s.p99, s.mean, s.n);
  };
  row("bare CURVE DEALER/ROUTER round trip (libzmq, 256 B)", bare);
  row("Ping through the scheduler reactor (transport + capnp)", ping);
  row("one-task job: submit -> result recorded (idle scheduler)", e2e);
  row("  of which: assign received -> result ack (idle)", e2e_ack);
  row("one-task job, Ping sent after the SubmitAck (wakes the reactor)", nudged);
  row("task under load: assign received -> result ack", loaded);
  std::printf("\n| throughput | value |\n|---|---|\n");
  std::printf("| tasks (%d jobs x %d shards) | %llu |\n", a.jobs, a.shards,
              static_cast<unsigned long long>(tasks));
  std::printf("| first submit -> last result recorded | %.2f s |\n", seconds);
  std::printf("| tasks/s end to end (durable) | %.0f |\n", tasks / seconds);
  std::printf("| results rejected by the scheduler | %llu |\n",
              static_cast<unsigned long long>(rejected));
  std::printf("| p50 one-task latency / p50 bare round trip | %.1f x |\n", e2e.p50 / bare.p50);
  std::printf("| same, with the Ping nudge | %.1f x |\n", nudged.p50 / bare.p50);
  std::printf("\n# goal: >= 20000 tasks/s (%s), p50 latency <= 3x bare round trip (%s)\n",
              tasks / seconds >= 20000 ? "met" : "NOT met",
              e2e.p50 <= 3 * bare.p50 ? "met" : "NOT met");
  std::printf("# load average at end %s\n", LoadAverage().c_str());
  return rejected == 0 && reactor_error.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  spdlog::set_level(spdlog::level::warn);
  Args a;
  CLI::App app{"plume dispatch benchmark (issue 3): no-op tasks through the real scheduler"};
  app.add_option("--agents", a.agents, "fake agents (threads)")->check(CLI::Range(1, 1000));
  app.add_option("--jobs", a.jobs, "jobs in the throughput phase")->check(CLI::Range(1, 1000));
  app.add_option("--shards", a.shards, "tasks per throughput job")->check(CLI::Range(1, 1024));
  app.add_option("--latency-jobs", a.latency_jobs, "one-task jobs in the latency phase")
      ->check(CLI::Range(1, 100000));
  app.add_option("--rtt", a.rtt_count, "bare round trips")->check(CLI::Range(10, 1000000));
  app.add_option("--io-threads", a.io_threads, "ZeroMQ I/O threads shared by the agents")
      ->check(CLI::Range(1, 16));
  app.add_option("--dir", a.dir, "where the scheduler's state goes (a real disk: fsync counts)");
  app.add_option("--sync", a.sync, "scheduler store sync")
      ->check(CLI::IsMember({"full", "normal"}));
  CLI11_PARSE(app, argc, argv);
  return Run(a);
}
