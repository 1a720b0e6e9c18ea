// Generate: batched decoding with a KV cache and continuous batching (runner.h says what is
// promised). Up to config.batch sequences own a cache slot each (fewer when the device's
// memory is short: Generate below). Every step:
//   1. waiting prompts take the free slots: their window is prefilled and their first token
//      sampled (a prompt that finishes at once frees its slot again);
//   2. each active sequence feeds its last token: normally as one row of a shared Decode step;
//      when its window slid (flops.h GenerationWindow) its slot is prefilled again instead;
//   3. every sequence samples from its own row with its own generator; finished ones leave and
//      their slots go to the next waiting prompts.
// Bits do not depend on the batch: Decode's rows are independent (gpt.h), prefill runs one
// sequence at a time, and each sequence samples from its own seeded stream.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

#include "generation.h"
#include "plume/kernels/gpt.h"
#include "status_macros.h"

namespace plume::kernels {
namespace {

// The longest window any of these sequences can need: the cache holds no more per slot.
int CacheLength(const ModelConfig& model, const std::vector<Sequence>& seqs, int max_new_tokens) {
  int64_t longest = 1;
  for (const Sequence& s : seqs) {
    longest = std::max<int64_t>(longest, s.window_size() + std::max(0, max_new_tokens - 1));
  }
  return static_cast<int>(std::min<int64_t>(longest, model.context));
}

class Engine {
 public:
  Engine(Gpt& model, std::vector<Sequence>& seqs, const GenerateHooks& hooks)
      : model_(model), seqs_(seqs), hooks_(hooks) {}

  Status Run(int slots) {
    for (size_t i = 0; i < seqs_.size(); ++i) {
      if (seqs_[i].done()) {
        Finished(i);  // max_new_tokens = 0
      } else {
        waiting_.push_back(i);
      }
    }
    for (int s = slots - 1; s >= 0; --s) free_.push_back(s);
    slot_of_.assign(seqs_.size(), -1);
    while (!waiting_.empty() || !active_.empty()) {
      if (hooks_.cancel && hooks_.cancel()) return Fail("cancelled");
      while (!waiting_.empty() && !free_.empty()) {
        const size_t i = waiting_.front();
        waiting_.pop_front();
        slot_of_[i] = free_.back();
        free_.pop_back();
        PLUME_RETURN_IF_ERROR(PrefillAndSample(i));
        if (seqs_[i].done()) {
          Leave(i);
        } else {
          active_.push_back(i);
        }
      }
      PLUME_RETURN_IF_ERROR(Step());
    }
    return {};
  }

  std::vector<Completion>& completions() { return done_; }

 private:
  Status PrefillAndSample(size_t i) {
    PLUME_ASSIGN_OR_RETURN(const auto logits, model_.Prefill(slot_of_[i], seqs_[i].window()));
    return seqs_[i].Next(logits);
  }

  // One token for every active sequence.
  Status Step() {
    std::vector<size_t> rows;
    std::vector<int32_t> slots, tokens;
    for (const size_t i : active_) {
      const Sequence& s = seqs_[i];
      if (s.window_size() == model_.SlotLength(slot_of_[i]) + 1) {
        rows.push_back(i);
        slots.push_back(slot_of_[i]);
        tokens.push_back(s.last_token());
      } else {
        PLUME_RETURN_IF_ERROR(PrefillAndSample(i));  // the window slid
      }
    }
    if (!rows.empty()) {
      PLUME_ASSIGN_OR_RETURN(const auto logits, model_.Decode(slots, tokens));
      const size_t V = logits.size() / rows.size();
      // Sampling a 50k vocabulary (top-k selection, or a full sort for top-p) costs about a
      // millisecond per row; rows sample in parallel, each from its own generator, so the
      // threads change no result.
      std::vector<Status> sampled(rows.size());
      const int n = static_cast<int>(rows.size());
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
      for (int r = 0; r < n; ++r) {
        sampled[r] = seqs_[rows[r]].Next(std::span<const float>(logits).subspan(r * V, V));
      }
      for (const Status& st : sampled) PLUME_RETURN_IF_ERROR(st);
    }
    std::vector<size_t> still;
    for (const size_t i : active_) {
      if (seqs_[i].done()) {
        Leave(i);
      } else {
        still.push_back(i);
      }
    }
    active_ = std::move(still);
    return {};
  }

