// GPT checkpoints as safetensors files with the Hugging Face GPT-2 tensor names and shapes, so
// weights move to and from that ecosystem:
//   wte.weight (V, C)               our padded rows are dropped on save and re-padded (zero)
//   wpe.weight (context, C)
//   h.{i}.ln_1.weight / .bias (C)
//   h.{i}.attn.c_attn.weight (C, 3C) / .bias (3C)   Conv1D layout: the transpose of our (3C, C)
//   h.{i}.attn.c_proj.weight (C, C)  / .bias (C)
//   h.{i}.ln_2.weight / .bias (C)
//   h.{i}.mlp.c_fc.weight (C, 4C)    / .bias (4C)
//   h.{i}.mlp.c_proj.weight (4C, C)  / .bias (C)
//   ln_f.weight / .bias (C)
// Written as F32 with __metadata__ {"format": "pt", "plume.n_layer", "plume.n_head",
// "plume.n_embd", "plume.context", "plume.vocab"}. Read: F32, F16 and BF16 (converted to
// float); an optional "transformer." name prefix; the causal-mask buffers h.{i}.attn.bias /
// h.{i}.attn.masked_bias and a tied lm_head.weight are ignored. Any other tensor is an error.
//
// Every malformed input (truncated file, header length past the end, bad JSON, offsets past
// the end or overlapping, sizes that do not match dtype x shape, unknown dtype, missing tensor,
// wrong shape) is rejected with an error naming the tensor or field; the reader never reads
// outside the given bytes. Thread-safe: these are pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/error.h"

namespace plume::kernels {

struct Checkpoint {
  ModelConfig config;
  std::vector<float> params;  // layout of param_layout.h, padded rows zero
};

struct LoadOptions {
  // If set, the checkpoint must have exactly this config (error names the differing field).
  std::optional<ModelConfig> expect;
  // Used when the file has no plume metadata (e.g. a Hugging Face GPT-2 file): the config is
  // inferred from the shapes, except n_head, which shapes do not determine. 0 = not given.
  int n_head = 0;
};

// params: num_params() floats of `config` in the layout of param_layout.h.
Result<std::vector<uint8_t>> SaveCheckpointBytes(const ModelConfig& config,
                                                 std::span<const float> params);
// The same bytes, handed to `sink` in order, in pieces of at most kCheckpointPieceFloats floats
// (the header is one piece), so that a caller can hash and store a checkpoint without holding
// it: the writer's own memory is one piece. Stops at, and returns, the sink's first error.
inline constexpr int64_t kCheckpointPieceFloats = int64_t{1} << 18;  // 1 MiB
using CheckpointSink = std::function<Status(std::span<const uint8_t>)>;
Status WriteCheckpoint(const ModelConfig& config, std::span<const float> params,
                       const CheckpointSink& sink);
// The bytes WriteCheckpoint hands first (the 8-byte length and the JSON header, padded); the
// tensors' data follows in CheckpointTensors(config)'s order, F32, Hugging Face shapes. For a
// caller that produces that data itself in pieces (the scheduler's streamed outer step).
// Requires a valid config.
std::string CheckpointPrefix(const ModelConfig& config);
Result<Checkpoint> LoadCheckpointBytes(std::span<const uint8_t> bytes,
                                       const LoadOptions& options = {});

// The container's structure without converting any value, for callers that must tell apart what
// is wrong with a file (result screens: a wrong tensor name, shape or dtype each has its own
// verdict). Names are as stored (no prefix stripped, nothing ignored); dtype is "F32", "F16" or
// "BF16". Fails on exactly the container errors LoadCheckpointBytes fails on (truncation, bad
// JSON, offsets).
struct TensorSummary {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;  // into the inspected bytes (little-endian values)
};
struct CheckpointSummary {
  std::map<std::string, std::string> metadata;
  std::vector<TensorSummary> tensors;  // sorted by name
};
Result<CheckpointSummary> InspectCheckpointBytes(std::span<const uint8_t> bytes);
// What SaveCheckpointBytes writes for `config`: every tensor's name and shape, dtype "F32", in
// file order (empty data). Requires a valid config.
std::vector<TensorSummary> CheckpointTensors(const ModelConfig& config);

// File forms. Save writes to "<path>.tmp" and renames, so a crash never leaves half a file.
Status SaveCheckpoint(const std::string& path, const ModelConfig& config,
                      std::span<const float> params);
Result<Checkpoint> LoadCheckpoint(const std::string& path, const LoadOptions& options = {});

}  // namespace plume::kernels
