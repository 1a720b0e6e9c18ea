#!/usr/bin/env bash
# The one-command device check, in two halves:
#
#   scripts/gpu-check.sh build [dir]   on a build machine with the CUDA toolkit (no GPU needed):
#                                      builds a bundle a bare GPU machine can run (default dir
#                                      gpu-check/ under the repository root, git-ignored)
#   scripts/gpu-check.sh run [dir]     on the GPU machine (driver only; run from the repository
#                                      root): every CUDA test, the selftest, the CUDA learning
#                                      test, the kernel benchmarks against cuBLAS, a GPT-2 124M
#                                      training step and GPT-2 124M decoding with the KV cache
#                                      (batch 1 and 16, prefill, cache vs no cache), then one report (report.txt in the bundle,
#                                      and $OUT/gpu-check.txt when OUT is set). Under 5 minutes.
#
# What the bundle holds and why: a GPU machine may have no package registry and other system
# libraries, so the test binary links libstdc++/libgcc, GoogleTest, OpenBLAS (with gfortran and
# quadmath), OpenMP, toml++ and cudart statically; what stays dynamic is glibc and the driver's
# libcuda.so. NCCL and cuBLAS are far too large to carry (200 MB, 600 MB): NCCL is loaded with
# dlopen at first use, and cuBLAS (only the benchmarks' baseline) is linked dynamically; `run`
# looks for both on the machine (CUDA toolkit, or the Python wheels nvidia-nccl/nvidia-cublas)
# and says so when they are missing. The benchmarks link Google Benchmark's shared library,
# which travels in the bundle (Debian ships no static one).
#
# CUDA_ARCHS (default 90: H100/H200) and JOBS (default nproc) may be set for `build`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-}"
bundle="${2:-$root/gpu-check}"

