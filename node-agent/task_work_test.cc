// Task bodies: shard ranges cover the data exactly once; a train task returns a parameter delta
// that, added to the start, equals a plain TrainShard run; an infer task's JSONL does not depend
// on how prompts are split; cancellation stops the work.
#include "task_work.h"

#include "bpe_test_util.h"
#include "plume/kernels/bpe.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/runner.h"
#include "testing/tiny_tasks.h"

namespace plume::agent {
namespace {

using testing::kOneThread;
using testing::Text;
using testing::Tiny;
using testing::TinyTrain;


TEST(ShardRangeTest, CoversEveryItemOnce) {
  for (size_t n : {0u, 1u, 7u, 100u, 101u}) {
    for (uint32_t count : {1u, 2u, 3u, 8u}) {
      size_t next = 0;
      for (uint32_t i = 0; i < count; ++i) {
        auto [b, e] = ShardRange(n, i, count);
        EXPECT_EQ(b, next) << n << " " << i << "/" << count;
        EXPECT_LE(e - b, n / count + 1);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
  EXPECT_EQ(ShardRange(10, 5, 2), std::make_pair(size_t{10}, size_t{10}));
}

// A submitter picks input sizes; an agent refuses what would not fit in its RAM (F22).
TEST(InputsTooLargeTest, RefusesInputsThatWouldNotFitAndAcceptsThoseThatDo) {
  const uint64_t ram = 16ull << 30;
  EXPECT_EQ(InputsTooLarge(true, {1ull << 30, 100}, ram), "");
  const std::string why = InputsTooLarge(true, {3ull << 30}, ram);  // 18 GiB needed
  EXPECT_NE(why.find("host memory"), std::string::npos) << why;
  EXPECT_EQ(InputsTooLarge(false, {5ull << 30}, ram), "");  // infer: 3x, 15 GiB
  EXPECT_NE(InputsTooLarge(false, {6ull << 30}, ram), "");
  // Sizes near the integer limit do not wrap around into "fits".
  EXPECT_NE(InputsTooLarge(true, {UINT64_MAX, UINT64_MAX}, ram), "");
  EXPECT_EQ(InputsTooLarge(true, {UINT64_MAX}, 0), "");  // unknown memory: no check
}

TEST(TaskWorkTest, TrainReturnsADeltaFromTheSeedInitialisation) {
  TrainTask t = TinyTrain();
  std::vector<int64_t> steps;
  ProgressFn progress = [&](int64_t step, int64_t, double) { steps.push_back(step); };
  std::atomic<bool> stop{false};
  auto out = MakeTrainWork(t, kOneThread)(progress, stop);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(out->steps_done, 3);
  EXPECT_TRUE(std::isfinite(out->loss));
  EXPECT_TRUE(std::isfinite(out->val_loss));
  EXPECT_GT(out->flops, 0);
  auto delta = kernels::LoadCheckpointBytes(out->result);
  ASSERT_TRUE(delta) << delta.error().message;
  EXPECT_EQ(delta->config, t.model);
  double norm = 0;
  for (float d : delta->params) norm += double(d) * d;
  EXPECT_GT(norm, 0.0) << "training moved no parameter";
  // Same task again: bit-identical delta (payments and verification rely on determinism).
  auto again = MakeTrainWork(t, kOneThread)(progress, stop);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result, out->result);
}

TEST(TaskWorkTest, TrainStartsFromTheRoundParameters) {
  TrainTask t = TinyTrain();
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(t.model, *ops);
  ASSERT_TRUE(gpt);
  ASSERT_TRUE((*gpt)->InitRandom(99));
  auto start = (*gpt)->GetParams();
  ASSERT_TRUE(start);
  auto bytes = kernels::SaveCheckpointBytes(t.model, *start);
  ASSERT_TRUE(bytes);
  t.round_params = *bytes;
  std::atomic<bool> stop{false};
  auto a = MakeTrainWork(t, kOneThread)([](int64_t, int64_t, double) {}, stop);
  t.round_params.clear();
  auto b = MakeTrainWork(t, kOneThread)([](int64_t, int64_t, double) {}, stop);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->result, b->result) << "round parameters were ignored";
}

TEST(TaskWorkTest, TooLittleDataIsAClearError) {
  TrainTask t = TinyTrain();
  t.data = Text(20);
  std::atomic<bool> stop{false};
  auto out = MakeTrainWork(t, kOneThread)([](int64_t, int64_t, double) {}, stop);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("seq_len"), std::string::npos) << out.error().message;
}

std::vector<nlohmann::json> Lines(const std::vector<uint8_t>& bytes) {
  std::vector<nlohmann::json> out;
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TaskWorkTest, InferenceDoesNotDependOnSharding) {
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(Tiny(), *ops);
  ASSERT_TRUE(gpt);
  ASSERT_TRUE((*gpt)->InitRandom(3));
  auto params = (*gpt)->GetParams();
  auto ckpt = kernels::SaveCheckpointBytes(Tiny(), *params);
  ASSERT_TRUE(ckpt);
  InferTask all;
  all.model = Tiny();
  all.checkpoint.assign(ckpt->begin(), ckpt->end());
  all.prompts = {"ROMEO:", "JULIET:", "A"};
  all.max_new_tokens = 8;
  all.temperature = 0.8;
  all.top_k = 20;
  all.seed = 11;
  InferTask tail = all;
  tail.prompts = {"JULIET:", "A"};
  tail.first_prompt_index = 1;
  std::atomic<bool> stop{false};
  auto noop = [](int64_t, int64_t, double) {};
  auto a = MakeInferWork(all, kOneThread)(noop, stop);
  auto b = MakeInferWork(tail, kOneThread)(noop, stop);
  ASSERT_TRUE(a && b);
  auto la = Lines(a->result), lb = Lines(b->result);
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 2u);
  EXPECT_EQ(la[0]["index"], 0);
  EXPECT_EQ(la[1], lb[0]);
  EXPECT_EQ(la[2], lb[1]);
  EXPECT_EQ(la[0]["tokens"], 8);
}

// A dispute's referee gets some prompts of a shard with their global indices (promptIndices): its
// lines and completion hashes are the shard's for those prompts, runs of consecutive indices or
// not; indices that are not one ascending, distinct index per prompt are refused.
TEST(TaskWorkTest, ARefereeOfChosenPromptsWritesWhatTheShardWroteForThem) {
  auto ops = kernels::MakeCpuOps(1);
  auto gpt = kernels::Gpt::Create(Tiny(), *ops);
  ASSERT_TRUE(gpt);
  ASSERT_TRUE((*gpt)->InitRandom(4));
  auto ckpt = kernels::SaveCheckpointBytes(Tiny(), *(*gpt)->GetParams());
  ASSERT_TRUE(ckpt);
  InferTask shard;
  shard.model = Tiny();
  shard.checkpoint.assign(ckpt->begin(), ckpt->end());
  shard.prompts = {"a", "bb", "ccc", "dddd", "eeeee"};
  shard.first_prompt_index = 20;
  shard.max_new_tokens = 6;
  shard.temperature = 0.9;
  shard.seed = 5;
  InferTask referee = shard;
  referee.prompts = {"bb", "dddd", "eeeee"};
  referee.prompt_indices = {21, 23, 24};
  std::atomic<bool> stop{false};
  auto noop = [](int64_t, int64_t, double) {};
  auto all = MakeInferWork(shard, kOneThread)(noop, stop);
  auto some = MakeInferWork(referee, kOneThread)(noop, stop);
  ASSERT_TRUE(all && some);
  auto la = Lines(all->result), ls = Lines(some->result);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[0], la[1]);
  EXPECT_EQ(ls[1], la[3]);
  EXPECT_EQ(ls[2], la[4]);
  ASSERT_EQ(some->commitments.size(), 3u);
  EXPECT_EQ(some->commitments[0], all->commitments[1]);
  EXPECT_EQ(some->commitments[2], all->commitments[4]);
  for (const std::vector<uint64_t>& bad :
       {std::vector<uint64_t>{21, 23}, {23, 21, 24}, {21, 21, 24}}) {
    InferTask b = referee;
    b.prompt_indices = bad;
    EXPECT_FALSE(MakeInferWork(b, kOneThread)(noop, stop));
  }
}

