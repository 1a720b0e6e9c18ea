// Whole-model CUDA tests: the CUDA backend learns tinyshakespeare (beating a trigram count model
// on the held-out windows), and follows the CPU's loss curve step by step. Both skip without a
// CUDA device; CudaOpsTest covers the ops one at a time.
#include <gtest/gtest.h>

#include <cstdio>

#include "loss_curve_test_util.h"
#include "ngram_test_util.h"
#include "shakespeare_test_util.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels {
namespace {

std::unique_ptr<Ops> CudaOrSkip() {
  if (CudaDeviceCount() == 0) return nullptr;
  auto ops = MakeCudaOps(0);
  return ops ? std::move(*ops) : nullptr;
}

TEST(CudaTraining, LearnsTinyShakespeareBeyondATrigramModel) {
  auto ops = CudaOrSkip();
  if (!ops) GTEST_SKIP() << "no CUDA device";
  const auto data = testing::LoadShakespeare();
  ASSERT_TRUE(data) << data.error().message;
  const auto train_split = data->train(), val = data->val();
  const ModelConfig model{4, 4, 128, 64, 256};
  const TrainConfig train = testing::ShakespeareTrain(2000, 16, 64, 50);
  const auto out = TrainShard(model, train, {}, train_split, val, *ops);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(out->val_loss);
  const double trigram = testing::BestTrigramNatsPerByte(train_split, val, 64, 16 * 16);
  std::printf("cuda training: held-out %.4f nats/byte, trigram on the same windows %.4f\n",
              *out->val_loss, trigram);
  EXPECT_GT(out->losses.front(), 5.3f);
  EXPECT_LT(*out->val_loss, trigram);
}

TEST(CudaTraining, FollowsTheCpuLossCurve) {
  auto cuda = CudaOrSkip();
  if (!cuda) GTEST_SKIP() << "no CUDA device";
  auto cpu = MakeCpuOps(0);
  testing::ExpectLossCurvesAgree(*cpu, *cuda, "cuda");
}

}  // namespace
}  // namespace plume::kernels
