// The bridge from a TaskAssign to the kernels library: plain-data task descriptions copied out
// of the wire message (so the worker thread never touches Cap'n Proto readers), and the work
// functions that run them through the kernels runner (the same code path as `plume run-local`).
//
// Training (DiLoCo inner loop): start from the round's parameters (or the seed's
// initialisation in round 0), run H AdamW steps on this worker's shard, and return the
// parameter DELTA (new - start) as a safetensors blob with the checkpoint's tensor names; the
// scheduler averages the deltas and applies the outer Nesterov step.
// Inference: generate for the shard's prompts (batched, with a KV cache: kernels Generate) and
// return JSONL, one line per prompt in prompt order: {"index": global prompt index, "prompt",
// "completion", "tokens", "prompt_tokens", "finish_reason"} (as run-local writes them, kernels
// CompletionJson). The prompts are tokenized with the job's tokenizer (built from the task's
// tokenizer blobs). Each prompt is sampled with DeriveSeed(seed, index) and decodes to
// the same bits in any batch, so the output does not depend on how prompts were split across
// agents. The FLOPs reported are those of the tokens generated; the receipt bills
// max_new_tokens (BilledFlops).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dispute_states.h"
#include "plume/agent/task_executor.h"
#include "plume/kernels/config.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"
#include "plume/protocol/plume.capnp.h"

