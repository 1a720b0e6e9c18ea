// Network commands of `plume`: keygen, status, jobs, cancel, nodes (submit and fetch are in
// cmd_net_submit.cc). Every listing takes --json; exit codes 0 ok, 1 failure, 2 bad input.
#include "cmd_net.h"
#include "plume_amount.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "plume/protocol/identity.h"

namespace plume::cli {
namespace {

using nlohmann::json;

// What the scheduler reports as text (node and job names, reasons) came from other peers; a
// byte that is not UTF-8 (from a scheduler older than the check of every peer's text) is shown
// as U+FFFD instead of failing the whole listing.
std::string Printable(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json Num(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

// The node's owner (hex); a scheduler from before owner attestations sends none: its own id.
std::string OwnerText(wire::NodeInfo::Reader n) {
  return n.getOwner().size() == 0 ? std::string(n.getNodeId().cStr()) : n.getOwner().cStr();
}

std::string Hex(capnp::Data::Reader d) { return ToHex(std::span<const uint8_t>(d.begin(), d.size())); }

void PrintJobHuman(wire::JobInfo::Reader j) {
  std::cout << "job " << j.getJobId().cStr() << " (" << j.getName().cStr() << ", "
            << JobKindName(j.getKind()) << "): " << JobStateName(j.getState()) << "\n";
  std::cout << "  " << ProgressText(j) << "\n";
  std::cout << "  tasks: " << j.getTasksQueued() << " queued, " << j.getTasksRunning()
            << " running, " << j.getTasksDone() << " done, " << j.getTasksFailed() << " failed\n";
  std::cout << "  escrow " << j.getEscrowMicroPlume() << " micro-PLUME, spent "
            << j.getSpentMicroPlume() << "\n";
  for (auto r : j.getReasons()) std::cout << "  reason: " << r.cStr() << "\n";
}

void RunKeygen(const std::string& out_path, bool as_json) {
  const std::string path = out_path.empty() ? DefaultKeyPath() : out_path;
  Identity id = Identity::Generate();
  if (auto s = id.Save(path); !s) FailWith({kExitBadInput, s.error().message});
  if (as_json) {
    std::cout << json{{"path", path}, {"id", id.Id()}}.dump() << "\n";
  } else {
    std::cout << "wrote " << path << " (mode 0600)\nid " << id.Id() << "\n";
  }
}

void RunStatus(const NetFlags& flags, const std::string& job_id) {
  auto client = ConnectOrFail(flags);
  if (!job_id.empty()) {
    auto req = client->NewRequest();
    req.body().initJobStatus().setJobId(job_id);
    auto reply = client->Call(req);
    if (!reply) FailWith(reply.error());
    if (reply->kind() != MessageKind::JOB_STATUS_REPLY) FailWith({kExitFailure, "unexpected reply"});
    auto job = reply->body().getJobStatusReply().getJob();
    if (flags.json) {
      std::cout << Printable(JobToJson(job)) << "\n";
    } else {
      PrintJobHuman(job);
    }
    return;
  }
  // No job: an overview of the network as this client sees it.
  auto nodes_req = client->NewRequest();
  nodes_req.body().initListNodes();
  auto nodes = client->Call(nodes_req);
  if (!nodes) FailWith(nodes.error());
  auto jobs_req = client->NewRequest();
  jobs_req.body().initListJobs().setIncludeFinished(false);
  auto jobs = client->Call(jobs_req);
  if (!jobs) FailWith(jobs.error());
  if (nodes->kind() != MessageKind::LIST_NODES_REPLY || jobs->kind() != MessageKind::LIST_JOBS_REPLY) {
    FailWith({kExitFailure, "unexpected reply from the scheduler"});
  }
  json out = {{"nodes", json::array()}, {"jobs", json::array()}};
  for (auto n : nodes->body().getListNodesReply().getNodes()) out["nodes"].push_back(NodeToJson(n));
  for (auto j : jobs->body().getListJobsReply().getJobs()) out["jobs"].push_back(JobToJson(j));
  if (flags.json) {
    std::cout << Printable(out) << "\n";
    return;
  }
  size_t active = 0;
  for (const auto& n : out["nodes"]) active += n["state"] == "active";
  std::cout << "scheduler " << flags.scheduler << ": " << active << " active node(s), "
            << out["jobs"].size() << " unfinished job(s) of yours\n";
  for (auto j : jobs->body().getListJobsReply().getJobs()) PrintJobHuman(j);
}

void RunJobs(const NetFlags& flags) {
  auto client = ConnectOrFail(flags);
  auto req = client->NewRequest();
  req.body().initListJobs().setIncludeFinished(true);
  auto reply = client->Call(req);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::LIST_JOBS_REPLY) FailWith({kExitFailure, "unexpected reply"});
  auto jobs = reply->body().getListJobsReply().getJobs();
  if (flags.json) {
    json out = json::array();
    for (auto j : jobs) out.push_back(JobToJson(j));
    std::cout << Printable(out) << "\n";
    return;
  }
  std::printf("%-20s %-24s %-6s %-10s %s\n", "JOB", "NAME", "KIND", "STATE", "PROGRESS");
  for (auto j : jobs) {
    std::printf("%-20s %-24s %-6s %-10s %s\n", j.getJobId().cStr(), j.getName().cStr(),
                JobKindName(j.getKind()).c_str(), JobStateName(j.getState()).c_str(),
                ProgressText(j).c_str());
  }
}

void RunCancel(const NetFlags& flags, const std::string& job_id) {
  auto client = ConnectOrFail(flags);
  auto req = client->NewRequest();
  auto c = req.body().initCancelJob();
  c.setJobId(job_id);
  c.setReason("cancelled by its owner (plume cancel)");
  auto reply = client->Call(req);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::CANCEL_JOB_REPLY) FailWith({kExitFailure, "unexpected reply"});
  auto r = reply->body().getCancelJobReply();
  if (flags.json) {
    std::cout << json{{"job_id", r.getJobId().cStr()}, {"state", JobStateName(r.getState())}}.dump()
              << "\n";
  } else {
    std::cout << "job " << r.getJobId().cStr() << ": " << JobStateName(r.getState()) << "\n";
  }
}

void RunNodes(const NetFlags& flags) {
  auto client = ConnectOrFail(flags);
  auto req = client->NewRequest();
  req.body().initListNodes();
  auto reply = client->Call(req);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::LIST_NODES_REPLY) FailWith({kExitFailure, "unexpected reply"});
  auto nodes = reply->body().getListNodesReply().getNodes();
  if (flags.json) {
    json out = json::array();
    for (auto n : nodes) out.push_back(NodeToJson(n));
    std::cout << Printable(out) << "\n";
    return;
  }
  std::printf("%-18s %-16s %-16s %-9s %-28s %14s %5s %9s %7s %7s %7s %6s %7s %14s %7s\n",
              "NODE", "NAME", "OWNER", "STATE", "DEVICES", "PRICE/PFLOP", "TASKS", "SUCCEEDED",
              "VALID", "REFUSED", "AUDITED", "FAULTY", "AUDIT%", "STAKE", "SLASHED");
  for (auto n : nodes) {
    std::string devices;
    for (auto g : n.getGpus()) {
      if (!devices.empty()) devices += ",";
      devices += std::to_string(g.getCount()) + "x" + g.getName().cStr();
    }
    // FAULTY: results (or audit runs) a referee proved wrong (docs/verification.md).
    // STAKE: free stake in PLUME (what placement counts); SLASHED: proven faults slashed.
    // OWNER: "self" for a node that declared no owner, else the owner key's first 16 hex digits
    // (--json has it whole).
    const std::string owner = OwnerText(n);
    const std::string owner_text = owner == n.getNodeId().cStr() ? "self" : owner.substr(0, 16);
    std::printf(
        "%-18s %-16s %-16s %-9s %-28s %14lld %5u %9llu %7llu %7llu %7llu %6llu %6.1f%% %14s "
        "%7llu\n",
        n.getNodeId().cStr(), n.getName().cStr(), owner_text.c_str(),
        NodeStateName(n.getState()).c_str(), devices.c_str(),
        static_cast<long long>(n.getPriceMicroPlumePerPflop()), n.getRunningTasks(),
        static_cast<unsigned long long>(n.getTasksSucceeded()),
        static_cast<unsigned long long>(n.getResultsValid()),
        static_cast<unsigned long long>(n.getTasksRefused()),
        static_cast<unsigned long long>(n.getResultsAudited()),
        static_cast<unsigned long long>(n.getProvenFaulty()), n.getAuditRatePpm() / 1e4,
        PlumeText(n.getStakeMicroPlume()).c_str(), static_cast<unsigned long long>(n.getSlashes()));
  }
}

}  // namespace

