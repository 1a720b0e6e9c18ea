// Generates the Grafana dashboards in deploy/grafana/*.json (the current JSON model, schema 39)
// and their copies in the Helm chart (deploy/helm/plume/files/dashboards/).
//
// The JSON files are committed; this script is how they are written, so that the three
// dashboards share one panel layout and one datasource convention. Edit the definitions below,
// run `node deploy/grafana/generate.mjs`, commit both. scripts/check-deploy.sh grafana fails when
// the committed files differ from what this script produces, when a PromQL expression does not
// parse, or when a panel uses a metric missing from deploy/metrics/catalog.txt.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const chartCopy = join(here, "..", "helm", "plume", "files", "dashboards");

// Every query goes through the datasource variable, so the dashboards import into any Grafana.
const ds = { type: "prometheus", uid: "${datasource}" };
const S = 'job="plume-scheduler"';
const RI = "$__rate_interval";

const datasourceVar = {
  name: "datasource",
  label: "Data source",
  type: "datasource",
  query: "prometheus",
  current: {},
  hide: 0,
  refresh: 1,
  options: [],
};

function target(expr, legendFormat = "", extra = {}) {
  return { datasource: ds, expr, legendFormat, refId: "", range: true, ...extra };
}

// A panel of `type` with `targets`; w/h in grid units (24 columns). Placement is done by layout().
function panel(type, title, description, targets, opts = {}) {
  const { w = 8, h = 8, unit = "short", decimals, min, max, thresholds, options, overrides, custom } =
    opts;
  const { transformations } = opts;
  const defaults = { unit };
  if (decimals !== undefined) defaults.decimals = decimals;
  if (min !== undefined) defaults.min = min;
  if (max !== undefined) defaults.max = max;
  if (thresholds) {
    defaults.thresholds = {
      mode: "absolute",
      steps: thresholds.map(([value, color]) => ({ color, value })),
    };
  }
  if (custom) defaults.custom = custom;
  targets.forEach((t, i) => (t.refId = String.fromCharCode(65 + i)));
  const p = {
    type,
    title,
    description,
    datasource: ds,
    gridPos: { w, h, x: 0, y: 0 },
    fieldConfig: { defaults, overrides: overrides ?? [] },
    options: options ?? {},
    targets,
  };
  if (transformations) p.transformations = transformations;
  return p;
}

const stat = (title, description, expr, opts = {}) =>
  panel("stat", title, description, [target(expr, "", { instant: true, range: false })], {
    w: 4,
    h: 4,
    options: {
      reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
      colorMode: "value",
      graphMode: "area",
      textMode: "auto",
    },
    ...opts,
  });

const series = (title, description, targets, opts = {}) =>
  panel("timeseries", title, description, targets, {
    options: {
      legend: { displayMode: "list", placement: "bottom", showLegend: true },
      tooltip: { mode: "multi", sort: "desc" },
    },
    custom: { drawStyle: "line", lineWidth: 1, fillOpacity: 10, showPoints: "never" },
    ...opts,
  });

const row = (title) => ({ type: "row", title, collapsed: false, gridPos: { w: 24, h: 1, x: 0, y: 0 }, panels: [] });

function quantiles(metric, selector, by = "", qs = [0.5, 0.9, 0.99]) {
  const byClause = by ? `le, ${by}` : "le";
  const legendBy = by ? ` {{${by}}}` : "";
  return qs.map((q) =>
    target(
      `histogram_quantile(${q}, sum by (${byClause}) (rate(${metric}_bucket{${selector}}[${RI}])))`,
      `p${Math.round(q * 100)}${legendBy}`,
    ),
  );
}

// Flows panels left to right, wrapping at 24 columns; rows start a new line. Assigns ids.
function layout(panels) {
  let x = 0;
  let y = 0;
  let rowH = 0;
  panels.forEach((p, i) => {
    p.id = i + 1;
    const { w, h } = p.gridPos;
    if (p.type === "row" || x + w > 24) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    p.gridPos = { h, w, x, y };
    x += w;
    rowH = Math.max(rowH, h);
    if (p.type === "row") {
      y += h;
      x = 0;
      rowH = 0;
    }
  });
  return panels;
}

function dashboard({ uid, title, description, tags, variables = [], panels, links = [] }) {
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
      ],
    },
    description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [
      { type: "dashboards", tags: ["plume"], asDropdown: true, title: "Plume", includeVars: false, keepTime: true },
      ...links,
    ],
    panels: layout(panels),
    refresh: "30s",
    schemaVersion: 39,
    tags: ["plume", ...tags],
    templating: { list: [datasourceVar, ...variables] },
    time: { from: "now-6h", to: "now" },
    timepicker: {},
    timezone: "browser",
    title,
    uid,
    version: 1,
    weekStart: "",
  };
}

