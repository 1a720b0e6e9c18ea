// Each process's /metrics, served by Plume's metrics HTTP server on an ephemeral loopback
// port and scraped over HTTP, holds every metric deploy/metrics/catalog.txt lists for that
// process with the catalogue's type and label names (deploy/tools/check-exposition.mjs), and
// passes `promtool check metrics` with only the accepted DCGM camelCase finding. The values
// shown come from a state the test builds, so the derivations (state -> counters) are checked
// too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "../integration/harness.h"
#include "plume/agent/metrics.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/metrics.h"
#include "plume/scheduler/metrics_gov.h"
#include "plume/scheduler/work.h"
#include "scrape_util.h"

namespace plume::otest {
namespace {
namespace fs = std::filesystem;
using namespace plume::scheduler;

// Why the checks cannot run here, or "" when they can. (GTEST_SKIP inside a helper would end only
// the helper, not the test, so each test skips on this answer itself.)
std::string MissingTools() {
  if (FindTool("node").empty()) return "node is not installed";
  if (FindTool("promtool").empty()) return "promtool (Debian: prometheus) is missing";
  return "";
}

std::string Scrape(int port, const fs::path& file) {
  auto body = HttpGet(port, "/metrics");
  EXPECT_TRUE(body.has_value()) << "no answer from /metrics on port " << port;
  std::ofstream(file) << body.value_or("");
  return body.value_or("");
}

bool HasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

// A small train job whose hold (MaxJobCostMicroPlume) is well above the 123 settled below.
JobSpec EscrowedSpec() {
  JobSpec spec;
  spec.kind = JobKind::kTrain;
  spec.model = ModelConfig{2, 2, 32, 32, 256};
  spec.train.workers = 2;
  spec.train.local_steps = 10;
  spec.train.batch = 4;
  spec.train.seq_len = 32;
  spec.max_price_micro_plume_per_pflop = 1'000'000'000'000;
  spec.fee_bps = 500;
  spec.budget_micro_plume = MaxJobCostMicroPlume(spec);
  spec.escrow_micro_plume = spec.budget_micro_plume;  // as the core stamps it at submit
  return spec;
}

State SomeState(TaskState first_task) {
  State s;
  Node gpu_node;
  gpu_node.info.id = "aa01";
  gpu_node.info.gpus = {GpuInfo{"NVIDIA H100 80GB HBM3", 80ull << 30, 2}};
  gpu_node.state = NodeState::kActive;
  gpu_node.tasks = {"j1/r0/w1"};
  s.nodes[gpu_node.info.id] = gpu_node;
  Node lost;
  lost.info.id = "bb02";
  lost.state = NodeState::kLost;
  s.nodes[lost.info.id] = lost;
  Job job;
  job.id = "j1";
  job.spec = EscrowedSpec();
  job.state = JobState::kRunning;
  job.escrow_held = true;
  s.jobs[job.id] = job;
  for (uint32_t w = 0; w < 2; ++w) {
    Task t;
    t.id = "j1/r0/w" + std::to_string(w);
    t.job = "j1";
    t.kind = TaskKind::kTrainWorker;
    t.node = "aa01";
    t.state = w == 0 ? first_task : TaskState::kAssigned;
    t.assigned_at_ms = 1'000;
    t.finished_at_ms = w == 0 && first_task == TaskState::kSucceeded ? 4'000 : 0;
    t.paid_micro_plume = w == 0 && first_task == TaskState::kSucceeded ? 123 : 0;
    if (t.paid_micro_plume > 0) t.settle = SettleState::kApplied;
    s.tasks[t.id] = t;
  }
  return s;
}

TEST(SchedulerExposition, CatalogueCompleteAndPromtoolClean) {
  if (const std::string why = MissingTools(); !why.empty()) GTEST_SKIP() << why;
  SchedulerMetrics metrics({"0.1.0", std::string(64, 'c')});
  metrics.Observe(SomeState(TaskState::kAssigned), 2'000);  // the baseline
  metrics.Observe(SomeState(TaskState::kSucceeded), 5'000);  // one task finished and settled
  LedgerHook hook = metrics.Instrument(
      [](const LedgerOp&, std::string&) -> Result<bool> { return true; });
  std::string refusal;
  LedgerOp settle;
  settle.kind = LedgerOpKind::kSettle;
  ASSERT_TRUE(hook(settle, refusal).value());
  TransportStats transport;
  transport.messages_malformed = 3;
  metrics.ObserveTransport(transport, 4096, 100);
  // The governance families plume-scheduler registers on the same registry (main.cc).
  GovMetrics gov(*metrics.registry());
  gov.Observe(GovSample{1, 2, 1, 0, 1, 2, 0.5});

  auto server = MetricsServer::Start("127.0.0.1", 0, metrics.registry());
  ASSERT_TRUE(server) << server.error().message;
  ASSERT_GT((*server)->port(), 0);
  itest::TempDir dir("sched-expo");
  const std::string text = Scrape((*server)->port(), dir / "scheduler.prom");

  const auto expo = CheckExposition("scheduler", dir / "scheduler.prom");
  EXPECT_TRUE(expo.ok) << expo.output << "\n" << text;
  const auto lint = PromtoolCheckMetrics(dir / "scheduler.prom");
  EXPECT_TRUE(lint.ok) << lint.output;

  // The derived values.
  EXPECT_TRUE(HasLine(text, "plume_agents{state=\"busy\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agents{state=\"lost\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_gpus{modelName=\"NVIDIA H100 80GB HBM3\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "plume_tasks{state=\"running\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_tasks_finished_total{kind=\"train\",outcome=\"succeeded\"} 1"))
      << text;
  EXPECT_TRUE(HasLine(text, "plume_credits_settled_micro_plume_total{provider=\"aa01\"} 123"))
      << text;
  // The hold (the job's maximum cost) less the one settled task.
  EXPECT_TRUE(HasLine(text, "plume_escrow_held_micro_plume " +
                                std::to_string(MaxJobCostMicroPlume(EscrowedSpec()) - 123)))
      << text;
  EXPECT_TRUE(HasLine(text, "plume_ledger_entries_appended_total{type=\"settle\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_messages_malformed_total{reason=\"decode\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, "plume_blob_bytes_total{direction=\"in\"} 4096")) << text;
  EXPECT_TRUE(HasLine(text, "plume_task_duration_seconds_sum{kind=\"train\"} 3")) << text;
}

// With a ledger attached, entries are counted from the ledger (mints that bypass the hook
// too) and one hook call that appends two entries is one group commit of two.
TEST(SchedulerExposition, LedgerEntriesComeFromTheLedger) {
  SchedulerMetrics metrics({"0.1.0", "x"});
  std::vector<std::string> log = {"mint"};  // before the attach: history, not counted
  metrics.AttachLedger(LedgerView{
      [&] { return static_cast<uint64_t>(log.size()); },
      [&](uint64_t begin, const std::function<void(const LedgerEntrySeen&)>& each) {
        for (uint64_t i = begin; i < log.size(); ++i) {
          LedgerEntrySeen seen{log[i], {}};
          if (log[i] == "slash") seen.slash_legs = {{"compensation", 70}, {"treasury", 30}};
          each(seen);
        }
      }});
  LedgerHook hook = metrics.Instrument([&](const LedgerOp&, std::string&) -> Result<bool> {
    log.push_back("settle");
    log.push_back("receipt");
    return true;
  });
  std::string refusal;
  ASSERT_TRUE(hook(LedgerOp{}, refusal).value());
  log.push_back("mint");  // the operator's inbox, outside the hook
  log.push_back("slash");
  // Stake and pending pay come from the core's state.
  State state;
  state.nodes["aa01"].stake_micro_plume = 500;
  state.nodes["aa01"].unbonding_micro_plume = 40;
  Task waiting;
  waiting.state = TaskState::kSucceeded;
  waiting.final_at_ms = 60'000;
  waiting.paid_micro_plume = 9;
  state.tasks["t1"] = waiting;
  Task paid = waiting;
  paid.settle = SettleState::kApplied;  // settled: no longer pending
  state.tasks["t2"] = paid;
  metrics.Observe(state, 0);
  const std::string text = metrics.Serialize();
  EXPECT_TRUE(HasLine(text, "plume_ledger_entries_appended_total{type=\"settle\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_ledger_entries_appended_total{type=\"receipt\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_ledger_entries_appended_total{type=\"mint\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_ledger_group_commit_entries_sum 2")) << text;
  EXPECT_TRUE(HasLine(text, "plume_ledger_group_commit_entries_count 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_slashed_micro_plume_total{leg=\"compensation\"} 70")) << text;
  EXPECT_TRUE(HasLine(text, "plume_slashed_micro_plume_total{leg=\"treasury\"} 30")) << text;
  EXPECT_TRUE(HasLine(text, "plume_stake_micro_plume{state=\"staked\"} 500")) << text;
  EXPECT_TRUE(HasLine(text, "plume_stake_micro_plume{state=\"unbonding\"} 40")) << text;
  EXPECT_TRUE(HasLine(text, "plume_pending_verification_micro_plume 9")) << text;
}

// Device names are what agents say and keys are free: 200 agents each naming a new device model
// make at most kGpuModelSeriesMax series plus "other" (the models with most devices keep theirs,
// every device is still counted), and a model no live agent reports any more loses its series.
// Before, every name ever registered kept a series for ever.
TEST(SchedulerExposition, GpuModelSeriesAreBoundedAndFollowLiveAgents) {
  SchedulerMetrics metrics({"0.1.0", "x"});
  auto series = [&] {
    const std::string text = metrics.Serialize();
    size_t n = 0;
    for (size_t at = text.find("\nplume_gpus{"); at != std::string::npos;
         at = text.find("\nplume_gpus{", at + 1)) {
      ++n;
    }
    return n;
  };
  State state = SomeState(TaskState::kAssigned);  // 2 x H100 on a live agent
  for (int i = 0; i < 200; ++i) {
    Node n;
    n.info.id = "fake" + std::to_string(i);
    n.info.gpus = {GpuInfo{"made-up model " + std::to_string(i), 1ull << 30, 1}};
    n.state = NodeState::kActive;
    state.nodes[n.info.id] = n;
  }
  metrics.Observe(state, 0);
  std::string text = metrics.Serialize();
  EXPECT_EQ(series(), kGpuModelSeriesMax + 1) << text;
  EXPECT_TRUE(HasLine(text, "plume_gpus{modelName=\"NVIDIA H100 80GB HBM3\"} 2")) << text;
  // 200 made-up models with one device each; 63 of them keep a series beside the H100.
  const size_t folded = 200 - (kGpuModelSeriesMax - 1);
  EXPECT_TRUE(HasLine(text, "plume_gpus{modelName=\"other\"} " + std::to_string(folded))) << text;

  // The made-up agents lose their leases: only the H100 is left.
  for (int i = 0; i < 200; ++i) state.nodes["fake" + std::to_string(i)].state = NodeState::kLost;
  metrics.Observe(state, 1'000);
  text = metrics.Serialize();
  EXPECT_EQ(series(), 1u) << text;
  EXPECT_TRUE(HasLine(text, "plume_gpus{modelName=\"NVIDIA H100 80GB HBM3\"} 2")) << text;
}

TEST(SchedulerExposition, BusyPortIsAClearError) {
  SchedulerMetrics metrics({"0.1.0", "x"});
  auto first = MetricsServer::Start("127.0.0.1", 0, metrics.registry());
  ASSERT_TRUE(first) << first.error().message;
  auto second = MetricsServer::Start("127.0.0.1", (*first)->port(), metrics.registry());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("--metrics-port"), std::string::npos)
      << second.error().message;
}

TEST(AgentExposition, CatalogueCompleteAndPromtoolCleanWithoutNvml) {
  if (const std::string why = MissingTools(); !why.empty()) GTEST_SKIP() << why;
  agent::AgentMetricsInfo info;
  info.version = "0.1.0";
  info.agent_id = std::string(64, 'a');
  info.scheduler_id = std::string(64, 'b');
  info.price_micro_plume_per_pflop = 250;
  agent::DeviceOffer cpu;
  cpu.name = "cpu";
  cpu.selftest_passed = true;
  agent::DeviceOffer gpu;  // per-device series need a CUDA device in the offers
  gpu.name = "NVIDIA H100 80GB HBM3";
  gpu.backend = agent::DeviceBackend::kCuda;
  gpu.selftest_passed = true;
  gpu.measured_flops_per_sec = 1.5e12;
  info.devices = {cpu, gpu};
  auto metrics = std::make_shared<agent::AgentMetrics>(info);
  metrics->OnTurn(true, true, 1 << 20);
  metrics->OnCacheLookup(true);
  metrics->OnCacheLookup(false);
  metrics->OnBlobBytes(true, 512);
  metrics->OnTaskDone(true, agent::TaskOutcome::kSucceeded, 6.0e9, 2048, 20,
                      std::chrono::duration<double>(2.0));
  metrics->OnTaskDone(false, agent::TaskOutcome::kFailed, 0, 0, 0, {});

  auto server = agent::AgentMetricsServer::Start("127.0.0.1", 0, metrics);
  ASSERT_TRUE(server) << server.error().message;
  itest::TempDir dir("agent-expo");
  const std::string text = Scrape((*server)->port(), dir / "agent.prom");

  // Memory needs the CUDA runtime and a real device; NVML is absent on CI hosts, and its three
  // gauges must then be missing (not zero).
  const auto expo = CheckExposition("agent", dir / "agent.prom", "plume_agent_gpu_.*");
  EXPECT_TRUE(expo.ok) << expo.output << "\n" << text;
  const auto lint = PromtoolCheckMetrics(dir / "agent.prom");
  EXPECT_TRUE(lint.ok) << lint.output;

  EXPECT_TRUE(HasLine(text, "plume_agent_connected 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_price_micro_plume_per_pflop 250")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_flops_total{kind=\"train\"} 6000000000")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_tokens_total{kind=\"train\"} 2048")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_tasks_total{kind=\"infer\",outcome=\"failed\"} 1"))
      << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_step_duration_seconds_count{kind=\"train\"} 20")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_blob_cache_hits_total 1")) << text;
  EXPECT_TRUE(HasLine(text, "plume_agent_blob_cache_bytes 1048576")) << text;
  EXPECT_NE(text.find("plume_agent_selftest_passed{gpu=\"0\""), std::string::npos) << text;
  if (text.find("plume_agent_nvml_available 0") != std::string::npos) {
    EXPECT_EQ(text.find("plume_agent_gpu_utilization_ratio"), std::string::npos) << text;
    EXPECT_EQ(text.find("plume_agent_gpu_power_watts"), std::string::npos) << text;
  }
}

// NVML present (a fake libnvidia-ml.so.1 on LD_LIBRARY_PATH, see CMakeLists.txt): the agent
// loads it at run time and exports utilisation, power and temperature per device. Skipped when
// run without that environment (the CTest entry NvmlFake sets it).
TEST(AgentExposition, NvmlSeriesWhenNvmlLoads) {
  if (std::getenv("PLUME_TEST_FAKE_NVML") == nullptr) {
    GTEST_SKIP() << "needs the fake NVML on LD_LIBRARY_PATH (ctest -R NvmlFake)";
  }
  if (const std::string why = MissingTools(); !why.empty()) GTEST_SKIP() << why;
  agent::AgentMetricsInfo info{"0.1.0", std::string(64, 'a'), std::string(64, 'b'), 0, {}};
  agent::DeviceOffer gpu;
  gpu.name = "NVIDIA H100 80GB HBM3";
  gpu.backend = agent::DeviceBackend::kCuda;
  gpu.selftest_passed = true;
  info.devices = {gpu};
  auto metrics = std::make_shared<agent::AgentMetrics>(info);
  auto server = agent::AgentMetricsServer::Start("127.0.0.1", 0, metrics);
  ASSERT_TRUE(server) << server.error().message;
  itest::TempDir dir("agent-nvml");
  const std::string text = Scrape((*server)->port(), dir / "agent.prom");
  EXPECT_TRUE(HasLine(text, "plume_agent_nvml_available 1")) << text;
  EXPECT_NE(text.find("plume_agent_gpu_utilization_ratio{gpu=\"0\""), std::string::npos);
  EXPECT_NE(text.find("} 0.42\n"), std::string::npos) << text;
  EXPECT_NE(text.find("} 123.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("plume_agent_gpu_temperature_celsius{gpu=\"0\""), std::string::npos);
  // Only the CUDA runtime's memory gauges may be missing here (no CUDA device).
  const auto expo = CheckExposition("agent", dir / "agent.prom", "plume_agent_gpu_memory_.*");
  EXPECT_TRUE(expo.ok) << expo.output << "\n" << text;
  const auto lint = PromtoolCheckMetrics(dir / "agent.prom");
  EXPECT_TRUE(lint.ok) << lint.output;
}

}  // namespace
}  // namespace plume::otest
