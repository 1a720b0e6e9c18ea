#!/usr/bin/env bash
# The main job of the project, locally: train a small GPT on tinyshakespeare with
# `plume run-local`, then generate text from the trained weights. About a minute on 2 CPU cores.
#
# Usage: scripts/demo.sh BUILD_DIR      (BUILD_DIR holds cli/plume; `make demo` passes it)
set -euo pipefail

build_dir="${1:?usage: scripts/demo.sh BUILD_DIR}"
repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
plume="${build_dir}/cli/plume"
out_dir="${build_dir}/demo"
[[ -x "${plume}" ]] || { echo "demo: ${plume} not found; build first (make build)" >&2; exit 1; }

# libgomp's default spin-waiting makes OpenMP threads burn the cores they share with OpenBLAS
# and with anything else running; passive waiting is ~10x faster on a busy 2-core machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

echo "== 1/2: training a 2-layer GPT on data/tinyshakespeare.txt (examples/train-local.toml)"
"${plume}" run-local "${repo_dir}/examples/train-local.toml" --output-dir "${out_dir}" --log-every 100

echo
echo "== 2/2: generating from the trained weights (examples/infer-local.toml)"
"${plume}" run-local "${repo_dir}/examples/infer-local.toml" --output-dir "${out_dir}" \
  --checkpoint "${out_dir}/model.safetensors"

echo
echo "demo: weights in ${out_dir}/model.safetensors, samples in ${out_dir}/outputs.jsonl"
