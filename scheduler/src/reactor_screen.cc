// Reactor: the result screens' inputs. What a task implies (the model, the inner steps and their
// learning rates, the shard's prompts) is taken from the job here, on the reactor thread, exactly
// as SendAssign sent it; the blobs are read, hashed and screened later on the receipt pool.
#include <algorithm>
#include <cmath>

#include "plume/kernels/checkpoint.h"
#include "plume/scheduler/work.h"
#include "infer_tokenizer.h"
#include "plume/kernels/flops.h"
#include "plume/verify/state_codec.h"
#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

using Bytes = std::span<const uint8_t>;

Bytes AsBytes(const std::string& s) {
  return Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The blob, if stored and no larger than max_bytes (refused unread when larger).
Result<std::string> Read(BlobStore& blobs, const Hash256& hash, uint64_t max_bytes,
                         std::optional<verify::Verdict>& oversized) {
  auto size = blobs.SizeOf(hash);
  if (!size) return Fail("result blob not stored yet");
  if (*size > max_bytes) {
    oversized = verify::Verdict{verify::Reason::kOversized,
                                std::to_string(*size) + " bytes; at most " +
                                    std::to_string(max_bytes) + " are possible for this task"};
    return std::string();
  }
  return blobs.Get(hash);
}

// The agent's TrainConfig for this task (node-agent/src/task_work.cc RunTrain), from the values
// SendAssign puts in the TaskAssign; betas are the kernels' defaults, which the agent uses too.
kernels::TrainConfig AgentTrainConfig(const JobSpec& spec, const kernels::JobSpec& k,
                                      uint32_t round) {
  const TrainParams& tp = spec.train;
  kernels::TrainConfig c;
  c.steps = tp.local_steps;
  c.batch = static_cast<int>(tp.batch);
  c.seq_len = static_cast<int>(tp.seq_len);
  c.lr = static_cast<float>(static_cast<double>(k.train.lr));
  c.min_lr = static_cast<float>(static_cast<double>(k.train.min_lr));
  c.warmup_steps = static_cast<uint32_t>(k.train.warmup_steps);
  c.schedule = k.train.schedule;
  c.weight_decay = static_cast<float>(static_cast<double>(k.train.weight_decay));
  c.grad_clip = static_cast<float>(static_cast<double>(k.train.grad_clip));
  c.first_step = static_cast<int64_t>(uint64_t{round} * tp.local_steps);
  c.schedule_steps = static_cast<int64_t>(uint64_t{tp.rounds} * tp.local_steps);
  return c;
}

// What an inference task's output is judged against: its shard's prompts as SendAssign sent them.
verify::InferScreen InferScreenFor(const Job& job, const JobExtra& x, const Task& t) {
  verify::InferScreen s;
  s.first_index = ShardFirstPrompt(job.spec.infer, t.shard);
  const uint32_t n = PromptsInShard(job.spec.infer.prompt_count, job.spec.infer.shards, t.shard);
  if (t.dispute_prompts.empty()) {
    s.prompts.assign(x.prompts.begin() + static_cast<long>(s.first_index),
                     x.prompts.begin() + static_cast<long>(s.first_index + n));
  } else {  // a dispute's referee: only the prompts it regenerates
    for (uint32_t i : t.dispute_prompts) {
      s.indices.push_back(s.first_index + i);
      s.prompts.push_back(x.prompts.at(s.first_index + i));
    }
  }
  // The agent reads each prompt as a C string (Cap'n Proto Text): it echoes what precedes a NUL.
  for (std::string& p : s.prompts) p.resize(std::min(p.size(), p.find('\0')));
  s.max_new_tokens = static_cast<uint32_t>(x.spec.infer.generate.max_new_tokens);
  return s;
}

}  // namespace

// The screens' size bounds, also what the task's agent may upload outside its quota (CanWrite).
// Nothing here builds a tokenizer: a BPE build takes seconds and this runs on the reactor thread
// for an agent's upload. The tokenizer's longest token is kept with the job when its prompts are
// counted (InferParams::token_bytes_max, on the offload worker for BPE). A job stored before it
// was kept has it found once on the worker (LearnTokenBytesMax); until then nullopt: no
// allowance, the upload counts against the agent's quota.
std::optional<uint64_t> Reactor::Impl::ResultBytesMax(const Task& t) {
  const Job& job = core.state().jobs.at(t.job);
  if (t.kind == TaskKind::kTrainWorker) {
    return verify::MaxTrainDeltaBytes(KernelsConfig(job.spec.model));
  }
  auto x = Extra(job);
  if (!x) return 0;
  uint64_t token_bytes_max = job.spec.infer.token_bytes_max;
  if (token_bytes_max == 0) {
    if (!(*x)->token_bytes_max) {
      LearnTokenBytesMax(job.id, **x);
      return std::nullopt;
    }
    token_bytes_max = *(*x)->token_bytes_max;
  }
  verify::InferScreen s = InferScreenFor(job, **x, t);
  s.token_bytes_max = token_bytes_max;
  return verify::MaxInferShardBytes(s);
}

