// Reactor: the node listing (`plume nodes`) and what a job's owner fetches (`plume fetch`,
// `plume audit`): the outputs, and the provenance the receipts must chain to.
#include <map>
#include <vector>

#include "infer_tokenizer.h"
#include "output_join.h"
#include "peer_text.h"
#include "plume/protocol/limits.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/owners.h"
#include "plume/scheduler/work.h"
#include "reactor_impl.h"

namespace plume::scheduler {

// The largest reply: every row at its text bounds (peer_text.h; the kernel class is bounded as
// Register.kernelBuild; the node id and the owner are 64 hex digits each, the agent key 32
// bytes), with 64 bytes of Cap'n Proto overhead per device and 256 per row, must fit one message.
static_assert(plume::limits::kListRowsMax *
                      (kNodeNameBytesMax + kAgentVersionBytesMax + 64 + 64 + 32 + 256 +
                       kNodeDevicesMax * (kDeviceNameBytesMax + 64)) <
                  plume::limits::kMessageBytesMax,
              "a ListNodes reply at the text bounds of limits.h must fit one message");

void Reactor::Impl::OnListNodes(Incoming& in) {
  const auto& nodes = core.state().nodes;
  const size_t n = std::min<size_t>(nodes.size(), plume::limits::kListRowsMax);
  auto m = NewMessage(in.message.request_id());
  auto list = m.body().initListNodesReply().initNodes(static_cast<unsigned>(n));
  size_t i = 0;
  for (const auto& [id, node] : nodes) {
    if (i == n) break;
    auto b = list[static_cast<unsigned>(i++)];
    b.setNodeId(id);
    if (auto pk = FromHex(id)) {
      b.setAgent(AsData(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pk->data()),
                                                 pk->size())));
    }
    b.setName(node.info.name);
    b.setKernelBuild(node.info.kernel_class);
    b.setState(static_cast<wire::NodeState>(static_cast<uint16_t>(node.state)));
    auto gpus = b.initGpus(static_cast<unsigned>(node.info.gpus.size()));
    for (size_t g = 0; g < node.info.gpus.size(); ++g) {
      auto gb = gpus[static_cast<unsigned>(g)];
      gb.setName(node.info.gpus[g].name);
      gb.setMemoryBytes(node.info.gpus[g].memory_bytes);
      gb.setCount(node.info.gpus[g].count);
      gb.setBackend(node.info.backend == Backend::kCuda ? wire::Backend::CUDA : wire::Backend::CPU);
      gb.setSelftestPassed(node.info.selftest_passed);
    }
    b.setPriceMicroPlumePerPflop(node.info.price_micro_plume_per_pflop);
    b.setRunningTasks(static_cast<uint32_t>(node.tasks.size()));
    b.setTasksSucceeded(node.tasks_succeeded);
    b.setTasksFailed(node.tasks_failed);
    b.setTasksLost(node.tasks_lost);
    b.setTasksRefused(node.tasks_refused);
    b.setResultsValid(static_cast<uint64_t>(node.results_valid));
    b.setResultsAudited(static_cast<uint64_t>(node.results_audited));
    b.setProvenFaulty(static_cast<uint64_t>(node.proven_faulty));
    b.setAuditRatePpm(verify::AuditRatePpm(AuditRecordOf(node), core.config().audit));
    b.setStakeMicroPlume(node.stake_micro_plume);
    b.setUnbondingMicroPlume(node.unbonding_micro_plume);
    b.setSlashes(node.slashes);
    b.setOwner(OwnerOf(node.info));
  }
  Reply(in.peer, m);
}

// An inference job's outputs are joined once, on the offload worker, and the joined blob is
// kept for later fetches: a fetch costs the reactor a lookup, not a read and hash of every shard.
void Reactor::Impl::OnFetchJob(Incoming& in) {
  const JobId id = in.message.body().getFetchJob().getJobId();
  const Waiter me{in.peer, in.message.request_id()};
  auto it = core.state().jobs.find(id);
  if (it == core.state().jobs.end() || it->second.owner != ToHex(in.principal)) {
    return ReplyError(in.peer, me.request_id, wire::ErrorCode::NOT_FOUND,
                      "no job " + id + " of yours");
  }
  const Job& j = it->second;
  const bool join = j.state == JobState::kSucceeded && j.spec.kind == JobKind::kInfer;
  if (!join) return ReplyFetch(me, id, "");
  if (auto done = joined_by_job.find(id);
      done != joined_by_job.end() && blobs->Has(*HashFromHex(done->second))) {
    return ReplyFetch(me, id, done->second);
  }
  if (auto w = fetch_waiters.find(id); w != fetch_waiters.end()) {  // a join is under way
    if (w->second.size() >= kWaitersPerJobMax) {
      return ReplyError(in.peer, me.request_id, wire::ErrorCode::RETRY_LATER,
                        "the outputs of " + id + " are being joined: fetch again shortly");
    }
    w->second.push_back(me);
    return;
  }
  BlobStore* store = blobs.get();
  const bool queued = offload->Submit(
      [this, id, store, shards = j.outputs]() -> Offload::Continuation {
        auto joined = JoinOutputs(*store, shards);
        return [this, id, joined = std::move(joined)] {
          std::vector<Waiter> waiters = std::move(fetch_waiters[id]);
          fetch_waiters.erase(id);
          for (const Waiter& w : waiters) {
            if (!joined) {
              ReplyError(w.peer, w.request_id, wire::ErrorCode::INTERNAL, joined.error().message);
              continue;
            }
            joined_outputs[*joined] = id;
            joined_by_job[id] = *joined;
            ReplyFetch(w, id, *joined);
          }
        };
      },
      /*from_client=*/true);
  if (!queued) {
    return ReplyError(in.peer, me.request_id, wire::ErrorCode::RETRY_LATER,
                      "the scheduler is busy with other jobs' outputs: fetch again shortly");
  }
  fetch_waiters[id].push_back(me);
}