// A shard decodes in one batched call: progress counts finished prompts, the FLOPs reported are
// those of the tokens generated (flops.h), and each line has the six keys run-local writes,
// which the scheduler's screen checks (verify/src/screen_infer.cc).
TEST(TaskWorkTest, InferenceReportsProgressFlopsAndScreenableLines) {
  auto ops = kernels::MakeCpuOps(1);
  auto params = kernels::InitialParams(Tiny(), 4);
  ASSERT_TRUE(params);
  auto ckpt = kernels::SaveCheckpointBytes(Tiny(), *params);
  ASSERT_TRUE(ckpt);
  InferTask t;
  t.model = Tiny();
  t.checkpoint.assign(ckpt->begin(), ckpt->end());
  for (int i = 0; i < 20; ++i) t.prompts.push_back(std::string(size_t(i % 7), 'a' + i));
  t.max_new_tokens = 6;
  t.temperature = 0.7;
  t.top_k = 10;
  t.seed = 5;
  std::atomic<bool> stop{false};
  std::vector<int64_t> steps;
  auto work = MakeInferWork(t, kOneThread);
  auto out = work(
      [&](int64_t step, int64_t total, double) {
        EXPECT_EQ(total, 20);
        steps.push_back(step);
      },
      stop);
  ASSERT_TRUE(out) << out.error().message;
  // The work let the checkpoint's bytes go once parsed: it does not run twice.
  auto again = work([](int64_t, int64_t, double) {}, stop);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("runs once"), std::string::npos) << again.error().message;
  EXPECT_EQ(steps.size(), 20u);
  EXPECT_EQ(steps.back(), 20);
  const auto lines = Lines(out->result);
  ASSERT_EQ(lines.size(), 20u);
  double flops = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].size(), 6u);
    EXPECT_EQ(lines[i]["index"], i);
    EXPECT_EQ(lines[i]["tokens"], 6);
    EXPECT_EQ(lines[i]["finish_reason"], "length");
    EXPECT_EQ(lines[i]["prompt_tokens"], kernels::PromptTokens(t.prompts[i]));
    flops += static_cast<double>(
        kernels::GenerationFlops(Tiny(), kernels::PromptTokens(t.prompts[i]), 6));
  }
  EXPECT_EQ(out->flops, flops);
  EXPECT_EQ(out->tokens_processed, 120);
  // Every prompt ran to max_new_tokens: the work done is what is billed.
  EXPECT_EQ(static_cast<double>(out->billed_flops), flops);
}

