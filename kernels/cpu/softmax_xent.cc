// Fused softmax + cross-entropy over the vocabulary (the loss at the top of the GPT), and plain
// softmax with temperature (for sampling during generation). CPU reference.
//
// Per row i of logits x (only the first V of Vp columns are real), target y = targets[i]:
//   m = max_j x_j,  Z = sum_j exp(x_j - m),  p_j = exp(x_j - m) / Z
//   loss_i = log Z + m - x_y
//   dlogits[i,j] = loss_scale * (p_j - [j == y])      (written over x; 0 in padding columns)
// Softmax with temperature tau: p_j = softmax(x / tau)_j, padding columns 0.
// Shapes: logits/probs (N,Vp), losses (N), targets (N) int32 in [0,V).
//
// Subtracting the row maximum keeps exp() in range; Z is summed in double because V is large
// (50257 for GPT-2) and every later value divides by it. Each row is one thread's work; the
// exponentials go to a per-thread scratch row so the max, exp and scale loops vectorise.

// The fast_math.h loops vectorise only when the compiler may ignore floating-point exception
// flags, which nothing here reads; results are unchanged (no reassociation is allowed).
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_ops.h"
#include "fast_math.h"

namespace plume::kernels::cpu {
namespace {

constexpr int kLanes = 8;  // interleaved partial results: a fixed order the compiler can vectorise

float LaneMax(const float* x, int n) {
  float lanes[kLanes];
  for (int k = 0; k < kLanes; ++k) lanes[k] = x[0];
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) lanes[k] = std::max(lanes[k], x[j + k]);
  float mx = lanes[0];
  for (int k = 1; k < kLanes; ++k) mx = std::max(mx, lanes[k]);
  for (; j < n; ++j) mx = std::max(mx, x[j]);
  return mx;
}

double LaneSum(const float* x, int n) {
  double lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) lanes[k] += x[j + k];
  double sum = 0.0;
  for (int k = 0; k < kLanes; ++k) sum += lanes[k];
  for (; j < n; ++j) sum += x[j];
  return sum;
}

// e[0..V) = exp(x * inv_temp - max); returns log Z and sets *max and *inv_sum.
double Exponentials(float* e, const float* x, int V, float inv_temp, float* max, float* inv_sum) {
  for (int j = 0; j < V; ++j) e[j] = x[j] * inv_temp;
  const float mx = LaneMax(e, V);
  for (int j = 0; j < V; ++j) e[j] = FastExp(e[j] - mx);
  const double z = LaneSum(e, V);
  *max = mx;
  *inv_sum = static_cast<float>(1.0 / z);
  return std::log(z);
}

}  // namespace

void SoftmaxCrossEntropyCpu(float* logits, float* losses, float* probs_out, const int32_t* targets,
                            int N, int V, int Vp, float loss_scale, bool write_dlogits) {
#pragma omp parallel
  {
    std::vector<float> e(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      float* x = logits + static_cast<long>(i) * Vp;
      const int y = targets[i];
      float mx, inv_sum;
      const double log_z = Exponentials(e.data(), x, V, 1.0f, &mx, &inv_sum);
      losses[i] = static_cast<float>(log_z + mx - x[y]);
      if (probs_out != nullptr) {
        float* pr = probs_out + static_cast<long>(i) * Vp;
        for (int j = 0; j < V; ++j) pr[j] = e[j] * inv_sum;
        for (int j = V; j < Vp; ++j) pr[j] = 0.0f;
      }
      if (write_dlogits) {
        for (int j = 0; j < V; ++j) x[j] = loss_scale * (e[j] * inv_sum);
        x[y] -= loss_scale;
        for (int j = V; j < Vp; ++j) x[j] = 0.0f;
      }
    }
  }
}

void SoftmaxCpu(float* probs, const float* logits, int N, int V, int Vp, float temperature) {
  const float inv_temp = 1.0f / temperature;
#pragma omp parallel
  {
    std::vector<float> e(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      const float* x = logits + static_cast<long>(i) * Vp;
      float* pr = probs + static_cast<long>(i) * Vp;
      float mx, inv_sum;
      Exponentials(e.data(), x, V, inv_temp, &mx, &inv_sum);
      for (int j = 0; j < V; ++j) pr[j] = e[j] * inv_sum;
      for (int j = V; j < Vp; ++j) pr[j] = 0.0f;
    }
  }
}

}  // namespace plume::kernels::cpu