void Reactor::Impl::ReplyFetch(const Waiter& w, const JobId& id, const BlobHash& joined) {
  auto it = core.state().jobs.find(id);
  if (it == core.state().jobs.end()) {
    return ReplyError(w.peer, w.request_id, wire::ErrorCode::NOT_FOUND, "no job " + id);
  }
  const Job& j = it->second;
  auto m = NewMessage(w.request_id);
  auto reply = m.body().initFetchJobReply();
  reply.setJobId(id);
  reply.setKind(j.spec.kind == JobKind::kTrain ? wire::JobKind::TRAIN : wire::JobKind::INFER);
  reply.setState(WireState(j.state));
  if (j.state == JobState::kSucceeded && j.spec.kind == JobKind::kTrain && !j.outputs.empty()) {
    FillBlobRef(reply.initOutputs(1)[0], j.outputs[0], "model.safetensors");
  } else if (!joined.empty()) {
    FillBlobRef(reply.initOutputs(1)[0], joined, "outputs.jsonl");
  }
  FillProvenance(j, reply);
  Reply(w.peer, m);
}

// What `plume audit` checks the job's receipts against: the spec and data the job was
// submitted with, the parameters each round started from and produced, and the outputs.
void Reactor::Impl::FillProvenance(const Job& j, wire::FetchJobReply::Builder reply) {
  auto x = Extra(j);
  if (x) reply.setSpecHash(AsData((*x)->spec_hash));
  const bool train = j.spec.kind == JobKind::kTrain;
  const char* names[2] = {train ? "data" : "checkpoint", train ? "val" : "prompts"};
  auto data = reply.initDataBlobs(static_cast<unsigned>(j.spec.data_blobs.size()));
  const size_t tokenizer_files = x && !train ? (*x)->tokenizer_blobs.size() : 0;
  for (size_t i = 0; i < j.spec.data_blobs.size(); ++i) {
    const size_t first_tokenizer = j.spec.data_blobs.size() - tokenizer_files;
    const std::string name = i >= first_tokenizer ? TokenizerBlobName(i - first_tokenizer)
                             : i < 2              ? names[i]
                                                  : "data";
    FillBlobRef(data[static_cast<unsigned>(i)], j.spec.data_blobs[i], name);
  }
  std::vector<const Round*> done;
  for (auto r = core.state().rounds.lower_bound({j.id, 0});
       r != core.state().rounds.end() && r->first.first == j.id; ++r) {
    if (r->second.state == RoundState::kDone) done.push_back(&r->second);
  }
  // The deltas each round's outer step averaged: its workers that succeeded, in worker order
  // (what MakeAggregate in core_rounds.cc hands to Aggregate).
  std::map<uint32_t, std::map<uint32_t, BlobHash>> deltas;  // round -> worker -> output blob
  for (auto t = core.state().tasks.lower_bound(j.id + "/");
       t != core.state().tasks.end() && t->second.job == j.id; ++t) {
    const Task& task = t->second;
    if (task.kind == TaskKind::kTrainWorker && task.state == TaskState::kSucceeded &&
        task.audit_role == AuditRole::kNone) {
      deltas[task.round][task.shard] = task.output_blob;
    }
  }
  auto rounds = reply.initRounds(static_cast<unsigned>(done.size()));
  for (size_t i = 0; i < done.size(); ++i) {
    auto r = rounds[static_cast<unsigned>(i)];
    r.setRound(done[i]->round);
    if (auto h = HashFromHex(done[i]->params_in)) r.setParamsIn(AsData(*h));
    if (auto h = HashFromHex(done[i]->params_out)) r.setParamsOut(AsData(*h));
    const auto& used = deltas[done[i]->round];
    auto d = r.initDeltas(static_cast<unsigned>(used.size()));
    auto w = r.initWeights(static_cast<unsigned>(used.size()));
    unsigned k = 0;
    for (const auto& [worker, blob] : used) {
      if (auto h = HashFromHex(blob)) d.set(k, AsData(*h));
      w.set(k++, TrainWorkerTokens(j.spec));
    }
    r.setOuterLr(j.spec.train.outer_lr);
    r.setOuterMomentum(j.spec.train.outer_momentum);
  }
  auto shards = reply.initOutputShards(static_cast<unsigned>(j.outputs.size()));
  for (size_t i = 0; i < j.outputs.size(); ++i) {
    if (auto h = HashFromHex(j.outputs[i])) shards.set(static_cast<unsigned>(i), AsData(*h));
  }
}

}  // namespace plume::scheduler
