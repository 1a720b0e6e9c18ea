// Reactor: TaskAssign/TaskCancel messages built from the core's actions and the job's spec, and
// the blob read policy (plume/scheduler/blob_access.h).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "infer_tokenizer.h"
#include "plume/scheduler/blob_access.h"
#include "plume/scheduler/work.h"
#include "reactor_impl.h"

namespace plume::scheduler {

// The prompts of an infer task: its shard's, or, for a dispute's referee, only the positions in
// the shard it regenerates, each with its global index (promptIndices).
static void FillInferPrompts(wire::InferParams::Builder p, const Job& job, const JobExtra& x,
                             const Task* task, uint32_t shard, uint32_t shard_count) {
  const uint64_t first =
      verify::FirstPromptOfShard(job.spec.infer.prompt_count, shard_count, shard);
  p.setFirstPromptIndex(first);
  if (task == nullptr || task->dispute_prompts.empty()) {
    const uint32_t n = PromptsInShard(job.spec.infer.prompt_count, shard_count, shard);
    auto prompts = p.initPrompts(n);
    for (uint32_t i = 0; i < n; ++i) prompts.set(i, x.prompts.at(first + i));
    return;
  }
  const auto& some = task->dispute_prompts;
  auto prompts = p.initPrompts(static_cast<unsigned>(some.size()));
  auto indices = p.initPromptIndices(static_cast<unsigned>(some.size()));
  for (size_t i = 0; i < some.size(); ++i) {
    prompts.set(static_cast<unsigned>(i), x.prompts.at(first + some[i]));
    indices.set(static_cast<unsigned>(i), first + some[i]);
  }
}

void Reactor::Impl::SendAssign(const SendTaskAssign& a) {
  auto peer = peers.find(a.node);
  const Job& job = core.state().jobs.at(a.job);
  auto x = Extra(job);
  if (peer == peers.end() || !x) {
    // The heartbeat check requeues a task its agent never receives.
    spdlog::warn("task={} cannot be sent: {}", a.task,
                 x ? "agent not connected" : x.error().message);
    return;
  }
  const kernels::JobSpec& k = (*x)->spec;
  auto m = NewMessage(0);
  auto t = m.body().initTaskAssign();
  t.setJobId(a.job);
  t.setTaskId(a.wire_id);
  t.setAttempt(a.attempt);
  t.setKind(a.kind == TaskKind::kTrainWorker ? wire::JobKind::TRAIN : wire::JobKind::INFER);
  auto model = t.initModel();
  model.setNLayer(job.spec.model.n_layer);
  model.setNHead(job.spec.model.n_head);
  model.setNEmbd(job.spec.model.n_embd);
  model.setContext(job.spec.model.context);
  model.setVocab(job.spec.model.vocab);
  t.setSpecHash(AsData((*x)->spec_hash));
  const auto task = core.state().tasks.find(a.task);
  if (task != core.state().tasks.end()) {
    t.setFlops(task->second.flops);  // what the agent signs in its ledger receipt
  }
  if (task != core.state().tasks.end() && task->second.audit_role == AuditRole::kExport) {
    FillDisputeAssign(t, task->second);
  } else if (a.kind == TaskKind::kTrainWorker) {
    const TrainParams& tp = job.spec.train;
    auto p = t.getParams().initTrain();
    p.setRound(a.round);
    p.setLocalSteps(tp.local_steps);
    p.setStepOffset(uint64_t{a.round} * tp.local_steps);
    p.setTotalSteps(uint64_t{tp.rounds} * tp.local_steps);
    p.setBatch(tp.batch);
    p.setSeqLen(tp.seq_len);
    p.setLr(k.train.lr);
    p.setMinLr(k.train.min_lr);
    p.setWarmupSteps(static_cast<uint32_t>(k.train.warmup_steps));
    p.setSchedule(k.train.schedule == kernels::LrSchedule::kConstant ? "constant" : "cosine");
    p.setWeightDecay(k.train.weight_decay);
    p.setGradClip(k.train.grad_clip);
    p.setSeed(job.spec.seed);
    p.setShardIndex(a.shard);
    p.setShardCount(a.shard_count);
    FillBlobRef(p.initRoundParams(), a.input_params_blob, "params");
    FillBlobRef(p.initDataShard(), job.spec.data_blobs.at(0), "data");
    FillBlobRef(p.initEvalTokens(), (*x)->val_blob, "val");
    t.setDeadlineMs(static_cast<uint64_t>(tp.round_timeout_ms) * 4);
    if (task != core.state().tasks.end()) FillDisputeAssign(t, task->second);
    if (!FillDataGrant(t, job, a, t.getDeadlineMs())) return;  // requeued when its lease lapses
  } else {
    auto p = t.getParams().initInfer();
    FillBlobRef(p.initCheckpoint(), job.spec.infer.checkpoint_blob, "checkpoint");
    FillInferPrompts(p, job, **x, task != core.state().tasks.end() ? &task->second : nullptr,
                     a.shard, a.shard_count);
    p.setMaxNewTokens(static_cast<uint32_t>(k.infer.generate.max_new_tokens));
    p.setTemperature(k.infer.generate.temperature);
    p.setTopK(static_cast<uint32_t>(k.infer.generate.top_k));
    p.setTopP(k.infer.generate.top_p);
    auto stop = p.initStop(static_cast<unsigned>(k.infer.generate.stop.size()));
    for (size_t i = 0; i < k.infer.generate.stop.size(); ++i) {
      stop.set(static_cast<unsigned>(i), k.infer.generate.stop[i]);
    }
    p.setTokenizer(k.infer.tokenizer);
    const auto& files = (*x)->tokenizer_blobs;
    auto refs = p.initTokenizerFiles(static_cast<unsigned>(files.size()));
    for (size_t i = 0; i < files.size(); ++i) {
      FillBlobRef(refs[static_cast<unsigned>(i)], files[i], TokenizerBlobName(i));
    }
    p.setSeed(job.spec.seed);
    t.setDeadlineMs(3'600'000);
  }
  if (auto st = server->Send(peer->second, m); !st) {
    spdlog::warn("task={} send failed: {}", a.task, st.error().message);
    return;
  }
  // The agent logs the wire id as its task key: this line joins the two.
  spdlog::info("job={} task={} wire={} attempt={} node={}: assigned", a.job, a.task, a.wire_id,
               a.attempt, a.node.substr(0, 16));
}

void Reactor::Impl::SendCancel(const SendTaskCancel& c) {
  auto peer = peers.find(c.node);
  const Task* t = nullptr;
  if (auto it = core.state().tasks.find(c.task); it != core.state().tasks.end()) t = &it->second;
  if (peer == peers.end() || t == nullptr) return;
  auto m = NewMessage(0);
  auto cancel = m.body().initTaskCancel();
  cancel.setTaskId(t->wire_id);
  cancel.setAttempt(c.attempt);
  cancel.setReason(c.reason);
  (void)server->Send(peer->second, m);
}

// The rule is blob_access.h's; the joined infer outputs are the reactor's own (not in State).
bool Reactor::Impl::CanRead(const PublicKey& principal, const Hash256& hash) {
  return MayReadBlob(core.state(), blob_index, joined_outputs, ToHex(principal), ToHex(hash));
}

// An agent uploads each assigned task's result outside its daily quota: one blob (a task has
// one output), up to what that task can produce (the screens' size bound): a delta the size of
// the model, a shard's JSONL from its prompts and max_new_tokens. Anything more, or from a key
// holding no task, counts against the quota like any upload. The allowance is per (task,
// attempt) and spent when an upload completes. It is not tied to the hash the TaskResult will
// name (that comes after the upload, and the agent chooses its output's bytes either way): what
// it bounds is the bytes and the blobs one attempt can make (docs/protocol.md "Blob transfer").
ResultAllowance* Reactor::Impl::ResultAllowanceFor(const std::string& principal_hex,
                                                   uint64_t size_bytes) {
  auto n = core.state().nodes.find(principal_hex);
  if (n == core.state().nodes.end()) return nullptr;
  for (const TaskId& id : n->second.tasks) {
    const Task& t = core.state().tasks.at(id);
    if (t.state != TaskState::kAssigned || t.node != principal_hex) continue;
    auto it = result_allowances.find({id, t.attempt});
    if (it == result_allowances.end()) {
      const std::optional<uint64_t> bound = ResultBytesMax(t);
      if (!bound) continue;  // not known yet: nothing is kept, asked again on the next upload
      it = result_allowances.emplace(std::pair{id, t.attempt},
                                     ResultAllowance{principal_hex, *bound, 0}).first;
    }
    if (it->second.blobs < kResultBlobsPerAttemptMax &&
        it->second.used_bytes + size_bytes <= it->second.bound_bytes) {
      return &it->second;
    }
  }
  return nullptr;
}

// Allowances of attempts no longer assigned to their agent (finished, lost, given elsewhere).
void Reactor::Impl::DropSpentAllowances() {
  std::erase_if(result_allowances, [&](const auto& a) {
    auto t = core.state().tasks.find(a.first.first);
    return t == core.state().tasks.end() || t->second.state != TaskState::kAssigned ||
           t->second.attempt != a.first.second || t->second.node != a.second.node;
  });
}

// Everyone else (clients uploading job data, agents past their tasks' allowance) within the
// daily quota.
bool Reactor::Impl::CanWrite(const PublicKey& principal, const Hash256& hash,
                             uint64_t size_bytes) {
  const std::string who = ToHex(principal);
  if (blobs->Has(hash)) return true;  // a stored blob costs nothing more
  if (ResultAllowanceFor(who, size_bytes) != nullptr) return true;
  if (upload_quota.Allows(who, size_bytes, NowMs())) return true;
  spdlog::warn("blob: refused upload of {} bytes by {}: over its quota of {} bytes per day "
               "(plume-scheduler --upload-quota-bytes) and over what its tasks can produce",
               size_bytes, who, opt.upload_quota_bytes_per_day);
  return false;
}

// The uploader is recorded in the state (saved before the ack goes out): it may now name the
// blob in a submit and read it back (blob_access.h).
void Reactor::Impl::OnBlobStored(const PublicKey& principal, const Hash256& hash,
                                 uint64_t size_bytes) {
  const std::string who = ToHex(principal);
  if (ResultAllowance* a = ResultAllowanceFor(who, size_bytes)) {
    a->used_bytes += size_bytes;
    ++a->blobs;
  } else {
    upload_quota.Record(who, size_bytes, NowMs());
  }
  Feed(BlobUploaded{who, ToHex(hash)});
}

// The scheduler's facts (its FLOPs, the task's price) and the agent's ledger fields; the
// ledger side verifies the agent's signature over them, so a receipt the agent signed with other
// FLOPs is not paid.
Result<bool> Reactor::Impl::KeepSettleReceipt(const Task& t, const ResultToVerify& r) {
  const Job& job = core.state().jobs.at(t.job);
  auto bytes = [](std::span<const uint8_t> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  };
  SettleReceipt s;
  s.task = t.id;
  s.job = job.id;
  s.task_wire_id = r.task_wire_id;
  s.attempt = r.attempt;
  s.agent = bytes(r.agent);
  // The inputs the scheduler gave the task, in TaskAssign order (train: round parameters,
  // data, val when there is one; infer: the checkpoint, then the tokenizer files), never the agent's list: a receipt
  // that names other inputs does not verify and is not paid.
  std::vector<BlobHash> inputs;
  if (t.kind == TaskKind::kTrainWorker) {
    inputs = {t.input_params_blob, job.spec.data_blobs.at(0)};
    if (auto x = Extra(job); x && !(*x)->val_blob.empty()) inputs.push_back((*x)->val_blob);
  } else {
    inputs = {job.spec.infer.checkpoint_blob};
    if (auto x = Extra(job)) {
      inputs.insert(inputs.end(), (*x)->tokenizer_blobs.begin(), (*x)->tokenizer_blobs.end());
    }
  }
  if (!t.start_state_blob.empty()) inputs.push_back(t.start_state_blob);  // a segment's start
  for (const BlobHash& hex : inputs) {
    if (auto h = HashFromHex(hex)) s.input_hashes.push_back(bytes(*h));
  }
  s.output_hash = bytes(r.output);
  s.flops = t.flops;
  // The price fixed when the task was assigned (F3): a node that re-registered at another price
  // since is paid what it won the task at.
  s.price_micro_plume_per_pflop = t.price_micro_plume_per_pflop;
  s.fee_bps = job.spec.fee_bps;
  s.device = r.ledger_device;
  s.kernel_build = r.ledger_kernel_build;
  s.start_unix_ms = r.ledger_start_unix_ms;
  s.end_unix_ms = r.ledger_end_unix_ms;
  s.agent_signature = r.ledger_signature;
  // The job's own training tasks owe the dataset's owner a royalty for the tokens they read;
  // audit and referee runs verify and train nothing, so they owe none.
  if (t.kind == TaskKind::kTrainWorker && t.audit_role == AuditRole::kNone &&
      RoyaltyPerTaskMicroPlume(job.spec) > 0) {
    s.royalty_dataset = job.spec.dataset;
    s.royalty_tokens = RoyaltyTokensPerTask(job.spec);
  }
  return opt.settle_receipt(s);
}

void Reactor::Impl::ReplyResultAck(const PeerId& peer, uint64_t rid, uint64_t task_wire_id,
                                   uint32_t attempt, bool accepted, const std::string& why,
                                   MicroPlume paid) {
  auto m = NewMessage(rid);
  auto ack = m.body().initTaskResultAck();
  ack.setTaskId(task_wire_id);
  ack.setAttempt(attempt);
  ack.setAccepted(accepted);
  ack.setMessage(why);
  ack.setPaidMicroPlume(paid);
  Reply(peer, m);  // sent after the save: an accepted result is durable before its ack
}

// Empty when the result's commitments are acceptable for task t: the receipt's root, and at most
// a training chain's links (exactly one link from a segment referee, none from an export).
static std::string CommitmentsProblem(const Task& t, const ResultToVerify& r) {
  if (!r.commitments_match) {
    return "its " + std::to_string(r.commitments.size()) +
           " commitments are not what the receipt's commitment root signs";
  }
  const size_t n = r.commitments.size();
  if (t.audit_role == AuditRole::kExport && n != 0) return "an export commits to nothing";
  if (t.kind == TaskKind::kTrainWorker && t.dispute_link >= 0 &&
      t.audit_role == AuditRole::kReferee && n != 1) {
    return "a segment referee returns exactly one link, not " + std::to_string(n);
  }
  if (!t.dispute_prompts.empty() && n != t.dispute_prompts.size()) {
    return "a referee of " + std::to_string(t.dispute_prompts.size()) +
           " prompts returns one hash each, not " + std::to_string(n);
  }
  if (t.kind == TaskKind::kTrainWorker && n > static_cast<size_t>(verify::kMaxCommitmentLinks)) {
    return std::to_string(n) + " chain links; a training chain has at most " +
           std::to_string(verify::kMaxCommitmentLinks);
  }
  return {};
}

void Reactor::Impl::OnResultVerified(const ResultToVerify& r) {
  const NodeId node = ToHex(r.agent);
  auto ack_with = [&](bool accepted, const std::string& why, MicroPlume paid = 0) {
    ReplyResultAck(r.peer, r.request_id, r.task_wire_id, r.attempt, accepted, why, paid);
  };
  // The task may have moved on while the receipt was checked: decide on its state now.
  const Task* t = core.FindTaskByWireId(r.task_wire_id);
  if (t == nullptr) return ack_with(false, "unknown task or malformed output hash");
  const BlobHash output = ToHex(r.output);
  if (t->state == TaskState::kSucceeded && t->node == node && t->attempt == r.attempt &&
      t->output_blob == output) {
    // Its settle still undecided (ledger down): answered once decided (reactor_pay.cc).
    if (t->settle == SettleState::kKept) return AckAccepted(r, *t);
    return ack_with(true, "already recorded");
  }
  if (!r.verified) {
    return ack_with(false, "receipt missing, badly signed or not matching the result");
  }
  if (!blobs->Has(r.output)) return ack_with(false, "output blob not uploaded: upload it first");
  const TaskId task = t->id;
  // The screens decide only for the current attempt; a stale one is answered below as such.
  if (t->state == TaskState::kAssigned && t->node == node && t->attempt == r.attempt) {
    if (!r.screened && !r.rescreened) {
      // The blob was stored after the pool looked for it: screen it again, once.
      ResultToVerify again = r;
      again.rescreened = true;
      return receipts->Submit(std::move(again));
    }
    if (!r.screened) {
      spdlog::warn("task={} result not screened: {}", task, r.screened.error().message);
      return ack_with(false, "the scheduler could not screen the result (" +
                                 r.screened.error().message + "): it is not accepted");
    }
    ++results_screened;
    // The chain must be the one the receipt signs, and of a shape the task can have; otherwise
    // the result is refused like one that failed a screen (docs/verification.md).
    if (const std::string why = CommitmentsProblem(*t, r); !why.empty()) {
      ++results_refused["bad_commitments"];
      Feed(TaskRefused{task, r.attempt, node, output, "bad_commitments", why});
      return ack_with(false, "result refused (bad_commitments): " + why + "; not paid");
    }
    if (!r.screened->ok()) {
      const std::string reason = verify::Name(r.screened->reason);
      ++results_refused[reason];
      Feed(TaskRefused{task, r.attempt, node, output, reason, r.screened->message});
      return ack_with(false, "result refused by the screens (" + reason +
                                 "): " + r.screened->message + "; not paid");
    }
  }
  // An export is evidence for a dispute, never paid: no settle to keep.
  bool payable = t->audit_role != AuditRole::kExport;
  if (payable && opt.settle_receipt && t->state == TaskState::kAssigned && t->node == node &&
      t->attempt == r.attempt) {
    // Accepting a result whose settle is not on disk would pay nobody once the agent forgets it.
    auto kept = KeepSettleReceipt(*t, r);
    if (!kept) {
      spdlog::error("job={} task={}: settle not kept, result refused for now: {}", t->job, task,
                    kept.error().message);
      return ReplyError(r.peer, r.request_id, wire::ErrorCode::RETRY_LATER,
                        "the scheduler could not keep this result's settle (" +
                            kept.error().message + "); send the result again later");
    }
    payable = *kept;
  }
  std::vector<std::string> commitments;
  if (r.commitments_match) {
    for (const Hash256& c : r.commitments) commitments.push_back(ToHex(c));
  }
  // The receipt goes with its commitments: a dispute's evidence shows that the agent signed them.
  const bool committed = !commitments.empty();
  Feed(TaskSucceeded{task, r.attempt, node, output,
                     TaskMetrics{r.final_loss, r.tokens, FlopsFromPeer(r.flops)}, payable,
                     std::move(commitments), committed ? r.receipt : std::string(),
                     committed ? r.receipt_signature : std::string()});
  const Task& after = core.state().tasks.at(task);
  const bool accepted = after.state == TaskState::kSucceeded && after.attempt == r.attempt &&
                        after.node == node && after.output_blob == output;
  if (accepted) return AckAccepted(r, after);
  ack_with(false, "stale attempt: the task was given to another agent");
}

}  // namespace plume::scheduler
