// The CUDA backend against the CPU reference, through the public Ops interface only.
//
// Every op, forward and backward, runs on both backends from the same seeded random inputs.
// Outputs start poisoned (NaN), so an element a kernel forgets to write fails the comparison;
// gradients start at the same random values on both sides, so the accumulate (+=) rule is
// checked too. Errors are measured against |reference| + rms(reference), a bound that tolerates
// cancellation in single elements but not a wrong kernel. Each CUDA op then runs a second time
// from a fresh upload and must give bit-identical results (determinism). Sizes include
// non-multiples of every tile (matmul 128x64x32, attention 16/32 rows, warps of 32).
//
// Without a device (or a build without CUDA) these tests skip; the tests at the end, which
// check that a missing device is an error value and not a crash, run everywhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu_test_util.h"
#include "cuda_test_util.h"
#include "plume/kernels/allreduce.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kTolTf32 = 1e-2;      // matmul on tensor cores: 10-bit mantissa inputs
constexpr double kTolReduce = 2e-4;    // fp32 with a different summation order
constexpr double kTolElementwise = 2e-5;

std::vector<float> Random(size_t n, uint64_t seed, float scale = 1.0f) {
  return testing::RandomVec(n, seed, -scale, scale);
}
using testing::RandomTokens;

using testing::ExpectClose;
using testing::HostTensors;
using testing::OpFn;
using testing::Tensors;

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!BuiltWithCuda()) GTEST_SKIP() << "not built with CUDA";
    if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    cpu_ = MakeCpuOps();
    auto gpu = MakeCudaOps(0);
    ASSERT_TRUE(gpu) << gpu.error().message;
    gpu_ = std::move(*gpu);
  }

  // Runs fn on both backends from `init`, compares `outputs` within tol, then reruns on CUDA
  // and requires bit-identical outputs.
  void Check(const std::string& what, const HostTensors& init,
             const std::vector<std::string>& outputs, const OpFn& fn, double tol) {
    testing::CompareBackends(*cpu_, *gpu_, what, init, outputs, fn, tol);
  }

  // Runs fn on the CPU and returns the named outputs (inputs for a backward check).
  std::map<std::string, std::vector<float>> CpuRun(const HostTensors& init,
                                                   const std::vector<std::string>& outputs,
                                                   const OpFn& fn) {
    Tensors c(*cpu_, init);
    auto st = fn(*cpu_, c);
    EXPECT_TRUE(st) << st.error().message;
    std::map<std::string, std::vector<float>> out;
    for (const std::string& name : outputs) out[name] = c.Download(name);
    return out;
  }

  std::unique_ptr<Ops> cpu_;
  std::unique_ptr<Ops> gpu_;
};

TEST_F(CudaOpsTest, Encoder) {
  struct Shape { int B, T, C, V; };
  for (Shape s : {Shape{2, 37, 96, 77}, Shape{4, 64, 64, 11}, Shape{1, 5, 130, 300}}) {
    const int maxT = s.T + 3, Vp = s.V + 3;
    const size_t N = static_cast<size_t>(s.B) * s.T;
    std::vector<int32_t> tokens = RandomTokens(N, s.V, 11 + s.C);
    HostTensors fwd;
    fwd.i32["tokens"] = tokens;
    fwd.f32["wte"] = Random(static_cast<size_t>(Vp) * s.C, 1);
    fwd.f32["wpe"] = Random(static_cast<size_t>(maxT) * s.C, 2);
    fwd.f32["out"] = std::vector<float>(N * s.C, kNaN);
    Check("EncoderForward", fwd, {"out"}, [&](Ops& ops, Tensors& t) {
      return ops.EncoderForward(t.f("out"), t.i("tokens"), t.f("wte"), t.f("wpe"), s.B, s.T, s.C);
    }, 0.0);

    HostTensors bwd;
    bwd.i32["tokens"] = tokens;
    bwd.f32["dout"] = Random(N * s.C, 3);
    bwd.f32["dwte"] = Random(static_cast<size_t>(Vp) * s.C, 4);
    bwd.f32["dwpe"] = Random(static_cast<size_t>(maxT) * s.C, 5);
    Check("EncoderBackward", bwd, {"dwte", "dwpe"}, [&](Ops& ops, Tensors& t) {
      return ops.EncoderBackward(t.f("dwte"), t.f("dwpe"), t.f("dout"), t.i("tokens"),
                                 tokens.data(), s.B, s.T, s.C);
    }, kTolElementwise);
  }
}

