// The job spec (TOML), parsed into plain structs. The format is docs/job-spec.md; this is its
// only parser, used by `plume run-local`, `plume submit` and the scheduler alike.
//
// Parsing checks syntax, types, unknown keys and the tables the job kind needs (train: [model],
// [data], [train]; infer: [infer]), with errors that name the field
// ("train.batch: expected an integer, got string"). [network] and [payment] are parsed when
// present but only checked by ValidateNetwork() / ValidatePayment(), which `plume submit` calls.
// Relative paths are resolved against the spec file's directory. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/error.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels {

enum class JobKind { kTrain, kInfer };

struct DataSpec {
  std::string path;            // resolved
  double val_fraction = 0.1;   // the last fraction of the file is held out
};

struct InferSpec {
  std::string checkpoint;      // resolved
  std::vector<std::string> prompts;  // from `prompts`, or read from `prompts_file` by LoadPrompts
  std::string prompts_file;    // resolved; empty when `prompts` is given
  GenerateConfig generate;     // max_new_tokens, temperature, top_k; seed = job.seed
  std::string tokenizer = "bytes";          // tokenizer.h: "bytes" or "gpt2-bpe"
  std::vector<std::string> tokenizer_files;  // resolved; the files `tokenizer` is built from
};

struct NetworkSpec {
  int workers = 1;
  int rounds = 1;
  int64_t local_steps = 0;
  double outer_lr = 0.7;
  double outer_momentum = 0.9;
  int64_t round_timeout_s = 120;
};

struct PaymentSpec {
  int64_t max_price_micro_plume_per_pflop = 0;
  int64_t budget_micro_plume = 0;
};

struct JobSpec {
  std::string name;
  JobKind kind = JobKind::kTrain;
  uint64_t seed = 1337;
  std::optional<ModelConfig> model;  // required for train; optional for infer
  DataSpec data;
  TrainConfig train;                 // train.seed = seed
  InferSpec infer;
  std::string output_dir = "out";    // resolved
  std::optional<NetworkSpec> network;
  std::optional<PaymentSpec> payment;
};

// base_dir: directory that relative paths are resolved against ("" = as given).
Result<JobSpec> ParseJobSpec(std::string_view toml_text, const std::string& base_dir = "");
// Reads and parses a file; relative paths resolve against its directory.
Result<JobSpec> LoadJobSpec(const std::string& path);

// Prompts of an infer job: the inline list, or the lines of prompts_file (empty lines skipped).
Result<std::vector<std::string>> LoadPrompts(const JobSpec& spec);

// The job's tokenizer, built from infer.tokenizer and the files infer.tokenizer_files names
// (read here, each at most bpe.h kBpeFileBytesMax). Errors name the field or the file.
Result<std::unique_ptr<Tokenizer>> LoadSpecTokenizer(const JobSpec& spec);

// Checks [network] (present, workers >= 1, rounds >= 1, local_steps >= 1, ...) for submission.
Status ValidateNetwork(const JobSpec& spec);
// Checks [payment] (present, non-negative prices, budget > 0).
Status ValidatePayment(const JobSpec& spec);

}  // namespace plume::kernels
