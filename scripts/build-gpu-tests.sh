#!/usr/bin/env bash
# Builds the kernels' test binary for a GPU machine that has only the NVIDIA driver (no Debian
# packages, no CUDA toolkit): libstdc++/libgcc, GoogleTest, OpenBLAS (with its gfortran and
# quadmath runtime), OpenMP (libgomp), toml++ and the CUDA runtime (cudart_static) are all
# linked statically; what remains dynamic is glibc (libc, libm, libdl, libpthread, librt) and
# the driver's libcuda.so, which cudart loads at run time. NCCL is left out (-DPLUME_NCCL=OFF):
# its shared library is over 200 MB, and the all-reduce test then reports "no NCCL build".
#
# Usage:  scripts/build-gpu-tests.sh [build-dir] [out-dir]
#   defaults: build-gpu-tests/ and build-gpu-tests/gpu-tests/ under the repository root;
#   CUDA_ARCHS (default "80;86;90") and JOBS (default 2) may be set in the environment.
#
# On the GPU machine (glibc at least as new as this machine's, driver for CUDA 13):
#   ./plume_kernels_test --gtest_filter='CudaOps*:CudaAvailability*'    # the CUDA-vs-CPU tests
#   ./plume_kernels_test                                                 # everything
# The full run also needs data/tinyshakespeare.txt at the absolute path this repository had
# when the binary was built (the training test's PLUME_DATA_DIR), e.g. via a symlink.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-gpu-tests}"
out="${2:-$build/gpu-tests}"
archs="${CUDA_ARCHS:-80;86;90}"
jobs="${JOBS:-2}"
libdir=/usr/lib/x86_64-linux-gnu
cuda_lib=/usr/local/cuda/lib64

need() {
  if [[ ! -e "$1" ]]; then
    echo "build-gpu-tests: missing $1 ($2)" >&2
    exit 1
  fi
}
need "$libdir/libopenblas.a" "install libopenblas-dev"
need "$libdir/libgtest.a" "install libgtest-dev"
need "$cuda_lib/libcudart_static.a" "install the CUDA toolkit under /usr/local/cuda"
gfortran_a="$(gcc -print-file-name=libgfortran.a)"
quadmath_a="$(gcc -print-file-name=libquadmath.a)"
gomp_a="$(gcc -print-file-name=libgomp.a)"
for lib in "$gfortran_a" "$quadmath_a" "$gomp_a"; do
  need "$lib" "static runtime from gcc; install gfortran / libgomp for gcc $(gcc -dumpversion)"
done

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLUME_CUDA=ON \
  "-DCMAKE_CUDA_ARCHITECTURES=$archs" -DPLUME_NCCL=OFF >/dev/null
cmake --build "$build" --target plume_kernels_test -j "$jobs"

# CMake links the test against the shared OpenBLAS, libgomp and toml++; relink it by hand from
# the same objects with static archives. toml++ ships no archive, so its implementation is
# compiled here from the header (the same header and configuration the library was built with).
mkdir -p "$out"
toml_impl="$build/toml_impl.o"
echo '#include <toml++/toml.h>' |
  g++ -std=c++20 -O2 -x c++ -DTOML_HEADER_ONLY=0 -DTOML_IMPLEMENTATION -c - -o "$toml_impl"

mapfile -t objects < <(ls "$build"/kernels/CMakeFiles/plume_kernels_test.dir/*.o)
g++ -o "$out/plume_kernels_test" "${objects[@]}" \
  "$build/kernels/libplume_kernels.a" "$toml_impl" \
  "$libdir/libgtest_main.a" "$libdir/libgtest.a" \
  "$libdir/libopenblas.a" "$gfortran_a" "$quadmath_a" "$gomp_a" \
  "$cuda_lib/libcudart_static.a" \
  -static-libstdc++ -static-libgcc -lpthread -ldl -lrt -lm

echo "build-gpu-tests: $out/plume_kernels_test"
echo "dynamic dependencies (should be glibc only):"
ldd "$out/plume_kernels_test" | sed 's/^/  /'
if ldd "$out/plume_kernels_test" | grep -Eq 'libstdc\+\+|libgomp|libopenblas|libgtest|libcudart|libtoml|libnccl|libgfortran'; then
  echo "build-gpu-tests: a library above should have been static" >&2
  exit 1
fi
