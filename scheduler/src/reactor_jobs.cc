// Reactor: client messages (submit, quote, status, list, cancel) and the translation of a job
// spec into the core's JobSpec. Nodes and fetch: reactor_fetch.cc. Task messages and the blob
// policy: reactor_tasks.cc.
//
// Blob roles in JobSpec::data_blobs: train [data, val?]; infer [checkpoint, prompts?,
// tokenizer files...] (the names the CLI gives its uploads: "data", "val", "checkpoint",
// "prompts", "tokenizer.0", ...; infer_tokenizer.h).
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
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

// The largest model the scheduler initialises on submit (GPT-2 XL, 1.56 G, fits): the
// initialisation holds four model-sized buffers on the reactor thread, so without a cap one
// unfunded submit could take tens of GB and minutes (every agent's lease would expire).
constexpr int64_t kSchedulerInitParamsMax = 1'600'000'000;

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

Result<BlobHash> Reactor::Impl::InitialParams(const kernels::ModelConfig& model, uint64_t seed) {
  // The GPT-2 initialisation agents would derive from the seed, made once here so that every
  // worker and the outer step start from the same, stored parameters.
  auto params = kernels::InitialParams(model, seed);
  if (!params) return Fail("model: " + params.error().message);
  auto bytes = kernels::SaveCheckpointBytes(model, *params);
  if (!bytes) return Fail(bytes.error().message);
  auto hash = blobs->Put(std::span<const uint8_t>(*bytes));
  if (!hash) return tl::unexpected(hash.error());
  return ToHex(*hash);
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
    auto bytes = blobs->Get(*ck_hash);
    if (!bytes) return tl::unexpected(bytes.error());
    auto ck = kernels::LoadCheckpointBytes(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
    if (!ck) return Fail("checkpoint: " + ck.error().message);
    m = ck->config;
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
    // Prompts are billed by the job's tokenizer's counts, as the agents count them.
    auto tokenizer_blobs = NamedTokenizerBlobs(k, named);
    if (!tokenizer_blobs) return tl::unexpected(tokenizer_blobs.error());
    auto tokens = CountPromptTokens(*blobs, k.infer.tokenizer, *tokenizer_blobs, m.vocab, x.prompts);
    if (!tokens) return tl::unexpected(tokens.error());
    const uint32_t longest = tokens->empty() ? 0 : *std::max_element(tokens->begin(), tokens->end());
    const auto count = static_cast<uint32_t>(x.prompts.size());
    s.infer = InferParams{count, std::clamp<uint32_t>(net.workers, 1, std::max(1u, count)),
                          static_cast<uint32_t>(k.infer.generate.max_new_tokens), longest, *ck,
                          std::move(*tokens)};
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
    x.prompts = k->infer.prompts;
  } else if (job.spec.data_blobs.size() > 1 + k->infer.tokenizer_files.size()) {
    auto h = HashFromHex(job.spec.data_blobs[1]);
    auto bytes = h ? blobs->Get(*h) : Result<std::string>(tl::unexpected(h.error()));
    if (!bytes) return Fail("prompts blob: " + bytes.error().message);
    try {
      x.prompts = nlohmann::json::parse(*bytes).get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      return Fail(std::string("prompts blob is not a JSON array of strings: ") + e.what());
    }
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
  std::map<std::string, BlobHash> named;
  for (auto ref : refs) {
    auto h = HashFromData(ref.getHash());
    if (auto st = CheckPeerText("dataBlobs.name", TextOf(ref.getName()), kBlobRefNameBytesMax);
        !st) {
      return tl::unexpected(st.error());
    }
    const std::string name = ref.getName();
    if (!h) return Fail("data blob '" + name + "': " + h.error().message);
    // Only what this key uploaded or its own granted jobs made (blob_access.h); the same answer
    // whether or not the blob exists, so a submit is no oracle for other teams' hashes.
    if (!MayUseBlob(core.state(), owner, ToHex(*h)) || !blobs->Has(*h)) {
      return Fail("blob '" + name + "' was not uploaded with your key: upload it (plume submit "
                  "does) before submitting");
    }
    named[name] = ToHex(*h);
  }
  JobExtra x;
  x.spec = *k;
  x.spec_hash = Blake2b256(toml);
  if (k->kind == kernels::JobKind::kInfer) {
    x.prompts = k->infer.prompts;
    if (x.prompts.empty() && named.count("prompts")) {
      auto bytes = blobs->Get(*HashFromHex(named["prompts"]));
      try {
        if (bytes) x.prompts = nlohmann::json::parse(*bytes).get<std::vector<std::string>>();
      } catch (const std::exception&) {
        return Fail("the \"prompts\" blob must be a JSON array of strings");
      }
    }
    if (x.prompts.empty()) return Fail("infer: no prompts (give prompts or prompts_file)");
  }
  auto spec = ToCoreSpec(*k, x, named);
  if (!spec) return tl::unexpected(spec.error());
  spec->runner_config = toml;
  spec->fee_bps = core.config().fee_bps;
  if (named.count("val")) x.val_blob = named["val"];
  if (spec->kind == JobKind::kInfer) x.tokenizer_blobs = StoredTokenizerBlobs(*k, spec->data_blobs);
  return std::pair{std::move(*spec), std::move(x)};
}

void Reactor::Impl::OnQuoteJob(Incoming& in) {
  auto q = in.message.body().getQuoteJob();
  const uint64_t rid = in.message.request_id();
  auto prepared = PrepareSpec(ToHex(in.principal), q.getSpecToml(), q.getDataBlobs());
  if (!prepared) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC, prepared.error().message);
  }
  const JobSpec& spec = prepared->first;
  if (auto st = ValidateSpec(spec); !st) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC,
                      "bad job spec: " + st.error().message);
  }
  auto m = NewMessage(rid);
  auto reply = m.body().initQuoteReply();
  reply.setFlops(JobFlops(spec));
  reply.setMaxCostMicroPlume(MaxJobCostMicroPlume(spec));
  reply.setFeeBps(spec.fee_bps);
  if (opt.ledger_id) reply.setLedgerId(AsData(*opt.ledger_id));
  Reply(in.peer, m);
}

