#!/usr/bin/env bash
# Runs the benchmark binaries of a build directory (make bench: ./scripts/bench.sh build).
# Each section runs only when its binary was built; results are printed as Markdown tables, to
# be copied into bench/RESULTS.md with the machine and its load written next to them.
set -euo pipefail
BUILD="${1:-build}"
B="$BUILD/bench"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

run() {  # run NAME PATH [ARGS...]: a section header, then the binary (skipped when not built)
  local name="$1" bin="$2"
  shift 2
  if [[ -x "$bin" ]]; then
    echo "== $name: $bin $*"
    "$bin" "$@"
    echo
  else
    echo "== $name: $bin not built, skipped"
  fi
}

# ---- kernels (bench/kernels) and ledger (bench/ledger): their owners' defaults ----
run "kernels: CPU ops" "$B/kernels/cpu_ops_bench"
run "kernels: CPU training step" "$B/kernels/train_step_bench"
run "kernels: CUDA kernels" "$B/kernels/cuda_kernels_bench"
run "ledger" "$B/ledger/plume_ledger_bench"

# ---- network (bench/network) ----
run "network: dispatch (100 fake agents, durable scheduler)" "$B/network/plume_dispatch_bench"
run "network: DiLoCo vs all-reduce bytes (computed)" "$B/network/plume_diloco_comm_bench"
run "network: DiLoCo bytes on the wire (real job)" "$B/network/plume_diloco_wire_bench" \
  --data "$(dirname "$0")/../data/tinyshakespeare.txt"
