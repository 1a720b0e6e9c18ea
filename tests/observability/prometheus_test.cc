// Issue 5, "a real Prometheus in the tests": a Prometheus server (Debian's /usr/bin/prometheus)
// on loopback scrapes a real plume-scheduler and two real plume-agents every second while a
// small training job runs; the test then asks Prometheus's HTTP API (/api/v1/query, polled
// with a deadline) for the job's task counters, FLOPs and settled credits and compares them
// with what the scheduler itself reports (`plume status --json`) and with the FLOPs that
// kernels/flops.h gives for the job. The agents run without NVML (none on CI hosts), so this
// also shows an agent serving metrics without it.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "../integration/network.h"
#include "../integration/spec_util.h"
#include "plume/kernels/flops.h"
#include "scrape_util.h"

namespace plume::otest {
namespace {
namespace fs = std::filesystem;
using itest::Network;
using itest::Process;
using nlohmann::json;
using std::chrono::seconds;

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The value of a PromQL expression that yields one sample, or nullopt (no data yet).
std::optional<double> Query(int port, const std::string& expr) {
  auto body = HttpGet(port, "/api/v1/query?query=" + UrlEncode(expr));
  if (!body) return std::nullopt;
  const json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return std::nullopt;
  const auto& result = j["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

// Polls until the expression equals `want`; returns the last value seen.
std::optional<double> WaitFor(int port, const std::string& expr, double want) {
  std::optional<double> last;
  itest::WaitUntil(
      [&] {
        last = Query(port, expr);
        return last && *last == want;
      },
      seconds(30), std::chrono::milliseconds(250));
  return last;
}

int ReadPort(const fs::path& file) {
  std::ifstream in(file);
  int port = 0;
  in >> port;
  return port;
}

// The harness may pass --metrics-port itself; the last one wins, so these hold either way.
std::vector<std::string> MetricsFlags(const fs::path& port_file) {
  return {"--metrics-port", "0", "--metrics-address", "127.0.0.1", "--metrics-port-file",
          port_file.string()};
}

TEST(PrometheusIntegration, CountsTasksFlopsAndCreditsOfAJob) {
  const std::string prometheus = FindTool("prometheus");
  if (prometheus.empty()) GTEST_SKIP() << "prometheus (Debian package prometheus) is missing";
  Network net("prom");
  const fs::path dir = net.dir().path();
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why, MetricsFlags(dir / "scheduler.mport"))) << why;
  for (const char* name : {"a", "b"}) {
    const auto flags = MetricsFlags(dir / (std::string("agent-") + name + ".mport"));
    ASSERT_TRUE(net.StartAgent(name, &why, flags)) << why;
  }
  const std::vector<std::string> files = {"scheduler.mport", "agent-a.mport", "agent-b.mport"};
  ASSERT_TRUE(itest::WaitUntil(
      [&] {
        for (const auto& f : files) {
          if (ReadPort(dir / f) <= 0) return false;
        }
        return true;
      },
      seconds(60)))
      << "a process did not write its metrics port\n" << net.Logs();

  const int prom_port = FreePort();
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
      << "scrape_configs:\n"
      << "  - job_name: plume-scheduler\n    static_configs:\n      - targets: ['127.0.0.1:"
      << ReadPort(dir / "scheduler.mport") << "']\n"
      << "  - job_name: plume-agent\n    static_configs:\n      - targets: ['127.0.0.1:"
      << ReadPort(dir / "agent-a.mport") << "', '127.0.0.1:" << ReadPort(dir / "agent-b.mport")
      << "']\n";
  auto prom = Process::Spawn(
      {prometheus, "--config.file=" + (dir / "prometheus.yml").string(),
       "--storage.tsdb.path=" + (dir / "tsdb").string(),
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
      dir / "prometheus.log");
  ASSERT_TRUE(prom.has_value());
  // Kills Prometheus on every way out of the test (the Network kills the rest).
  struct Reaper {
    Process& p;
    ~Reaper() { p.Kill(); }
  } reaper{*prom};
  ASSERT_TRUE(WaitFor(prom_port, "count(up == 1)", 3).has_value())
      << "Prometheus is not scraping all three targets\n"
      << itest::Tail(dir / "prometheus.log") << net.Logs();
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  itest::TrainShape shape;
  shape.workers = 2;
  shape.rounds = 2;
  shape.local_steps = 5;
  shape.batch = 4;
  shape.seq_len = 32;
  const fs::path data = itest::WriteTrainingText(dir, 40'000);
  const fs::path spec = itest::WriteTrainSpec(dir, "prom", data, shape);
  itest::CommandResult submit = net.Cli({"submit", spec.string(), "--wait", "--json"}, seconds(120));
  ASSERT_EQ(submit.exit_code, 0) << submit.err << "\n" << net.Logs();
  const json status = json::parse(submit.out);
  ASSERT_EQ(status["state"], "succeeded") << submit.out;
  const double tasks = status["tasks_done"].get<double>();
  const double spent = status["spent_micro_plume"].get<double>();
  ASSERT_EQ(tasks, shape.workers * shape.rounds) << submit.out;
  ASSERT_GT(spent, 0) << "the agents' price should make the job cost something: " << submit.out;
  const double flops = static_cast<double>(shape.workers * shape.rounds) *
                       static_cast<double>(kernels::TrainFlops(itest::TinyModel(), shape.seq_len,
                                                               shape.batch, shape.local_steps));

  // What the scheduler says.
  auto v = WaitFor(prom_port,
                   "sum(plume_tasks_finished_total{job=\"plume-scheduler\",kind=\"train\","
                   "outcome=\"succeeded\"})",
                   tasks);
  EXPECT_EQ(v, tasks) << net.Logs();
  v = WaitFor(prom_port, "plume_jobs{job=\"plume-scheduler\",state=\"succeeded\"}", 1);
  EXPECT_EQ(v, 1);
  v = WaitFor(prom_port, "sum(plume_credits_settled_micro_plume_total{job=\"plume-scheduler\"})",
              spent);
  EXPECT_EQ(v, spent) << "settled credits differ from the job's spent amount";
  // Both providers were paid, each under its own id.
  for (const char* name : {"a", "b"}) {
    const std::string expr = "plume_credits_settled_micro_plume_total{provider=\"" +
                             net.agent_id(name) + "\"} > 0";
    EXPECT_TRUE(itest::WaitUntil([&] { return Query(prom_port, expr).has_value(); }, seconds(30)))
        << "no settled credits for agent " << name;
  }
  // What the agents say.
  v = WaitFor(prom_port,
              "sum(plume_agent_tasks_total{job=\"plume-agent\",kind=\"train\","
              "outcome=\"succeeded\"})",
              tasks);
  EXPECT_EQ(v, tasks);
  v = WaitFor(prom_port, "sum(plume_agent_flops_total{job=\"plume-agent\",kind=\"train\"})",
              flops);
  EXPECT_EQ(v, flops) << "FLOPs differ from kernels::TrainFlops for the job";
  // Earned as the scheduler's acks report it: what the job spent, split over both agents.
  v = WaitFor(prom_port, "sum(plume_agent_credits_earned_micro_plume_total{job=\"plume-agent\"})",
              spent);
  EXPECT_EQ(v, spent) << "credits earned by the agents differ from the job's spent amount";
  v = WaitFor(prom_port, "sum(plume_agent_nvml_available)", 0);
  EXPECT_EQ(v, 0);
  v = WaitFor(prom_port, "count(plume_agent_info{backend=\"cpu\"})", 2);
  EXPECT_EQ(v, 2);
}

}  // namespace
}  // namespace plume::otest