// Money is exported in integer micro-PLUME; panels show PLUME.
const PLUME = 1e6;
const plumeUnit = "suffix: PLUME";

const overview = dashboard({
  uid: "plume-overview",
  title: "Plume / Network overview",
  description: "Agents, GPUs, jobs, task throughput and latency, failures, and the scheduler's storage.",
  tags: ["overview"],
  panels: [
    stat("Scheduler up", "1 when Prometheus scrapes the scheduler.", `up{${S}}`, {
      thresholds: [[null, "red"], [1, "green"]],
    }),
    stat("Agents connected", "Agents holding a lease (idle or busy).", `sum(plume_agents{${S}, state=~"idle|busy"})`),
    stat("Agents lost", "Agents that missed their lease.", `sum(plume_agents{${S}, state="lost"})`, {
      thresholds: [[null, "green"], [1, "orange"]],
    }),
    stat("GPUs", "GPUs on agents holding a lease.", `sum(plume_gpus{${S}})`),
    stat("Jobs running", "Jobs with tasks in flight.", `sum(plume_jobs{${S}, state="running"})`),
    stat("Tasks queued", "Tasks waiting for an agent.", `sum(plume_tasks{${S}, state="queued"})`),

    row("Capacity"),
    series("Agents by state", "", [target(`sum by (state) (plume_agents{${S}})`, "{{state}}")]),
    series("GPUs by model", "", [target(`sum by (modelName) (plume_gpus{${S}})`, "{{modelName}}")]),
    series("Network compute", "FLOP/s done by all agents, from their finished tasks.", [
      target(`sum by (kind) (rate(plume_agent_flops_total{job="plume-agent"}[${RI}]))`, "{{kind}}"),
    ], { unit: "flops" }),

    row("Jobs and tasks"),
    series("Jobs by state", "", [target(`sum by (state) (plume_jobs{${S}})`, "{{state}}")]),
    series("Tasks queued and running", "", [target(`sum by (state) (plume_tasks{${S}})`, "{{state}}")]),
    series("Task throughput", "Tasks finished per second, by outcome.", [
      target(`sum by (outcome) (rate(plume_tasks_finished_total{${S}}[${RI}]))`, "{{outcome}}"),
    ], { unit: "ops" }),
    series("Task dispatch latency", "From runnable to assigned.",
      quantiles("plume_task_dispatch_latency_seconds", S), { unit: "s" }),
    series("Task duration", "From assignment to receipt.",
      quantiles("plume_task_duration_seconds", S, "kind", [0.5, 0.99]), { unit: "s" }),
    series("Training round duration", "One DiLoCo round.",
      quantiles("plume_training_round_duration_seconds", S), { unit: "s" }),

    row("Failures"),
    series("Task failure ratio", "Failed over all finished tasks (alert PlumeTasksFailing above 10%).", [
      target(
        `sum(rate(plume_tasks_finished_total{${S}, outcome="failed"}[${RI}])) / sum(rate(plume_tasks_finished_total{${S}}[${RI}]))`,
        "failed",
      ),
    ], { unit: "percentunit", min: 0, max: 1 }),
    series("Rejected connections", "By reason (not_allowed, bad_key, bad_version).", [
      target(`sum by (reason) (rate(plume_connections_rejected_total{${S}}[${RI}]))`, "{{reason}}"),
    ], { unit: "cps" }),
    series("Malformed messages", "Dropped messages by reason.", [
      target(`sum by (reason) (rate(plume_messages_malformed_total{${S}}[${RI}]))`, "{{reason}}"),
    ], { unit: "cps" }),
    series("Lease expiries", "Agents that stopped heart-beating, per second.", [
      target(`sum(rate(plume_leases_expired_total{${S}}[${RI}]))`, "expired"),
    ], { unit: "cps" }),
    series("Verification outcomes", "Results recomputed by a second agent.", [
      target(`sum by (outcome) (rate(plume_verifications_total{${S}}[${RI}]))`, "{{outcome}}"),
    ], { unit: "ops" }),
    row("Verification"),
    series("Results screened and refused", "Every result is screened before it is accepted; refusals by reason (never paid).", [
      target(`sum(rate(plume_verification_screened_total{${S}}[${RI}]))`, "screened"),
      target(`sum by (reason) (rate(plume_verification_refused_total{${S}}[${RI}]))`, "refused: {{reason}}"),
    ], { unit: "ops" }),
    series("Replay audits", "Results re-run by another provider of the same kernel class, and how the comparison came out.", [
      target(`sum(rate(plume_verification_audited_total{${S}}[${RI}]))`, "audited"),
      target(`sum(rate(plume_verification_matched_total{${S}}[${RI}]))`, "matched"),
      target(`sum(rate(plume_verification_mismatched_total{${S}}[${RI}]))`, "mismatched"),
      target(`sum(rate(plume_verification_disputes_total{${S}}[${RI}]))`, "refereed"),
      target(`sum(rate(plume_verification_segment_disputes_total{${S}}[${RI}]))`, "decided on one segment"),
    ], { unit: "ops" }),
    stat("Proven faulty in range", "Runs a referee proved wrong over the dashboard's time range (each one is slashed).",
      `sum(increase(plume_verification_proven_faulty_total{${S}}[$__range]))`, { w: 6 }),
    stat("Audit mismatch ratio", "Mismatched over audited, over the dashboard's time range.",
      `sum(increase(plume_verification_mismatched_total{${S}}[$__range])) / clamp_min(sum(increase(plume_verification_audited_total{${S}}[$__range])), 1)`,
      { w: 6, unit: "percentunit" }),
    series("Blob transfer", "Bytes moved by the scheduler's blob store.", [
      target(`sum by (direction) (rate(plume_blob_bytes_total{${S}}[${RI}]))`, "{{direction}}"),
    ], { unit: "Bps" }),

    row("Storage"),
    series("Ledger fsync latency", "Per group commit (alert PlumeLedgerFsyncSlow: p99 above 100 ms).",
      quantiles("plume_ledger_fsync_duration_seconds", S), { unit: "s" }),
    series("Ledger group commit size", "Mean entries per fsync.", [
      target(
        `sum(rate(plume_ledger_group_commit_entries_sum{${S}}[${RI}])) / sum(rate(plume_ledger_group_commit_entries_count{${S}}[${RI}]))`,
        "entries per commit",
      ),
    ]),
    series("SQLite commit latency", "Scheduler state commits.",
      quantiles("plume_sqlite_commit_duration_seconds", S), { unit: "s" }),
  ],
});

