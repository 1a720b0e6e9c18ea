// Issue 11, "done when": a hostile client with a valid key against a real plume-scheduler that is
// running a legitimate training job on two agents at the same time. For a bounded time it sends
// every message kind it can build, as itself and replayed, from the wrong role (scheduler-to-agent
// kinds, a client claiming results), for tasks it does not hold, mutated and cut short, plus
// floods: blobGets it never reads, heartbeats listing 100,000 tasks, results and failures for
// task ids it guesses. The job must succeed on the honest agents, the scheduler must keep
// answering a fresh client, and its peak RSS (VmHWM of the real process) must stay bounded; the
// figure is printed for bench/RESULTS.md.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "message_samples.h"
#include "network.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;

uint64_t StatusBytes(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

std::unique_ptr<TransportClient> Connect(const Network& net, const Identity& id) {
  auto server = PublicKeyFromHex(net.scheduler_id());
  if (!server) return nullptr;
  auto c = TransportClient::Connect(net.endpoint(), *server, id);
  return c ? std::move(*c) : nullptr;
}

// Every request a client or an agent may send, filled with what a hostile key would put there:
// ids of tasks it does not hold, the legitimate job's id, hashes it was never given.
std::vector<std::string> HostileFrames(TransportClient& c, const std::string& job, uint64_t task) {
  std::vector<std::string> frames;
  auto add = [&](MessageBuilder& m) {
    if (auto f = m.Encode()) frames.push_back(std::move(*f));
  };
  const Hash256 someone_elses = Blake2b256(std::string_view("a hash it was never given"));
  {
    auto m = c.NewRequest();
    auto r = m.body().initRegister();
    r.setName("hostile");
    r.setPriceMicroPlumePerPflop(1);
    auto g = r.initGpus(1)[0];
    g.setName("cpu");
    g.setCount(1);
    g.setMemoryBytes(1ull << 40);
    g.setSelftestPassed(true);
    g.setMeasuredFlopsPerSec(1e18);
    add(m);
  }
  {
    auto m = c.NewRequest();
    auto running = m.body().initHeartbeat().initRunning(100'000);
    for (unsigned i = 0; i < running.size(); ++i) running[i].setTaskId(i);
    add(m);
  }
  {
    auto m = c.NewRequest();
    auto r = m.body().initTaskResult();
    r.setTaskId(task);
    r.setAttempt(1);
    r.initOutput().setHash(AsData(someone_elses));
    const std::vector<uint8_t> receipt(200, 'r'), signature(64, 's');
    r.setReceipt(AsData(receipt));
    r.setReceiptSignature(AsData(signature));
    add(m);
  }
  {
    auto m = c.NewRequest();
    auto f = m.body().initTaskFailed();
    f.setTaskId(task);
    f.setAttempt(1);
    f.setRetryable(false);
    f.setReason("bad data (a lie)");
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initCancelJob().setJobId(job);
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initFetchJob().setJobId(job);
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initJobStatus().setJobId(job);
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initBlobGet().setHash(AsData(someone_elses));
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initDrain().setReason("hostile");
    add(m);
  }
  {
    auto m = c.NewRequest();
    m.body().initDeregister().setReason("hostile");
    add(m);
  }
  // Scheduler-to-agent kinds, sent the wrong way.
  for (const std::string& f : testing_samples::SampleFrames()) frames.push_back(f);
  return frames;
}

TEST(AdversaryIntegration, AHostileKeySendsEveryKindWhileALegitimateJobRunsToTheEnd) {
  Network net("adversary");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(90))) << net.Logs();
  const fs::path data = WriteTrainingText(net.dir().path(), 60'000);
  TrainShape shape;
  shape.rounds = 3;
  auto submitted = net.CliJson({"submit", WriteTrainSpec(net.dir().path(), "legit", data, shape).string()},
                               &why, seconds(60));
  ASSERT_TRUE(submitted && submitted->contains("job_id")) << why << net.Logs();
  const std::string job = (*submitted)["job_id"];
  const pid_t pid = net.scheduler().pid();
  const uint64_t rss_before = StatusBytes(pid, "VmRSS");

  // The hostile key: one connection that reads nothing (floods), one that sends everything.
  Identity evil = Identity::Generate();
  auto flood = Connect(net, evil), sender = Connect(net, evil);
  ASSERT_TRUE(flood && sender);
  std::mt19937 rng(11);
  uint64_t sent = 0;
  const auto until = std::chrono::steady_clock::now() + seconds(10);
  for (uint64_t round = 0; std::chrono::steady_clock::now() < until && round < 200; ++round) {
    for (const std::string& f : HostileFrames(*sender, job, 1 + round % 64)) {
      (void)sender->Send(f);  // as built
      (void)sender->Send(f);  // replayed
      std::string mutated = f;
      for (int k = 0; k < 4; ++k) mutated[rng() % mutated.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)sender->Send(mutated);
      (void)sender->Send(std::string_view(f).substr(0, rng() % f.size()));
      sent += 4;
    }
    for (int i = 0; i < 50; ++i) {  // never read
      auto g = flood->NewRequest();
      g.body().initBlobGet().setHash(AsData(Blake2b256(std::to_string(rng()))));
      (void)flood->Send(g);
      ++sent;
    }
    while (true) {  // drain what the sender got back, so its own queue is not the bound
      auto in = sender->Recv(std::chrono::milliseconds(0));
      if (!in || !in->has_value()) break;
    }
  }

  // The job finishes on the honest agents; the scheduler still answers a fresh client.
  auto done = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(done) << net.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net.Logs();
  EXPECT_TRUE(net.scheduler().Running());
  auto fresh = Connect(net, Identity::Generate());
  ASSERT_TRUE(fresh);
  auto ping = fresh->NewRequest();
  ping.body().initListNodes();
  auto reply = fresh->Call(ping, seconds(10));
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->kind(), MessageKind::LIST_NODES_REPLY);
  // The hostile key is no provider of the job: nothing it sent was taken as work.
  std::string nodes_why;
  auto nodes = net.CliJson({"nodes", "--json"}, &nodes_why);
  ASSERT_TRUE(nodes) << nodes_why;
  for (const auto& n : *nodes) {
    if (n.value("name", "") == "hostile") {
      EXPECT_EQ(n.value("tasks_succeeded", -1), 0) << n.dump();
    }
  }

  const uint64_t hwm = StatusBytes(pid, "VmHWM");
  std::printf("[ metric ] hostile key: %llu messages in 10 s while a 3-round job ran; scheduler "
              "VmRSS before %llu MiB, peak (VmHWM) %llu MiB\n",
              static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(rss_before >> 20),
              static_cast<unsigned long long>(hwm >> 20));
  // The bounds of docs/protocol.md: one non-reading connection queues at most its 32 MiB send
  // budget; the rest of the scheduler is the job's few MiB. 512 MiB leaves room for allocator
  // slack and is far below what the flood cost before the bounds (GiBs).
  EXPECT_LT(hwm, 512ull << 20);
}

}  // namespace
}  // namespace plume::itest
