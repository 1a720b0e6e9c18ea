// Reactor: client messages (quote, status, list, cancel) and the translation of a job spec into
// the core's JobSpec. Submit: reactor_submit.cc. Nodes and fetch: reactor_fetch.cc. Task
// messages and the blob policy: reactor_tasks.cc.
//
// Blob roles in JobSpec::data_blobs: train [data, val?]; infer [checkpoint, prompts?,
// tokenizer files...] (the names the CLI gives its uploads: "data", "val", "checkpoint",
// "prompts", "tokenizer.0", ...; infer_tokenizer.h).
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <nlohmann/json.hpp>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/protocol/limits.h"
#include "infer_tokenizer.h"
#include "peer_text.h"
#include "plume/scheduler/blob_access.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/work.h"
#include "reactor_impl.h"
#include "spec_blobs.h"

namespace plume::scheduler {
namespace {


void FillJobInfo(wire::JobInfo::Builder b, const Job& j, const State& s) {
  b.setJobId(j.id);
  b.setName(j.spec.name);
  b.setKind(j.spec.kind == JobKind::kTrain ? wire::JobKind::TRAIN : wire::JobKind::INFER);
  b.setState(WireState(j.state));
  if (auto owner = FromHex(j.owner)) b.setOwner(AsData(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(owner->data()), owner->size())));
  const bool train = j.spec.kind == JobKind::kTrain;
  b.setRound(j.round);
  b.setRoundsTotal(train ? j.spec.train.rounds : 1);
  uint32_t queued = 0, running = 0, done = 0, failed = 0;
  uint64_t step = 0, prompts_done = 0;
  std::vector<const Task*> shards;
  double loss = std::nan("");
  const std::string prefix = j.id + "/";
  for (auto it = s.tasks.lower_bound(prefix);
       it != s.tasks.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const Task& t = it->second;
    if (t.audit_role != AuditRole::kNone) continue;  // verification, not the job's progress
    shards.push_back(&t);
    queued += t.state == TaskState::kQueued;
    running += t.state == TaskState::kAssigned;
    done += t.state == TaskState::kSucceeded;
    failed += t.state == TaskState::kFailed || t.state == TaskState::kDropped;
    if (t.state == TaskState::kAssigned && t.round == j.round) {
      step = std::max(step, t.progress_step);
      if (t.progress_step > 0) loss = t.progress_loss;
    }
    if (t.state == TaskState::kSucceeded) {
      if (t.round + 1 >= j.round) loss = std::isnan(loss) ? t.metrics.loss : loss;
      if (!train) prompts_done += PromptsInShard(j.spec.infer.prompt_count, j.spec.infer.shards,
                                                 t.shard);
    }
  }
  const uint64_t h = j.spec.train.local_steps;
  if (train && j.state == JobState::kSucceeded) {  // every round done
    b.setRound(j.spec.train.rounds);
    step = 0;
  }
  const uint64_t rounds_done = train && j.state == JobState::kSucceeded ? j.spec.train.rounds
                                                                         : j.round;
  b.setStep(train ? rounds_done * h + step : prompts_done);
  b.setStepsTotal(train ? uint64_t{j.spec.train.rounds} * h : j.spec.infer.prompt_count);
  b.setLoss(loss);
  b.setValLoss(std::nan(""));
  b.setTokensPerSec(train ? 0 : InferTokensPerSec(shards));
  if (!j.reason.empty()) b.initReasons(1).set(0, j.reason);
  b.setCreatedAtMs(static_cast<uint64_t>(j.submitted_at_ms));
  b.setUpdatedAtMs(static_cast<uint64_t>(std::max(j.finished_at_ms, j.submitted_at_ms)));
  b.setEscrowMicroPlume(j.spec.escrow_micro_plume);  // what the hold takes, not the budget
  b.setSpentMicroPlume(j.paid_micro_plume);
  b.setTasksQueued(queued);
  b.setTasksRunning(running);
  b.setTasksDone(done);
  b.setTasksFailed(failed);
}


// The spec's 64-bit integers that the core and the wire keep in 32 bits: refused when out of
// range rather than truncated (2^32 + 1 local steps would otherwise run, and be billed, as 1).
Status CheckNarrowedFields(const kernels::JobSpec& k) {
  if (k.network && k.network->local_steps > int64_t{kLocalStepsMax}) {
    return Fail("network.local_steps: " + std::to_string(k.network->local_steps) +
                " is more than the " + std::to_string(kLocalStepsMax) + " a round may run");
  }
  if (k.train.warmup_steps > int64_t{std::numeric_limits<uint32_t>::max()}) {
    return Fail("train.warmup_steps: " + std::to_string(k.train.warmup_steps) +
                " is out of range (at most " +
                std::to_string(std::numeric_limits<uint32_t>::max()) + ")");
  }
  return {};
}

void ApplyPromptCount(InferParams& infer, PromptCount counted) {
  infer.token_bytes_max = counted.token_bytes_max;
  infer.prompt_tokens = std::move(counted.tokens);
  infer.prompt_tokens_max = infer.prompt_tokens.empty() ? 0 : *std::max_element(
      infer.prompt_tokens.begin(), infer.prompt_tokens.end());
}

}  // namespace