void Reactor::Impl::OnSubmitJob(Incoming& in) {
  auto s = in.message.body().getSubmitJob();
  const uint64_t rid = in.message.request_id();
  const ClientId owner = ToHex(in.principal);
  const std::string toml = s.getSpecToml();
  const Hash256 spec_hash = Blake2b256(toml);
  auto sig = s.getSignature();
  const std::string signed_bytes = SpecSigningBytes(spec_hash);
  if (sig.size() != crypto_sign_BYTES ||
      crypto_sign_verify_detached(sig.begin(),
                                  reinterpret_cast<const unsigned char*>(signed_bytes.data()),
                                  signed_bytes.size(), in.principal.data()) != 0) {
    return ReplyError(in.peer, rid, wire::ErrorCode::UNAUTHORIZED,
                      "the spec signature does not verify with your key: sign the spec hash");
  }
  if (auto st = CheckPeerText("clientJobKey", TextOf(s.getClientJobKey()), kClientJobKeyBytesMax);
      !st) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC, st.error().message);
  }
  const std::string key = owner + "/" + std::string(s.getClientJobKey().cStr());
  const JobId job_id = "job-" + ToHex(Blake2b256(key)).substr(0, 16);
  auto reply_ack = [&](MicroPlume escrow) {
    auto m = NewMessage(rid);
    auto ack = m.body().initSubmitAck();
    ack.setJobId(job_id);
    ack.setEscrowMicroPlume(escrow);
    Reply(in.peer, m);
  };
  if (auto it = core.state().jobs.find(job_id); it != core.state().jobs.end()) {
    if (it->second.owner != owner) {
      return ReplyError(in.peer, rid, wire::ErrorCode::CONFLICT, "job key already used");
    }
    return reply_ack(it->second.spec.escrow_micro_plume);  // a retried submit: same job
  }
  auto bad = [&](const std::string& why) {
    ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC, why);
  };
  auto prepared = PrepareSpec(owner, toml, s.getDataBlobs());
  if (!prepared) return bad(prepared.error().message);
  auto& [spec, x] = *prepared;
  // Before any work is done for it (the model initialisation below allocates and stores the
  // whole model on this thread): a spec that cannot run, or a model larger than the scheduler
  // initialises, is refused for nothing.
  if (auto st = ValidateSpec(spec); !st) return bad("bad job spec: " + st.error().message);
  if (spec.kind == JobKind::kTrain && x.spec.model->NumParams() > kSchedulerInitParamsMax) {
    return bad("the model has " + std::to_string(x.spec.model->NumParams()) +
               " parameters; this scheduler trains models of at most " +
               std::to_string(kSchedulerInitParamsMax));
  }
  // With a ledger every job holds its maximum cost in escrow, and the ledger refuses a hold of
  // 0: say so now rather than accept a job whose hold must fail.
  if (opt.ledger && ValidateSpec(spec) && MaxJobCostMicroPlume(spec) <= 0) {
    return ReplyError(in.peer, rid, wire::ErrorCode::INVALID_SPEC,
                      "this job's maximum cost rounds to 0 micro-PLUME (" +
                          std::to_string(JobFlops(spec)) + " FLOPs at " +
                          std::to_string(spec.max_price_micro_plume_per_pflop) +
                          " micro-PLUME per PFLOP), and the ledger cannot hold 0: raise "
                          "payment.max_price_micro_plume_per_pflop or grow the job");
  }
  if (opt.escrow_signature) {  // the ledger bridge keeps it for the hold (ledger_bridge.h)
    // The team signed a hold of a definite amount; it must be what this job holds, or the
    // ledger would refuse the hold later (or the team would have signed for something else).
    const MicroPlume hold = MaxJobCostMicroPlume(spec);
    if (ValidateSpec(spec) && s.getEscrowHoldMicroPlume() != hold) {
      return ReplyError(
          in.peer, rid, wire::ErrorCode::INVALID_SPEC,
          "the escrow hold you signed is " + std::to_string(s.getEscrowHoldMicroPlume()) +
              " micro-PLUME but this job holds " + std::to_string(hold) + " (" +
              std::to_string(JobFlops(spec)) + " FLOPs at the maximum price plus the " +
              std::to_string(spec.fee_bps) + " bps fee): quote it first (`plume quote`); "
              "`plume submit` does so itself");
    }
    auto hold_sig = s.getEscrowHoldSignature();
    // The submit is acked after this turn's save; the signature must be kept by then.
    if (auto st = opt.escrow_signature(
            job_id, std::span<const uint8_t>(hold_sig.begin(), hold_sig.size()));
        !st) {
      spdlog::error("job={}: escrow signature not kept: {}", job_id, st.error().message);
      return ReplyError(in.peer, rid, wire::ErrorCode::RETRY_LATER,
                        "the scheduler could not keep the escrow hold signature (" +
                            st.error().message + "); submit again later");
    }
  }
  if (spec.kind == JobKind::kTrain) {
    auto init = InitialParams(*x.spec.model, x.spec.seed);
    if (!init) return bad("cannot initialise the model: " + init.error().message);
    spec.initial_params_blob = *init;
  }
  x.spec_hash = spec_hash;
  extras[job_id] = std::move(x);
  for (const Action& a : Feed(JobSubmitted{job_id, owner, spec})) {
    if (const auto* r = std::get_if<Rejected>(&a)) {
      extras.erase(job_id);
      return bad(r->reason);
    }
  }
  reply_ack(core.state().jobs.at(job_id).spec.escrow_micro_plume);
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