TEST_F(CudaOpsTest, LayerNorm) {
  struct Shape { int N, C; };
  for (Shape s : {Shape{77, 96}, Shape{130, 33}, Shape{256, 768}, Shape{3, 1000}}) {
    const size_t NC = static_cast<size_t>(s.N) * s.C;
    HostTensors fwd;
    fwd.f32["inp"] = Random(NC, 21, 2.0f);
    fwd.f32["w"] = Random(s.C, 22);
    fwd.f32["b"] = Random(s.C, 23);
    fwd.f32["out"] = std::vector<float>(NC, kNaN);
    fwd.f32["mean"] = std::vector<float>(s.N, kNaN);
    fwd.f32["rstd"] = std::vector<float>(s.N, kNaN);
    OpFn forward = [&](Ops& ops, Tensors& t) {
      return ops.LayerNormForward(t.f("out"), t.f("mean"), t.f("rstd"), t.f("inp"), t.f("w"),
                                  t.f("b"), s.N, s.C);
    };
    Check("LayerNormForward", fwd, {"out", "mean", "rstd"}, forward, kTolReduce);

    auto stats = CpuRun(fwd, {"mean", "rstd"}, forward);
    HostTensors bwd;
    bwd.f32["inp"] = fwd.f32["inp"];
    bwd.f32["w"] = fwd.f32["w"];
    bwd.f32["mean"] = stats["mean"];
    bwd.f32["rstd"] = stats["rstd"];
    bwd.f32["dout"] = Random(NC, 24);
    bwd.f32["dinp"] = Random(NC, 25);
    bwd.f32["dw"] = Random(s.C, 26);
    bwd.f32["db"] = Random(s.C, 27);
    Check("LayerNormBackward", bwd, {"dinp", "dw", "db"}, [&](Ops& ops, Tensors& t) {
      return ops.LayerNormBackward(t.f("dinp"), t.f("dw"), t.f("db"), t.f("dout"), t.f("inp"),
                                   t.f("w"), t.f("mean"), t.f("rstd"), s.N, s.C);
    }, kTolReduce);
  }
}

TEST_F(CudaOpsTest, Matmul) {
  struct Shape { int N, C, OC; };
  for (Shape s : {Shape{77, 96, 130}, Shape{128, 64, 64}, Shape{37, 33, 17}, Shape{256, 768, 2304},
                  Shape{1, 5, 3}}) {
    const size_t NC = static_cast<size_t>(s.N) * s.C, NO = static_cast<size_t>(s.N) * s.OC;
    HostTensors fwd;
    fwd.f32["inp"] = Random(NC, 31);
    fwd.f32["w"] = Random(static_cast<size_t>(s.OC) * s.C, 32);
    fwd.f32["bias"] = Random(s.OC, 33);
    fwd.f32["out"] = std::vector<float>(NO, kNaN);
    Check("MatmulForward", fwd, {"out"}, [&](Ops& ops, Tensors& t) {
      return ops.MatmulForward(t.f("out"), t.f("inp"), t.f("w"), t.f("bias"), s.N, s.C, s.OC);
    }, kTolTf32);
    Check("MatmulForward(no bias)", fwd, {"out"}, [&](Ops& ops, Tensors& t) {
      return ops.MatmulForward(t.f("out"), t.f("inp"), t.f("w"), nullptr, s.N, s.C, s.OC);
    }, kTolTf32);

    HostTensors bwd;
    bwd.f32["inp"] = fwd.f32["inp"];
    bwd.f32["w"] = fwd.f32["w"];
    bwd.f32["dout"] = Random(NO, 34);
    bwd.f32["dinp"] = Random(NC, 35);
    bwd.f32["dw"] = Random(static_cast<size_t>(s.OC) * s.C, 36);
    bwd.f32["db"] = Random(s.OC, 37);
    Check("MatmulBackward", bwd, {"dinp", "dw", "db"}, [&](Ops& ops, Tensors& t) {
      return ops.MatmulBackward(t.f("dinp"), t.f("dw"), t.f("db"), t.f("dout"), t.f("inp"),
                                t.f("w"), s.N, s.C, s.OC);
    }, kTolTf32);
    // dbias and dinp may be null; the other gradients must still be right.
    Check("MatmulBackward(weight only)", bwd, {"dinp", "dw", "db"}, [&](Ops& ops, Tensors& t) {
      return ops.MatmulBackward(nullptr, t.f("dw"), nullptr, t.f("dout"), t.f("inp"), t.f("w"),
                                s.N, s.C, s.OC);
    }, kTolTf32);
  }
}

