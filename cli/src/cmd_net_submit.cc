// `plume submit job.toml [--wait]`, `plume quote job.toml` and `plume fetch JOB -o DIR`.
//
// What submit uploads (the scheduler forwards these blobs to the agents):
//   train: "data" = the training part of [data].path (all but the last val_fraction of the
//          bytes) and "val" = the held-out tail (omitted when empty). Agents split "data" into
//          contiguous shards by shard index and evaluate on "val".
//   infer: "checkpoint" = the [infer].checkpoint file, and "prompts" = a JSON array of the
//          prompts when they come from prompts_file (the scheduler cannot read client files),
//          and "tokenizer.0", "tokenizer.1" = the files of [infer].tokenizer_files, in order.
// The spec text itself travels in SubmitJob with its hash, signed by the client's key.
#include <sodium.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "cmd_net.h"
#include "data_net.h"
#include "ledger_cli.h"
#include "plume/data/terms.h"
#include "plume/kernels/job_spec.h"
#include "plume/ledger/entry.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Upload {
  std::string name;
  std::vector<uint8_t> bytes;
};

std::vector<uint8_t> ReadBytesOrFail(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FailWith({kExitBadInput, "cannot read " + what + " " + path + " (check the path in the spec)"});
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<Upload> BlobsFor(const kernels::JobSpec& spec, bool on_dataset) {
  std::vector<Upload> out;
  if (spec.kind == kernels::JobKind::kTrain && on_dataset) {
    // The published dataset is the data (and there is no held-out part): nothing to upload.
  } else if (spec.kind == kernels::JobKind::kTrain) {
    std::vector<uint8_t> data = ReadBytesOrFail(spec.data.path, "[data].path");
    const size_t val = static_cast<size_t>(std::floor(double(data.size()) * spec.data.val_fraction));
    std::vector<uint8_t> tail(data.end() - static_cast<std::ptrdiff_t>(val), data.end());
    data.resize(data.size() - val);
    out.push_back({"data", std::move(data)});
    if (!tail.empty()) out.push_back({"val", std::move(tail)});
  } else {
    out.push_back({"checkpoint", ReadBytesOrFail(spec.infer.checkpoint, "[infer].checkpoint")});
    if (!spec.infer.prompts_file.empty()) {
      auto prompts = kernels::LoadPrompts(spec);
      if (!prompts) FailWith({kExitBadInput, prompts.error().message});
      const std::string text = json(*prompts).dump();
      out.push_back({"prompts", std::vector<uint8_t>(text.begin(), text.end())});
    }
    // Checked here, so a bad tokenizer file is refused before anything is uploaded.
    if (auto tokenizer = kernels::LoadSpecTokenizer(spec); !tokenizer) {
      FailWith({kExitBadInput, tokenizer.error().message});
    }
    for (size_t i = 0; i < spec.infer.tokenizer_files.size(); ++i) {
      out.push_back({"tokenizer." + std::to_string(i),
                     ReadBytesOrFail(spec.infer.tokenizer_files[i], "[infer].tokenizer_files")});
    }
  }
  return out;
}

std::string RandomKey() {
  std::array<uint8_t, 16> b;
  randombytes_buf(b.data(), b.size());
  return ToHex(b);
}

std::string Clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

// Polls the job until it ends, drawing a progress line on stderr. Returns the final status.
Message WaitForJob(NetClient& client, const std::string& job_id) {
  const bool tty = ::isatty(2);
  const auto start = std::chrono::steady_clock::now();
  std::string last_line;
  int failures = 0;
  while (true) {
    auto req = client.NewRequest();
    req.body().initJobStatus().setJobId(job_id);
    auto reply = client.Call(req, std::chrono::seconds(10));
    if (!reply) {
      // The scheduler may be restarting; keep waiting a while before giving up.
      if (++failures > 30) FailWith(reply.error());
      continue;
    }
    failures = 0;
    if (reply->kind() != MessageKind::JOB_STATUS_REPLY) FailWith({kExitFailure, "unexpected reply"});
    auto job = reply->body().getJobStatusReply().getJob();
    std::string line = JobStateName(job.getState()) + " | " + ProgressText(job);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (job.getStep() > 0 && job.getStepsTotal() > job.getStep()) {
      const double eta = elapsed / double(job.getStep()) * double(job.getStepsTotal() - job.getStep());
      line += " | ETA " + Clock(eta);
    }
    if (line != last_line) {
      if (tty) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
      } else {
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      last_line = line;
    }
    if (JobFinished(job.getState())) {
      if (tty) std::fprintf(stderr, "\n");
      return std::move(*reply);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // poll interval, not a sync
  }
}

// A spec checked, read and uploaded: what a quote and a submit both send.
struct Prepared {
  kernels::JobSpec spec;
  std::string toml;
  std::vector<Upload> uploads;
  std::vector<Hash256> hashes;  // of uploads, in order
  std::optional<PublishedDataset> dataset;  // --dataset: trained on under its terms
};

Prepared PrepareOrFail(NetClient& client, const NetFlags& flags, const std::string& spec_path,
                       const std::string& dataset = "") {
  Prepared p;
  auto spec = kernels::LoadJobSpec(spec_path);
  if (!spec) FailWith({kExitBadInput, spec_path + ": " + spec.error().message});
  if (auto s = kernels::ValidateNetwork(*spec); !s) FailWith({kExitBadInput, spec_path + ": " + s.error().message});
  if (auto s = kernels::ValidatePayment(*spec); !s) FailWith({kExitBadInput, spec_path + ": " + s.error().message});
  p.spec = *spec;
  const std::vector<uint8_t> toml = ReadBytesOrFail(spec_path, "job spec");
  p.toml.assign(toml.begin(), toml.end());
  if (!dataset.empty()) {
    if (spec->kind != kernels::JobKind::kTrain) {
      FailWith({kExitBadInput, "--dataset is for training jobs"});
    }
    auto resolved = ResolveNetFlags(flags);
    if (!resolved) FailWith(resolved.error());
    p.dataset =
        PublishedOrFail(client, ParseKeyOrFail(resolved->scheduler_id, "--scheduler-id"), dataset);
    if (p.dataset->revoked) {
      FailWith({kExitBadInput, "dataset " + dataset + " was revoked by its owner"});
    }
  }
  p.uploads = BlobsFor(*spec, p.dataset.has_value());
  for (const Upload& u : p.uploads) {
    auto hash = client.Upload(u.bytes);
    if (!hash) FailWith(hash.error());
    p.hashes.push_back(*hash);
    if (!flags.json) std::cerr << "uploaded " << u.name << " (" << u.bytes.size() << " bytes)\n";
  }
  return p;
}

unsigned RefCount(const Prepared& p) {
  return static_cast<unsigned>(p.uploads.size() + (p.dataset ? 1 : 0));
}

void FillRefs(capnp::List<wire::BlobRef>::Builder refs, const Prepared& p) {
  for (size_t i = 0; i < p.uploads.size(); ++i) {
    auto ref = refs[static_cast<unsigned>(i)];
    ref.setHash(AsData(p.hashes[i]));
    ref.setSizeBytes(p.uploads[i].bytes.size());
    ref.setName(p.uploads[i].name);
  }
  if (p.dataset) {  // the scheduler checks the terms (reactor_data.cc)
    auto ref = refs[static_cast<unsigned>(p.uploads.size())];
    ref.setHash(AsData(p.dataset->terms.blob_hash));
    ref.setSizeBytes(p.dataset->terms.bytes);
    ref.setName("dataset:" + data::DatasetId(p.dataset->terms));
  }
}

struct Quote {
  uint64_t flops = 0;
  int64_t max_cost_micro_plume = 0;  // the hold: the job's own cost plus the reserve
  uint32_t fee_bps = 0;
  int64_t reserve_micro_plume = 0;   // the part held for audit and referee runs
  ledger::LedgerId ledger_id{};  // zeros when the scheduler keeps no ledger
};

// The scheduler's price of the job: what a submit will hold in escrow. Asked rather than
// computed here because the fee is the network's and the FLOPs follow the scheduler's view of
// the data (prompts, checkpoint shape).
Quote QuoteOrFail(NetClient& client, const Prepared& p) {
  auto req = client.NewRequest();
  auto q = req.body().initQuoteJob();
  q.setSpecToml(p.toml);
  FillRefs(q.initDataBlobs(RefCount(p)), p);
  auto reply = client.Call(req, std::chrono::seconds(30));
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::QUOTE_REPLY) FailWith({kExitFailure, "unexpected reply to quote"});
  auto r = reply->body().getQuoteReply();
  Quote quote{r.getFlops(), r.getMaxCostMicroPlume(), r.getFeeBps(),
              r.getVerificationReserveMicroPlume(), {}};
  if (quote.reserve_micro_plume < 0 || quote.reserve_micro_plume > quote.max_cost_micro_plume) {
    FailWith({kExitFailure, "the scheduler quoted a verification reserve larger than the hold"});
  }
  if (auto id = r.getLedgerId(); id.size() == quote.ledger_id.size()) {
    std::copy(id.begin(), id.end(), quote.ledger_id.begin());
  }
  return quote;
}

void RunQuote(const NetFlags& flags, const std::string& spec_path, const std::string& dataset) {
  auto client = ConnectOrFail(flags);
  const Prepared p = PrepareOrFail(*client, flags, spec_path, dataset);
  const Quote q = QuoteOrFail(*client, p);
  const int64_t budget = p.spec.payment->budget_micro_plume;
  if (flags.json) {
    std::cout << json{{"flops", q.flops}, {"max_cost_micro_plume", q.max_cost_micro_plume},
                      {"job_cost_micro_plume", q.max_cost_micro_plume - q.reserve_micro_plume},
                      {"verification_reserve_micro_plume", q.reserve_micro_plume},
                      {"fee_bps", q.fee_bps}, {"budget_micro_plume", budget}}.dump() << "\n";
    return;
  }
  std::cout << "work:      " << q.flops << " FLOPs\n"
            << "max price: " << p.spec.payment->max_price_micro_plume_per_pflop
            << " micro-PLUME per PFLOP, network fee " << q.fee_bps << " bps\n"
            << "job cost:  " << q.max_cost_micro_plume - q.reserve_micro_plume
            << " micro-PLUME at most (budget " << budget << ")\n"
            << "reserve:   " << q.reserve_micro_plume
            << " micro-PLUME for audit and referee runs; what they do not use is released\n"
            << "escrow:    " << q.max_cost_micro_plume << " micro-PLUME held at submit\n";
}

void RunSubmit(const NetFlags& flags, const std::string& spec_path, bool wait,
               const std::string& dataset) {
  auto client = ConnectOrFail(flags);
  const Prepared p = PrepareOrFail(*client, flags, spec_path, dataset);
  const Quote quote = QuoteOrFail(*client, p);
  // The budget caps the job's own cost; the reserve is held besides it and released unused.
  if (quote.max_cost_micro_plume - quote.reserve_micro_plume >
      p.spec.payment->budget_micro_plume) {
    FailWith({kExitBadInput, spec_path + ": the job may cost up to " +
                                 std::to_string(quote.max_cost_micro_plume -
                                                quote.reserve_micro_plume) +
                                 " micro-PLUME with the network fee, over payment.budget_micro_plume = " +
                                 std::to_string(p.spec.payment->budget_micro_plume) +
                                 ": raise the budget or shrink the job"});
  }
  auto req = client->NewRequest();
  auto submit = req.body().initSubmitJob();
  const Hash256 spec_hash = Blake2b256(p.toml);
  const Signature sig = client->identity().Sign(SpecSigningBytes(spec_hash));
  submit.setSpecToml(p.toml);
  submit.setSpecHash(AsData(spec_hash));
  submit.setSignature(AsData(sig));
  const std::string job_key = RandomKey();
  submit.setClientJobKey(job_key);
  // Authorise the escrow hold of this job (docs/payments.md): the ledger takes a hold only
  // with the team's own signature, over the entry the scheduler will append, for the quoted
  // amount and no more.
  const ledger::Entry hold = scheduler::EscrowHoldEntry(
      scheduler::JobIdFor(client->identity().Id(), job_key), client->identity().public_key(),
      quote.max_cost_micro_plume);
  submit.setEscrowHoldSignature(
      AsData(ledger::SignEntry(hold, quote.ledger_id, client->identity()).signature));
  submit.setEscrowHoldMicroPlume(quote.max_cost_micro_plume);
  FillRefs(submit.initDataBlobs(RefCount(p)), p);
  auto reply = client->Call(req, std::chrono::seconds(30));
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::SUBMIT_ACK) FailWith({kExitFailure, "unexpected reply to submit"});
  auto ack = reply->body().getSubmitAck();
  const std::string job_id = ack.getJobId();
  if (!wait) {
    if (flags.json) {
      std::cout << json{{"job_id", job_id}, {"escrow_micro_plume", ack.getEscrowMicroPlume()}}.dump() << "\n";
    } else {
      std::cout << job_id << "\n";
      std::cerr << "submitted job " << job_id << " (escrow " << ack.getEscrowMicroPlume()
                << " micro-PLUME); follow it with `plume status " << job_id << "`\n";
    }
    return;
  }
  if (!flags.json) std::cerr << "submitted job " << job_id << "\n";
  Message final_status = WaitForJob(*client, job_id);
  auto job = final_status.body().getJobStatusReply().getJob();
  if (flags.json) {
    std::cout << JobToJson(job).dump() << "\n";
  } else {
    std::cout << job_id << "\n";
  }
  if (job.getState() != wire::JobState::SUCCEEDED) {
    std::string why;
    for (auto r : job.getReasons()) why += std::string("; ") + r.cStr();
    FailWith({kExitFailure, "job " + job_id + " " + JobStateName(job.getState()) + why});
  }
}

