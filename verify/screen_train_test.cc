// The training-delta screen on a real delta (TrainShard on a tiny GPT, the agent's code path)
// and on each kind of bad delta, each refused with its own reason.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/param_layout.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"
#include "plume/verify/screen.h"

namespace plume::verify {
namespace {

using nlohmann::json;

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// A safetensors file from explicit tensors: lets a test write names, shapes and dtypes the
// kernels never would.
std::vector<uint8_t> Write(const std::map<std::string, std::string>& metadata,
                           const std::vector<Tensor>& tensors) {
  json header = {{"__metadata__", metadata}};
  std::vector<uint8_t> data;
  for (const Tensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  const std::string h = header.dump();
  std::vector<uint8_t> out;
  out.reserve(8 + h.size() + data.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(uint64_t{h.size()} >> (8 * i)));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Splits a checkpoint into editable tensors.
std::pair<std::map<std::string, std::string>, std::vector<Tensor>> Read(
    const std::vector<uint8_t>& blob) {
  auto file = kernels::InspectCheckpointBytes(blob);
  EXPECT_TRUE(file.has_value());
  std::vector<Tensor> out;
  for (const auto& t : file->tensors) {
    out.push_back({t.name, t.dtype, t.shape, {t.data.begin(), t.data.end()}});
  }
  return {file->metadata, out};
}

class TrainScreenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = {1, 2, 16, 16, 256};
    screen_.model = model_;
    kernels::TrainConfig& c = screen_.train;
    c.steps = 4;
    c.batch = 2;
    c.seq_len = 8;
    c.lr = 1e-2f;
    c.warmup_steps = 1;
    c.weight_decay = 0.1f;
    c.first_step = 4;  // round 1 of a 3-round job: the schedule spans 12 steps
    c.schedule_steps = 12;
    c.seed = 7;
    auto start = kernels::InitialParams(model_, 3);
    ASSERT_TRUE(start.has_value());
    const std::string text =
        "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer";
    const auto tokens = kernels::EncodeBytes(text);
    auto ops = kernels::MakeCpuOps(1);
    auto out = kernels::TrainShard(model_, c, *start, tokens, {}, *ops);
    ASSERT_TRUE(out.has_value()) << out.error().message;
    delta_.resize(start->size());
    for (size_t i = 0; i < delta_.size(); ++i) {
      delta_[i] = out->params[i] - (*start)[i];
      screen_.start_params_linf =
          std::max<double>(screen_.start_params_linf, std::fabs((*start)[i]));
    }
  }

  static std::vector<uint8_t> Blob(const std::vector<float>& delta) {
    auto bytes = kernels::SaveCheckpointBytes(model_, delta);
    EXPECT_TRUE(bytes.has_value());
    return *bytes;
  }
  static Reason Screen(const std::vector<uint8_t>& blob) {
    Verdict v = ScreenTrainDelta(blob, screen_);
    return v.reason;
  }

  static inline kernels::ModelConfig model_;
  static inline TrainScreen screen_;
  static inline std::vector<float> delta_;
};

TEST_F(TrainScreenTest, HonestDeltaPassesWellInsideTheBound) {
  Verdict v = ScreenTrainDelta(Blob(delta_), screen_);
  EXPECT_TRUE(v.ok()) << Name(v.reason) << ": " << v.message;
  double linf = 0;
  for (float x : delta_) linf = std::max(linf, double(std::fabs(x)));
  const DeltaBound b = TrainDeltaBound(screen_);
  EXPECT_GT(linf, 0);
  EXPECT_LT(linf, b.linf_decayed);
  // The bound is not vacuous: within a small factor of the largest honest move.
  EXPECT_LT(b.linf_decayed, 10 * linf) << "bound " << b.linf_decayed << " vs " << linf;
}

TEST_F(TrainScreenTest, NonFiniteValuesAreRefused) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> d = delta_;
    d[d.size() / 2] = bad;
    EXPECT_EQ(Screen(Blob(d)), Reason::kNotFinite) << bad;
  }
}