TEST_F(CudaOpsTest, Attention) {
  struct Shape { int B, T, C, NH; };
  for (Shape s : {Shape{2, 37, 64, 4}, Shape{1, 128, 128, 2}, Shape{1, 257, 96, 3},
                  Shape{2, 50, 256, 2}, Shape{1, 1, 32, 1}, Shape{3, 33, 48, 2}}) {
    const size_t BT = static_cast<size_t>(s.B) * s.T;
    HostTensors fwd;
    fwd.f32["qkv"] = Random(BT * 3 * s.C, 41, 2.0f);
    fwd.f32["out"] = std::vector<float>(BT * s.C, kNaN);
    fwd.f32["lse"] = std::vector<float>(static_cast<size_t>(s.B) * s.NH * s.T, kNaN);
    OpFn forward = [&](Ops& ops, Tensors& t) {
      return ops.AttentionForward(t.f("out"), t.f("lse"), t.f("qkv"), s.B, s.T, s.C, s.NH);
    };
    const std::string shape = "(B=" + std::to_string(s.B) + ",T=" + std::to_string(s.T) +
                              ",C=" + std::to_string(s.C) + ",NH=" + std::to_string(s.NH) + ")";
    Check("AttentionForward" + shape, fwd, {"out", "lse"}, forward, kTolReduce);

    auto saved = CpuRun(fwd, {"out", "lse"}, forward);
    HostTensors bwd;
    bwd.f32["qkv"] = fwd.f32["qkv"];
    bwd.f32["out"] = saved["out"];
    bwd.f32["lse"] = saved["lse"];
    bwd.f32["dout"] = Random(BT * s.C, 42);
    bwd.f32["dqkv"] = Random(BT * 3 * s.C, 43);
    Check("AttentionBackward" + shape, bwd, {"dqkv"}, [&](Ops& ops, Tensors& t) {
      return ops.AttentionBackward(t.f("dqkv"), t.f("dout"), t.f("qkv"), t.f("out"), t.f("lse"),
                                   s.B, s.T, s.C, s.NH);
    }, kTolReduce);
  }
}

TEST_F(CudaOpsTest, GeluAndResidual) {
  for (size_t n : {size_t{1}, size_t{1000}, size_t{77 * 96}, size_t{(1 << 20) + 3}}) {
    HostTensors t0;
    t0.f32["a"] = Random(n, 51, 4.0f);
    t0.f32["b"] = Random(n, 52);
    t0.f32["dout"] = Random(n, 53);
    t0.f32["out"] = std::vector<float>(n, kNaN);
    t0.f32["da"] = Random(n, 54);
    t0.f32["db"] = Random(n, 55);
    Check("GeluForward", t0, {"out"}, [&](Ops& ops, Tensors& t) {
      return ops.GeluForward(t.f("out"), t.f("a"), n);
    }, kTolElementwise);
    Check("GeluBackward", t0, {"da"}, [&](Ops& ops, Tensors& t) {
      return ops.GeluBackward(t.f("da"), t.f("a"), t.f("dout"), n);
    }, kTolElementwise);
    Check("ResidualForward", t0, {"out"}, [&](Ops& ops, Tensors& t) {
      return ops.ResidualForward(t.f("out"), t.f("a"), t.f("b"), n);
    }, 0.0);
    Check("ResidualBackward", t0, {"da", "db"}, [&](Ops& ops, Tensors& t) {
      return ops.ResidualBackward(t.f("da"), t.f("db"), t.f("dout"), n);
    }, 0.0);
  }
}