void Reactor::Impl::FillBlobRef(wire::BlobRef::Builder ref, const BlobHash& hex,
                                const std::string& name) {
  ref.setName(name);
  if (hex.empty()) return;  // empty hash: no blob
  auto h = HashFromHex(hex);
  if (!h) return;
  ref.setHash(AsData(*h));
  if (auto size = blobs->SizeOf(*h)) ref.setSizeBytes(*size);
}

Result<JobSpec> Reactor::Impl::ToCoreSpec(const kernels::JobSpec& k, const JobExtra& x,
                                          const std::map<std::string, BlobHash>& named) {
  JobSpec s;
  s.kind = k.kind == kernels::JobKind::kTrain ? JobKind::kTrain : JobKind::kInfer;
  s.name = k.name;
  s.seed = k.seed;
  kernels::ModelConfig m;
  if (k.model) {
    m = *k.model;
  } else {  // infer without [model]: the checkpoint says what it is
    auto ck_hash = HashFromHex(named.count("checkpoint") ? named.at("checkpoint") : "");
    if (!ck_hash) return Fail("infer: no \"checkpoint\" blob uploaded");
    auto config = ReadCheckpointConfig(*blobs, *ck_hash);  // its header, not its weights
    if (!config) return tl::unexpected(config.error());
    m = *config;
  }
  s.model = ModelConfig{static_cast<uint32_t>(m.n_layer), static_cast<uint32_t>(m.n_head),
                        static_cast<uint32_t>(m.n_embd), static_cast<uint32_t>(m.context),
                        static_cast<uint32_t>(m.vocab)};
  const kernels::NetworkSpec net = k.network.value_or(kernels::NetworkSpec{});
  auto need = [&](const std::string& name) -> Result<BlobHash> {
    auto it = named.find(name);
    if (it == named.end()) return Fail("no \"" + name + "\" blob was uploaded with the job");
    return it->second;
  };
  if (s.kind == JobKind::kTrain) {
    s.train = TrainParams{static_cast<uint32_t>(net.workers), static_cast<uint32_t>(net.rounds),
                          static_cast<uint32_t>(net.local_steps),
                          static_cast<uint32_t>(k.train.batch),
                          static_cast<uint32_t>(k.train.seq_len), net.outer_lr,
                          net.outer_momentum, net.round_timeout_s * 1000};
    auto data = need("data");
    if (!data) return tl::unexpected(data.error());
    s.data_blobs = {*data};
    if (named.count("val")) s.data_blobs.push_back(named.at("val"));
  } else {
    auto ck = need("checkpoint");
    if (!ck) return tl::unexpected(ck.error());
    auto tokenizer_blobs = NamedTokenizerBlobs(k, named);
    if (!tokenizer_blobs) return tl::unexpected(tokenizer_blobs.error());
    const auto count = static_cast<uint32_t>(x.prompts.size());
    s.infer = InferParams{count, verify::InferShardCount(static_cast<uint32_t>(net.workers), count),
                          static_cast<uint32_t>(k.infer.generate.max_new_tokens), 0, *ck, {}};
    // Prompts are billed by the job's tokenizer's counts, as the agents count them: a byte
    // count here, a BPE count on the offload worker (CountThen) before the spec is used.
    if (!CountsOnWorker(k)) {
      auto counted = CountPromptTokens(*blobs, k.infer.tokenizer, *tokenizer_blobs, m.vocab,
                                       x.prompts);
      if (!counted) return tl::unexpected(counted.error());
      ApplyPromptCount(s.infer, std::move(*counted));
    }
    s.data_blobs = {*ck};
    if (named.count("prompts")) s.data_blobs.push_back(named.at("prompts"));
    s.data_blobs.insert(s.data_blobs.end(), tokenizer_blobs->begin(), tokenizer_blobs->end());
  }
  if (k.payment) {
    s.budget_micro_plume = k.payment->budget_micro_plume;
    s.max_price_micro_plume_per_pflop = k.payment->max_price_micro_plume_per_pflop;
  }
  return s;
}

