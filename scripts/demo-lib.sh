# Shared set-up of the localhost demos (sourced, not run): finds the binaries in the build
# directory, makes a work directory, and on exit stops every process started (agents first, so
# SIGTERM drains them), prints the logs on failure and removes the work directory.
#
#   DEMO_NAME=demo-x source scripts/demo-lib.sh BUILD_DIR   sets ROOT BUILD SCHED AGENT PLUME WORK PIDS
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
SCHED="$BUILD/scheduler/plume-scheduler"
AGENT="$BUILD/node-agent/plume-agent"
PLUME="$BUILD/cli/plume"
for bin in "$SCHED" "$AGENT" "$PLUME"; do
  if [[ ! -x "$bin" ]]; then
    echo "$DEMO_NAME: $bin is missing; build first (make build, or cmake --build $BUILD)" >&2
    exit 2
  fi
done

WORK="$(mktemp -d -t "plume-$DEMO_NAME-XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    echo "$DEMO_NAME: failed (exit $rc); logs:" >&2
    tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM
# Two cores are shared by three processes: one BLAS/OpenMP thread each.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# start_agents ENDPOINT SCHEDULER_ID PRICE_ALPHA PRICE_BETA: agents "alpha" and "beta" (keys in
# $WORK/keys/NAME.key), each asking its price per PFLOP; returns once both are active (asked
# with `plume nodes`, so PLUME_SCHEDULER and PLUME_SCHEDULER_ID must be exported).
start_agents() {
  local endpoint="$1" sched_id="$2" name active
  local -A price=([alpha]="$3" [beta]="$4")
  for name in alpha beta; do
    "$AGENT" --scheduler "$endpoint" --scheduler-id "$sched_id" --key "$WORK/keys/$name.key" \
      --name "$name" --cache-dir "$WORK/$name-cache" --price "${price[$name]}" --threads 1 \
      > "$WORK/agent-$name.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 600); do
    active="$("$PLUME" nodes --json 2>/dev/null | grep -o '"state":"active"' | wc -l || true)"
    [[ "$active" -ge 2 ]] && return 0
    sleep 0.1
  done
}

# The [model] table of a demo job spec: model_toml LAYERS HEADS WIDTH CONTEXT (byte vocabulary).
model_toml() {
  printf '[model]\nn_layer = %s\nn_head = %s\nn_embd = %s\ncontext = %s\nvocab = 256\n' "$@"
}