void AddNetFlags(CLI::App* cmd, NetFlags& flags) {
  cmd->add_option("--scheduler", flags.scheduler,
                  "scheduler endpoint tcp://HOST:PORT (default: $PLUME_SCHEDULER)");
  cmd->add_option("--scheduler-id", flags.scheduler_id,
                  "the scheduler's id, hex (default: $PLUME_SCHEDULER_ID)");
  cmd->add_option("--key", flags.key, "your key file (default: $PLUME_KEY or ~/.config/plume/key)");
  cmd->add_flag("--json", flags.json, "print JSON instead of text");
}

void FailWith(const CliError& error) {
  std::cerr << "plume: " << error.message << "\n";
  throw CommandFailed(error.exit_code);
}

std::unique_ptr<NetClient> ConnectOrFail(const NetFlags& flags) {
  auto resolved = ResolveNetFlags(flags);
  if (!resolved) FailWith(resolved.error());
  auto client = NetClient::Connect(*resolved);
  if (!client) FailWith(client.error());
  return std::move(*client);
}

std::string JobStateName(wire::JobState s) {
  switch (s) {
    case wire::JobState::QUEUED: return "queued";
    case wire::JobState::RUNNING: return "running";
    case wire::JobState::SUCCEEDED: return "succeeded";
    case wire::JobState::FAILED: return "failed";
    case wire::JobState::CANCELLED: return "cancelled";
  }
  return "unknown";
}

