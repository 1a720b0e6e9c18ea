// plume-cheat-agent: a test-only provider (never installed) that runs every task honestly on the
// real agent library, then corrupts the result before signing it, as a cheating provider would.
// It takes plume-agent's flags plus --cheat:
//   zero  train: an all-zero delta (no work done)     infer: an empty output
//   nan   train: one parameter NaN                    infer: the JSONL with one line dropped
//   scale train: the delta times 1000                 infer: the lines in reverse order
//   random train: every parameter uniform in [-0.5, 0.5]
//          infer: every line's bytes random printable characters (not JSONL any more)
//   shape  train: a well-formed checkpoint of a model one layer deeper
//          infer: valid JSONL, every line's index one too high
//   halve train: the delta times 0.5 (within every screen's bound: only a replay audit sees it)
//   stale train: the delta of its previous training task instead of this one's (its first, with
//         nothing earlier to replay, an all-zero delta); the commitments stay this task's honest
//         ones, so the chains agree and only a full re-run decides
//   steps train: runs half of the task's inner steps (at least one) and signs that honestly: a
//         shorter chain than the task implies
//   seed  infer: samples with the job's seed + 1 and signs that honestly: well-formed, plausible
//         text that only a replay tells apart
//   chain train: the delta halved AND the commitment chain changed from link --cheat-link on, as
//         a provider whose training went wrong at that step would commit (signed as sent); its
//         exports and any segment it replays stay honest
//   junk  infer: the completion of line --cheat-prompt of the shard (0-based) replaced by other
//         text of no more characters, under the same token count, with its hash in the
//         commitment list made to match (a consistent liar: it signs what it sends); the
//         screens cannot see it, only a replay can
//   squat holds every task, heartbeating "still running", until the scheduler cancels it: the
//         24-hour squat of security review F4
//   kill  reports the task failed with retryable=false ("bad data"): one provider's claim that
//         would fail the whole job (F4)
//   none  an honest result (with --reprice-to: only the price trick below)
// --cheat-q Q cheats on a fraction Q of the tasks (seeded by the task, so a rerun agrees).
// --reprice-to P: when a task's work is done and before its result is sent, registers again
// (a second connection, the same key and devices) at price P: the bait-and-switch of security
// review F3 (win the placement cheap, be paid at the job's maximum). The scheduler must pay the
// price fixed at assignment.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "plume/agent/agent.h"
#include "plume/agent/devices.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/omp_env.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/transport.h"
#include "plume/verify/dispute.h"

namespace {

using plume::agent::TaskOutput;

void CheatTrain(const std::string& mode, TaskOutput& out) {
  auto ck = plume::kernels::LoadCheckpointBytes(out.result);
  if (!ck) return;
  std::vector<float>& p = ck->params;
  if (mode == "zero") std::fill(p.begin(), p.end(), 0.0f);
  if (mode == "nan") p[p.size() / 2] = std::nanf("");
  if (mode == "scale") {
    for (float& x : p) x *= 1000.0f;
  }
  if (mode == "halve") {
    for (float& x : p) x *= 0.5f;
  }
  if (mode == "random") {
    // Seeded by the delta itself, so a rerun of the same task cheats the same way.
    std::mt19937 rng(static_cast<uint32_t>(p.size()));
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    for (float& x : p) x = u(rng);
  }
  plume::kernels::ModelConfig config = ck->config;
  if (mode == "shape") {
    config.n_layer += 1;  // a well-formed checkpoint of another model
    p.assign(static_cast<size_t>(config.NumParams()), 0.001f);
  }
  if (auto bytes = plume::kernels::SaveCheckpointBytes(config, p)) out.result = *bytes;
}

// "junk" on line `at`: see the file comment. Nothing to change when the shard has no such line.
void JunkOneCompletion(size_t at, TaskOutput& out) {
  std::vector<std::string> lines;
  std::string text(out.result.begin(), out.result.end());
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = text.find('\n', begin);
    lines.push_back(text.substr(begin, end - begin));
    begin = end == std::string::npos ? text.size() : end + 1;
  }
  if (at >= lines.size()) return;
  auto j = nlohmann::json::parse(lines[at], nullptr, false);
  if (j.is_discarded()) return;
  const std::string old = j["completion"].get<std::string>();
  const size_t n = std::min<size_t>(std::max<size_t>(old.size(), 1), j["tokens"].get<size_t>());
  std::string junk(n, 'j');
  if (junk == old) junk.assign(n, 'k');
  j["completion"] = junk;
  lines[at] = j.dump();
  std::string joined;
  for (const std::string& l : lines) joined += l + "\n";
  out.result.assign(joined.begin(), joined.end());
  if (at < out.commitments.size()) {
    out.commitments[at] = plume::verify::CompletionHash(j["index"].get<int64_t>(), junk);
  }
}

