// RunLocal: a job spec run on this machine (`plume run-local`). Train: tokenize the data file,
// hold out the tail, TrainShard, write the checkpoint. Infer: load the checkpoint, Generate,
// write outputs.jsonl.
#include <chrono>
#include <filesystem>
#include <fstream>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/tokenizer.h"
#include "runner_internal.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

Status MakeOutputDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail("output.dir: cannot create '" + dir + "': " + ec.message());
  return {};
}

Result<RunLocalSummary> RunTrain(const JobSpec& spec, Ops& ops, const ProgressFn& progress) {
  PLUME_ASSIGN_OR_RETURN(const auto tokens, LoadTextTokens(spec.data.path));
  const size_t n_val = static_cast<size_t>(static_cast<double>(tokens.size()) * spec.data.val_fraction);
  const std::span<const int32_t> all(tokens);
  const auto train_tokens = all.first(tokens.size() - n_val);
  const auto val_tokens = all.last(n_val);
  PLUME_RETURN_IF_ERROR(MakeOutputDir(spec.output_dir));
  PLUME_ASSIGN_OR_RETURN(auto out, TrainShard(*spec.model, spec.train, {}, train_tokens,
                                              val_tokens, ops, progress));
  RunLocalSummary summary;
  summary.kind = JobKind::kTrain;
  summary.output_path = (std::filesystem::path(spec.output_dir) / "model.safetensors").string();
  PLUME_RETURN_IF_ERROR(SaveCheckpoint(summary.output_path, *spec.model, out.params));
  summary.train_loss = out.last_train_loss;
  summary.val_loss = out.val_loss;
  summary.tokens = out.tokens;
  summary.flops = out.flops;
  return summary;
}

Status WriteJsonl(const std::string& path, const std::vector<Completion>& completions) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail("cannot create '" + tmp + "'");
    for (const Completion& c : completions) out << CompletionJson(c) << '\n';
    out.flush();
    if (!out) return Fail("cannot write '" + tmp + "' (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Fail("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  return {};
}

Result<RunLocalSummary> RunInfer(const JobSpec& spec, Ops& ops) {
  LoadOptions options;
  options.expect = spec.model;
  PLUME_ASSIGN_OR_RETURN(auto checkpoint, LoadCheckpoint(spec.infer.checkpoint, options));
  PLUME_ASSIGN_OR_RETURN(const auto prompts, LoadPrompts(spec));
  PLUME_ASSIGN_OR_RETURN(const auto tokenizer, LoadSpecTokenizer(spec));
  PLUME_RETURN_IF_ERROR(CheckTokenizerFitsModel(*tokenizer, checkpoint.config.vocab));
  // Once the model holds the parameters, the parsed copy goes: generation holds them once.
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::CreateForInference(checkpoint.config, ops));
  PLUME_RETURN_IF_ERROR(model->SetParams(checkpoint.params));
  std::vector<float>().swap(checkpoint.params);
  PLUME_ASSIGN_OR_RETURN(const auto completions,
                         Generate(*model, prompts, spec.infer.generate, *tokenizer));
  PLUME_RETURN_IF_ERROR(MakeOutputDir(spec.output_dir));
  RunLocalSummary summary;
  summary.kind = JobKind::kInfer;
  summary.output_path = (std::filesystem::path(spec.output_dir) / "outputs.jsonl").string();
  PLUME_RETURN_IF_ERROR(WriteJsonl(summary.output_path, completions));
  summary.completions = static_cast<int64_t>(completions.size());
  for (const Completion& c : completions) {
    summary.tokens += c.tokens;
    // The work done: the tokens actually generated (flops.h).
    summary.flops += GenerationFlops(checkpoint.config, c.prompt_tokens, c.tokens);
  }
  return summary;
}

}  // namespace

Result<RunLocalSummary> RunLocal(const JobSpec& spec, Ops& ops, const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  auto summary = spec.kind == JobKind::kTrain ? RunTrain(spec, ops, progress) : RunInfer(spec, ops);
  if (summary) summary->elapsed = std::chrono::steady_clock::now() - start;
  return summary;
}

}  // namespace plume::kernels