TEST_F(TrainScreenTest, ZeroDeltaIsRefusedUnlessNothingCouldMove) {
  const std::vector<float> zero(delta_.size(), 0.0f);
  EXPECT_EQ(Screen(Blob(zero)), Reason::kZeroDelta);
  TrainScreen no_lr = screen_;
  no_lr.train.lr = 0;
  no_lr.train.min_lr = 0;
  EXPECT_TRUE(ScreenTrainDelta(Blob(zero), no_lr).ok());
}

TEST_F(TrainScreenTest, ScaledUpDeltaIsRefused) {
  double linf = 0;
  for (float x : delta_) linf = std::max(linf, double(std::fabs(x)));
  const double scale = 2 * TrainDeltaBound(screen_).linf_decayed / linf;
  std::vector<float> d = delta_;
  for (float& x : d) x = static_cast<float>(x * scale);
  EXPECT_EQ(Screen(Blob(d)), Reason::kNormTooLarge);
  // A small bias moved by more than H steps allow is caught too (no weight decay there).
  std::vector<float> bias = delta_;
  const auto info = kernels::ParamTensors(model_);
  bias[info[static_cast<int>(kernels::ParamKind::kLnfb)].offset] =
      static_cast<float>(2 * TrainDeltaBound(screen_).linf_plain);
  EXPECT_EQ(Screen(Blob(bias)), Reason::kNormTooLarge);
}

TEST_F(TrainScreenTest, TruncatedAndOversizedFilesAreRefused) {
  std::vector<uint8_t> blob = Blob(delta_);
  std::vector<uint8_t> cut(blob.begin(), blob.begin() + blob.size() / 2);
  EXPECT_EQ(Screen(cut), Reason::kMalformed);
  EXPECT_EQ(Screen(std::vector<uint8_t>(5, 0)), Reason::kMalformed);
  std::vector<uint8_t> big = blob;
  big.resize(MaxTrainDeltaBytes(model_) + 1);
  EXPECT_EQ(Screen(big), Reason::kOversized);
}

TEST_F(TrainScreenTest, WrongNamesShapesDtypesAndModelAreRefused) {
  auto [metadata, tensors] = Read(Blob(delta_));
  auto find = [&](std::vector<Tensor>& ts, const std::string& name) -> Tensor& {
    for (Tensor& t : ts)
      if (t.name == name) return t;
    ADD_FAILURE() << name;
    return ts[0];
  };
  {  // renamed tensor
    auto ts = tensors;
    find(ts, "h.0.mlp.c_fc.bias").name = "h.0.mlp.c_fc.b";
    EXPECT_EQ(Screen(Write(metadata, ts)), Reason::kWrongTensor);
  }
  {  // a tensor the model does not have
    auto ts = tensors;
    ts.push_back(find(ts, "ln_f.bias"));
    ts.back().name = "h.1.ln_1.bias";
    EXPECT_EQ(Screen(Write(metadata, ts)), Reason::kWrongTensor);
  }
  {  // transposed matrix: same bytes, other shape
    auto ts = tensors;
    Tensor& t = find(ts, "h.0.attn.c_attn.weight");
    std::swap(t.shape[0], t.shape[1]);
    EXPECT_EQ(Screen(Write(metadata, ts)), Reason::kWrongShape);
  }
  {  // BF16 instead of F32 (the top half of each float)
    auto ts = tensors;
    Tensor& t = find(ts, "h.0.ln_2.weight");
    std::vector<uint8_t> half;
    for (size_t i = 0; i < t.bytes.size(); i += 4)
      half.insert(half.end(), {t.bytes[i + 2], t.bytes[i + 3]});
    t.dtype = "BF16";
    t.bytes = half;
    EXPECT_EQ(Screen(Write(metadata, ts)), Reason::kWrongDtype);
  }
  {  // another model in the metadata
    auto md = metadata;
    md["plume.n_head"] = "4";
    EXPECT_EQ(Screen(Write(md, tensors)), Reason::kWrongModel);
  }
  // Unchanged, the rebuilt file passes: the edits above are what was refused.
  EXPECT_TRUE(ScreenTrainDelta(Write(metadata, tensors), screen_).ok());
}

}  // namespace
}  // namespace plume::verify