void CheatInfer(const std::string& mode, TaskOutput& out) {
  std::vector<std::string> lines;
  std::string line;
  for (uint8_t c : out.result) {
    line.push_back(static_cast<char>(c));
    if (c == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    }
  }
  if (mode == "zero") lines.clear();
  if (mode == "nan" && !lines.empty()) lines.pop_back();
  if (mode == "scale") std::reverse(lines.begin(), lines.end());
  if (mode == "random") {
    std::mt19937 rng(static_cast<uint32_t>(lines.size()));
    for (std::string& l : lines) {
      for (size_t i = 0; i + 1 < l.size(); ++i) l[i] = static_cast<char>(' ' + rng() % 95);
    }
  }
  if (mode == "shape") {  // valid JSON, every line one index off
    for (std::string& l : lines) {
      auto j = nlohmann::json::parse(l, nullptr, false);
      if (j.is_discarded() || !j.contains("index")) continue;
      j["index"] = j["index"].get<int64_t>() + 1;
      l = j.dump() + "\n";
    }
  }
  out.result.clear();
  for (const std::string& l : lines) out.result.insert(out.result.end(), l.begin(), l.end());
}

// Registers `options`' devices again at `price` on a connection of its own.
void Reprice(const plume::agent::AgentOptions& options, const plume::Identity& identity,
             int64_t price) {
  auto client =
      plume::TransportClient::Connect(options.scheduler_endpoint, options.scheduler_id, identity);
  if (!client) return;
  auto b = (*client)->NewRequest();
  auto reg = b.body().initRegister();
  reg.setName(options.name);
  auto gpus = reg.initGpus(static_cast<unsigned>(options.devices.size()));
  for (size_t i = 0; i < options.devices.size(); ++i) {
    const plume::agent::DeviceOffer& d = options.devices[i];
    auto g = gpus[static_cast<unsigned>(i)];
    g.setName(d.name);
    g.setMemoryBytes(d.memory_bytes);
    g.setCount(d.count);
    g.setBackend(d.backend == plume::agent::DeviceBackend::kCuda ? plume::wire::Backend::CUDA
                                                                 : plume::wire::Backend::CPU);
    g.setSelftestPassed(d.selftest_passed);
    g.setMeasuredFlopsPerSec(d.measured_flops_per_sec);
  }
  reg.setPriceMicroPlumePerPflop(price);
  reg.setKernelBuild(options.kernel_build);
  reg.setAgentVersion("plume-cheat-agent");
  reg.setMaxConcurrentTasks(1);
  auto reply = (*client)->Call(b, std::chrono::seconds(10));
  spdlog::warn("re-registered at price {} before sending the result: {}", price,
               reply ? std::string(plume::KindName(reply->kind())) : reply.error().message);
}

}  // namespace

