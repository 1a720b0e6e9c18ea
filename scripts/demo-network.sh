#!/usr/bin/env bash
# A Plume network on localhost, end to end: a scheduler and two agents (keys in a temp dir),
# a training job split across both agents (DiLoCo rounds) with a progress line, the trained
# weights fetched, then an inference job with them split across both agents, its outputs printed.
# Everything is shut down on exit (trap), also on Ctrl-C or an error.
#
#   scripts/demo-network.sh [BUILD_DIR]      (default: build)
set -euo pipefail

DEMO_NAME=demo-network
# shellcheck source=demo-lib.sh
source "$(dirname "$0")/demo-lib.sh" "${1:-build}"
mkdir -p "$WORK/keys"
"$PLUME" keygen -o "$WORK/keys/scheduler.key" > /dev/null
"$PLUME" keygen -o "$WORK/keys/team.key" > /dev/null

echo "== starting plume-scheduler"
"$SCHED" --listen tcp://127.0.0.1:0 --endpoint-file "$WORK/endpoint" --data-dir "$WORK/scheduler" \
  --key "$WORK/keys/scheduler.key" --sync normal > "$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  # wc -l counts newlines: the line is complete once its newline is there.
  [[ -f "$WORK/endpoint" && "$(wc -l < "$WORK/endpoint")" -ge 1 ]] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "scheduler exited" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$WORK/endpoint" ]] || { echo "scheduler did not start" >&2; exit 1; }
ENDPOINT="$(head -n1 "$WORK/endpoint")"
# The id is the public key: the second half of the secret key on the key file's second line.
SCHED_ID="$(sed -n 2p "$WORK/keys/scheduler.key" | cut -c65-128)"
export PLUME_SCHEDULER="$ENDPOINT" PLUME_SCHEDULER_ID="$SCHED_ID" PLUME_KEY="$WORK/keys/team.key"
echo "   scheduler $SCHED_ID at $ENDPOINT"

echo "== starting two agents"
start_agents "$ENDPOINT" "$SCHED_ID" 1000000 1000000
"$PLUME" nodes

echo "== training: 2 agents x 8 rounds x 100 local steps (DiLoCo)"
cat > "$WORK/train.toml" <<TOML
[job]
name = "demo-train"
kind = "train"
seed = 1337
$(model_toml 2 2 64 64)
[data]
path = "$ROOT/data/tinyshakespeare.txt"
val_fraction = 0.1
[train]
steps = 800
batch = 8
seq_len = 64
lr = 3e-3
min_lr = 3e-4
warmup_steps = 10
schedule = "cosine"
weight_decay = 0.1
grad_clip = 1.0
[output]
dir = "$WORK/out"
[network]
workers = 2
rounds = 8
local_steps = 100
outer_lr = 0.7
outer_momentum = 0.9
round_timeout_s = 120
[payment]
max_price_micro_plume_per_pflop = 1000000
budget_micro_plume = 50000000
TOML
TRAIN_JOB="$("$PLUME" submit "$WORK/train.toml" --wait)"
"$PLUME" status "$TRAIN_JOB"
"$PLUME" fetch "$TRAIN_JOB" -o "$WORK/out"

echo "== inference with the trained model, prompts split across both agents"
cat > "$WORK/infer.toml" <<TOML
[job]
name = "demo-generate"
kind = "infer"
seed = 7
$(model_toml 2 2 64 64)
[infer]
checkpoint = "$WORK/out/model.safetensors"
prompts = ["ROMEO:", "JULIET:", "KING HENRY:", "First Citizen:"]
max_new_tokens = 48
temperature = 0.8
top_k = 40
[output]
dir = "$WORK/out"
[network]
workers = 2
[payment]
max_price_micro_plume_per_pflop = 1000000
budget_micro_plume = 50000000
TOML
INFER_JOB="$("$PLUME" submit "$WORK/infer.toml" --wait)"
"$PLUME" fetch "$INFER_JOB" -o "$WORK/out" > /dev/null
echo "== outputs ($WORK/out/outputs.jsonl)"
cat "$WORK/out/outputs.jsonl"
"$PLUME" jobs
echo "== done; shutting down"
"$ROOT/scripts/demo-money.sh" "$BUILD"  # the money: mint, refusal, balances, ledger verify (issue 4)