Result<JobExtra*> Reactor::Impl::Extra(const Job& job) {
  if (auto it = extras.find(job.id); it != extras.end()) return &it->second;
  auto k = kernels::ParseJobSpec(job.spec.runner_config);
  if (!k) return Fail("stored spec of job " + job.id + ": " + k.error().message);
  JobExtra x;
  x.spec = *k;
  x.spec_hash = Blake2b256(job.spec.runner_config);
  if (job.spec.kind == JobKind::kTrain) {
    if (job.spec.data_blobs.size() > 1) x.val_blob = job.spec.data_blobs[1];
  } else if (!k->infer.prompts.empty()) {
    x.prompts = std::exchange(x.spec.infer.prompts, {});  // kept once, in x.prompts
  } else if (job.spec.data_blobs.size() > 1 + k->infer.tokenizer_files.size()) {
    auto h = HashFromHex(job.spec.data_blobs[1]);
    auto prompts = h ? ReadPromptsBlob(*blobs, *h)
                     : Result<std::vector<std::string>>(tl::unexpected(h.error()));
    if (!prompts) return Fail("prompts blob: " + prompts.error().message);
    x.prompts = std::move(*prompts);
  }
  if (job.spec.kind == JobKind::kInfer) {
    x.tokenizer_blobs = StoredTokenizerBlobs(*k, job.spec.data_blobs);
  }
  return &extras.emplace(job.id, std::move(x)).first->second;
}

