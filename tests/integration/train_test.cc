// Issue 3, integration test 1: a training job split over two agents (DiLoCo rounds) completes,
// its validation loss beats the same number of steps on one agent's shard alone and stays near
// one worker doing the same total number of steps, and the
// fetched safetensors loads and generates with `plume run-local`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "network.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// Validation loss on fixed windows of `val` (the same windows for every model).
float ValLoss(const std::vector<float>& params, const std::vector<int32_t>& val) {
  auto ops = kernels::MakeCpuOps(1);
  kernels::EvalConfig eval;
  eval.batch = 8;
  eval.seq_len = 32;
  eval.max_batches = 16;
  auto loss = kernels::Evaluate(TinyModel(), params, val, eval, *ops);
  return loss ? *loss : NAN;
}

TEST(TrainIntegration, TwoAgentsBeatOneShardAndTheWeightsRunLocally) {
  Network net("train");
  std::string why;
  ASSERT_TRUE(net.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.StartAgent("b", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(2, seconds(60))) << net.Logs();

  const fs::path data = WriteTrainingText(net.dir().path(), 80'000);
  // 2 workers x 10 rounds x 30 local steps, outer Nesterov lr 0.7 / momentum 0.5, against two
  // single-worker baselines: one shard at half the compute, and all the data at equal compute.
  // Measured on the CPU backend (deterministic): validation loss 2.505 over the network, 2.564 for
  // one shard alone, 2.399 at equal compute (momentum 0.9 gave 2.631: worse than one shard). At
  // this scale two averaged workers trail one worker taking all the steps in sequence; the
  // bounds below fail if the network wastes a worker's work (it would then score like one shard).
  TrainShape shape;
  shape.rounds = 10;
  shape.local_steps = 30;
  shape.outer_momentum = 0.5;
  const fs::path spec = WriteTrainSpec(net.dir().path(), "train2", data, shape);
  CommandResult submit = net.Cli({"submit", spec.string(), "--wait", "--json"}, seconds(200));
  ASSERT_EQ(submit.exit_code, 0) << submit.err << "\n" << net.Logs();
  const json status = json::parse(submit.out);
  EXPECT_EQ(status["state"], "succeeded");
  const std::string job = status["job_id"];

  const fs::path out = net.dir() / "fetched";
  CommandResult fetch = net.Cli({"fetch", job, "-o", out.string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const fs::path weights = out / "model.safetensors";
  ASSERT_TRUE(fs::exists(weights)) << fetch.out;

  // The fetched weights load and generate through `plume run-local`.
  const fs::path infer = WriteInferSpec(net.dir().path(), "local-check", weights, {"ROMEO:"}, 1, 3, 8);
  CommandResult local = net.Cli({"run-local", infer.string(), "--threads", "1"}, seconds(60));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_TRUE(fs::exists(net.dir() / "local-check-out" / "outputs.jsonl"));

  // Baseline: the same number of steps on the first worker's shard alone.
  const std::string text = ReadFile(data);
  const size_t val_n = static_cast<size_t>(std::floor(double(text.size()) * shape.val_fraction));
  const std::vector<int32_t> train_tokens = kernels::EncodeBytes(text.substr(0, text.size() - val_n));
  const std::vector<int32_t> val = kernels::EncodeBytes(text.substr(text.size() - val_n));
  const std::vector<int32_t> shard0(train_tokens.begin(),
                                    train_tokens.begin() + (train_tokens.size() + 1) / 2);
  kernels::TrainConfig cfg;
  cfg.steps = shape.rounds * shape.local_steps;
  cfg.batch = shape.batch;
  cfg.seq_len = shape.seq_len;
  cfg.lr = static_cast<float>(shape.lr);
  cfg.min_lr = static_cast<float>(shape.lr / 10);
  cfg.warmup_steps = 5;
  cfg.weight_decay = 0;
  cfg.grad_clip = 1;
  cfg.seed = shape.seed;
  auto ops = kernels::MakeCpuOps(1);
  auto alone = kernels::TrainShard(TinyModel(), cfg, {}, shard0, {}, *ops);
  ASSERT_TRUE(alone) << alone.error().message;
  // Equal compute: one worker doing the network's total steps (2 x rounds x local steps) on all
  // of the training data, with no communication at all.
  kernels::TrainConfig equal = cfg;
  equal.steps = 2 * shape.rounds * shape.local_steps;
  auto one_worker = kernels::TrainShard(TinyModel(), equal, {}, train_tokens, {}, *ops);
  ASSERT_TRUE(one_worker) << one_worker.error().message;

  auto trained = kernels::LoadCheckpoint(weights.string());
  ASSERT_TRUE(trained) << trained.error().message;
  const float network_loss = ValLoss(trained->params, val);
  const float alone_loss = ValLoss(alone->params, val);
  const float equal_loss = ValLoss(one_worker->params, val);
  RecordProperty("network_val_loss", std::to_string(network_loss));
  RecordProperty("one_shard_val_loss", std::to_string(alone_loss));
  RecordProperty("equal_compute_val_loss", std::to_string(equal_loss));
  std::printf("validation loss: network %.4f, one shard at half the compute %.4f, one worker at "
              "equal compute %.4f\n", network_loss, alone_loss, equal_loss);
  EXPECT_TRUE(std::isfinite(network_loss));
  EXPECT_LT(network_loss, alone_loss) << "2 agents: " << network_loss << ", one shard alone: "
                                      << alone_loss;
  EXPECT_LT(network_loss, equal_loss + 0.15f) << "equal compute: " << equal_loss;
}

}  // namespace
}  // namespace plume::itest