  void Leave(size_t i) {
    free_.push_back(slot_of_[i]);
    slot_of_[i] = -1;
    Finished(i);
  }

  void Finished(size_t i) {
    done_.push_back(seqs_[i].Finish());
    if (hooks_.on_completion) hooks_.on_completion(done_.back());
  }

  Gpt& model_;
  std::vector<Sequence>& seqs_;
  const GenerateHooks& hooks_;
  std::deque<size_t> waiting_;  // prompt order
  std::vector<size_t> active_;
  std::vector<int> free_;  // free slots, the next one at the back
  std::vector<int> slot_of_;
  std::vector<Completion> done_;
};

// The sequences of already-checked prompts through a model holding its parameters.
Result<std::vector<Completion>> Run(Gpt& model, std::vector<Sequence> seqs,
                                    const GenerateConfig& generate, const GenerateHooks& hooks) {
  const ModelConfig& config = model.config();
  // Slots: the batch, but no more than the prompts, and no cache larger than a quarter of the
  // device's memory; if the allocation still fails, half as many, down to one. The slot count
  // changes no bits, so a smaller device gives the same text, only later.
  const int max_len = CacheLength(config, seqs, generate.max_new_tokens);
  const uint64_t slot_bytes = 8ull * config.n_layer * max_len * config.n_embd;
  int slots =
      static_cast<int>(std::min<size_t>(generate.batch, std::max<size_t>(seqs.size(), 1)));
  if (const uint64_t memory = model.ops().MemoryBytes(); memory > 0) {
    slots = static_cast<int>(std::clamp<uint64_t>(memory / 4 / slot_bytes, 1, slots));
  }
  for (Status st = model.ReserveKvCache(slots, max_len); !st;
       st = model.ReserveKvCache(slots, max_len)) {
    if (slots == 1) return tl::unexpected(st.error());
    slots /= 2;
  }
  Engine engine(model, seqs, hooks);
  PLUME_RETURN_IF_ERROR(engine.Run(slots));
  std::vector<Completion> out = std::move(engine.completions());
  std::sort(out.begin(), out.end(),
            [](const Completion& a, const Completion& b) { return a.index < b.index; });
  return out;
}

}  // namespace

Result<std::vector<Completion>> Generate(const ModelConfig& config, std::span<const float> params,
                                         const std::vector<std::string>& prompts,
                                         const GenerateConfig& generate, Ops& ops,
                                         const Tokenizer& tokenizer, const GenerateHooks& hooks) {
  PLUME_ASSIGN_OR_RETURN(auto seqs, StartSequences(config, prompts, generate, tokenizer));
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::CreateForInference(config, ops));
  PLUME_RETURN_IF_ERROR(model->SetParams(params));
  return Run(*model, std::move(seqs), generate, hooks);
}

Result<std::vector<Completion>> Generate(Gpt& model, const std::vector<std::string>& prompts,
                                         const GenerateConfig& generate,
                                         const Tokenizer& tokenizer, const GenerateHooks& hooks) {
  PLUME_ASSIGN_OR_RETURN(auto seqs, StartSequences(model.config(), prompts, generate, tokenizer));
  return Run(model, std::move(seqs), generate, hooks);
}

Result<std::vector<Completion>> Generate(const ModelConfig& config, std::span<const float> params,
                                         const std::vector<std::string>& prompts,
                                         const GenerateConfig& generate, Ops& ops) {
  return Generate(config, params, prompts, generate, ops, *MakeByteTokenizer());
}

}  // namespace plume::kernels