std::string JobKindName(wire::JobKind k) { return k == wire::JobKind::TRAIN ? "train" : "infer"; }

std::string NodeStateName(wire::NodeState s) {
  switch (s) {
    case wire::NodeState::ACTIVE: return "active";
    case wire::NodeState::DRAINING: return "draining";
    case wire::NodeState::LOST: return "lost";
    case wire::NodeState::GONE: return "gone";
  }
  return "unknown";
}

bool JobFinished(wire::JobState s) {
  return s == wire::JobState::SUCCEEDED || s == wire::JobState::FAILED ||
         s == wire::JobState::CANCELLED;
}

json JobToJson(wire::JobInfo::Reader j) {
  json reasons = json::array();
  for (auto r : j.getReasons()) reasons.push_back(r.cStr());
  return {{"job_id", j.getJobId().cStr()},
          {"name", j.getName().cStr()},
          {"kind", JobKindName(j.getKind())},
          {"state", JobStateName(j.getState())},
          {"owner", Hex(j.getOwner())},
          {"round", j.getRound()},
          {"rounds_total", j.getRoundsTotal()},
          {"step", j.getStep()},
          {"steps_total", j.getStepsTotal()},
          {"loss", Num(j.getLoss())},
          {"val_loss", Num(j.getValLoss())},
          {"tokens_per_sec", Num(j.getTokensPerSec())},
          {"reasons", reasons},
          {"created_at_ms", j.getCreatedAtMs()},
          {"updated_at_ms", j.getUpdatedAtMs()},
          {"escrow_micro_plume", j.getEscrowMicroPlume()},
          {"spent_micro_plume", j.getSpentMicroPlume()},
          {"tasks_queued", j.getTasksQueued()},
          {"tasks_running", j.getTasksRunning()},
          {"tasks_done", j.getTasksDone()},
          {"tasks_failed", j.getTasksFailed()}};
}

