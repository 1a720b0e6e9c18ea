// Whole-model tests on the CPU backend: finite-difference gradients of a tiny GPT, the loss at
// initialisation, AdamW through Gpt::Step against hand-computed values, gradient clipping,
// weight decay only on matrices, and bit-identical repeats.
#include "plume/kernels/gpt.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include <gtest/gtest.h>

#include "plume/kernels/rng.h"

namespace plume::kernels {
namespace {

ModelConfig TinyConfig() { return ModelConfig{2, 2, 8, 8, 16}; }  // L, NH, C, context, V

std::vector<int32_t> RandomTokens(size_t n, int vocab, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng.Below(vocab));
  return t;
}

// Parameters at a larger scale than GPT-2 init so every path (attention softmax, GELU,
// LayerNorm) is away from its linear regime and gradients are well above float noise.
std::vector<float> RandomParams(const ModelConfig& c, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> p(static_cast<size_t>(c.NumParams()));
  for (auto& x : p) x = static_cast<float>(0.3 * rng.Normal());
  const auto layout = ParamTensors(c);
  // Padded vocabulary rows stay zero, as the model keeps them.
  const auto& wte = layout[static_cast<int>(ParamKind::kWte)];
  std::fill(p.begin() + wte.offset + int64_t{c.vocab} * c.n_embd, p.begin() + wte.offset + wte.size, 0.0f);
  for (ParamKind k : {ParamKind::kLn1w, ParamKind::kLn2w, ParamKind::kLnfw}) {
    const auto& t = layout[static_cast<int>(k)];
    for (int64_t i = 0; i < t.size; ++i) p[t.offset + i] += 1.0f;
  }
  return p;
}

TEST(GptTest, GradientsMatchFiniteDifferences) {
  // Shown: d(loss)/d(param) from Backward() equals the central difference of Forward() for
  // three parameters of every one of the 16 tensors. eps = 1e-2 keeps float rounding of the
  // loss (~1e-7 relative) far below the difference; the tolerance allows O(eps^2) curvature.
  const ModelConfig c = TinyConfig();
  auto ops = MakeCpuOps(1);
  auto model = Gpt::Create(c, *ops);
  ASSERT_TRUE(model) << model.error().message;
  Gpt& m = **model;
  std::vector<float> params = RandomParams(c, 7);
  ASSERT_TRUE(m.SetParams(params));
  const int B = 2, T = 5;
  const auto x = RandomTokens(B * T, c.vocab, 1), y = RandomTokens(B * T, c.vocab, 2);
  ASSERT_TRUE(m.ZeroGrad());
  ASSERT_TRUE(m.Forward(x, y, B, T));
  ASSERT_TRUE(m.Backward());
  const auto grads = m.GetGrads();
  ASSERT_TRUE(grads);
  const float eps = 1e-2f;
  int checked = 0;
  SplitMix64 pick(3);
  for (const auto& t : ParamTensors(c)) {
    const int64_t real = t.kind == ParamKind::kWte ? int64_t{c.vocab} * c.n_embd : t.size;
    for (int k = 0; k < 3; ++k) {
      const int64_t i = t.offset + static_cast<int64_t>(pick.Below(real));
      std::vector<float> p = params;
      p[i] = params[i] + eps;
      ASSERT_TRUE(m.SetParams(p));
      const float up = *m.Forward(x, y, B, T);
      p[i] = params[i] - eps;
      ASSERT_TRUE(m.SetParams(p));
      const float down = *m.Forward(x, y, B, T);
      const double fd = (double{up} - down) / (2.0 * eps);
      const double an = (*grads)[i];
      EXPECT_NEAR(an, fd, 2e-4 + 0.03 * std::abs(fd)) << t.name << " index " << i - t.offset;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 48);
}

// InitialParams fills a flat vector without a model; it must be the model's own initialisation.
TEST(GptTest, InitialParamsAreTheModelsInitialisation) {
  const ModelConfig c{2, 2, 16, 8, 100};  // padded vocab: padding rows stay zero
  auto ops = MakeCpuOps(1);
  auto gpt = Gpt::CreateForInference(c, *ops);
  ASSERT_TRUE(gpt);
  ASSERT_TRUE((*gpt)->InitRandom(42));
  const auto from_model = (*gpt)->GetParams();
  const auto flat = InitialParams(c, 42);
  ASSERT_TRUE(from_model && flat);
  ASSERT_EQ(flat->size(), from_model->size());
  EXPECT_EQ(0, std::memcmp(flat->data(), from_model->data(), flat->size() * sizeof(float)));
  EXPECT_NE(*flat, *InitialParams(c, 43));
}

TEST(GptTest, LossAtInitIsLogVocab) {
  // Shown: with GPT-2 init (std 0.02) the logits are near zero, so the loss is close to the
  // uniform distribution's ln(256) = 5.545.
  const ModelConfig c{2, 4, 64, 32, 256};
  auto ops = MakeCpuOps(2);
  auto model = Gpt::Create(c, *ops);
  ASSERT_TRUE(model);
  ASSERT_TRUE((*model)->InitRandom(42));
  const auto x = RandomTokens(4 * 32, 256, 5), y = RandomTokens(4 * 32, 256, 6);
  const auto loss = (*model)->Forward(x, y, 4, 32);
  ASSERT_TRUE(loss);
  EXPECT_NEAR(*loss, std::log(256.0), 0.05);
}

TEST(GptTest, InitIsSeededAndFollowsGpt2) {
  const ModelConfig c{4, 2, 32, 16, 200};
  auto ops = MakeCpuOps(1);
  auto a = Gpt::Create(c, *ops), b = Gpt::Create(c, *ops);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->InitRandom(9));
  ASSERT_TRUE((*b)->InitRandom(9));
  const auto pa = *(*a)->GetParams(), pb = *(*b)->GetParams();
  ASSERT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * 4));
  const auto layout = ParamTensors(c);
  const auto stddev = [&](ParamKind k) {
    const auto& t = layout[static_cast<int>(k)];
    double s = 0;
    for (int64_t i = 0; i < t.size; ++i) s += double{pa[t.offset + i]} * pa[t.offset + i];
    return std::sqrt(s / t.size);
  };
  EXPECT_NEAR(stddev(ParamKind::kFcw), 0.02, 0.002);
  EXPECT_NEAR(stddev(ParamKind::kFcprojw), 0.02 / std::sqrt(8.0), 0.001);
  const auto& wte = layout[0];
  for (int64_t i = int64_t{c.vocab} * c.n_embd; i < wte.size; ++i) ASSERT_EQ(pa[i], 0.0f);
  EXPECT_EQ(pa[layout[static_cast<int>(ParamKind::kLnfw)].offset], 1.0f);
  EXPECT_EQ(pa[layout[static_cast<int>(ParamKind::kQkvb)].offset], 0.0f);
}

