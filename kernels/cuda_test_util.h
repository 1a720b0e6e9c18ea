// Helpers for the tests that compare a CUDA backend with a reference backend through the public
// Ops interface (cuda_ops_test.cc, cuda_bf16_test.cc): host tensors uploaded to any backend, the
// per-element error metric, and "run on both, compare, rerun, require the same bits".
// Header-only, test code only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plume/kernels/ops.h"

namespace plume::kernels::testing {

// Host contents of the tensors of one op call; outputs hold NaN (poison).
struct HostTensors {
  std::map<std::string, std::vector<float>> f32;
  std::map<std::string, std::vector<int32_t>> i32;
};

// The same tensors uploaded to one backend.
class Tensors {
 public:
  Tensors(Ops& ops, const HostTensors& host) : ops_(ops) {
    for (const auto& [name, v] : host.f32) Upload(name, v.data(), v.size() * sizeof(float));
    for (const auto& [name, v] : host.i32) Upload(name, v.data(), v.size() * sizeof(int32_t));
  }
  float* f(const std::string& name) { return bufs_.at(name)->f32(); }
  int32_t* i(const std::string& name) { return bufs_.at(name)->i32(); }
  std::vector<float> Download(const std::string& name) {
    Buffer& b = *bufs_.at(name);
    std::vector<float> v(b.bytes() / sizeof(float));
    auto st = ops_.CopyToHost(v.data(), b.data(), b.bytes());
    EXPECT_TRUE(st) << name << ": " << st.error().message;
    return v;
  }

 private:
  void Upload(const std::string& name, const void* src, size_t bytes) {
    auto buf = ops_.Alloc(bytes);
    ASSERT_TRUE(buf) << buf.error().message;
    auto st = ops_.CopyToDevice((*buf)->data(), src, bytes);
    ASSERT_TRUE(st) << st.error().message;
    bufs_[name] = std::move(*buf);
  }
  Ops& ops_;
  std::map<std::string, std::unique_ptr<Buffer>> bufs_;
};

using OpFn = std::function<Status(Ops&, Tensors&)>;

// The error metric: element k is within tol when |got - ref| <= tol * (|ref| + rms(ref)), a
// bound that tolerates cancellation in single elements but not a wrong kernel. NaN anywhere is
// out of bounds.
struct Deviation {
  size_t bad = 0;            // elements out of bounds
  size_t worst = 0;          // index of the largest error/bound
  double worst_ratio = 0.0;  // error/bound there (< 1: within tolerance)
};
inline Deviation MeasureDeviation(const std::vector<float>& ref, const std::vector<float>& got,
                                  double tol) {
  Deviation d;
  double sumsq = 0.0;
  for (float r : ref) sumsq += static_cast<double>(r) * r;
  const double rms = std::sqrt(sumsq / std::max<size_t>(ref.size(), 1)) + 1e-30;
  for (size_t k = 0; k < ref.size() && k < got.size(); ++k) {
    const double err = std::fabs(static_cast<double>(got[k]) - ref[k]);
    const double bound = tol * (std::fabs(ref[k]) + rms);
    double ratio = err == 0.0 ? 0.0 : (bound == 0.0 ? 1e30 : err / bound);
    if (std::isnan(got[k]) || std::isnan(ref[k])) ratio = 1e30;
    if (ratio > 1.0) ++d.bad;
    if (ratio > d.worst_ratio) {
      d.worst_ratio = ratio;
      d.worst = k;
    }
  }
  return d;
}

inline void ExpectClose(const std::string& what, const std::vector<float>& ref,
                        const std::vector<float>& got, double tol) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  const Deviation d = MeasureDeviation(ref, got, tol);
  EXPECT_EQ(d.bad, 0u) << what << ": " << d.bad << " of " << ref.size()
                       << " elements off; worst at " << d.worst << ": got " << got[d.worst]
                       << " vs reference " << ref[d.worst] << " (error/bound " << d.worst_ratio
                       << ")";
}

// Runs fn on `ref` and on `dev` from `init`, compares `outputs` within tol, then reruns on dev
// from a fresh upload and requires bit-identical outputs (determinism).
inline void CompareBackends(Ops& ref, Ops& dev, const std::string& what, const HostTensors& init,
                            const std::vector<std::string>& outputs, const OpFn& fn, double tol) {
  SCOPED_TRACE(what);
  Tensors c(ref, init);
  Tensors g1(dev, init);
  Tensors g2(dev, init);
  auto sc = fn(ref, c);
  ASSERT_TRUE(sc) << "reference: " << sc.error().message;
  auto s1 = fn(dev, g1);
  ASSERT_TRUE(s1) << "device: " << s1.error().message;
  auto s2 = fn(dev, g2);
  ASSERT_TRUE(s2) << "device rerun: " << s2.error().message;
  ASSERT_TRUE(dev.Synchronize());
  for (const std::string& name : outputs) {
    std::vector<float> want = c.Download(name);
    std::vector<float> got = g1.Download(name);
    std::vector<float> again = g2.Download(name);
    ExpectClose(what + "/" + name, want, got, tol);
    EXPECT_EQ(std::memcmp(got.data(), again.data(), got.size() * sizeof(float)), 0)
        << what << "/" << name << ": two device runs differ (non-deterministic)";
  }
}

}  // namespace plume::kernels::testing
