// Helpers for the CPU backend's tests: seeded random tensors, the scalar test loss, and a
// central finite-difference gradient checker. Header-only, test code only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace plume::kernels::testing {

inline std::vector<float> RandomVec(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> RandomTokens(size_t n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The scalar loss L = sum(out * R), accumulated in double, whose gradient wrt out is R.
inline double WeightedSum(const std::vector<float>& out, const std::vector<float>& r) {
  double sum = 0.0;
  for (size_t i = 0; i < out.size(); ++i) sum += static_cast<double>(out[i]) * r[i];
  return sum;
}

inline bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct GradCheckResult {
  int checked = 0;
  int failed = 0;
  std::string first_failure;  // "index i: numeric x analytic y"
};

struct GradTolerance {
  float eps = 1e-2f;       // finite-difference step
  double rel = 1e-2;       // relative to the larger of the two gradients
  double abs = 1e-3;       // floor for gradients near zero
  size_t max_checks = 64;  // at most this many elements, spread evenly over the tensor
};

// Compares analytic[i] with (L(x + e_i eps) - L(x - e_i eps)) / (2 eps) for a spread of
// elements of x. `loss` must recompute the forward pass from the current contents of x. The
// step actually taken is measured in float (x+eps is rounded), so it is used as the divisor.
inline GradCheckResult CheckGradient(std::vector<float>& x, const std::vector<float>& analytic,
                                     const std::function<double()>& loss,
                                     const GradTolerance& tol = {}) {
  GradCheckResult result;
  const size_t n = x.size();
  const size_t stride = std::max<size_t>(1, n / tol.max_checks);
  for (size_t i = 0; i < n; i += stride) {
    const float saved = x[i];
    const float plus = saved + tol.eps;
    const float minus = saved - tol.eps;
    x[i] = plus;
    const double l_plus = loss();
    x[i] = minus;
    const double l_minus = loss();
    x[i] = saved;
    const double numeric = (l_plus - l_minus) / (static_cast<double>(plus) - minus);
    const double a = analytic[i];
    const double bound = tol.rel * std::max(std::fabs(numeric), std::fabs(a)) + tol.abs;
    ++result.checked;
    if (!(std::fabs(numeric - a) <= bound)) {
      if (result.failed == 0) {
        result.first_failure = "index " + std::to_string(i) + ": numeric " +
                               std::to_string(numeric) + " analytic " + std::to_string(a);
      }
      ++result.failed;
    }
  }
  return result;
}

// The gradient written by a backward op into a buffer pre-filled with `prefill` (ops accumulate).
inline std::vector<float> Accumulated(const std::vector<float>& grad, float prefill) {
  std::vector<float> out(grad.size());
  for (size_t i = 0; i < grad.size(); ++i) out[i] = grad[i] - prefill;
  return out;
}

}  // namespace plume::kernels::testing