struct StepFixture {
  ModelConfig c = TinyConfig();
  std::unique_ptr<Ops> ops = MakeCpuOps(1);
  std::unique_ptr<Gpt> model;
  std::vector<float> params, grads;
  void Run() {
    model = std::move(*Gpt::Create(c, *ops));
    params = RandomParams(c, 11);
    ASSERT_TRUE(model->SetParams(params));
    const auto x = RandomTokens(8, c.vocab, 1), y = RandomTokens(8, c.vocab, 2);
    ASSERT_TRUE(model->ZeroGrad());
    ASSERT_TRUE(model->Forward(x, y, 2, 4));
    ASSERT_TRUE(model->Backward());
    grads = *model->GetGrads();
  }
};

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double{x} * x;
  return std::sqrt(s);
}

TEST(GptTest, StepAppliesAdamWWithDecayOnlyOnMatrices) {
  // Shown: after one Step, each parameter equals the hand-computed AdamW update of its
  // gradient; LayerNorm gains and biases get no weight decay.
  StepFixture f;
  f.Run();
  AdamWParams p;
  p.lr = 1e-2f;
  p.weight_decay = 0.1f;
  const auto norm = f.model->Step(p, 0.0f);
  ASSERT_TRUE(norm);
  EXPECT_NEAR(*norm, Norm(f.grads), 1e-4 * Norm(f.grads));
  const auto after = *f.model->GetParams();
  for (const auto& t : ParamTensors(f.c)) {
    const double wd = t.weight_decay ? p.weight_decay : 0.0;
    for (int64_t i = t.offset; i < t.offset + t.size; i += 7) {
      const double g = f.grads[i];
      const double m = (1 - p.beta1) * g / (1 - p.beta1);
      const double v = (1 - p.beta2) * g * g / (1 - p.beta2);
      const double want = f.params[i] - p.lr * (m / (std::sqrt(v) + p.eps) + wd * f.params[i]);
      ASSERT_NEAR(after[i], want, 1e-5) << t.name;
    }
  }
}

TEST(GptTest, StepClipsTheGlobalGradientNorm) {
  StepFixture f;
  f.Run();
  const double norm = Norm(f.grads);
  ASSERT_GT(norm, 0.1);
  const float clip = static_cast<float>(norm / 4);
  const auto reported = f.model->Step(AdamWParams{}, clip);
  ASSERT_TRUE(reported);
  EXPECT_NEAR(*reported, norm, 1e-4 * norm);  // the norm before clipping
  const auto clipped = *f.model->GetGrads();
  EXPECT_NEAR(Norm(clipped), clip, 1e-4 * clip);
  for (size_t i = 0; i < clipped.size(); i += 13) EXPECT_NEAR(clipped[i], f.grads[i] / 4, 1e-6);
}

TEST(GptTest, RepeatedStepsAreBitIdentical) {
  // Shown: the same init, data and hyper-parameters give the same bits after several steps,
  // on the multi-threaded CPU backend.
  const ModelConfig c{2, 4, 32, 16, 64};
  const auto run = [&c]() {
    auto ops = MakeCpuOps(2);
    auto model = std::move(*Gpt::Create(c, *ops));
    EXPECT_TRUE(model->InitRandom(5));
    for (int s = 1; s <= 4; ++s) {
      const auto x = RandomTokens(4 * 16, c.vocab, s), y = RandomTokens(4 * 16, c.vocab, 100 + s);
      EXPECT_TRUE(model->ZeroGrad());
      EXPECT_TRUE(model->Forward(x, y, 4, 16));
      EXPECT_TRUE(model->Backward());
      AdamWParams p;
      p.step = s;
      p.lr = 1e-3f;
      EXPECT_TRUE(model->Step(p, 1.0f));
    }
    return *model->GetParams();
  };
  const auto a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(GptTest, RejectsBadInputs) {
  const ModelConfig c = TinyConfig();
  auto ops = MakeCpuOps(1);
  auto model = std::move(*Gpt::Create(c, *ops));
  std::vector<int32_t> x(4, 1), y(4, 1);
  auto r = model->Forward(x, y, 1, 9);  // T > context
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("context"), std::string::npos);
  x[2] = 16;  // == vocab
  r = model->Forward(x, y, 1, 4);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tokens[2]"), std::string::npos);
  EXPECT_FALSE(model->Backward());  // no successful forward
  EXPECT_FALSE(model->SetParams(std::vector<float>(3)));
  ModelConfig bad = c;
  bad.n_embd = 10;
  bad.n_head = 3;
  auto created = Gpt::Create(bad, *ops);
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message.find("model.n_embd"), std::string::npos);
}

}  // namespace
}  // namespace plume::kernels