namespace plume::agent {

struct TrainTask {
  kernels::ModelConfig model;
  uint32_t round = 0;
  uint32_t local_steps = 0;
  uint64_t step_offset = 0;
  uint64_t total_steps = 0;
  uint32_t batch = 0;
  uint32_t seq_len = 0;
  double lr = 0, min_lr = 0;
  uint32_t warmup_steps = 0;
  std::string schedule;
  double weight_decay = 0, grad_clip = 0;
  uint64_t seed = 0;
  uint32_t shard_index = 0, shard_count = 1;
  std::vector<uint8_t> round_params;  // safetensors; empty: initialise from seed
  std::vector<uint8_t> data;          // the training tokens (bytes); this worker takes its shard
  std::vector<uint8_t> eval;          // validation tokens; empty: no evaluation
  // Where the states behind the commitment links are kept for disputes, under `state_key`;
  // null: not kept (tests, or a model too large for limits.h's kDisputeStateBytesMax).
  std::shared_ptr<DisputeStates> states;
  std::string state_key;
  // An encrypted dataset: `data` holds the ciphertext, and this turns it into the plaintext in
  // memory on the worker thread, before anything reads it (data_key.h). The plaintext and the
  // tokens made from it are wiped when the work ends. Empty: `data` is the plaintext.
  std::function<Status(std::vector<uint8_t>& data, const std::atomic<bool>& stop)> unseal;
};

// Runs `run` on `t`'s plaintext: unsealed first when encrypted, wiped after (both no-ops for
// data in the clear).
Result<TaskOutput> RunOnPlaintext(TrainTask& t, const std::atomic<bool>& stop,
                                  const std::function<Result<TaskOutput>()>& run);
// Zeroes the tokens made from an encrypted dataset's plaintext (a no-op for data in the clear).
void WipeTokens(const TrainTask& t, std::vector<int32_t>& tokens);

struct InferTask {
  kernels::ModelConfig model;
  std::string checkpoint;  // safetensors bytes, as the blob store gives them
  uint64_t first_prompt_index = 0;
  std::vector<std::string> prompts;
  // Set (one per prompt, ascending) for a dispute's referee: each prompt's global index.
  std::vector<uint64_t> prompt_indices;
  uint32_t max_new_tokens = 0;
  double temperature = 0;
  uint32_t top_k = 0;
  double top_p = 1.0;
  std::vector<std::string> stop;
  uint64_t seed = 0;
  std::string tokenizer = "bytes";            // kernels/tokenizer.h MakeTokenizer
  std::vector<std::string> tokenizer_files;  // the tokenizer blobs' contents, in wire order
};

// Host memory a task's inputs take once loaded: each input blob is read whole and copied, and
// text is expanded to int32 tokens, about six bytes of RAM per input byte (training); an infer
// checkpoint is held at most twice while it loads (blob and parsed parameters, then those and
// the model's copy) and once while it generates, beside the KV cache: three times leaves the
// cache its room (GPT-2 124M, 475 MiB: an agent's peak 1.1 GiB, bench/RESULTS.md). A submitter chooses these sizes, so
// the agent refuses a task whose inputs would not fit rather than be killed by the OOM killer.
inline constexpr uint64_t kTrainInputRamFactor = 6;
inline constexpr uint64_t kInferInputRamFactor = 3;
// Empty when inputs of these sizes fit in `host_memory_bytes` (0: unknown, no check), else why.
std::string InputsTooLarge(bool train, const std::vector<uint64_t>& input_bytes,
                           uint64_t host_memory_bytes);

// The contiguous slice [begin, end) of n items that shard `index` of `count` owns (the first
// n % count shards get one more). Pure; count 0 is treated as 1.
std::pair<size_t, size_t> ShardRange(size_t n, uint32_t index, uint32_t count);

// Where a task runs: CUDA device `cuda_device` when >= 0, else the CPU backend with `threads`
// threads (0: OpenMP default). The backend is created on the worker thread.
struct DeviceChoice {
  int cuda_device = -1;           // the device single-device work (inference, setup) runs on
  std::vector<int> cuda_devices;  // every passed CUDA device: training uses them as one worker
  int threads = 0;
};

// The kernels' backend for `d` (CUDA device or CPU threads).
Result<std::unique_ptr<kernels::Ops>> MakeOps(const DeviceChoice& d);

// The model of an assignment, as the kernels take it.
kernels::ModelConfig ToModel(wire::ModelConfig::Reader m);

// The FLOPs the task is billed for, computed from the assignment by the rule the scheduler
// bills with (kernels/flops.h); 0 for an assignment that does not describe a valid task. The
// agent signs this number in its ledger receipt, never the scheduler's TaskAssign.flops: a
// scheduler that bills other work than the task gets no receipt that verifies.
// An inference task's prompts are counted with the job's tokenizer: BilledFlops counts them
// with the byte tokenizer and gives 0 when the task names another one; for those the work
// itself computes InferBilledFlops once it has built the tokenizer (TaskOutput.billed_flops).
uint64_t BilledFlops(wire::TaskAssign::Reader assign);
uint64_t InferBilledFlops(const kernels::ModelConfig& model,
                          const std::vector<std::string>& prompts, uint32_t max_new_tokens,
                          const kernels::Tokenizer& tokenizer);

// Why an inference assignment's tokenizer inputs are refused before anything is fetched (more
// than kernels kTokenizerFilesMax files, a file over kernels kBpeFileBytesMax); empty: fine.
std::string TokenizerInputsProblem(wire::InferParams::Reader infer);

// What a train task runs with, as RunTrain prepares it: the kernels' config, the parameters the
// round starts from, and the job's tokens with this worker's shard [begin, end). A segment replay
// (dispute_work.h) prepares the same way, so it trains on exactly what the task did.
struct PreparedTrain {
  kernels::TrainConfig cfg;
  std::vector<float> start;
  std::vector<int32_t> tokens;
  size_t begin = 0, end = 0;
  std::span<const int32_t> shard() const { return {tokens.data() + begin, end - begin}; }
};
Result<PreparedTrain> PrepareTrain(const TrainTask& t);

WorkFn MakeTrainWork(TrainTask task, DeviceChoice device);
// Runs once: the work takes the task's checkpoint bytes and lets them go once parsed (a second
// call fails saying so).
WorkFn MakeInferWork(InferTask task, DeviceChoice device);

}  // namespace plume::agent