// A task that names the GPT-2 BPE tokenizer gets its files as blobs: prompts are tokenized and
// billed by BPE token counts (fewer than their bytes), top_p and stop sequences reach
// generation, and a malformed tokenizer file or one that does not fit the model fails the task
// with the reason.
TEST(TaskWorkTest, InferenceWithTheBpeTokenizerTopPAndStop) {
  kernels::ModelConfig m = Tiny();
  const auto files = kernels::testing::SyntheticBpeFiles(400);
  m.vocab = 400;
  auto params = kernels::InitialParams(m, 4);
  ASSERT_TRUE(params);
  auto ckpt = kernels::SaveCheckpointBytes(m, *params);
  ASSERT_TRUE(ckpt);
  InferTask t;
  t.model = m;
  t.checkpoint.assign(ckpt->begin(), ckpt->end());
  t.prompts = {"the rain in the east", "", "sea shore"};
  t.max_new_tokens = 12;
  t.temperature = 0.9;
  t.top_p = 0.8;
  t.seed = 3;
  t.tokenizer = "gpt2-bpe";
  t.tokenizer_files = {files.vocab_json, files.merges_txt};
  std::atomic<bool> stop{false};
  const auto run = [&](const InferTask& task) {
    return MakeInferWork(task, kOneThread)([](int64_t, int64_t, double) {}, stop);
  };
  auto out = run(t);
  ASSERT_TRUE(out) << out.error().message;
  const auto lines = Lines(out->result);
  ASSERT_EQ(lines.size(), 3u);
  auto tokenizer = kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(tokenizer);
  std::vector<int64_t> counts;
  for (size_t i = 0; i < 3; ++i) {
    counts.push_back(kernels::PromptTokens(**tokenizer, t.prompts[i]));
    EXPECT_EQ(lines[i]["prompt_tokens"], counts.back());
  }
  EXPECT_LT(counts[0], static_cast<int64_t>(t.prompts[0].size()));  // merges happened
  EXPECT_EQ(out->billed_flops,
            static_cast<uint64_t>(kernels::InferTaskFlops(m, counts, t.max_new_tokens)));
  EXPECT_NE(out->billed_flops, static_cast<uint64_t>(kernels::InferTaskFlops(
                                   m, std::vector<int64_t>{20, 1, 9}, t.max_new_tokens)));

  // A stop sequence taken from the first completion's text (an ASCII character after its
  // first byte) ends it there, with "stop".
  const std::string first = lines[0]["completion"];
  size_t at = 1;
  while (at < first.size() && static_cast<unsigned char>(first[at]) >= 0x80) ++at;
  ASSERT_LT(at, first.size()) << "no ASCII character to stop at in " << first;
  InferTask stopped = t;
  stopped.stop = {first.substr(at, 1)};
  auto cut = run(stopped);
  ASSERT_TRUE(cut);
  const auto cut_lines = Lines(cut->result);
  EXPECT_EQ(cut_lines[0]["finish_reason"], "stop");
  EXPECT_EQ(cut_lines[0]["completion"], first.substr(0, first.find(first[at])));
  EXPECT_LT(cut_lines[0]["tokens"].get<int>(), 12);

  InferTask bad = t;
  bad.tokenizer_files = {"{not json", files.merges_txt};
  auto refused = run(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("tokenizer"), std::string::npos);
  InferTask unknown = t;
  unknown.tokenizer = "wordpiece";
  ASSERT_FALSE(run(unknown));
  InferTask mismatch = t;  // 300 tokens for a model of 400
  const auto small = kernels::testing::SyntheticBpeFiles(300);
  mismatch.tokenizer_files = {small.vocab_json, small.merges_txt};
  auto mis = run(mismatch);
  ASSERT_FALSE(mis);
  EXPECT_NE(mis.error().message.find("vocabulary"), std::string::npos) << mis.error().message;
}

