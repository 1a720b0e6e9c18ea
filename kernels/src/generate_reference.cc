// GenerateWithoutCache: the reference generation path (runner.h). Every token reruns the model on
// the sequence's whole window through Gpt::Forward, the training graph, which is what generation
// did before the KV cache; the windows, sampling and stops are Generate's (generation.h), so
// the two can be compared token for token.
#include "generation.h"
#include "plume/kernels/gpt.h"
#include "status_macros.h"

namespace plume::kernels {

Result<std::vector<Completion>> GenerateWithoutCache(const ModelConfig& config,
                                                     std::span<const float> params,
                                                     const std::vector<std::string>& prompts,
                                                     const GenerateConfig& generate, Ops& ops,
                                                     const Tokenizer& tokenizer) {
  PLUME_ASSIGN_OR_RETURN(auto seqs, StartSequences(config, prompts, generate, tokenizer));
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::CreateForInference(config, ops));
  PLUME_RETURN_IF_ERROR(model->SetParams(params));
  std::vector<Completion> out;
  out.reserve(seqs.size());
  for (Sequence& s : seqs) {
    while (!s.done()) {
      const auto window = s.window();
      const int T = static_cast<int>(window.size());
      PLUME_RETURN_IF_ERROR(model->Forward(window, {}, 1, T));
      PLUME_ASSIGN_OR_RETURN(const auto logits, model->LogitsAt(0, T - 1));
      PLUME_RETURN_IF_ERROR(s.Next(logits));
    }
    out.push_back(s.Finish());
  }
  return out;
}

}  // namespace plume::kernels