// Once per job (token_bytes_pending), as core work: it is bounded by the jobs stored, not by
// what a client sends. A tokenizer that no longer builds leaves the bound at 0, as the screen
// refuses the result for the same reason.
void Reactor::Impl::LearnTokenBytesMax(const JobId& id, JobExtra& x) {
  if (x.token_bytes_pending) return;
  x.token_bytes_pending = true;
  BlobStore* store = blobs.get();
  offload->Submit(
      [this, id, store, name = x.spec.infer.tokenizer,
       files = x.tokenizer_blobs]() -> Offload::Continuation {
        auto tok = LoadTokenizer(*store, name, files);
        const uint64_t bytes = tok ? (*tok)->token_bytes_max() : 0;
        return [this, id, bytes] {
          if (auto it = extras.find(id); it != extras.end()) it->second.token_bytes_max = bytes;
        };
      },
      /*from_client=*/false);
}

ScreenFn Reactor::Impl::ScreenFor(const Task& t, const Hash256& output) {
  const Job& job = core.state().jobs.at(t.job);
  auto x = Extra(job);
  if (!x) {
    const std::string why = x.error().message;
    return [why]() -> Result<verify::Verdict> { return Fail("job spec unreadable: " + why); };
  }
  BlobStore* store = blobs.get();
  // A dispute's runs are no deltas: an export's state and a segment's one link are checked by
  // size here and against the chains by the referee and the core (core_dispute.cc).
  if (t.audit_role == AuditRole::kExport ||
      (t.kind == TaskKind::kTrainWorker && t.dispute_link >= 0)) {
    const uint64_t want =
        t.audit_role == AuditRole::kExport
            ? verify::EncodedStateBytes(
                  static_cast<uint64_t>(KernelsConfig(job.spec.model).NumParams()))
            : verify::Digest{}.size();
    return [store, output, want]() -> Result<verify::Verdict> {
      auto size = store->SizeOf(output);
      if (!size) return Fail("result blob not stored yet");
      if (*size == want) return verify::Verdict{};
      return verify::Verdict{verify::Reason::kMalformed, std::to_string(*size) + " bytes; a " +
                                                             "dispute's result here has " +
                                                             std::to_string(want)};
    };
  }
  if (t.kind == TaskKind::kTrainWorker) {
    verify::TrainScreen s;
    s.model = KernelsConfig(job.spec.model);
    s.train = AgentTrainConfig(job.spec, (*x)->spec, t.round);
    auto input = HashFromHex(t.input_params_blob);
    if (!input) return []() -> Result<verify::Verdict> { return Fail("task has no input"); };
    return [store, output, in = *input, s]() mutable -> Result<verify::Verdict> {
      std::optional<verify::Verdict> oversized;
      auto delta = Read(*store, output, verify::MaxTrainDeltaBytes(s.model), oversized);
      if (oversized) return *oversized;
      if (!delta) return tl::unexpected(delta.error());
      // The weight-decay part of the bound scales with the largest starting parameter.
      auto start_bytes = store->Get(in);
      if (!start_bytes) return Fail("round parameters: " + start_bytes.error().message);
      kernels::LoadOptions opts;
      opts.expect = s.model;
      auto start = kernels::LoadCheckpointBytes(AsBytes(*start_bytes), opts);
      if (!start) return Fail("round parameters: " + start.error().message);
      for (float p : start->params) {
        s.start_params_linf = std::max(s.start_params_linf, static_cast<double>(std::fabs(p)));
      }
      return verify::ScreenTrainDelta(AsBytes(*delta), s);
    };
  }
  verify::InferScreen s = InferScreenFor(job, **x, t);
  // The job's tokenizer bounds a completion's length and counts the prompts' tokens; it is
  // built here, off the reactor thread, from the job's tokenizer blobs.
  return [store, output, s = std::move(s), tokenizer = (*x)->spec.infer.tokenizer,
          files = (*x)->tokenizer_blobs]() mutable -> Result<verify::Verdict> {
    auto t = LoadTokenizer(*store, tokenizer, files);
    if (!t) return Fail("the job's tokenizer: " + t.error().message);
    s.token_bytes_max = (*t)->token_bytes_max();
    for (const std::string& p : s.prompts) {
      s.prompt_tokens.push_back(static_cast<uint64_t>(kernels::PromptTokens(**t, p)));
    }
    std::optional<verify::Verdict> oversized;
    auto text = Read(*store, output, verify::MaxInferShardBytes(s), oversized);
    if (oversized) return *oversized;
    if (!text) return tl::unexpected(text.error());
    return verify::ScreenInferShard(AsBytes(*text), s);
  };
}

}  // namespace plume::scheduler