TEST(TaskWorkTest, StopFlagCancels) {
  TrainTask t = TinyTrain();
  t.local_steps = 1000;
  std::atomic<bool> stop{false};
  auto out = MakeTrainWork(t, kOneThread)([&](int64_t step, int64_t, double) {
    if (step == 2) stop = true;
  }, stop);
  EXPECT_FALSE(out);
}

// The agent signs FLOPs it computed from the assignment, by the scheduler's billing rule.
TEST(BilledFlopsTest, ComputedFromTheAssignmentNotTakenFromIt) {
  capnp::MallocMessageBuilder message;
  auto a = message.initRoot<wire::TaskAssign>();
  auto m = a.initModel();
  m.setNLayer(2);
  m.setNHead(2);
  m.setNEmbd(32);
  m.setContext(16);
  m.setVocab(256);
  const kernels::ModelConfig model{2, 2, 32, 16, 256};
  a.setFlops(1);  // what a greedy scheduler might claim; never signed
  auto train = a.getParams().initTrain();
  train.setLocalSteps(7);
  train.setBatch(3);
  train.setSeqLen(16);
  EXPECT_EQ(BilledFlops(a.asReader()),
            static_cast<uint64_t>(kernels::TrainFlops(model, 16, 3, 7)));
  train.setSeqLen(17);  // longer than the context: not a task anyone can run
  EXPECT_EQ(BilledFlops(a.asReader()), 0u);

  auto infer = a.getParams().initInfer();
  auto prompts = infer.initPrompts(2);
  prompts.set(0, "");
  prompts.set(1, "abc");
  infer.setMaxNewTokens(5);
  const std::vector<int64_t> tokens = {1, 3};
  EXPECT_EQ(BilledFlops(a.asReader()),
            static_cast<uint64_t>(kernels::InferTaskFlops(model, tokens, 5)));
  // With another tokenizer the prompts' bytes are not their tokens: BilledFlops leaves the
  // count to the work (InferBilledFlops, which has built the tokenizer).
  infer.setTokenizer("gpt2-bpe");
  EXPECT_EQ(BilledFlops(a.asReader()), 0u);
  infer.setTokenizer("bytes");
  EXPECT_EQ(BilledFlops(a.asReader()),
            static_cast<uint64_t>(kernels::InferTaskFlops(model, tokens, 5)));
  m.setNHead(3);  // 32 is not a multiple of 3
  EXPECT_EQ(BilledFlops(a.asReader()), 0u);
}

// A scheduler (or a forger of assignments) decides how many tokenizer files an agent fetches
// and how large they claim to be: both are bounded before anything is fetched.
TEST(TokenizerInputsTest, TooManyOrTooLargeFilesAreRefused) {
  capnp::MallocMessageBuilder message;
  auto infer = message.initRoot<wire::InferParams>();
  EXPECT_EQ(TokenizerInputsProblem(infer.asReader()), "");
  auto files = infer.initTokenizerFiles(2);
  files[1].setSizeBytes(kernels::kBpeFileBytesMax);
  EXPECT_EQ(TokenizerInputsProblem(infer.asReader()), "");
  files[1].setSizeBytes(kernels::kBpeFileBytesMax + 1);
  EXPECT_NE(TokenizerInputsProblem(infer.asReader()).find("tokenizer file of"), std::string::npos);
  infer.initTokenizerFiles(3);
  EXPECT_NE(TokenizerInputsProblem(infer.asReader()).find("more than 2"), std::string::npos);
}

}  // namespace
}  // namespace plume::agent
