// plume-agent: taking a TaskAssign, pulling its input blobs, running it on the worker thread
// and handling its end (spooled for delivery, or TaskFailed). See agent_impl.h.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "agent_impl.h"
#include "plume/agent/metrics.h"
#include "data_key.h"
#include "dispute_work.h"
#include "task_inputs.h"
#include "task_work.h"

namespace plume::agent {
namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A BlobRef with an all-zero or missing hash means "none" (round 0 params, no eval data).
std::optional<Hash256> RefHash(wire::BlobRef::Reader ref) {
  if (!ref.hasHash() || ref.getHash().size() == 0) return std::nullopt;
  auto h = HashFromData(ref.getHash());
  if (!h || *h == Hash256{}) return std::nullopt;
  return *h;
}

// A training assignment's blobs, read later on the task's thread (task_inputs.h).
TrainBlobs TrainInputBlobs(wire::TrainParams::Reader p, wire::TaskAssign::Reader a) {
  TrainBlobs b{RefHash(p.getRoundParams()), RefHash(p.getDataShard()), RefHash(p.getEvalTokens()),
               std::nullopt};
  if (a.hasSegment()) b.start_state = RefHash(a.getSegment().getStartState());
  return b;
}

// The best device offered: every CUDA device that passed the selftest (training uses them all
// as one data-parallel worker), else the CPU.
DeviceChoice ChooseDevice(const AgentOptions& options) {
  DeviceChoice d;
  d.threads = options.threads;
  for (const auto& offer : options.devices) {
    if (offer.backend != DeviceBackend::kCuda || !offer.selftest_passed) continue;
    for (uint32_t i = 0; i < offer.count; ++i) {
      d.cuda_devices.push_back(offer.first_device_index + static_cast<int>(i));
    }
  }
  if (!d.cuda_devices.empty()) d.cuda_device = d.cuda_devices.front();
  return d;
}

}  // namespace

