// See omp_env.h for why a re-exec is the only way to change libgomp's wait policy.
#include "plume/kernels/omp_env.h"

#include <unistd.h>

#include <cstdlib>

namespace plume::kernels {

void ReexecWithPassiveOmpWait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // execv only returns on failure; the process keeps libgomp's default policy.
}

}  // namespace plume::kernels
