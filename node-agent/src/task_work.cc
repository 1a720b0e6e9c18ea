// Task bodies on the kernels runner (see task_work.h for the contract with the scheduler).
#include "task_work.h"

#include "dispute_work.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

#include "plume/data/crypt.h"
#include "plume/kernels/bpe.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/rng.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"
#include "plume/agent/limits.h"
#include "plume/protocol/limits.h"
#include "plume/verify/dispute.h"

namespace plume::agent {
namespace {

Error FromKernels(const kernels::Error& e) { return Error{e.message}; }


// The parameters a round starts from: the round's blob, or the seed's GPT-2 initialisation in
// round 0 (the scheduler derives the same initialisation from the same seed).
Result<std::vector<float>> StartParams(const TrainTask& t) {
  if (!t.round_params.empty()) {
    kernels::LoadOptions opts;
    opts.expect = t.model;
    auto ck = kernels::LoadCheckpointBytes(t.round_params, opts);
    if (!ck) return Fail("round parameters: " + ck.error().message);
    return std::move(ck->params);
  }
  auto p = kernels::InitialParams(t.model, t.seed);
  if (!p) return Fail("model: " + p.error().message);
  return std::move(*p);
}

Result<kernels::LrSchedule> ParseSchedule(const std::string& s) {
  if (s.empty() || s == "cosine") return kernels::LrSchedule::kCosine;
  if (s == "constant") return kernels::LrSchedule::kConstant;
  return Fail("train.schedule: unknown schedule '" + s + "' (use \"cosine\" or \"constant\")");
}

Result<TaskOutput> RunTrain(const TrainTask& t, const DeviceChoice& device, const ProgressFn& progress,
                            const std::atomic<bool>& stop) {
  auto ops = MakeOps(device);
  if (!ops) return tl::unexpected(ops.error());
  auto prepared = PrepareTrain(t);
  if (!prepared) return tl::unexpected(prepared.error());
  struct Wiper {
    const TrainTask& t;
    std::vector<int32_t>& tokens;
    ~Wiper() { WipeTokens(t, tokens); }
  } wiper{t, prepared->tokens};
  const kernels::TrainConfig& cfg = prepared->cfg;
  const std::vector<float>* start = &prepared->start;
  const std::span<const int32_t> shard = prepared->shard();
  const std::string_view eval_text(reinterpret_cast<const char*>(t.eval.data()), t.eval.size());
  const std::vector<int32_t> val = kernels::EncodeBytes(eval_text);
  kernels::ProgressFn on_step = [&](const kernels::StepProgress& p) {
    progress(p.step, p.steps, p.loss);
  };
  kernels::CancelFn cancel = [&] { return stop.load(); };
  // Commitments: a chain link every CommitmentInterval(H) steps; the state behind each link is
  // kept for disputes when it is small enough to keep 32 of (limits.h).
  const uint64_t state_bytes = 3 * sizeof(float) * static_cast<uint64_t>(start->size());
  verify::ChainRecorder::KeepFn keep;
  if (t.states && state_bytes <= kDisputeStateBytesMax) {
    keep = [&](size_t link, const kernels::TrainState& s) -> kernels::Status {
      if (auto st = t.states->Put(t.state_key, link, s); !st) {
        return kernels::Fail("cannot keep the state of commitment link " + std::to_string(link) +
                             " for disputes: " + st.error().message);
      }
      return {};
    };
  }
  verify::ChainRecorder recorder(cfg.steps, std::move(keep));
  // Several local GPUs train as one worker (NCCL all-reduce every step); the batch is split
  // across them, so a step computes the same math as on one device. A batch smaller than the
  // device count leaves the extra devices idle rather than failing the task.
  const size_t n_devices = std::min(device.cuda_devices.size(), static_cast<size_t>(cfg.batch));
  auto out = n_devices > 1
                 ? kernels::TrainShardOnCudaDevices(
                       t.model, cfg, *start, shard, val,
                       std::vector<int>(device.cuda_devices.begin(),
                                        device.cuda_devices.begin() + static_cast<long>(n_devices)),
                       on_step, cancel, recorder.Hook())
                 : kernels::TrainShard(t.model, cfg, *start, shard, val, **ops, on_step, cancel,
                                       recorder.Hook());
  if (!out) return tl::unexpected(FromKernels(out.error()));

  // DiLoCo: return the delta (new - start); the scheduler averages deltas and takes the outer step.
  std::vector<float> delta(out->params.size());
  for (size_t i = 0; i < delta.size(); ++i) delta[i] = out->params[i] - (*start)[i];
  auto bytes = kernels::SaveCheckpointBytes(t.model, delta);
  if (!bytes) return Fail("cannot encode the parameter delta: " + bytes.error().message);
  TaskOutput result;
  result.result = std::move(*bytes);
  result.loss = out->last_train_loss;
  result.val_loss = out->val_loss ? *out->val_loss : std::nan("");
  result.steps_done = static_cast<int64_t>(out->losses.size());
  result.tokens_processed = out->tokens;
  result.flops = static_cast<double>(out->flops);
  result.commitments = recorder.links();
  return result;
}

// Generate over prompts at the given global indices (empty: gen.first_index + i), one call per
// run of consecutive indices: a completion depends on its index, not on its batch, so a
// dispute's referee of some prompts of a shard writes what the shard's run wrote for them.
Result<std::vector<kernels::Completion>> GenerateRuns(kernels::Gpt& model,
                                                      const std::vector<std::string>& prompts,
                                                      const std::vector<uint64_t>& indices,
                                                      kernels::GenerateConfig gen,
                                                      const kernels::Tokenizer& tokenizer,
                                                      const kernels::GenerateHooks& hooks) {
  auto run = [&](std::vector<std::string> some) -> Result<std::vector<kernels::Completion>> {
    auto out = kernels::Generate(model, some, gen, tokenizer, hooks);
    if (!out) return tl::unexpected(FromKernels(out.error()));
    return std::move(*out);
  };
  if (indices.empty()) return run(prompts);
  if (indices.size() != prompts.size() || !std::is_sorted(indices.begin(), indices.end()) ||
      std::adjacent_find(indices.begin(), indices.end()) != indices.end()) {
    return Fail("promptIndices must give one ascending, distinct index per prompt");
  }
  std::vector<kernels::Completion> all;
  for (size_t begin = 0; begin < prompts.size();) {
    size_t end = begin + 1;
    while (end < prompts.size() && indices[end] == indices[end - 1] + 1) ++end;
    gen.first_index = static_cast<int64_t>(indices[begin]);
    auto out = run({prompts.begin() + static_cast<long>(begin),
                    prompts.begin() + static_cast<long>(end)});
    if (!out) return out;
    for (auto& c : *out) all.push_back(std::move(c));
    begin = end;
  }
  return all;
}

// Takes the task whole: the checkpoint's bytes are let go as soon as they are parsed and the
// parsed parameters as soon as the model holds them, so that generation holds the parameters
// once (the model's) beside the KV cache, not three times.
Result<TaskOutput> RunInfer(InferTask t, const DeviceChoice& device, const ProgressFn& progress,
                            const std::atomic<bool>& stop) {
  if (t.checkpoint.empty()) return Fail("no checkpoint bytes (an inference task's work runs once)");
  auto ops = MakeOps(device);
  if (!ops) return tl::unexpected(ops.error());
  kernels::LoadOptions opts;
  if (t.model.n_layer > 0) opts.expect = t.model;
  auto ck = kernels::LoadCheckpointBytes(
      {reinterpret_cast<const uint8_t*>(t.checkpoint.data()), t.checkpoint.size()}, opts);
  std::string().swap(t.checkpoint);
  if (!ck) return Fail("checkpoint: " + ck.error().message);
  kernels::GenerateConfig gen;
  gen.max_new_tokens = static_cast<int>(t.max_new_tokens);
  gen.temperature = static_cast<float>(t.temperature);
  gen.top_k = static_cast<int>(t.top_k);
  gen.top_p = static_cast<float>(t.top_p);
  gen.stop = t.stop;
  gen.seed = t.seed;
  gen.first_index = static_cast<int64_t>(t.first_prompt_index);
  if (auto s = gen.Validate(); !s) return Fail(s.error().message);
  // The whole shard in one call, decoded in batches; progress counts finished prompts and the
  // stop flag is polled between decode steps. Each prompt's text depends only on its global
  // index and the job (never on the batch it decoded in), so sharding changes no text.
  const int64_t n = static_cast<int64_t>(t.prompts.size());
  int64_t finished = 0;
  kernels::GenerateHooks hooks;
  hooks.on_completion = [&](const kernels::Completion&) { progress(++finished, n, std::nan("")); };
  hooks.cancel = [&] { return stop.load(); };
  const std::vector<std::string_view> files(t.tokenizer_files.begin(), t.tokenizer_files.end());
  auto tokenizer = kernels::MakeTokenizer(t.tokenizer, files);
  if (!tokenizer) return Fail("tokenizer: " + tokenizer.error().message);
  if (auto st = kernels::CheckTokenizerFitsModel(**tokenizer, ck->config.vocab); !st) {
    return Fail(st.error().message);
  }
  // The prompts as sent bill the task (the scheduler counts them whole); generation reads each
  // up to a NUL, as a C string, which is what the output line echoes.
  std::vector<std::string> prompts;
  for (const std::string& p : t.prompts) prompts.emplace_back(p.c_str());
  auto model = kernels::Gpt::CreateForInference(ck->config, **ops);
  if (!model) return Fail("model: " + model.error().message);
  if (auto st = (*model)->SetParams(ck->params); !st) return Fail("model: " + st.error().message);
  std::vector<float>().swap(ck->params);
  auto out = GenerateRuns(**model, prompts, t.prompt_indices, gen, **tokenizer, hooks);
  if (!out) return tl::unexpected(out.error());
  TaskOutput result;
  std::string jsonl;
  for (const auto& c : *out) {
    // The line run-local writes (the scheduler's screen, verify/src/screen_infer.cc, checks it).
    const std::string text = kernels::CompletionJson(c);
    jsonl += text + "\n";
    result.tokens_processed += c.tokens;
    // The commitment is to the completion as the output line carries it (invalid UTF-8
    // replaced), so that anyone holding the result blob can check the list against it.
    const auto written = nlohmann::json::parse(text, nullptr, false);
    result.commitments.push_back(verify::CompletionHash(
        c.index, written.is_discarded() ? c.completion : written["completion"].get<std::string>()));
    // The work done, for the agent's report: the tokens actually generated (the receipt bills
    // max_new_tokens, BilledFlops).
    result.flops +=
        static_cast<double>(kernels::GenerationFlops(ck->config, c.prompt_tokens, c.tokens));
  }
  result.result.assign(jsonl.begin(), jsonl.end());
  // A shard too large to commit to per completion is sent without commitments; its audits
  // compare whole outputs.
  if (result.commitments.size() > limits::kResultCommitmentsMax) result.commitments.clear();
  result.steps_done = n;
  result.billed_flops = InferBilledFlops(t.model, t.prompts, t.max_new_tokens, **tokenizer);
  return result;
}

}  // namespace

Result<PreparedTrain> PrepareTrain(const TrainTask& t) {
  PreparedTrain p;
  auto start = StartParams(t);
  if (!start) return tl::unexpected(start.error());
  p.start = std::move(*start);
  auto schedule = ParseSchedule(t.schedule);
  if (!schedule) return tl::unexpected(schedule.error());
  const std::string_view text(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  p.tokens = kernels::EncodeBytes(text);
  std::tie(p.begin, p.end) = ShardRange(p.tokens.size(), t.shard_index, t.shard_count);
  kernels::TrainConfig& cfg = p.cfg;
  cfg.steps = t.local_steps;
  cfg.batch = static_cast<int>(t.batch);
  cfg.seq_len = static_cast<int>(t.seq_len);
  cfg.lr = static_cast<float>(t.lr);
  cfg.min_lr = static_cast<float>(t.min_lr);
  cfg.warmup_steps = t.warmup_steps;
  cfg.schedule = *schedule;
  cfg.weight_decay = static_cast<float>(t.weight_decay);
  cfg.grad_clip = static_cast<float>(t.grad_clip);
  // Each round and each worker draws its own batch windows.
  cfg.seed = kernels::DeriveSeed(kernels::DeriveSeed(t.seed, t.round + 1), t.shard_index + 1);
  cfg.first_step = static_cast<int64_t>(t.step_offset);
  cfg.schedule_steps = static_cast<int64_t>(t.total_steps);
  if (auto s = cfg.Validate(t.model); !s) return Fail(s.error().message);
  if (p.end - p.begin < static_cast<size_t>(cfg.seq_len) + 1) {
    return Fail("training shard " + std::to_string(t.shard_index) + " of " +
                std::to_string(t.shard_count) + " has " + std::to_string(p.end - p.begin) +
                " tokens, fewer than seq_len + 1 = " + std::to_string(cfg.seq_len + 1) +
                "; use more data or fewer workers");
  }
  return p;
}

Result<std::unique_ptr<kernels::Ops>> MakeOps(const DeviceChoice& d) {
  if (d.cuda_device >= 0) {
    auto ops = kernels::MakeCudaOps(d.cuda_device);
    if (!ops) return Fail("CUDA device " + std::to_string(d.cuda_device) + ": " + ops.error().message);
    return std::move(*ops);
  }
  return kernels::MakeCpuOps(d.threads);
}

std::pair<size_t, size_t> ShardRange(size_t n, uint32_t index, uint32_t count) {
  if (count == 0) count = 1;
  if (index >= count) return {n, n};
  const size_t base = n / count, extra = n % count;
  const size_t begin = index * base + std::min<size_t>(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

kernels::ModelConfig ToModel(wire::ModelConfig::Reader m) {
  kernels::ModelConfig c;
  c.n_layer = static_cast<int>(m.getNLayer());
  c.n_head = static_cast<int>(m.getNHead());
  c.n_embd = static_cast<int>(m.getNEmbd());
  c.context = static_cast<int>(m.getContext());
  c.vocab = static_cast<int>(m.getVocab());
  return c;
}

uint64_t BilledFlops(wire::TaskAssign::Reader a) {
  const kernels::ModelConfig model = ToModel(a.getModel());
  if (!model.Validate()) return 0;
  int64_t flops = 0;
  if (a.getParams().isExportState()) return 0;  // evidence for a dispute, not work
  if (a.getParams().isTrain()) {
    const auto t = a.getParams().getTrain();
    if (t.getSeqLen() == 0 || t.getSeqLen() > static_cast<uint32_t>(model.context)) return 0;
    flops = kernels::TrainFlops(model, static_cast<int>(t.getSeqLen()), t.getBatch(),
                                t.getLocalSteps());
    if (flops > 0 && a.hasSegment()) {
      return SegmentFlops(static_cast<uint64_t>(flops), t.getLocalSteps(),
                          a.getSegment().getLink());
    }
  } else {
    const auto p = a.getParams().getInfer();
    const std::string_view name(p.getTokenizer().cStr(), p.getTokenizer().size());
    if (!name.empty() && name != kernels::kBytesTokenizer) return 0;
    std::vector<int64_t> tokens;
    for (auto prompt : p.getPrompts()) {
      tokens.push_back(kernels::PromptTokens(std::string_view(prompt.cStr(), prompt.size())));
    }
    flops = kernels::InferTaskFlops(model, tokens, p.getMaxNewTokens());
  }
  return flops > 0 ? static_cast<uint64_t>(flops) : 0;
}

uint64_t InferBilledFlops(const kernels::ModelConfig& model,
                          const std::vector<std::string>& prompts, uint32_t max_new_tokens,
                          const kernels::Tokenizer& tokenizer) {
  if (!model.Validate()) return 0;
  std::vector<int64_t> tokens;
  tokens.reserve(prompts.size());
  for (const std::string& p : prompts) tokens.push_back(kernels::PromptTokens(tokenizer, p));
  const int64_t flops = kernels::InferTaskFlops(model, tokens, max_new_tokens);
  return flops > 0 ? static_cast<uint64_t>(flops) : 0;
}

std::string TokenizerInputsProblem(wire::InferParams::Reader infer) {
  if (infer.getTokenizerFiles().size() > kernels::kTokenizerFilesMax) {
    return "more than " + std::to_string(kernels::kTokenizerFilesMax) + " tokenizer files";
  }
  for (auto ref : infer.getTokenizerFiles()) {
    if (ref.getSizeBytes() > kernels::kBpeFileBytesMax) {
      return "a tokenizer file of " + std::to_string(ref.getSizeBytes()) + " bytes (at most " +
             std::to_string(kernels::kBpeFileBytesMax) + ")";
    }
  }
  return {};
}

Result<TaskOutput> RunOnPlaintext(TrainTask& t, const std::atomic<bool>& stop,
                                  const std::function<Result<TaskOutput>()>& run) {
  if (!t.unseal) return run();
  if (auto st = t.unseal(t.data, stop); !st) {
    data::Wipe(t.data);
    return tl::unexpected(st.error());
  }
  auto out = run();
  data::Wipe(t.data);
  t.data.clear();
  return out;
}

void WipeTokens(const TrainTask& t, std::vector<int32_t>& tokens) {
  if (!t.unseal) return;
  data::Wipe(std::span(reinterpret_cast<uint8_t*>(tokens.data()), tokens.size() * sizeof(int32_t)));
}

WorkFn MakeTrainWork(TrainTask task, DeviceChoice device) {
  auto shared = std::make_shared<TrainTask>(std::move(task));
  return [shared, device](const ProgressFn& progress, const std::atomic<bool>& stop) {
    return RunOnPlaintext(*shared, stop, [&] { return RunTrain(*shared, device, progress, stop); });
  };
}

WorkFn MakeInferWork(InferTask task, DeviceChoice device) {
  auto shared = std::make_shared<InferTask>(std::move(task));
  return [shared, device](const ProgressFn& progress, const std::atomic<bool>& stop) {
    return RunInfer(std::move(*shared), device, progress, stop);
  };
}

std::string InputsTooLarge(bool train, const std::vector<uint64_t>& input_bytes,
                           uint64_t host_memory_bytes) {
  if (host_memory_bytes == 0) return {};
  const uint64_t factor = train ? kTrainInputRamFactor : kInferInputRamFactor;
  unsigned __int128 need = 0;
  for (uint64_t b : input_bytes) need += static_cast<unsigned __int128>(b) * factor;
  if (need <= host_memory_bytes) return {};
  uint64_t total = 0;
  for (uint64_t b : input_bytes) total += std::min<uint64_t>(b, UINT64_MAX - total);
  return "inputs of " + std::to_string(total) + " bytes need about " + std::to_string(factor) +
         "x that in host memory; this agent has " + std::to_string(host_memory_bytes) + " bytes";
}

}  // namespace plume::agent