// The spec TOML and the named data blobs of a submit (or a quote) as the core's JobSpec, under
// the network's fee. The error is the client's to fix.
Result<std::pair<JobSpec, JobExtra>> Reactor::Impl::PrepareSpec(
    const ClientId& owner, const std::string& toml, capnp::List<wire::BlobRef>::Reader refs) {
  // The TOML is kept whole in the store (as JSON text): it must be UTF-8 before anything else.
  if (auto st = CheckPeerText("the job spec", toml, plume::limits::kMessageBytesMax,
                              TextShape::kText);
      !st) {
    return tl::unexpected(st.error());
  }
  if (refs.size() > kDataBlobsMax) {
    return Fail("a job names at most " + std::to_string(kDataBlobsMax) + " data blobs");
  }
  auto k = kernels::ParseJobSpec(toml);
  if (!k) return Fail(k.error().message);
  if (auto st = kernels::ValidateNetwork(*k); !st) return Fail(st.error().message);
  if (auto st = kernels::ValidatePayment(*k); !st) return Fail(st.error().message);
  if (auto st = CheckNarrowedFields(*k); !st) return tl::unexpected(st.error());
  std::map<std::string, BlobHash> named;
  bool dataset_named = false;
  std::optional<UsedDataset> used;
  for (auto ref : refs) {
    auto h = HashFromData(ref.getHash());
    if (auto st = CheckPeerText("dataBlobs.name", TextOf(ref.getName()), kBlobRefNameBytesMax);
        !st) {
      return tl::unexpected(st.error());
    }
    const std::string name = ref.getName();
    if (!h) return Fail("data blob '" + name + "': " + h.error().message);
    if (name.starts_with(kDatasetRefPrefix)) {  // a published dataset, used under its terms
      if (dataset_named || named.count("data")) {
        return Fail("a job trains on one dataset or one uploaded \"data\" blob, not both");
      }
      dataset_named = true;
      auto resolved = ResolveDataset(owner, name, *h, k->kind == kernels::JobKind::kTrain);
      if (!resolved) return tl::unexpected(resolved.error());
      named["data"] = resolved->blob;
      used = std::move(*resolved);
      continue;
    }
    // Only what this key uploaded or its own granted jobs made (blob_access.h); the same answer
    // whether or not the blob exists, so a submit is no oracle for other teams' hashes.
    if (!MayUseBlob(core.state(), blob_index, owner, ToHex(*h)) || !blobs->Has(*h)) {
      return Fail("blob '" + name + "' was not uploaded with your key: upload it (plume submit "
                  "does) before submitting");
    }
    if (name == "data" && dataset_named) {
      return Fail("a job trains on one dataset or one uploaded \"data\" blob, not both");
    }
    named[name] = ToHex(*h);
  }
  JobExtra x;
  x.spec = *k;
  x.spec_hash = Blake2b256(toml);
  if (k->kind == kernels::JobKind::kInfer) {
    // Kept once, in x.prompts: a quote waiting for its count holds them (and the TOML) only.
    x.prompts = std::exchange(x.spec.infer.prompts, {});
    if (x.prompts.empty() && named.count("prompts")) {
      auto prompts = ReadPromptsBlob(*blobs, *HashFromHex(named["prompts"]));
      if (!prompts) return tl::unexpected(prompts.error());
      x.prompts = std::move(*prompts);
    }
    if (x.prompts.empty()) return Fail("infer: no prompts (give prompts or prompts_file)");
  }
  auto spec = ToCoreSpec(*k, x, named);
  if (!spec) return tl::unexpected(spec.error());
  spec->runner_config = toml;
  spec->fee_bps = core.config().fee_bps;
  spec->verification_reserve_bps =
      core.config().audits ? core.config().verification_reserve_bps : 0;
  if (used) {  // before any cost is computed: the escrow and the quote include the royalties
    spec->dataset = used->id;
    spec->royalty_micro_plume_per_mtoken = used->royalty_micro_plume_per_mtoken;
  }
  if (named.count("val")) x.val_blob = named["val"];
  if (spec->kind == JobKind::kInfer) x.tokenizer_blobs = StoredTokenizerBlobs(*k, spec->data_blobs);
  return std::pair{std::move(*spec), std::move(x)};
}

bool Reactor::Impl::CountThen(JobSpec spec, JobExtra x, Counted next) {
  if (!CountsOnWorker(x.spec)) {
    next(std::pair{std::move(spec), std::move(x)});
    return true;
  }
  BlobStore* store = blobs.get();
  return offload->Submit(
      [store, spec = std::move(spec), x = std::move(x),
       next = std::move(next)]() mutable -> Offload::Continuation {
        auto counted = CountPromptTokens(*store, x.spec.infer.tokenizer, x.tokenizer_blobs,
                                         spec.model.vocab, x.prompts);
        return [spec = std::move(spec), x = std::move(x), next = std::move(next),
                counted = std::move(counted)]() mutable {
          if (!counted) return next(tl::unexpected(counted.error()));
          ApplyPromptCount(spec.infer, std::move(*counted));
          next(std::pair{std::move(spec), std::move(x)});
        };
      },
      /*from_client=*/true);
}

