#!/usr/bin/env bash
# The money side of the Plume network on localhost (issue 4), called at the end of
# scripts/demo-network.sh or on its own: a scheduler with the ledger on (--operator-id) and two
# agents; a team without credits is refused; the operator mints to the team
# (`plume ledger mint`); the team's job holds its maximum cost (the scheduler's quote) in escrow, runs, and the rest is
# released; each verified task pays its provider price x FLOPs / 1e15 and a 5% fee to the
# treasury (docs/payments.md). Then: the job's escrow (held, paid, fees, released), each
# provider's earnings, the treasury, the team's balance, `plume audit` and `plume ledger verify`
# / `plume ledger prove`. Providers stake before they are placed, pay waits for verification
# (a short challenge window here), and a provider unstakes at the end (docs/payments.md).
# Prices are high so that these tiny tasks earn whole micro-PLUME.
#
#   scripts/demo-money.sh [BUILD_DIR]      (default: build)
set -euo pipefail

DEMO_NAME=demo-money
# shellcheck source=demo-lib.sh
source "$(dirname "$0")/demo-lib.sh" "${1:-build}"

mkdir -p "$WORK/keys"
key_id() { "$PLUME" keygen -o "$1" --json | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/'; }
SCHED_ID="$(key_id "$WORK/keys/scheduler.key")"
OPERATOR_ID="$(key_id "$WORK/keys/operator.key")"
TEAM_ID="$(key_id "$WORK/keys/team.key")"
LEDGER="$WORK/scheduler/ledger"

echo "== money: plume-scheduler with the ledger on (operator ${OPERATOR_ID:0:16}..)"
"$SCHED" --listen tcp://127.0.0.1:0 --endpoint-file "$WORK/endpoint" --data-dir "$WORK/scheduler" \
  --key "$WORK/keys/scheduler.key" --sync full --metrics-port -1 \
  --operator-id "$OPERATOR_ID" --min-stake-per-device 1000000 \
  --challenge-window-ms 2000 --unbonding-ms 4000 > "$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  [[ -f "$WORK/endpoint" && "$(wc -l < "$WORK/endpoint")" -ge 1 ]] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "scheduler exited" >&2; exit 1; }
  sleep 0.1
done
export PLUME_SCHEDULER="$(head -n1 "$WORK/endpoint")" PLUME_SCHEDULER_ID="$SCHED_ID"
export PLUME_KEY="$WORK/keys/team.key" PLUME_LEDGER_DIR="$LEDGER"
start_agents "$PLUME_SCHEDULER" "$SCHED_ID" 2000000000000 1500000000000

cat > "$WORK/train.toml" <<TOML
[job]
name = "money-train"
kind = "train"
seed = 1
$(model_toml 1 2 32 32)
[data]
path = "$ROOT/data/tinyshakespeare.txt"
val_fraction = 0.1
[train]
steps = 10
batch = 4
seq_len = 32
lr = 3e-3
[output]
dir = "$WORK/out"
[network]
workers = 2
rounds = 1
local_steps = 10
[payment]
max_price_micro_plume_per_pflop = 2500000000000
budget_micro_plume = 50000000
TOML

echo "== a team without credits submits: refused, nothing held"
"$PLUME" submit "$WORK/train.toml" --wait || true
"$PLUME" balance

echo "== the operator mints 100 PLUME to the team"
"$PLUME" ledger mint --to "team:$TEAM_ID" --amount 100000000 --key "$WORK/keys/operator.key"
"$PLUME" balance

echo "== providers stake: this network places work only on 1 PLUME of stake per device"
for name in alpha beta; do
  provider="provider:$(sed -n 2p "$WORK/keys/$name.key" | cut -c65-128)"
  "$PLUME" ledger mint --to "$provider" --amount 2000000 --key "$WORK/keys/operator.key"
  "$PLUME" stake 1 --key "$WORK/keys/$name.key"
done
"$PLUME" nodes

echo "== the scheduler's quote: the escrow a submit holds (FLOPs x max price + fee)"
"$PLUME" quote "$WORK/train.toml"

echo "== the team submits again"
JOB="$("$PLUME" submit "$WORK/train.toml" --wait)"
"$PLUME" status "$JOB"

echo "== pay waits for verification: each result settles after its audit or a 2 s challenge window"
"$PLUME" balance
for _ in $(seq 1 120); do
  "$PLUME" balance --json | grep -o '"pending_micro_plume":[0-9]*' | grep -qv ':0$' || break
  sleep 0.5
done

echo "== money after the job: the escrow (held = paid + fees + released)"
"$PLUME" balance "$JOB"
echo "== each provider's earnings"
for name in alpha beta; do
  echo -n "$name: "
  "$PLUME" balance "provider:$(sed -n 2p "$WORK/keys/$name.key" | cut -c65-128)"
done
echo "== fees (treasury)"
"$PLUME" balance treasury
echo "== the team (minted - paid - fees)"
"$PLUME" balance
"$PLUME" ledger history
"$PLUME" audit "$JOB" --ledger-id "$SCHED_ID" --spec "$WORK/train.toml"
echo "== alpha unstakes half its stake: unbonding (still slashable) for 4 s, then withdrawn"
"$PLUME" unstake 0.5 --key "$WORK/keys/alpha.key"
"$PLUME" balance "provider:$(sed -n 2p "$WORK/keys/alpha.key" | cut -c65-128)" --key "$WORK/keys/alpha.key"
"$PLUME" ledger prove "hold:$JOB" --ledger-id "$SCHED_ID"
"$PLUME" ledger verify "$LEDGER"
echo "== money demo done"