void RunFetch(const NetFlags& flags, const std::string& job_id, const std::string& out_dir) {
  auto client = ConnectOrFail(flags);
  auto req = client->NewRequest();
  req.body().initFetchJob().setJobId(job_id);
  auto reply = client->Call(req);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::FETCH_JOB_REPLY) FailWith({kExitFailure, "unexpected reply"});
  auto r = reply->body().getFetchJobReply();
  if (r.getState() != wire::JobState::SUCCEEDED) {
    FailWith({kExitFailure, "job " + job_id + " is " + JobStateName(r.getState()) +
                                "; its outputs can be fetched once it has succeeded"});
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) FailWith({kExitBadInput, "cannot create " + out_dir + ": " + ec.message()});
  // Outputs with the same name (an inference job's shards) are joined in the order given, which
  // is prompt order.
  const std::string fallback = r.getKind() == wire::JobKind::TRAIN ? "model.safetensors" : "outputs.jsonl";
  std::map<std::string, std::string> files;
  std::vector<std::string> order;
  for (auto ref : r.getOutputs()) {
    auto hash = HashFromData(ref.getHash());
    if (!hash) FailWith({kExitFailure, "scheduler sent a malformed output hash"});
    auto bytes = client->Download(*hash, ref.getSizeBytes());
    if (!bytes) FailWith(bytes.error());
    std::string name = ref.getName().size() > 0 ? std::string(ref.getName().cStr()) : fallback;
    name = fs::path(name).filename().string();  // never write outside out_dir
    if (!files.count(name)) order.push_back(name);
    files[name] += *bytes;
  }
  json listed = json::array();
  for (const auto& name : order) {
    const fs::path path = fs::path(out_dir) / name;
    const fs::path tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << files[name];
      if (!out) FailWith({kExitFailure, "cannot write " + tmp.string() + " (disk full?)"});
    }
    fs::rename(tmp, path, ec);
    if (ec) FailWith({kExitFailure, "cannot write " + path.string() + ": " + ec.message()});
    listed.push_back({{"path", path.string()}, {"bytes", files[name].size()}});
    if (!flags.json) std::cout << path.string() << " (" << files[name].size() << " bytes)\n";
  }
  if (flags.json) std::cout << json{{"job_id", job_id}, {"files", listed}}.dump() << "\n";
}

}  // namespace

