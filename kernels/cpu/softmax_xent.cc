// Fused softmax + cross-entropy over the vocabulary (the loss at the top of the GPT), and plain
// softmax with temperature (for sampling during generation). CPU reference.
//
// Per row i of logits x (only the first V of Vp columns are real), target y = targets[i]:
//   m = max_j x_j,  Z = sum_j exp(x_j - m),  p_j = exp(x_j - m) / Z
//   loss_i = log Z + m - x_y
//   dlogits[i,j] = loss_scale * (p_j - [j == y])      (written over x; 0 in padding columns)
// Softmax with temperature tau: p_j = softmax(x / tau)_j, padding columns 0.
// Shapes: logits/probs (N,Vp), losses (N), targets (N) int32 in [0,V).
// Subtracting the row maximum keeps exp() in range; Z is summed in double because V is large
// (50257 for GPT-2) and every later value divides by it.
#include <algorithm>
#include <cmath>

#include "cpu_ops.h"

namespace plume::kernels::cpu {
namespace {

struct RowStats {
  float max;
  float inv_sum;
  float log_sum;
};

// Statistics of softmax(x[0..V) * inv_temp).
RowStats Stats(const float* x, int V, float inv_temp) {
  float mx = x[0] * inv_temp;
  for (int j = 1; j < V; ++j) mx = std::max(mx, x[j] * inv_temp);
  double sum = 0.0;
  for (int j = 0; j < V; ++j) sum += std::exp(x[j] * inv_temp - mx);
  return RowStats{mx, static_cast<float>(1.0 / sum), static_cast<float>(std::log(sum))};
}

}  // namespace

void SoftmaxCrossEntropyCpu(float* logits, float* losses, float* probs_out,
                            const int32_t* targets, int N, int V, int Vp, float loss_scale,
                            bool write_dlogits) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    float* x = logits + static_cast<long>(i) * Vp;
    const int y = targets[i];
    const RowStats st = Stats(x, V, 1.0f);
    losses[i] = st.log_sum + st.max - x[y];
    float* pr = probs_out == nullptr ? nullptr : probs_out + static_cast<long>(i) * Vp;
    for (int j = 0; j < V; ++j) {
      const float p = std::exp(x[j] - st.max) * st.inv_sum;
      if (pr != nullptr) pr[j] = p;
      if (write_dlogits) x[j] = loss_scale * (p - (j == y ? 1.0f : 0.0f));
    }
    for (int j = V; j < Vp; ++j) {
      if (pr != nullptr) pr[j] = 0.0f;
      if (write_dlogits) x[j] = 0.0f;
    }
  }
}

void SoftmaxCpu(float* probs, const float* logits, int N, int V, int Vp, float temperature) {
  const float inv_temp = 1.0f / temperature;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* x = logits + static_cast<long>(i) * Vp;
    float* pr = probs + static_cast<long>(i) * Vp;
    const RowStats st = Stats(x, V, inv_temp);
    for (int j = 0; j < V; ++j) pr[j] = std::exp(x[j] * inv_temp - st.max) * st.inv_sum;
    for (int j = V; j < Vp; ++j) pr[j] = 0.0f;
  }
}

}  // namespace plume::kernels::cpu