json NodeToJson(wire::NodeInfo::Reader n) {
  json gpus = json::array();
  for (auto g : n.getGpus()) {
    gpus.push_back({{"name", g.getName().cStr()},
                    {"memory_bytes", g.getMemoryBytes()},
                    {"count", g.getCount()},
                    {"backend", g.getBackend() == wire::Backend::CUDA ? "cuda" : "cpu"},
                    {"selftest_passed", g.getSelftestPassed()},
                    {"measured_flops_per_sec", g.getMeasuredFlopsPerSec()}});
  }
  return {{"node_id", n.getNodeId().cStr()},
          {"agent", Hex(n.getAgent())},
          {"name", n.getName().cStr()},
          {"state", NodeStateName(n.getState())},
          {"gpus", gpus},
          {"price_micro_plume_per_pflop", n.getPriceMicroPlumePerPflop()},
          {"running_tasks", n.getRunningTasks()},
          {"last_heartbeat_at_ms", n.getLastHeartbeatAtMs()},
          {"kernel_build", n.getKernelBuild().cStr()},
          {"tasks_succeeded", n.getTasksSucceeded()},
          {"tasks_failed", n.getTasksFailed()},
          {"tasks_lost", n.getTasksLost()},
          {"tasks_refused", n.getTasksRefused()},
          {"results_valid", n.getResultsValid()},
          {"results_audited", n.getResultsAudited()},
          {"proven_faulty", n.getProvenFaulty()},
          {"audit_rate_ppm", n.getAuditRatePpm()},
          {"stake_micro_plume", n.getStakeMicroPlume()},
          {"unbonding_micro_plume", n.getUnbondingMicroPlume()},
          {"slashes", n.getSlashes()},
          {"owner", OwnerText(n)}};
}

std::string ProgressText(wire::JobInfo::Reader j) {
  char buf[200];
  std::string out;
  if (j.getKind() == wire::JobKind::TRAIN) {
    std::snprintf(buf, sizeof buf, "round %u/%u | step %llu/%llu", j.getRound(), j.getRoundsTotal(),
                  static_cast<unsigned long long>(j.getStep()),
                  static_cast<unsigned long long>(j.getStepsTotal()));
  } else {
    std::snprintf(buf, sizeof buf, "prompts %llu/%llu", static_cast<unsigned long long>(j.getStep()),
                  static_cast<unsigned long long>(j.getStepsTotal()));
  }
  out = buf;
  if (!std::isnan(j.getLoss()) && j.getKind() == wire::JobKind::TRAIN) {
    std::snprintf(buf, sizeof buf, " | loss %.4f", j.getLoss());
    out += buf;
  }
  if (!std::isnan(j.getValLoss()) && j.getValLoss() > 0) {
    std::snprintf(buf, sizeof buf, " | val %.4f", j.getValLoss());
    out += buf;
  }
  if (!std::isnan(j.getTokensPerSec()) && j.getTokensPerSec() > 0) {
    std::snprintf(buf, sizeof buf, " | %.0f tok/s", j.getTokensPerSec());
    out += buf;
  }
  return out;
}

void RegisterNetCommands(CLI::App& app) {
  auto keygen_path = std::make_shared<std::string>();
  auto keygen_json = std::make_shared<bool>(false);
  auto* keygen = app.add_subcommand("keygen", "create a key file (your identity on the network)");
  keygen->add_option("-o,--out", *keygen_path, "where to write it (default ~/.config/plume/key)");
  keygen->add_flag("--json", *keygen_json, "print JSON");
  keygen->callback([=] { RunKeygen(*keygen_path, *keygen_json); });

  auto status_flags = std::make_shared<NetFlags>();
  auto status_job = std::make_shared<std::string>();
  auto* status = app.add_subcommand("status", "show one job, or the network and your jobs");
  status->add_option("job", *status_job, "job id");
  auto status_network = std::make_shared<bool>(false);
  status->add_flag("--network", *status_network,
                   "the network's parameters in force and the proposal that set each");
  AddNetFlags(status, *status_flags);
  status->callback([=] {
    if (*status_network) return RunNetworkParams(*status_flags);
    RunStatus(*status_flags, *status_job);
  });

  auto jobs_flags = std::make_shared<NetFlags>();
  auto* jobs = app.add_subcommand("jobs", "list your jobs");
  AddNetFlags(jobs, *jobs_flags);
  jobs->callback([=] { RunJobs(*jobs_flags); });

  auto cancel_flags = std::make_shared<NetFlags>();
  auto cancel_job = std::make_shared<std::string>();
  auto* cancel = app.add_subcommand("cancel", "cancel a job (the rest of its escrow is released)");
  cancel->add_option("job", *cancel_job, "job id")->required();
  AddNetFlags(cancel, *cancel_flags);
  cancel->callback([=] { RunCancel(*cancel_flags, *cancel_job); });

  auto nodes_flags = std::make_shared<NetFlags>();
  auto* nodes = app.add_subcommand("nodes", "list the agents registered with the scheduler");
  AddNetFlags(nodes, *nodes_flags);
  nodes->callback([=] { RunNodes(*nodes_flags); });

  RegisterNetSubmitCommands(app);
}

}  // namespace plume::cli
