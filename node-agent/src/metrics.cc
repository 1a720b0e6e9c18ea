// The agent's metrics: the families of docs/metrics.md (names, help texts, labels, buckets).
// Counters live in a prometheus-cpp Registry; the per-device series are a Collectable that
// reads the devices at scrape time. See metrics.h.
#include "plume/agent/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

#include "gpu_probe.h"

namespace plume::agent {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::ClientMetric;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::MetricFamily;

const char* OutcomeName(TaskOutcome o) {
  switch (o) {
    case TaskOutcome::kSucceeded: return "succeeded";
    case TaskOutcome::kFailed: return "failed";
    case TaskOutcome::kCancelled: return "cancelled";
  }
  return "failed";
}

Histogram::BucketBoundaries StepBuckets() {
  return {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// One CUDA device as the DCGM exporter labels it.
struct Device {
  int index = 0;
  std::string uuid;
  std::string model;
  bool selftest_passed = false;
  double flops_per_second = 0;

  std::vector<ClientMetric::Label> Labels() const {
    return {{"gpu", std::to_string(index)}, {"UUID", uuid}, {"modelName", model}};
  }
};

MetricFamily GaugeFamily(const std::string& name, const std::string& help) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  return f;
}

void AddSample(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

// The per-device gauges, read when scraped: selftest results (fixed at startup), memory from
// the CUDA runtime, and NVML's samples when NVML loaded. A family with no samples is left out.
class DeviceCollector : public prometheus::Collectable {
 public:
  explicit DeviceCollector(std::vector<Device> devices)
      : devices_(std::move(devices)), nvml_(devices_.empty() ? nullptr : Nvml::Load()) {}
  bool nvml_available() const { return nvml_ != nullptr; }

  std::vector<MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);  // CUDA's current device is per thread; NVML calls are cheap
    auto passed = GaugeFamily("plume_agent_selftest_passed",
                              "1 if the kernel selftest passed on this device at startup, else 0.");
    auto speed = GaugeFamily("plume_agent_selftest_flops_per_second",
                             "Matmul speed measured by the selftest on this device.");
    auto used = GaugeFamily("plume_agent_gpu_memory_used_bytes",
                            "Device memory in use (CUDA runtime).");
    auto total = GaugeFamily("plume_agent_gpu_memory_total_bytes",
                             "Device memory in total (CUDA runtime).");
    auto util = GaugeFamily("plume_agent_gpu_utilization_ratio",
                            "GPU utilisation over the last sample period (NVML), 0 to 1.");
    auto power = GaugeFamily("plume_agent_gpu_power_watts", "Power draw (NVML).");
    auto temp = GaugeFamily("plume_agent_gpu_temperature_celsius", "GPU core temperature (NVML).");
    for (const auto& d : devices_) {
      AddSample(passed, d.Labels(), d.selftest_passed ? 1 : 0);
      AddSample(speed, d.Labels(), d.flops_per_second);
      if (auto mem = CudaMemory(d.index)) {
        AddSample(used, d.Labels(), static_cast<double>(mem->used_bytes));
        AddSample(total, d.Labels(), static_cast<double>(mem->total_bytes));
      }
      if (!nvml_) continue;
      if (auto s = nvml_->Sample(d.uuid)) {
        AddSample(util, d.Labels(), s->utilization_ratio);
        AddSample(power, d.Labels(), s->power_watts);
        AddSample(temp, d.Labels(), s->temperature_celsius);
      }
    }
    std::vector<MetricFamily> out;
    for (auto* f : {&passed, &speed, &used, &total, &util, &power, &temp}) {
      if (!f->metric.empty()) out.push_back(std::move(*f));
    }
    return out;
  }

 private:
  std::vector<Device> devices_;
  std::unique_ptr<Nvml> nvml_;
  mutable std::mutex mu_;
};

std::vector<Device> CudaDevices(const std::vector<DeviceOffer>& offers) {
  std::vector<Device> out;
  for (const auto& o : offers) {
    if (o.backend != DeviceBackend::kCuda) continue;
    for (uint32_t i = 0; i < std::max<uint32_t>(o.count, 1); ++i) {
      Device d;
      d.index = o.first_device_index + static_cast<int>(i);
      auto id = CudaIdentity(d.index);
      d.uuid = id ? id->uuid : "";
      d.model = id ? id->model : o.name;
      d.selftest_passed = o.selftest_passed;
      d.flops_per_second = o.measured_flops_per_sec;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace

struct AgentMetrics::Impl {
  std::shared_ptr<prometheus::Registry> reg = std::make_shared<prometheus::Registry>();
  std::shared_ptr<DeviceCollector> devices;

  Gauge& connected = BuildGauge().Name("plume_agent_connected").Help(
      "1 while the agent holds a lease with its scheduler, else 0.").Register(*reg).Add({});
  Gauge& price = BuildGauge().Name("plume_agent_price_micro_plume_per_pflop").Help(
      "Price this agent advertises.").Register(*reg).Add({});
  Gauge& running = BuildGauge().Name("plume_agent_tasks_running").Help(
      "Tasks executing on this agent now.").Register(*reg).Add({});
  Family<Counter>& tasks = BuildCounter().Name("plume_agent_tasks_total").Help(
      "Tasks this agent finished, by kind and outcome.").Register(*reg);
  Family<Counter>& flops = BuildCounter().Name("plume_agent_flops_total").Help(
      "Floating-point operations done for finished tasks, computed from the model config and "
      "token counts.").Register(*reg);
  Family<Counter>& tokens = BuildCounter().Name("plume_agent_tokens_total").Help(
      "Tokens processed (trained on or generated/scored).").Register(*reg);
  Family<Histogram>& steps = BuildHistogram().Name("plume_agent_step_duration_seconds").Help(
      "Time of one training step or one generation step.").Register(*reg);
  Counter& credits = BuildCounter().Name("plume_agent_credits_earned_micro_plume_total").Help(
      "Credits earned by this agent's accepted results, as the scheduler's acks report them.")
      .Register(*reg).Add({});
  Gauge& nvml = BuildGauge().Name("plume_agent_nvml_available").Help(
      "1 if NVML was loaded at run time, else 0 (the three NVML gauges below are then absent).")
      .Register(*reg).Add({});
  Gauge& cache_bytes = BuildGauge().Name("plume_agent_blob_cache_bytes").Help(
      "Size of the local blob cache.").Register(*reg).Add({});
  Counter& hits = BuildCounter().Name("plume_agent_blob_cache_hits_total").Help(
      "Blob lookups served from the local cache.").Register(*reg).Add({});
  Counter& misses = BuildCounter().Name("plume_agent_blob_cache_misses_total").Help(
      "Blob lookups that had to be fetched.").Register(*reg).Add({});
  Family<Counter>& blob_bytes = BuildCounter().Name("plume_agent_blob_bytes_total").Help(
      "Blob bytes fetched from or uploaded to the scheduler.").Register(*reg);
};

AgentMetrics::AgentMetrics(const AgentMetricsInfo& info) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.devices = std::make_shared<DeviceCollector>(CudaDevices(info.devices));
  bool cuda = false;
  for (const auto& d : info.devices) cuda = cuda || d.backend == DeviceBackend::kCuda;
  BuildGauge().Name("plume_agent_info").Help(
      "Constant 1; labels carry the build, this agent's id, its scheduler's id and the kernel "
      "backend.").Register(*m.reg)
      .Add({{"version", info.version}, {"agent_id", info.agent_id},
            {"scheduler_id", info.scheduler_id}, {"backend", cuda ? "cuda" : "cpu"}})
      .Set(1);
  m.price.Set(static_cast<double>(info.price_micro_plume_per_pflop));
  m.nvml.Set(m.devices->nvml_available() ? 1 : 0);
  // Every label value of a closed set exists from the start (docs/metrics.md, conventions).
  for (const char* k : {"train", "infer"}) {
    for (const char* o : {"succeeded", "failed", "cancelled"}) {
      m.tasks.Add({{"kind", k}, {"outcome", o}});
    }
    m.flops.Add({{"kind", k}});
    m.tokens.Add({{"kind", k}});
    m.steps.Add({{"kind", k}}, StepBuckets());
  }
  for (const char* d : {"in", "out"}) m.blob_bytes.Add({{"direction", d}});
}

AgentMetrics::~AgentMetrics() = default;

void AgentMetrics::OnTurn(bool connected, bool task_running, uint64_t cache_bytes) {
  impl_->connected.Set(connected ? 1 : 0);
  impl_->running.Set(task_running ? 1 : 0);
  impl_->cache_bytes.Set(static_cast<double>(cache_bytes));
}

void AgentMetrics::OnCacheLookup(bool hit) { (hit ? impl_->hits : impl_->misses).Increment(); }

void AgentMetrics::OnBlobBytes(bool inbound, uint64_t bytes) {
  impl_->blob_bytes.Add({{"direction", inbound ? "in" : "out"}})
      .Increment(static_cast<double>(bytes));
}

void AgentMetrics::OnTaskDone(bool train, TaskOutcome outcome, double flops, int64_t tokens,
                              int64_t steps, std::chrono::duration<double> elapsed) {
  auto& m = *impl_;
  const char* kind = train ? "train" : "infer";
  m.tasks.Add({{"kind", kind}, {"outcome", OutcomeName(outcome)}}).Increment();
  if (outcome != TaskOutcome::kSucceeded) return;
  if (flops > 0) m.flops.Add({{"kind", kind}}).Increment(flops);
  if (tokens > 0) m.tokens.Add({{"kind", kind}}).Increment(static_cast<double>(tokens));
  if (steps <= 0) return;
  // `steps` observations of the mean step time, in one call (bucket counts plus their sum).
  const double mean = elapsed.count() / static_cast<double>(steps);
  const auto bounds = StepBuckets();
  std::vector<double> increments(bounds.size() + 1, 0.0);
  size_t b = 0;
  while (b < bounds.size() && mean > bounds[b]) ++b;
  increments[b] = static_cast<double>(steps);
  m.steps.Add({{"kind", kind}}, bounds).ObserveMultiple(increments, elapsed.count());
}

void AgentMetrics::OnCreditsEarned(int64_t micro_plume) {
  if (micro_plume > 0) impl_->credits.Increment(static_cast<double>(micro_plume));
}

std::shared_ptr<prometheus::Registry> AgentMetrics::registry() const { return impl_->reg; }
std::shared_ptr<prometheus::Collectable> AgentMetrics::devices() const { return impl_->devices; }

std::string AgentMetrics::Serialize() const {
  auto families = impl_->reg->Collect();
  for (auto& f : impl_->devices->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

Result<std::unique_ptr<AgentMetricsServer>> AgentMetricsServer::Start(
    const std::string& address, int port, std::shared_ptr<AgentMetrics> metrics) {
  if (port < 0 || port > 65535) {
    return Fail("metrics port " + std::to_string(port) + " is out of range (0..65535)");
  }
  std::unique_ptr<AgentMetricsServer> s(new AgentMetricsServer());
  s->metrics_ = std::move(metrics);
  std::shared_ptr<AgentMetrics> m = s->metrics_;
  auto http = MetricsHttpServer::Start(address, port, [m] { return m->Serialize(); });
  if (!http) return tl::unexpected(http.error());
  s->http_ = std::move(*http);
  s->port_ = s->http_->port();
  return s;
}

AgentMetricsServer::~AgentMetricsServer() = default;

}  // namespace plume::agent