int main(int argc, char** argv) {
  plume::kernels::ReexecWithPassiveOmpWait(argv);
  CLI::App app{"plume-cheat-agent: a provider that corrupts its results (tests only)"};
  plume::agent::AgentOptions options;
  std::string key_path, scheduler_id, cache_dir, cheat = "zero";
  int metrics_port = -1;
  app.add_option("--scheduler", options.scheduler_endpoint)->required();
  app.add_option("--scheduler-id", scheduler_id)->required();
  app.add_option("--key", key_path)->required();
  app.add_option("--name", options.name);
  app.add_option("--cache-dir", cache_dir)->required();
  app.add_option("--price", options.price_micro_plume_per_pflop)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--threads", options.threads);
  app.add_option("--metrics-port", metrics_port)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // accepted, not served
  app.add_option("--cheat", cheat)
      ->check(CLI::IsMember({"none", "zero", "nan", "scale", "halve", "random", "shape", "stale", "steps",
                          "seed", "chain", "junk", "squat", "kill"}));
  size_t cheat_link = 1;
  app.add_option("--cheat-link", cheat_link, "chain: the first commitment link changed");
  size_t cheat_prompt = 0;
  app.add_option("--cheat-prompt", cheat_prompt, "junk: the line of the shard changed");
  int64_t reprice_to = 0;
  app.add_option("--reprice-to", reprice_to);
  double cheat_q = 1.0;
  app.add_option("--cheat-q", cheat_q)->check(CLI::Range(0.0, 1.0));
  std::string owner_attestation;
  app.add_option("--owner-attestation", owner_attestation);  // as plume-agent's
  CLI11_PARSE(app, argc, argv);
  auto server = plume::PublicKeyFromHex(scheduler_id);
  auto identity = plume::Identity::LoadOrCreate(key_path);
  if (!server || !identity) {
    std::cerr << "plume-cheat-agent: bad --scheduler-id or --key\n";
    return 2;
  }
  options.scheduler_id = *server;
  options.cache_dir = cache_dir;
  if (!owner_attestation.empty()) {
    auto a = plume::ReadOwnerAttestationFor(owner_attestation, identity->public_key(), *server);
    if (!a) {
      std::cerr << "plume-cheat-agent: --owner-attestation: " << a.error().message << "\n";
      return 2;
    }
    options.owner_attestation = *a;
  }
  options.devices = plume::agent::PassedDevices(plume::agent::CheckDevices(options.threads));
  options.kernel_build = plume::agent::KernelBuild(options.devices);
  const plume::agent::AgentOptions copy = options;
  using Verdict = plume::agent::AgentOptions::FilterVerdict;
  // The same even spread of cheated tasks as the output filter below, counted apart: this one
  // runs on the agent's loop when a task starts, that one on the task's thread when it ends.
  auto cheat_now = [cheat_q](uint64_t k) {
    return std::fmod(static_cast<double>(k) * 0.6180339887498949, 1.0) < cheat_q;
  };
  if (cheat == "steps" || cheat == "seed") {
    options.task_filter = [cheat, cheat_now, k = uint64_t{0}](bool train, uint32_t& steps,
                                                              uint64_t& seed) mutable {
      if (!cheat_now(++k)) return;
      if (cheat == "steps" && train) steps = std::max<uint32_t>(1, steps / 2);
      if (cheat == "seed" && !train) seed += 1;
      spdlog::warn("cheating on this task: {}", cheat);
    };
  }
  auto previous = std::make_shared<std::vector<uint8_t>>();  // stale: the last honest delta
  // The agent copies the filter into each task's work, so the count must live outside it.
  auto results = std::make_shared<std::atomic<uint64_t>>(0);
  options.output_filter = [cheat, cheat_now, cheat_link, cheat_prompt, results, reprice_to,
                            copy, previous,
                            id = *identity](
                              bool train, TaskOutput& out,
                              const std::atomic<bool>& stop) mutable -> Verdict {
    if (reprice_to != 0) Reprice(copy, id, reprice_to);
    // A fixed sequence: the k-th result is cheated on when (k * golden ratio) mod 1 < q, so a
    // fraction q of the results, spread evenly, the same in every run of the test.
    if (!cheat_now(++*results) || cheat == "none" || cheat == "steps" || cheat == "seed") return {};
    spdlog::warn("cheating on this result: {}", cheat);
    if (cheat == "squat") {
      while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return {true, true, "squatted until cancelled"};
    }
    if (cheat == "kill") return {true, false, "bad data (a claim: the input is fine)"};
    if (cheat == "chain") {
      // Only a training result's chain (an export commits to nothing, a segment to one link).
      if (!train || out.commitments.size() <= 1) return {};
      CheatTrain("halve", out);
      for (size_t i = cheat_link; i < out.commitments.size(); ++i) out.commitments[i][0] ^= 0x5a;
      return {};
    }
    if (cheat == "stale") {
      if (!train || out.commitments.size() <= 1) return {};  // an export or a segment: honest
      std::vector<uint8_t> honest = out.result;
      if (previous->empty()) {
        CheatTrain("zero", out);
      } else {
        out.result = *previous;
      }
      *previous = std::move(honest);
      return {};
    }
    if (cheat == "junk") {
      if (!train) JunkOneCompletion(cheat_prompt, out);
      return {};
    }
    train ? CheatTrain(cheat, out) : CheatInfer(cheat, out);
    return {};
  };
  auto agent = plume::agent::Agent::Create(std::move(options), std::move(*identity));
  if (!agent) {
    spdlog::error("{}", agent.error().message);
    return 1;
  }
  auto st = (*agent)->Run();
  return st ? 0 : 1;
}