build() {
  local archs="${CUDA_ARCHS:-90}" jobs="${JOBS:-$(nproc)}"
  local build="$root/build-gpu" libdir=/usr/lib/x86_64-linux-gnu cuda_lib=/usr/local/cuda/lib64
  need() { [[ -e "$1" ]] || { echo "gpu-check: missing $1 ($2)" >&2; exit 1; }; }
  need "$libdir/libopenblas.a" "install libopenblas-dev"
  need "$libdir/libgtest.a" "install libgtest-dev"
  need "$cuda_lib/libcudart_static.a" "install the CUDA toolkit under /usr/local/cuda"
  local gfortran_a quadmath_a gomp_a
  gfortran_a="$(gcc -print-file-name=libgfortran.a)"
  quadmath_a="$(gcc -print-file-name=libquadmath.a)"
  gomp_a="$(gcc -print-file-name=libgomp.a)"
  for lib in "$gfortran_a" "$quadmath_a" "$gomp_a"; do
    need "$lib" "static runtime from gcc; install gfortran / libgomp for gcc $(gcc -dumpversion)"
  done
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPLUME_CUDA=ON \
    "-DCMAKE_CUDA_ARCHITECTURES=$archs" "${launcher[@]}" >/dev/null
  cmake --build "$build" --target plume_kernels_test cuda_kernels_bench gpt2_step_bench \
    decode_bench -j "$jobs"

  # CMake links against the shared OpenBLAS, libgomp and toml++; relink from the same objects
  # with static archives. toml++ ships no archive, so its implementation is compiled here.
  rm -rf "$bundle" && mkdir -p "$bundle"
  local toml_impl="$build/toml_impl.o"
  echo '#include <toml++/toml.h>' |
    g++ -std=c++20 -O2 -x c++ -DTOML_HEADER_ONLY=0 -DTOML_IMPLEMENTATION -c - -o "$toml_impl"
  local static_tail=("$build/kernels/libplume_kernels.a" "$build/kernels/libplume_flops.a"
    "$toml_impl" "$libdir/libopenblas.a" "$gfortran_a" "$quadmath_a" "$gomp_a"
    "$cuda_lib/libcudart_static.a" -static-libstdc++ -static-libgcc -lpthread -ldl -lrt -lm)
  mapfile -t objects < <(ls "$build"/kernels/CMakeFiles/plume_kernels_test.dir/*.o)
  g++ -s -o "$bundle/plume_kernels_test" "${objects[@]}" "$libdir/libgtest_main.a" \
    "$libdir/libgtest.a" "${static_tail[@]}"
  g++ -s -o "$bundle/gpt2_step_bench" \
    "$build"/bench/kernels/CMakeFiles/gpt2_step_bench.dir/*.o \
    "${static_tail[@]}" -L"$cuda_lib" -lcublas
  g++ -s -o "$bundle/decode_bench" "$build"/bench/kernels/CMakeFiles/decode_bench.dir/*.o \
    "${static_tail[@]}"
  cp -L "$libdir/libbenchmark.so.1debian" "$bundle/"
  g++ -s -o "$bundle/cuda_kernels_bench" \
    "$build"/bench/kernels/CMakeFiles/cuda_kernels_bench.dir/*.o \
    "$bundle/libbenchmark.so.1debian" "${static_tail[@]}" -L"$cuda_lib" -lcublas \
    -Wl,-rpath,'$ORIGIN'
  # Registers, spills and shared memory of the BF16 kernels (matmul_bf16.cu, attention_bf16.cu)
  # for each architecture built, as ptxas reports them; 'run' prints them with the timings.
  local arch_flags=()
  for a in ${archs//;/ }; do arch_flags+=("--generate-code=arch=compute_$a,code=sm_$a"); done
  for f in matmul_bf16 attention_bf16; do
    /usr/local/cuda/bin/nvcc -std=c++20 -O3 -DNDEBUG "${arch_flags[@]}" -Xptxas -v \
      -I"$root/kernels/include" -I"$root/kernels/src" -I"$root/kernels/cuda" \
      -x cu -c "$root/kernels/cuda/$f.cu" -o /dev/null 2>&1 |
      grep -E "Compiling entry|Used|spill" |
      sed -E 's/.*entry function .*(Bf16GemmKernelILb(.)ELb(.)E|ToBf16Kernel|AttentionForwardBf16Kernel).*(sm_[0-9]+).*/\1 \4:/'
  done >"$bundle/resource-usage.txt"
  echo "(dynamic shared memory is set at launch and not in this report: docs/gpu-kernels.md)" \
    >>"$bundle/resource-usage.txt"
  echo "gpu-check: bundle in $bundle ($(du -sh "$bundle" | cut -f1))"
  # (Google Benchmark's shared library brings libstdc++ with it: the GPU machine must have one.)
  for bin in plume_kernels_test gpt2_step_bench cuda_kernels_bench decode_bench; do
    local allowed='^$'
    [[ $bin == cuda_kernels_bench ]] && allowed='libstdc\+\+'
    if ldd "$bundle/$bin" | grep -Ev "$allowed" |
      grep -Eq 'libstdc\+\+|libgomp|libopenblas|libgtest|libcudart|libtoml|libgfortran'; then
      echo "gpu-check: $bin links a library that should have been static:" >&2
      ldd "$bundle/$bin" >&2
      exit 1
    fi
  done
  # The tests read the data at the path this repository had at build time.
  echo "$root/data" >"$bundle/data-dir"
  # Compressed, the bundle fits what a GPU lease carries (64 MiB with the tree; 65 MB unpacked).
  tar -C "$bundle" -cJf "$bundle.tar.xz" .
  echo "gpu-check: $bundle.tar.xz ($(du -h "$bundle.tar.xz" | cut -f1)); 'run' unpacks it"
}

# The first directory under the given roots holding file $1.
find_lib() {
  find /usr/local /usr/lib /opt /lib 2>/dev/null -name "$1" -print -quit | xargs -r dirname
}

run() {
  if [[ ! -x "$bundle/plume_kernels_test" && -f "$bundle.tar.xz" ]]; then
    mkdir -p "$bundle" && tar -C "$bundle" -xJf "$bundle.tar.xz"
  fi
  [[ -x "$bundle/plume_kernels_test" ]] || { echo "gpu-check: no bundle in $bundle; run 'build' first" >&2; exit 1; }
  local report="$bundle/report.txt" start=$SECONDS
  local want_data
  want_data="$(cat "$bundle/data-dir")"
  if [[ ! -e "$want_data/tinyshakespeare.txt" ]]; then
    mkdir -p "$(dirname "$want_data")" && ln -sfn "$root/data" "$want_data"
  fi
  local extra=""
  for lib in libnccl.so.2 libcublas.so.13 libcublasLt.so.13; do
    local dir
    dir="$(find_lib "$lib")"
    if [[ -n "$dir" ]]; then extra="$extra:$dir"; else echo "gpu-check: $lib not found on this machine"; fi
  done
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}$extra"
  export OMP_WAIT_POLICY=passive
  {
    echo "== plume gpu-check, $(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
    echo "== CUDA tests, the selftest and the CUDA learning tests"
    timeout 200 "$bundle/plume_kernels_test" --gtest_brief=1 \
      --gtest_filter='Cuda*:*MultiDevice*:SelftestGpu*:AllReduce*:CudaAvailability*' 2>&1 || echo "gpu-check: CUDA TESTS FAILED (exit $?)"
    # The pipelined matmul (matmul_pipelined.cu) is off by default until it has passed here.
    echo "== the op tests, the selftest and the loss curve with PLUME_CUDA_MATMUL=pipelined"
    PLUME_CUDA_MATMUL=pipelined timeout 90 "$bundle/plume_kernels_test" --gtest_brief=1 \
      --gtest_filter='CudaOpsTest.*:SelftestGpu*:CudaTraining.FollowsTheCpuLossCurve' 2>&1 | grep -v '^  ok ' || echo "gpu-check: PIPELINED MATMUL FAILED (exit $?)"
    # The BF16 kernels (matmul_bf16.cu, attention_bf16.cu): CudaBf16Test above chose them
    # explicitly; here the environment selects them for whole-model runs. The op tests' TF32
    # tolerances do not apply to BF16, so CudaOpsTest is not rerun. The loss-curve bounds hold for
    # the BF16 arithmetic emulated on the CPU (Bf16Emulation.TrainingFollowsTheFp32LossCurve).
    echo "== the learning test, the loss curve and the selftest with PLUME_CUDA_MATMUL=bf16 PLUME_CUDA_ATTENTION=bf16"
    PLUME_CUDA_MATMUL=bf16 PLUME_CUDA_ATTENTION=bf16 timeout 120 "$bundle/plume_kernels_test" \
      --gtest_brief=1 --gtest_filter='SelftestGpu*:CudaTraining.*' 2>&1 | grep -v '^  ok ' || echo "gpu-check: BF16 KERNELS FAILED (exit $?)"
    echo "== kernel benchmarks (our TF32, pipelined and BF16 matmuls and our attention against cuBLAS)"
    timeout 120 "$bundle/cuda_kernels_bench" --benchmark_min_time=0.5 2>&1 || echo "gpu-check: kernel benchmark failed (exit $?)"
    echo "== register, spill and shared-memory use of the BF16 kernels (ptxas, at build time)"
    cat "$bundle/resource-usage.txt" 2>/dev/null || echo "(not recorded)"
    echo "== GPT-2 124M training step, our matmuls against cuBLAS matmuls"
    timeout 90 "$bundle/gpt2_step_bench" 4 1024 5 2>&1 || echo "gpu-check: step benchmark failed (exit $?)"
    echo "== the same with PLUME_CUDA_MATMUL=pipelined"
    PLUME_CUDA_MATMUL=pipelined timeout 90 "$bundle/gpt2_step_bench" 4 1024 5 2>&1 || echo "gpu-check: step benchmark failed (exit $?)"
    echo "== the same with PLUME_CUDA_MATMUL=bf16 PLUME_CUDA_ATTENTION=bf16"
    PLUME_CUDA_MATMUL=bf16 PLUME_CUDA_ATTENTION=bf16 timeout 90 "$bundle/gpt2_step_bench" 4 1024 5 2>&1 || echo "gpu-check: step benchmark failed (exit $?)"
    echo "== GPT-2 124M decoding with the KV cache (issue 13's figures on the device)"
    timeout 150 "$bundle/decode_bench" --device 0 2>&1 || echo "gpu-check: decode benchmark failed (exit $?)"
    local sanitizer
    sanitizer="$(command -v compute-sanitizer || find /usr/local /opt -name compute-sanitizer -type f -print -quit 2>/dev/null || true)"
    if [[ -n "$sanitizer" ]]; then
      echo "== compute-sanitizer memcheck over the op tests"
      timeout 60 "$sanitizer" --tool memcheck --print-limit 10 "$bundle/plume_kernels_test" \
        --gtest_brief=1 --gtest_filter='CudaOpsTest.*:CudaBf16Test.*' 2>&1 | tail -15 || echo "gpu-check: sanitizer run did not finish (exit $?)"
    fi
    echo "== done in $((SECONDS - start)) s"
  } 2>&1 | tee "$report"
  if [[ -n "${OUT:-}" ]]; then cp "$report" "$OUT/gpu-check.txt"; fi
  ! grep -q "FAILED" "$report"
}

case "$mode" in
  build) build ;;
  run) run ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