TEST_F(CudaOpsTest, SoftmaxCrossEntropy) {
  struct Shape { int N, V, Vp; };
  for (Shape s : {Shape{37, 77, 80}, Shape{4, 50257, 50304}, Shape{3, 256, 256}}) {
    const size_t NV = static_cast<size_t>(s.N) * s.Vp;
    HostTensors init;
    init.f32["logits"] = Random(NV, 61, 5.0f);
    init.i32["targets"] = RandomTokens(s.N, s.V, 62);
    init.f32["losses"] = std::vector<float>(s.N, kNaN);
    init.f32["probs"] = std::vector<float>(NV, kNaN);
    const float loss_scale = 1.0f / s.N;
    Check("SoftmaxCrossEntropy(dlogits, probs)", init, {"logits", "losses", "probs"},
          [&](Ops& ops, Tensors& t) {
            return ops.SoftmaxCrossEntropy(t.f("logits"), t.f("losses"), t.f("probs"),
                                           t.i("targets"), s.N, s.V, s.Vp, loss_scale, true);
          }, kTolReduce);
    Check("SoftmaxCrossEntropy(loss only)", init, {"logits", "losses"},
          [&](Ops& ops, Tensors& t) {
            return ops.SoftmaxCrossEntropy(t.f("logits"), t.f("losses"), nullptr, t.i("targets"),
                                           s.N, s.V, s.Vp, loss_scale, false);
          }, kTolReduce);
    Check("Softmax(T=0.7)", init, {"probs"}, [&](Ops& ops, Tensors& t) {
      return ops.Softmax(t.f("probs"), t.f("logits"), s.N, s.V, s.Vp, 0.7f);
    }, kTolReduce);
  }
}

TEST_F(CudaOpsTest, AdamWScaleFill) {
  const size_t n = 10007;
  HostTensors init;
  init.f32["p"] = Random(n, 71);
  init.f32["g"] = Random(n, 72);
  init.f32["m"] = Random(n, 73, 0.1f);
  std::vector<float> v = Random(n, 74, 0.01f);
  for (float& x : v) x = std::fabs(x);
  init.f32["v"] = v;
  AdamWParams p;
  p.lr = 1e-3f;
  p.weight_decay = 0.1f;
  p.step = 3;
  Check("AdamW", init, {"p", "m", "v"}, [&](Ops& ops, Tensors& t) {
    return ops.AdamW(t.f("p"), t.f("g"), t.f("m"), t.f("v"), n, p);
  }, kTolElementwise);
  Check("Scale", init, {"g"}, [&](Ops& ops, Tensors& t) {
    return ops.Scale(t.f("g"), 0.37f, n);
  }, 0.0);
  Check("Fill", init, {"g"}, [&](Ops& ops, Tensors& t) {
    return ops.Fill(t.f("g"), 2.5f, n);
  }, 0.0);
}

