// Scheduler core: DiLoCo rounds. A round starts one task per worker on the round's parameters,
// drops workers not running by its deadline, hands the finished workers' deltas to the outer step
// (MakeAggregate, carried out by the reactor off its thread) and, when the new parameters come
// back, records the round's checkpoint entry for the ledger and starts the next round or
// finishes the job.
#include "core_impl.h"
#include "checkpoint_memo.h"
#include "plume/ledger/limits.h"

namespace plume::scheduler {

AggregateRound MakeAggregate(const State& s, const Job& job, const Round& round) {
  AggregateRound a{job.id, round.round, round.params_in, {}, {},
                   job.spec.train.outer_lr, job.spec.train.outer_momentum};
  for (uint32_t w = 0; w < job.spec.train.workers; ++w) {
    const Task& t = s.tasks.at(MakeTaskId(job.id, TaskKind::kTrainWorker, round.round, w));
    if (t.state != TaskState::kSucceeded) continue;
    a.deltas.push_back(t.output_blob);
    a.weights.push_back(TrainWorkerTokens(job.spec));
  }
  return a;
}

// What the round produced goes into the ledger (ledger/lineage.h), so that a model's lineage
// does not rest on this database: the deltas the outer step averaged (MakeAggregate: the same
// workers, in worker order) and the parameters it made. Encoded now, so a re-sent request after a
// restart is byte for byte the same entry.
void Core::Impl::RecordCheckpoint(const Job& job, const Round& r) {
  const AggregateRound a = MakeAggregate(s, job, r);
  ledger::CheckpointFact fact;
  fact.round = r.round;
  fact.final = r.round + 1 >= job.spec.train.rounds;
  auto in = MemoHash(r.params_in);
  auto out = MemoHash(r.params_out);
  bool ok = in.has_value() && out.has_value();
  if (ok) {
    fact.params_in = *in;
    fact.params_out = *out;
  }
  for (const BlobHash& d : a.deltas) {
    auto h = MemoHash(d);
    ok = ok && h.has_value();
    if (h) fact.deltas.push_back(*h);
  }
  fact.weights = a.weights;
  fact.outer_lr = a.outer_lr;
  fact.outer_momentum = a.outer_momentum;
  const bool fits = !fact.deltas.empty() && fact.deltas.size() <= ledger::kCheckpointDeltasMax;
  if (!ok || !fits) {
    Warn("round " + std::to_string(r.round) + ": no checkpoint entry (a blob id is not a hash, "
         "or the round has no deltas); the model's lineage stops here", job.id);
    return;
  }
  LedgerOp op{"checkpoint:" + job.id + "/r" + std::to_string(r.round), 0,
              LedgerOpKind::kCheckpoint, job.id, job.owner, "", "", r.round, 0, 0, {},
              CheckpointMemo(fact)};
  AddLedgerOp(std::move(op));
}

void Core::Impl::StartRound(Job& job, uint32_t round) {
  Round& r = s.rounds[{job.id, round}];
  r = Round{job.id, round, RoundState::kRunning, job.params_blob, "", now,
            now + job.spec.train.round_timeout_ms};
  Touch(r);
  job.round = round;
  Touch(job);
  for (uint32_t w = 0; w < job.spec.train.workers; ++w) {
    AddTask(job, TaskKind::kTrainWorker, round, w, job.params_blob);
  }
  Info("round " + std::to_string(round) + " started", job.id);
}

void Core::Impl::CheckRound(Job& job) {
  if (job.spec.kind != JobKind::kTrain || IsTerminal(job.state)) return;
  Round& r = s.rounds.at({job.id, job.round});
  if (r.state != RoundState::kRunning) return;
  std::vector<Task*> tasks;
  uint32_t succeeded = 0, assigned = 0, queued = 0;
  for (uint32_t w = 0; w < job.spec.train.workers; ++w) {
    Task& t = s.tasks.at(MakeTaskId(job.id, TaskKind::kTrainWorker, r.round, w));
    tasks.push_back(&t);
    succeeded += t.state == TaskState::kSucceeded;
    assigned += t.state == TaskState::kAssigned;
    queued += t.state == TaskState::kQueued;
  }
  // Past the deadline a worker that is not running yet is dropped for this round, as long as
  // some worker has a result or is still producing one. With nobody left, the round keeps
  // waiting for its workers (bounded by their attempts).
  if (now >= r.deadline_ms && queued > 0 && succeeded + assigned > 0) {
    for (Task* t : tasks) {
      if (t->state != TaskState::kQueued) continue;
      Dequeue(*t);
      t->state = TaskState::kDropped;
      t->finished_at_ms = now;
      Touch(*t);
      Warn("worker dropped for this round (round timeout)", job.id, t->id);
    }
    queued = 0;
  }
  if (queued > 0 || assigned > 0 || succeeded == 0) return;
  r.state = RoundState::kAggregating;
  Touch(r);
  Info("round " + std::to_string(r.round) + " complete with " + std::to_string(succeeded) +
           " workers: aggregating",
       job.id);
  Emit(MakeAggregate(s, job, r));
}

void Core::Impl::CheckRoundDeadlines() {
  const std::vector<JobId> active(active_jobs.begin(), active_jobs.end());
  for (const JobId& id : active) {
    Job& job = s.jobs.at(id);
    if (job.spec.kind != JobKind::kTrain || IsTerminal(job.state)) continue;
    if (s.rounds.at({id, job.round}).deadline_ms <= now) CheckRound(job);
  }
}

void Core::Impl::OnRoundAggregated(const RoundAggregated& e) {
  Job* job = FindJob(e.job);
  if (job == nullptr || IsTerminal(job->state) || job->round != e.round) return;
  Round& r = s.rounds.at({job->id, e.round});
  if (r.state != RoundState::kAggregating) return;  // a repeated report
  r.state = RoundState::kDone;
  r.params_out = e.params_blob;
  Touch(r);
  RecordCheckpoint(*job, r);
  job->params_blob = e.params_blob;
  Touch(*job);
  if (e.round + 1 >= job->spec.train.rounds) {
    job->outputs = {e.params_blob};
    FinishJob(*job, JobState::kSucceeded, "");
  } else {
    StartRound(*job, e.round + 1);
  }
  Schedule(false);
}

void Core::Impl::OnRoundAggregationFailed(const RoundAggregationFailed& e) {
  Job* job = FindJob(e.job);
  if (job == nullptr || IsTerminal(job->state) || job->round != e.round) return;
  if (s.rounds.at({job->id, e.round}).state != RoundState::kAggregating) return;
  FinishJob(*job, JobState::kFailed,
            "aggregating round " + std::to_string(e.round) + " failed: " + e.reason);
}

}  // namespace plume::scheduler