void RegisterNetSubmitCommands(CLI::App& app) {
  auto flags = std::make_shared<NetFlags>();
  auto spec = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto* submit = app.add_subcommand("submit", "submit a job spec to the network");
  submit->add_option("spec", *spec, "job spec (TOML, see docs/job-spec.md)")->required();
  submit->add_flag("--wait", *wait, "wait for the job to end, showing its progress");
  auto dataset = std::make_shared<std::string>();
  submit->add_option("--dataset", *dataset,
                     "train on this published dataset (plume data show ID) instead of [data].path");
  AddNetFlags(submit, *flags);
  submit->callback([=] { RunSubmit(*flags, *spec, *wait, *dataset); });

  auto qflags = std::make_shared<NetFlags>();
  auto qspec = std::make_shared<std::string>();
  auto* quote = app.add_subcommand(
      "quote", "what a submit of this spec would hold in escrow (FLOPs, max price, fee)");
  quote->add_option("spec", *qspec, "job spec (TOML, see docs/job-spec.md)")->required();
  auto qdataset = std::make_shared<std::string>();
  quote->add_option("--dataset", *qdataset, "as submit's --dataset");
  AddNetFlags(quote, *qflags);
  quote->callback([=] { RunQuote(*qflags, *qspec, *qdataset); });

  auto fflags = std::make_shared<NetFlags>();
  auto job = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* fetch = app.add_subcommand("fetch", "download a finished job's weights or outputs");
  fetch->add_option("job", *job, "job id")->required();
  fetch->add_option("-o,--out", *out, "output directory")->required();
  AddNetFlags(fetch, *fflags);
  fetch->callback([=] { RunFetch(*fflags, *job, *out); });
}

}  // namespace plume::cli