TEST_F(CudaOpsTest, GlobalNormIsCloseAndDeterministic) {
  for (size_t n : {size_t{1}, size_t{1000}, size_t{(1 << 22) + 17}}) {
    HostTensors init;
    init.f32["g"] = Random(n, 81);
    Tensors c(*cpu_, init);
    Tensors g(*gpu_, init);
    auto ref = cpu_->GlobalNorm(c.f("g"), n);
    auto got1 = gpu_->GlobalNorm(g.f("g"), n);
    auto got2 = gpu_->GlobalNorm(g.f("g"), n);
    ASSERT_TRUE(ref && got1 && got2);
    EXPECT_NEAR(*got1, *ref, 1e-5 * *ref) << "n=" << n;
    EXPECT_EQ(std::memcmp(&*got1, &*got2, sizeof(float)), 0) << "n=" << n;
  }
}

TEST_F(CudaOpsTest, BadShapesAreErrorsNotCrashes) {
  auto buf = gpu_->Alloc(1 << 20);
  ASSERT_TRUE(buf);
  float* x = (*buf)->f32();
  EXPECT_FALSE(gpu_->AttentionForward(x, x, x, 1, 8, 1024, 4));  // head size 256 > 128
  EXPECT_FALSE(gpu_->AttentionForward(x, x, x, 1, 8, 100, 3));   // C not divisible by NH
  EXPECT_FALSE(gpu_->Softmax(x, x, 2, 10, 10, 0.0f));
  EXPECT_FALSE(gpu_->SoftmaxCrossEntropy(x, x, nullptr, reinterpret_cast<int32_t*>(x), 2, 11,
                                         10, 1.0f, true));  // V > Vp
  EXPECT_FALSE(gpu_->MatmulForward(x, x, x, nullptr, 0, 4, 4));
  EXPECT_FALSE(gpu_->LayerNormForward(x, x, x, x, x, x, -1, 4));
  AdamWParams p;
  p.step = 0;
  EXPECT_FALSE(gpu_->AdamW(x, x, x, x, 4, p));
  std::vector<int32_t> negative = {1, -2};
  EXPECT_FALSE(gpu_->EncoderBackward(x, x, x, nullptr, negative.data(), 1, 2, 4));
  // The device is still usable afterwards.
  EXPECT_TRUE(gpu_->Fill(x, 1.0f, 16));
  EXPECT_TRUE(gpu_->Synchronize());
}

TEST_F(CudaOpsTest, BadTokenIdsAndTargetsOnTheDeviceAreErrorsNotWrites) {
  // Ids that slipped past the host checks: the kernels skip them and the next synchronisation
  // reports them; nothing outside the tables is read or written, and the backend stays usable.
  constexpr int B = 1, T = 2, C = 8, V = 10, Vp = 16;
  auto ids = gpu_->Alloc(T * sizeof(int32_t));
  auto table = gpu_->Alloc(size_t(Vp) * C * 4);
  auto pos = gpu_->Alloc(size_t(T) * C * 4);
  auto out = gpu_->Alloc(size_t(T) * Vp * 4);
  auto losses = gpu_->Alloc(T * 4);
  ASSERT_TRUE(ids && table && pos && out && losses);
  const std::vector<int32_t> negative = {3, -5};
  ASSERT_TRUE(gpu_->CopyToDevice((*ids)->data(), negative.data(), T * sizeof(int32_t)));
  ASSERT_TRUE(gpu_->EncoderForward((*out)->f32(), (*ids)->i32(), (*table)->f32(), (*pos)->f32(),
                                   B, T, C));
  auto sync = gpu_->Synchronize();
  ASSERT_FALSE(sync);
  EXPECT_NE(sync.error().message.find("negative token id"), std::string::npos);
  EXPECT_TRUE(gpu_->Synchronize());  // reported once, then cleared

  const std::vector<int32_t> targets = {V, 2};  // V itself is one past the last class
  ASSERT_TRUE(gpu_->CopyToDevice((*ids)->data(), targets.data(), T * sizeof(int32_t)));
  ASSERT_TRUE(gpu_->Fill((*out)->f32(), 0.5f, size_t(T) * Vp));
  ASSERT_TRUE(gpu_->SoftmaxCrossEntropy((*out)->f32(), (*losses)->f32(), nullptr, (*ids)->i32(), T,
                                        V, Vp, 1.0f, true));
  std::vector<float> dlogits(size_t(T) * Vp);
  auto copy = gpu_->CopyToHost(dlogits.data(), (*out)->data(), dlogits.size() * 4);
  ASSERT_FALSE(copy);
  EXPECT_NE(copy.error().message.find("target outside the vocabulary"), std::string::npos);
  ASSERT_TRUE(gpu_->CopyToHost(dlogits.data(), (*out)->data(), dlogits.size() * 4));
  for (int j = 0; j < Vp; ++j) EXPECT_EQ(dlogits[j], 0.0f) << "the bad row gets no gradient";
  EXPECT_LT(dlogits[Vp + 2], 0.0f);  // the good row's target column: p - 1
}