uint64_t Agent::Impl::HostMemoryBytes() const {
  if (options.host_memory_bytes != 0) return options.host_memory_bytes;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

void Agent::Impl::OnTaskAssign(Message m, Clock::time_point now) {
  auto a = m.body().getTaskAssign();
  const uint64_t task_id = a.getTaskId();
  const uint32_t attempt = a.getAttempt();
  const std::string job_id = a.getJobId();
  // A restarted scheduler re-sends assignments it may not have delivered: ignore what we hold.
  if ((held && held->task_id == task_id && held->attempt == attempt) ||
      HoldsResult(task_id, attempt)) {
    return;
  }
  if (draining) {
    SendTaskFailed(job_id, task_id, attempt, "agent draining", true);
    return;
  }
  if (held) {
    SendTaskFailed(job_id, task_id, attempt, "agent busy with another task", true);
    return;
  }
  if (spool->Size() >= static_cast<size_t>(kSpoolEntriesMax)) {
    SendTaskFailed(job_id, task_id, attempt, "agent has too many undelivered results", true);
    return;
  }
  HeldTask t;
  t.job_id = job_id;
  t.task_id = task_id;
  t.attempt = attempt;
  t.train = a.getParams().which() == wire::TaskAssign::Params::TRAIN;
  std::vector<wire::BlobRef::Reader> refs;
  if (a.getParams().isExportState()) {
    // Nothing to fetch: the state is on this agent's disk (dispute_work.h).
  } else if (t.train) {
    auto p = a.getParams().getTrain();
    refs = {p.getRoundParams(), p.getDataShard(), p.getEvalTokens()};
    if (a.hasSegment()) refs.push_back(a.getSegment().getStartState());
  } else {
    auto p = a.getParams().getInfer();
    refs = {p.getCheckpoint()};
    // The tokenizer's files are inputs like the checkpoint (fetched, pinned, in the receipt).
    if (const std::string why = TokenizerInputsProblem(p); !why.empty()) {
      SendTaskFailed(job_id, task_id, attempt, "task refused: " + why, false);
      return;
    }
    for (auto ref : p.getTokenizerFiles()) refs.push_back(ref);
  }
  std::vector<uint64_t> sizes;
  for (auto ref : refs) sizes.push_back(ref.getSizeBytes());
  if (const std::string why = InputsTooLarge(t.train, sizes, HostMemoryBytes()); !why.empty()) {
    SendTaskFailed(job_id, task_id, attempt, "task refused: " + why, true);
    return;
  }
  spdlog::info("job={} task={} attempt={}: assigned ({})", job_id, task_id, attempt,
               t.train ? "train" : "infer");
  t.assign.emplace(std::move(m));
  t.last_fetch_activity = now;
  held.emplace(std::move(t));
  for (auto ref : refs) {
    auto hash = RefHash(ref);
    if (!hash) continue;
    held->inputs.push_back(*hash);
    store->Pin(*hash);
    if (options.metrics && !held->fetching.count(*hash)) {
      options.metrics->OnCacheLookup(store->Has(*hash));
    }
    if (store->Has(*hash) || held->fetching.count(*hash)) continue;
    auto r = BlobReceiver::Start(*store, *hash, ref.getSizeBytes());
    if (!r) {
      SendTaskFailed(job_id, task_id, attempt, "cannot store input blob: " + r.error().message,
                     true);
      ReleaseHeld();
      return;
    }
    auto& receiver = *held->fetching.emplace(*hash, std::move(*r)).first->second;
    RequestChunks(*hash, receiver);
  }
  MaybeStartHeld(now);
}

void Agent::Impl::RequestChunks(const Hash256& hash, BlobReceiver& r) {
  for (uint64_t offset : r.NextRequests()) {
    auto b = client->NewRequest();
    fetch_requests[b.envelope().getRequestId()] = hash;
    auto get = b.body().initBlobGet();
    get.setHash(AsData(hash));
    get.setOffset(offset);
    get.setMaxBytes(0);
    Send(b);
  }
}

void Agent::Impl::OnBlobChunk(const Message& m, Clock::time_point now) {
  fetch_requests.erase(m.request_id());
  if (!held) return;
  auto c = m.body().getBlobChunk();
  auto hash = HashFromData(c.getHash());
  if (!hash) return;
  auto it = held->fetching.find(*hash);
  if (it == held->fetching.end()) return;  // a late duplicate
  auto bytes = c.getBytes();
  if (options.metrics) options.metrics->OnBlobBytes(true, bytes.size());
  auto s = it->second->OnChunk(c.getOffset(), {bytes.begin(), bytes.size()},
                               c.getTotalSizeBytes());
  held->last_fetch_activity = now;
  if (!s) {
    SendTaskFailed(held->job_id, held->task_id, held->attempt,
                   "input blob " + ToHex(*hash) + " failed: " + s.error().message, true);
    ReleaseHeld();
    return;
  }
  if (it->second->complete()) {
    held->fetching.erase(it);
    MaybeStartHeld(now);
  } else {
    RequestChunks(*hash, *it->second);
  }
}

void Agent::Impl::CheckFetchStall(Clock::time_point now) {
  if (!held || held->running || held->fetching.empty()) return;
  if (now - held->last_fetch_activity < kTransferStallMax) return;
  held->last_fetch_activity = now;
  for (auto& [hash, r] : held->fetching) {
    r->Rewind();
    RequestChunks(hash, *r);
  }
}

void Agent::Impl::MaybeStartHeld(Clock::time_point now) {
  if (!held || held->running || !held->fetching.empty()) return;
  auto a = held->assign->body().getTaskAssign();
  WorkFn work;
  std::string problem;
  if (a.getParams().isExportState()) {
    const auto x = a.getParams().getExportState();
    work = MakeExportWork(dispute_states, SpoolKey(x.getSourceTaskId(), x.getSourceAttempt()),
                          x.getLink());
  } else if (held->train) {
    auto p = a.getParams().getTrain();
    TrainTask t;
    t.model = ToModel(a.getModel());
    t.round = p.getRound();
    t.local_steps = p.getLocalSteps();
    t.step_offset = p.getStepOffset();
    t.total_steps = p.getTotalSteps();
    t.batch = p.getBatch();
    t.seq_len = p.getSeqLen();
    t.lr = p.getLr();
    t.min_lr = p.getMinLr();
    t.warmup_steps = p.getWarmupSteps();
    t.schedule = p.getSchedule();
    t.weight_decay = p.getWeightDecay();
    t.grad_clip = p.getGradClip();
    t.seed = p.getSeed();
    t.shard_index = p.getShardIndex();
    t.shard_count = p.getShardCount();
    if (auto st = AttachDataKey(a, identity, t); !st) {
      problem = st.error().message;  // an unusable grant: the task fails below
    } else if (a.hasSegment()) {
      auto shape = SegmentShape(a.getSegment());
      if (shape) {
        work = TrainWorkReadingInputs(store.get(), TrainInputBlobs(p, a), std::move(t),
                                      std::move(*shape), ChooseDevice(options));
      } else {
        problem = shape.error().message;
      }
    } else {
      // Old states go before new ones are written, so the bound holds while this task runs.
      if (auto pruned = dispute_states->Prune(kDisputeRetention, kDisputeTasksMax - 1); !pruned) {
        spdlog::warn("job={} task={}: cannot prune dispute states: {}", held->job_id,
                     held->task_id, pruned.error().message);
      }
      if (options.task_filter) options.task_filter(true, t.local_steps, t.seed);
      t.states = dispute_states;
      t.state_key = SpoolKey(held->task_id, held->attempt);
      work = TrainWorkReadingInputs(store.get(), TrainInputBlobs(p, a), std::move(t),
                                    std::nullopt, ChooseDevice(options));
    }
  } else {
    auto p = a.getParams().getInfer();
    InferTask t;
    t.model = ToModel(a.getModel());
    t.first_prompt_index = p.getFirstPromptIndex();
    for (auto prompt : p.getPrompts()) t.prompts.emplace_back(prompt.cStr(), prompt.size());
    for (uint64_t i : p.getPromptIndices()) t.prompt_indices.push_back(i);
    t.max_new_tokens = p.getMaxNewTokens();
    t.temperature = p.getTemperature();
    t.top_k = p.getTopK();
    t.top_p = p.getTopP();
    for (auto s : p.getStop()) t.stop.emplace_back(s.cStr(), s.size());
    t.seed = p.getSeed();
    if (options.task_filter) {
      uint32_t unused_steps = 0;
      options.task_filter(false, unused_steps, t.seed);
    }
    if (p.getTokenizer().size() > 0) t.tokenizer = p.getTokenizer().cStr();
    // Small (a vocabulary and its merges), so read here; a ref without a hash is an empty file.
    for (auto ref : p.getTokenizerFiles()) {
      const auto hash = RefHash(ref);
      auto file = hash ? store->Get(*hash) : Result<std::string>(std::string());
      if (!file) {
        problem = "tokenizer blob unreadable: " + file.error().message;
        break;
      }
      t.tokenizer_files.push_back(std::move(*file));
    }
    const auto ckpt = RefHash(p.getCheckpoint());
    if (!problem.empty()) {
      // a tokenizer file could not be read: the task fails below
    } else if (!ckpt) {
      problem = "the task names no checkpoint blob";
    } else {
      // `store` outlives the executor (declared before it).
      work = InferWorkReadingCheckpoint(store.get(), *ckpt, std::move(t), ChooseDevice(options));
    }
  }
  if (work && options.output_filter) {
    work = [inner = std::move(work), filter = options.output_filter,
            train = a.getParams().isTrain(), permanent = held->permanent_failure](
               const ProgressFn& progress, const std::atomic<bool>& stop) -> Result<TaskOutput> {
      auto out = inner(progress, stop);
      if (!out) return out;
      const AgentOptions::FilterVerdict v = filter(train, *out, stop);
      if (!v.fail) return out;
      permanent->store(!v.retryable);
      return Fail(v.reason);
    };
  }
  if (!work) {
    SendTaskFailed(held->job_id, held->task_id, held->attempt, problem, true);
    ReleaseHeld();
    return;
  }
  held->running = true;
  held->started = now;
  held->started_unix_ms = UnixMs();
  held->progress = ProgressEvent{SpoolKey(held->task_id, held->attempt), 0, 0, std::nan("")};
  spdlog::info("job={} task={} attempt={}: inputs ready, running", held->job_id, held->task_id,
               held->attempt);
  executor.Start(SpoolKey(held->task_id, held->attempt), std::move(work));
}

void Agent::Impl::OnExecutorEvents(Clock::time_point now) {
  for (auto& ev : executor.TakeEvents()) {
    if (auto* p = std::get_if<ProgressEvent>(&ev)) {
      if (!held || held->cancelled) continue;
      held->progress = *p;
      if (registered && now - held->last_progress_sent >= kProgressInterval) {
        held->last_progress_sent = now;
        auto b = client->NewRequest();
        auto info = b.body().initTaskProgress().initInfo();
        info.setTaskId(held->task_id);
        info.setAttempt(held->attempt);
        info.setStep(static_cast<uint64_t>(p->step));
        info.setStepsTotal(static_cast<uint64_t>(p->steps_total));
        info.setLoss(p->loss);
        Send(b);
      }
      continue;
    }
    auto& done = std::get<DoneEvent>(ev);
    if (!held) continue;
    if (options.metrics) {
      const TaskOutput* out = done.output ? &*done.output : nullptr;
      options.metrics->OnTaskDone(
          held->train,
          held->cancelled ? TaskOutcome::kCancelled
                          : (out ? TaskOutcome::kSucceeded : TaskOutcome::kFailed),
          out ? out->flops : 0, out ? out->tokens_processed : 0, out ? out->steps_done : 0,
          now - held->started);
    }
    if (held->cancelled) {
      spdlog::info("job={} task={} attempt={}: cancelled, output discarded", held->job_id,
                   held->task_id, held->attempt);
    } else if (done.output) {
      if (auto s = SpoolResult(*held, *done.output); !s) {
        ++stats.tasks_failed;
        SendTaskFailed(held->job_id, held->task_id, held->attempt,
                       "cannot keep the result: " + s.error().message, true);
      } else {
        ++stats.tasks_succeeded;
        spdlog::info("job={} task={} attempt={}: finished (loss {:.4f}, {} steps)", held->job_id,
                     held->task_id, held->attempt, done.output->loss, done.output->steps_done);
      }
    } else {
      ++stats.tasks_failed;
      const std::string reason = done.stopped && draining ? "agent draining (handed back)"
                                                          : done.output.error().message;
      spdlog::warn("job={} task={} attempt={}: failed: {}", held->job_id, held->task_id,
                   held->attempt, reason);
      SendTaskFailed(held->job_id, held->task_id, held->attempt, reason,
                     !held->permanent_failure->load());
    }
    ReleaseHeld();
    if (registered && !delivery) StartNextDelivery(now);
  }
}

void Agent::Impl::OnTaskCancel(const Message& m) {
  auto c = m.body().getTaskCancel();
  CancelHeld(c.getTaskId(), c.getAttempt(), c.getReason());
}

void Agent::Impl::CancelHeld(uint64_t task_id, uint32_t attempt, const std::string& reason) {
  if (!held || held->task_id != task_id || held->attempt != attempt) return;
  spdlog::info("job={} task={} attempt={}: cancel ({})", held->job_id, task_id, attempt, reason);
  if (held->running) {
    held->cancelled = true;
    executor.RequestStop();  // the DoneEvent releases it
  } else {
    ReleaseHeld();
  }
}

void Agent::Impl::SendTaskFailed(const std::string& job_id, uint64_t task_id, uint32_t attempt,
                                 const std::string& reason, bool retryable) {
  spdlog::warn("job={} task={} attempt={}: reporting failure: {}", job_id, task_id, attempt,
               reason);
  auto b = client->NewRequest();
  auto f = b.body().initTaskFailed();
  f.setTaskId(task_id);
  f.setAttempt(attempt);
  f.setReason(reason);
  f.setRetryable(retryable);
  Send(b);
}

void Agent::Impl::ReleaseHeld() {
  if (!held) return;
  for (const auto& h : held->inputs) store->Unpin(h);
  for (auto it = fetch_requests.begin(); it != fetch_requests.end();) {
    it = held->fetching.count(it->second) ? fetch_requests.erase(it) : std::next(it);
  }
  held.reset();
}

}  // namespace plume::agent