void Reactor::Impl::OnQuoteJob(Incoming& in) {
  auto q = in.message.body().getQuoteJob();
  const Waiter me{in.peer, in.message.request_id()};
  auto prepared = PrepareSpec(ToHex(in.principal), q.getSpecToml(), q.getDataBlobs());
  if (!prepared) {
    return ReplyError(me.peer, me.request_id, wire::ErrorCode::INVALID_SPEC,
                      prepared.error().message);
  }
  const bool queued = CountThen(std::move(prepared->first), std::move(prepared->second),
                                [this, me](Result<std::pair<JobSpec, JobExtra>> counted) {
                                  if (!counted) {
                                    return ReplyError(me.peer, me.request_id,
                                                      wire::ErrorCode::INVALID_SPEC,
                                                      counted.error().message);
                                  }
                                  ReplyQuote(me, counted->first);
                                });
  if (!queued) {
    ReplyError(me.peer, me.request_id, wire::ErrorCode::RETRY_LATER,
               "the scheduler is counting other jobs' prompts: quote again shortly");
  }
}

void Reactor::Impl::ReplyQuote(const Waiter& w, const JobSpec& spec) {
  if (auto st = ValidateSpec(spec); !st) {
    return ReplyError(w.peer, w.request_id, wire::ErrorCode::INVALID_SPEC,
                      "bad job spec: " + st.error().message);
  }
  auto m = NewMessage(w.request_id);
  auto reply = m.body().initQuoteReply();
  reply.setFlops(JobFlops(spec));
  reply.setMaxCostMicroPlume(JobHoldMicroPlume(spec));  // what a submit holds
  reply.setVerificationReserveMicroPlume(VerificationReserveMicroPlume(spec));
  reply.setFeeBps(spec.fee_bps);
  if (opt.ledger_id) reply.setLedgerId(AsData(*opt.ledger_id));
  Reply(w.peer, m);
}

void Reactor::Impl::OnJobStatus(Incoming& in) {
  const JobId id = in.message.body().getJobStatus().getJobId();
  auto it = core.state().jobs.find(id);
  if (it == core.state().jobs.end() || it->second.owner != ToHex(in.principal)) {
    return ReplyError(in.peer, in.message.request_id(), wire::ErrorCode::NOT_FOUND,
                      "no job " + id + " of yours: check the id with `plume jobs`");
  }
  auto m = NewMessage(in.message.request_id());
  FillJobInfo(m.body().initJobStatusReply().initJob(), it->second, core.state());
  Reply(in.peer, m);
}

void Reactor::Impl::OnListJobs(Incoming& in) {
  auto req = in.message.body().getListJobs();
  const std::string owner = ToHex(in.principal);
  const uint32_t limit = req.getLimit() == 0 ? plume::limits::kListRowsMax
                                             : std::min(req.getLimit(), plume::limits::kListRowsMax);
  std::vector<const Job*> rows;
  for (const auto& [id, j] : core.state().jobs) {
    if (j.owner != owner || (!req.getIncludeFinished() && IsTerminal(j.state))) continue;
    rows.push_back(&j);
  }
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->seq > b->seq; });
  if (rows.size() > limit) rows.resize(limit);
  auto m = NewMessage(in.message.request_id());
  auto list = m.body().initListJobsReply().initJobs(static_cast<unsigned>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    FillJobInfo(list[static_cast<unsigned>(i)], *rows[i], core.state());
  }
  Reply(in.peer, m);
}

void Reactor::Impl::OnCancelJob(Incoming& in) {
  const JobId id = in.message.body().getCancelJob().getJobId();
  for (const Action& a : Feed(CancelJob{id, ToHex(in.principal)})) {
    if (const auto* r = std::get_if<Rejected>(&a)) {
      const bool missing = !core.state().jobs.contains(id);
      return ReplyError(in.peer, in.message.request_id(),
                        missing ? wire::ErrorCode::NOT_FOUND : wire::ErrorCode::CONFLICT,
                        r->reason);
    }
  }
  auto m = NewMessage(in.message.request_id());
  auto reply = m.body().initCancelJobReply();
  reply.setJobId(id);
  reply.setState(WireState(core.state().jobs.at(id).state));
  Reply(in.peer, m);
}

}  // namespace plume::scheduler