// Runs on every machine: without a device, asking for one is an error value.
TEST(CudaAvailability, MissingDeviceIsAnErrorNotACrash) {
  const int count = CudaDeviceCount();
  EXPECT_GE(count, 0);
  if (!BuiltWithCuda()) {
    EXPECT_EQ(count, 0);
  }
  auto out_of_range = MakeCudaOps(count);  // device ids run 0..count-1
  ASSERT_FALSE(out_of_range);
  EXPECT_FALSE(out_of_range.error().message.empty());
  EXPECT_FALSE(MakeCudaOps(-1));
  if (count == 0) {
    auto none = MakeCudaOps(0);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message.find("CUDA"), std::string::npos) << none.error().message;
  }
}

TEST(CudaAvailability, AllReducerRejectsBadDevicesAndAveragesOnRealOnes) {
  EXPECT_FALSE(AllReducer::Create({}));
  const int count = CudaDeviceCount();
  EXPECT_FALSE(AllReducer::Create({count}));  // one past the last device
  if (!BuiltWithNccl() || count == 0) GTEST_SKIP() << "no NCCL build or no CUDA device";
  EXPECT_FALSE(AllReducer::Create({0, 0}));
  // Over one device the mean of a buffer is the buffer itself, which a no-op also gives.
  if (count < 2) GTEST_SKIP() << "one CUDA device: an all-reduce over it cannot be told from a no-op";

  // Element i of device d holds (d+1)*(i%7+1); the mean over devices is (count+1)/2*(i%7+1), so
  // a reduction that skips a device, mixes up elements or sums instead of averaging is caught.
  std::vector<int> devices;
  std::vector<std::unique_ptr<Ops>> ops;
  std::vector<std::unique_ptr<Buffer>> bufs;
  std::vector<float*> ptrs;
  const size_t n = 1000;
  for (int d = 0; d < count; ++d) {
    auto o = MakeCudaOps(d);
    ASSERT_TRUE(o) << o.error().message;
    auto b = (*o)->Alloc(n * sizeof(float));
    ASSERT_TRUE(b);
    std::vector<float> values(n);
    for (size_t i = 0; i < n; ++i) values[i] = float(d + 1) * float(i % 7 + 1);
    ASSERT_TRUE((*o)->CopyToDevice((*b)->data(), values.data(), n * sizeof(float)));
    devices.push_back(d);
    ptrs.push_back((*b)->f32());
    bufs.push_back(std::move(*b));
    ops.push_back(std::move(*o));
  }
  auto reducer = AllReducer::Create(devices);
  ASSERT_TRUE(reducer) << reducer.error().message;
  EXPECT_EQ((*reducer)->size(), count);
  EXPECT_FALSE((*reducer)->AllReduceMean({}, n));  // wrong buffer count
  auto st = (*reducer)->AllReduceMean(ptrs, n);
  ASSERT_TRUE(st) << st.error().message;
  for (int d = 0; d < count; ++d) {
    std::vector<float> host(n);
    ASSERT_TRUE(ops[d]->CopyToHost(host.data(), ptrs[d], n * sizeof(float)));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(host[i], 0.5f * float(count + 1) * float(i % 7 + 1)) << "device " << d;
    }
  }
}

}  // namespace
}  // namespace plume::kernels
