// Gradient global L2 norm and scaling (gradient clipping, averaging), CPU reference. Runs once
// per training step over the whole gradient buffer.
//
// GlobalNorm: ||g|| = sqrt(sum_i g_i^2);  Scale: x_i *= factor.
// Shapes: n elements.
//
// The sum is cut into fixed chunks of kNormChunkElems elements, each summed in double by one
// thread, and the chunk sums are added in chunk order. The split does not depend on the thread
// count, so neither does the result.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_ops.h"

namespace plume::kernels::cpu {

float GlobalNormCpu(const float* grads, size_t n) {
  const size_t chunks = (n + kNormChunkElems - 1) / kNormChunkElems;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < chunks; ++c) {
    const size_t begin = c * kNormChunkElems;
    const size_t end = std::min(n, begin + kNormChunkElems);
    // Eight interleaved partial sums: a fixed order without one long dependency chain.
    double lanes[8] = {};
    size_t i = begin;
    for (; i + 8 <= end; i += 8)
      for (int k = 0; k < 8; ++k) lanes[k] += static_cast<double>(grads[i + k]) * grads[i + k];
    double sum = 0.0;
    for (int k = 0; k < 8; ++k) sum += lanes[k];
    for (; i < end; ++i) sum += static_cast<double>(grads[i]) * grads[i];
    partial[c] = sum;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return static_cast<float>(std::sqrt(total));
}

void ScaleCpu(float* x, float factor, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace plume::kernels::cpu
