// Residual add, CPU reference: the skip connections around attention and the MLP.
//
// Forward:  out = a + b
// Backward: da += dout;  db += dout
// Shapes: any, n elements.
#include "cpu_ops.h"

namespace plume::kernels::cpu {

void ResidualForwardCpu(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for schedule(static) if (n >= size_t{kParallelMinWork})
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void ResidualBackwardCpu(float* da, float* db, const float* dout, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

}  // namespace plume::kernels::cpu