const economics = dashboard({
  uid: "plume-economics",
  title: "Plume / Economics",
  description: "Escrow, credits settled to providers, fees, and the delay from task end to payment. Amounts in PLUME (exported as micro-PLUME).",
  tags: ["economics"],
  panels: [
    stat("Escrow held", "Credits held for accepted jobs.", `sum(plume_escrow_held_micro_plume{${S}}) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Settled in range", "Credits paid to providers over the dashboard's time range.",
      `sum(increase(plume_credits_settled_micro_plume_total{${S}}[$__range])) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Fees in range", "Network fees over the dashboard's time range.",
      `sum(increase(plume_fees_micro_plume_total{${S}}[$__range])) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Payout delay p90", "From a task's receipt to its settlement entry.",
      `histogram_quantile(0.9, sum by (le) (rate(plume_payout_delay_seconds_bucket{${S}}[$__range])))`, { w: 6, unit: "s" }),

    row("Flows"),
    series("Escrow held", "", [target(`sum(plume_escrow_held_micro_plume{${S}}) / ${PLUME}`, "escrow")],
      { w: 12, unit: plumeUnit }),
    series("Settled and fees per hour", "", [
      target(`sum(rate(plume_credits_settled_micro_plume_total{${S}}[${RI}])) * 3600 / ${PLUME}`, "settled to providers"),
      target(`sum(rate(plume_fees_micro_plume_total{${S}}[${RI}])) * 3600 / ${PLUME}`, "fees"),
    ], { w: 12, unit: plumeUnit }),

    row("Stake and verification"),
    stat("Staked", "Providers' stake that backs placement.", `sum(plume_stake_micro_plume{${S}, state="staked"}) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Unbonding", "Stake on its way out; still slashable until released.", `sum(plume_stake_micro_plume{${S}, state="unbonding"}) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Pending verification", "Pay of accepted results waiting for their audit or challenge window.",
      `sum(plume_pending_verification_micro_plume{${S}}) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    stat("Slashed in range", "Stake slashed for proven faults over the dashboard's time range.",
      `sum(increase(plume_slashed_micro_plume_total{${S}}[$__range])) / ${PLUME}`, { w: 6, unit: plumeUnit }),
    series("Stake and pending pay", "", [
      target(`sum by (state) (plume_stake_micro_plume{${S}}) / ${PLUME}`, "{{state}}"),
      target(`sum(plume_pending_verification_micro_plume{${S}}) / ${PLUME}`, "pending verification"),
    ], { w: 12, unit: plumeUnit }),
    series("Slashes by destination per hour", "Clawback and compensation go to the team, the finder's fee to the referee, the rest to the treasury.", [
      target(`sum by (leg) (rate(plume_slashed_micro_plume_total{${S}}[${RI}])) * 3600 / ${PLUME}`, "{{leg}}"),
    ], { w: 12, unit: plumeUnit }),

    row("Governance"),
    stat("Open proposals", "Proposals whose voting has not ended (docs/governance.md).",
      `sum(plume_gov_open_proposals{${S}})`, { w: 6 }),
    stat("Turnout", "Votes cast / staked power at the snapshot, of the latest decided proposal (quorum: 33.4 % by default).",
      `max(plume_gov_turnout_ratio{${S}})`, { w: 6, unit: "percentunit" }),
    stat("Executed in range", "Adopted proposals executed after their timelock (parameter changes and grants).",
      `sum(increase(plume_gov_executions_total{${S}}[$__range]))`, { w: 6 }),
    stat("Vetoed in range", "Proposals vetoed over the range; their deposits were burned.",
      `sum(increase(plume_gov_outcomes_total{${S}, result="vetoed"}[$__range]))`, { w: 6 }),
    series("Outcomes per day", "Decided proposals by result: passed, no_quorum, rejected, vetoed.", [
      target(`sum by (result) (increase(plume_gov_outcomes_total{${S}}[1d]))`, "{{result}}"),
    ], { w: 24 }),

    row("Providers"),
    series("Credits per provider per hour (top 10)", "Provider = agent id.", [
      target(`topk(10, sum by (provider) (rate(plume_credits_settled_micro_plume_total{${S}}[${RI}]))) * 3600 / ${PLUME}`, "{{provider}}"),
    ], { w: 12, unit: plumeUnit }),
    panel("table", "Credits per provider in range", "Sorted by amount; provider = agent id.", [
      target(`sort_desc(sum by (provider) (increase(plume_credits_settled_micro_plume_total{${S}}[$__range]))) / ${PLUME}`,
        "", { instant: true, range: false, format: "table" }),
    ], {
      w: 12,
      unit: plumeUnit,
      options: { showHeader: true, sortBy: [{ displayName: "Value", desc: true }] },
    }),

    row("Settlement"),
    series("Payout delay", "From a task's receipt to the ledger entry that settles it.",
      quantiles("plume_payout_delay_seconds", S), { w: 12, unit: "s" }),
    panel("heatmap", "Payout delay distribution", "", [
      target(`sum by (le) (increase(plume_payout_delay_seconds_bucket{${S}}[${RI}]))`, "{{le}}", { format: "heatmap" }),
    ], {
      w: 12,
      unit: "s",
      options: { calculate: false, yAxis: { unit: "s" }, cellGap: 1, color: { mode: "scheme", scheme: "Oranges" } },
    }),
    series("Ledger entries", "Appended per second, by type.", [
      target(`sum by (type) (rate(plume_ledger_entries_appended_total{${S}}[${RI}]))`, "{{type}}"),
    ], { w: 12, unit: "ops" }),
    series("Jobs submitted", "Accepted jobs per hour, by kind.", [
      target(`sum by (kind) (rate(plume_jobs_submitted_total{${S}}[${RI}])) * 3600`, "{{kind}}"),
    ], { w: 12 }),
  ],
});

const A = 'job="plume-agent", instance=~"$instance"';
const agent = dashboard({
  uid: "plume-agent",
  title: "Plume / Agent",
  description: "One agent: its devices, tasks and earnings. Device labels match the DCGM exporter (gpu, UUID, modelName).",
  tags: ["agent"],
  variables: [
    {
      name: "instance",
      label: "Agent",
      type: "query",
      datasource: ds,
      query: { query: 'label_values(plume_agent_info{job="plume-agent"}, instance)', refId: "instance" },
      definition: 'label_values(plume_agent_info{job="plume-agent"}, instance)',
      refresh: 2,
      sort: 1,
      multi: false,
      includeAll: false,
      current: {},
      options: [],
      hide: 0,
    },
  ],
  panels: [
    stat("Connected", "1 while the agent holds a lease.", `max(plume_agent_connected{${A}})`, {
      thresholds: [[null, "red"], [1, "green"]],
    }),
    stat("Selftest", "1 when every device passed the kernel selftest.", `min(plume_agent_selftest_passed{${A}})`, {
      thresholds: [[null, "red"], [1, "green"]],
    }),
    stat("Tasks running", "", `sum(plume_agent_tasks_running{${A}})`),
    stat("Price", "Advertised, micro-PLUME per PFLOP.", `max(plume_agent_price_micro_plume_per_pflop{${A}})`),
    stat("Earned in range", "Credits settled to this agent over the time range.",
      `sum(increase(plume_agent_credits_earned_micro_plume_total{${A}}[$__range])) / ${PLUME}`, { unit: plumeUnit }),
    stat("NVML", "1 when NVML is loaded (utilisation, power, temperature available).", `max(plume_agent_nvml_available{${A}})`),

    row("Devices"),
    panel("table", "Devices", "One row per GPU: memory and selftest speed.", [
      target(`max by (gpu, UUID, modelName) (plume_agent_gpu_memory_total_bytes{${A}})`, "", { instant: true, range: false, format: "table" }),
      target(`max by (gpu, UUID, modelName) (plume_agent_selftest_flops_per_second{${A}})`, "", { instant: true, range: false, format: "table" }),
    ], {
      w: 24,
      h: 6,
      options: { showHeader: true },
      // Join the two instant queries into one row per device.
      transformations: [
        { id: "merge", options: {} },
        { id: "organize", options: { excludeByName: { Time: true }, renameByName: { "Value #A": "memory total", "Value #B": "selftest FLOP/s" } } },
      ],
    }),
    series("GPU memory used", "", [
      target(`plume_agent_gpu_memory_used_bytes{${A}} / plume_agent_gpu_memory_total_bytes{${A}}`, "gpu {{gpu}}"),
    ], { w: 6, unit: "percentunit", min: 0, max: 1 }),
    series("GPU utilisation", "NVML.", [target(`plume_agent_gpu_utilization_ratio{${A}}`, "gpu {{gpu}}")],
      { w: 6, unit: "percentunit", min: 0, max: 1 }),
    series("GPU power", "NVML.", [target(`plume_agent_gpu_power_watts{${A}}`, "gpu {{gpu}}")], { w: 6, unit: "watt" }),
    series("GPU temperature", "NVML.", [target(`plume_agent_gpu_temperature_celsius{${A}}`, "gpu {{gpu}}")],
      { w: 6, unit: "celsius" }),

    row("Work"),
    series("Tasks finished", "Per hour, by outcome.", [
      target(`sum by (outcome) (rate(plume_agent_tasks_total{${A}}[${RI}])) * 3600`, "{{outcome}}"),
    ]),
    series("Compute", "FLOP/s from finished tasks.", [
      target(`sum by (kind) (rate(plume_agent_flops_total{${A}}[${RI}]))`, "{{kind}}"),
    ], { unit: "flops" }),
    series("Tokens", "Tokens per second.", [
      target(`sum by (kind) (rate(plume_agent_tokens_total{${A}}[${RI}]))`, "{{kind}}"),
    ]),
    series("Step time", "", quantiles("plume_agent_step_duration_seconds", A, "kind", [0.5, 0.99]), { unit: "s" }),

    row("Cache and earnings"),
    series("Blob cache", "Size and hit ratio.", [
      target(`sum(plume_agent_blob_cache_bytes{${A}})`, "size"),
      target(
        `sum(rate(plume_agent_blob_cache_hits_total{${A}}[${RI}])) / (sum(rate(plume_agent_blob_cache_hits_total{${A}}[${RI}])) + sum(rate(plume_agent_blob_cache_misses_total{${A}}[${RI}])))`,
        "hit ratio",
      ),
    ], {
      unit: "bytes",
      overrides: [
        {
          matcher: { id: "byName", options: "hit ratio" },
          properties: [
            { id: "unit", value: "percentunit" },
            { id: "custom.axisPlacement", value: "right" },
          ],
        },
      ],
    }),
    series("Blob transfer", "", [
      target(`sum by (direction) (rate(plume_agent_blob_bytes_total{${A}}[${RI}]))`, "{{direction}}"),
    ], { unit: "Bps" }),
    series("Earnings per hour", "", [
      target(`sum(rate(plume_agent_credits_earned_micro_plume_total{${A}}[${RI}])) * 3600 / ${PLUME}`, "earned"),
    ], { unit: plumeUnit }),
  ],
});

const dashboards = {
  "plume-overview.json": overview,
  "plume-economics.json": economics,
  "plume-agent.json": agent,
};

const outDirs = process.argv[2] ? [process.argv[2]] : [here, chartCopy];
for (const dir of outDirs) {
  mkdirSync(dir, { recursive: true });
  for (const [name, d] of Object.entries(dashboards)) {
    writeFileSync(join(dir, name), JSON.stringify(d, null, 2) + "\n");
  }
}
