// Checks every PromQL expression in the alert rules and the Grafana dashboards
// (scripts/check-deploy.sh prometheus|grafana).
//
// Usage: node deploy/tools/check-promql.mjs --catalog deploy/metrics/catalog.txt
//            [--rules FILE.yml]... [--dashboard FILE.json]...
//
// 1. Parse: promtool has no offline "parse this query" command, but `promtool check rules`
//    parses every rule expression, so each expression becomes a recording rule in a temporary
//    rules file. Grafana's own variables are replaced first ($__rate_interval -> 5m, ...).
// 2. Names: every metric an expression selects must be in the catalogue (histograms through
//    their _bucket/_sum/_count series), and every label it matches on must be one the
//    catalogue lists for that metric or a target label Prometheus adds (job, instance, node).
// 3. Dashboards: schema version, a datasource variable used by every panel and target,
//    unique panel ids and refIds, panels inside the 24-column grid.
// Prints each finding with the file and panel or alert name; exit 1 on any.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { spawnSync } from "node:child_process";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

// Series Prometheus itself synthesises for every target; not part of our exposition.
const kSynthetic = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);
const kTargetLabels = new Set(["job", "instance", "node", "__name__"]);
const kKeywords = new Set([
  "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
  "offset", "inf", "nan",
]);

function parseArgs(argv) {
  const args = { catalog: null, rules: [], dashboards: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--catalog") args.catalog = value;
    else if (flag === "--rules") args.rules.push(value);
    else if (flag === "--dashboard") args.dashboards.push(value);
    else throw new Error(`unknown argument "${flag}"`);
    i++;
  }
  if (!args.catalog) throw new Error("--catalog is required");
  return args;
}

// catalog.txt: "name type process labels" per line, '#' comments.
function loadCatalog(path) {
  const metrics = new Map();
  readFileSync(path, "utf8").split("\n").forEach((line, i) => {
    const text = line.replace(/#.*/, "").trim();
    if (!text) return;
    const [name, type, process, labels] = text.split(/\s+/);
    if (!/^plume_[a-z0-9_]+$/.test(name) || !["counter", "gauge", "histogram"].includes(type) ||
        !["scheduler", "agent"].includes(process) || labels === undefined) {
      throw new Error(`${path}:${i + 1}: expected "name counter|gauge|histogram scheduler|agent labels|-"`);
    }
    if (type === "counter" && !name.endsWith("_total")) {
      throw new Error(`${path}:${i + 1}: counter ${name} must end in _total`);
    }
    metrics.set(name, { type, labels: new Set(labels === "-" ? [] : labels.split(",")) });
  });
  return metrics;
}

// Grafana substitutes these before the query reaches Prometheus.
function substituteGrafanaVars(expr) {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, "5m").replace(/\$\{__(rate_interval|interval|range)\}/g, "5m");
}

// Metric selectors in an expression: [{name, labels[]}]. A small tokenizer is enough because
// promtool has already proven the expression parses.
function selectors(expr) {
  const found = [];
  // Strings, [range] selectors, numbers, identifiers, single characters.
  const tokens =
    expr.match(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|\d+(?:\.\d+)?(?:e[+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|\S/g) ?? [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (!/^[A-Za-z_:]/.test(tok) || kKeywords.has(tok.toLowerCase())) continue;
    const next = tokens[i + 1];
    // A function call, or an aggregation written "sum by (x) (...)".
    if (next === "(" || next === "by" || next === "without") continue;
    const prev = tokens[i - 1];
    // Inside a grouping clause "by (a, b)": previous tokens lead back to "(" after a keyword.
    let j = i - 1;
    while (j >= 0 && (tokens[j] === "," || /^[A-Za-z_]/.test(tokens[j])) && !kKeywords.has(tokens[j])) j--;
    if (j >= 1 && tokens[j] === "(" && kKeywords.has(tokens[j - 1])) continue;
    if (prev === "{" || prev === ",") {
      // Could be a label name inside a matcher list; those are collected with their metric.
      let k = i - 1;
      while (k >= 0 && tokens[k] !== "{" && tokens[k] !== "}") k--;
      if (k >= 0 && tokens[k] === "{") continue;
    }
    const labels = [];
    if (next === "{") {
      for (let k = i + 2; k < tokens.length && tokens[k] !== "}"; k++) {
        if (/^[A-Za-z_]/.test(tokens[k]) && /^[=!]/.test(tokens[k + 1] ?? "")) labels.push(tokens[k]);
      }
    }
    found.push({ name: tok, labels });
  }
  return found;
}

function checkNames(where, expr, catalog) {
  const problems = [];
  for (const { name, labels } of selectors(expr)) {
    if (kSynthetic.has(name)) continue;
    let base = name;
    let entry = catalog.get(name);
    const extra = new Set();
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (!entry && m && catalog.get(m[1])?.type === "histogram") {
      base = m[1];
      entry = catalog.get(base);
      if (m[2] === "bucket") extra.add("le");
    }
    if (!entry) {
      problems.push(`${where}: metric "${name}" is not in deploy/metrics/catalog.txt`);
      continue;
    }
    if (entry.type === "histogram" && base === name) {
      problems.push(`${where}: histogram "${name}" must be used through _bucket, _sum or _count`);
    }
    for (const l of labels) {
      if (!entry.labels.has(l) && !kTargetLabels.has(l) && !extra.has(l)) {
        problems.push(`${where}: metric "${base}" has no label "${l}" in the catalogue`);
      }
    }
  }
  return problems;
}

function checkDashboard(path, dash) {
  const problems = [];
  const where = basename(path);
  if (dash.schemaVersion < 36) problems.push(`${where}: schemaVersion ${dash.schemaVersion} is older than 36`);
  if (!dash.uid || !dash.title) problems.push(`${where}: uid and title are required`);
  const vars = dash.templating?.list ?? [];
  if (!vars.some((v) => v.type === "datasource" && v.name === "datasource" && v.query === "prometheus")) {
    problems.push(`${where}: needs a "datasource" variable of type datasource (query prometheus)`);
  }
  const ids = new Set();
  const exprs = [];
  const panels = (dash.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  for (const p of panels) {
    const pw = `${where} panel "${p.title}"`;
    if (ids.has(p.id)) problems.push(`${pw}: duplicate id ${p.id}`);
    ids.add(p.id);
    const g = p.gridPos ?? {};
    if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24 && g.y >= 0)) {
      problems.push(`${pw}: gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
    }
    if (p.type === "row") continue;
    if (p.datasource?.uid !== "${datasource}") problems.push(`${pw}: datasource must be \${datasource}`);
    const refIds = new Set();
    if (!(p.targets ?? []).length) problems.push(`${pw}: has no queries`);
    for (const t of p.targets ?? []) {
      if (refIds.has(t.refId)) problems.push(`${pw}: duplicate refId ${t.refId}`);
      refIds.add(t.refId);
      if (t.datasource?.uid !== "${datasource}") problems.push(`${pw} query ${t.refId}: datasource must be \${datasource}`);
      if (!t.expr) problems.push(`${pw} query ${t.refId}: empty expr`);
      else exprs.push({ where: `${pw} query ${t.refId}`, expr: t.expr });
    }
  }
  // Query variables: label_values(SELECTOR, label) -> check SELECTOR like an expression.
  for (const v of vars.filter((v) => v.type === "query")) {
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = /^label_values\((.*),\s*[A-Za-z_]+\)$/.exec(q ?? "");
    if (!m) problems.push(`${where} variable "${v.name}": expected label_values(selector, label)`);
    else exprs.push({ where: `${where} variable "${v.name}"`, expr: m[1] });
  }
  return { problems, exprs };
}

// Writes all expressions as recording rules and lets promtool parse them.
function parseWithPromtool(exprs) {
  const dir = mkdtempSync(join(tmpdir(), "plume-promql-"));
  try {
    const rules = exprs.map((e, i) => ({ record: `plume_check:expr_${i}`, expr: substituteGrafanaVars(e.expr) }));
    const file = join(dir, "exprs.yml");
    writeFileSync(file, stringifyYaml({ groups: [{ name: "check", rules }] }));
    const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
    if (r.error) return [`cannot run promtool (${r.error.message}); install the Debian package prometheus`];
    if (r.status === 0) return [];
    // promtool names the failing rule by index ("group "check", rule N"); map it back.
    const out = `${r.stdout}\n${r.stderr}`;
    const problems = [];
    for (const m of out.matchAll(/rule (\d+)[^\n]*?:\s*(.*)/g)) {
      const e = exprs[Number(m[1]) - 1];
      problems.push(`${e ? e.where : "?"}: PromQL does not parse: ${m[2]}`);
    }
    if (!problems.length) problems.push(`promtool check rules failed:\n${out}`);
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const catalog = loadCatalog(args.catalog);
  const problems = [];
  const exprs = [];
  for (const path of args.rules) {
    const doc = parseYaml(readFileSync(path, "utf8"));
    for (const g of doc.groups ?? []) {
      for (const r of g.rules ?? []) {
        exprs.push({ where: `${basename(path)} ${r.alert ? "alert" : "record"} ${r.alert ?? r.record}`, expr: r.expr });
      }
    }
  }
  for (const path of args.dashboards) {
    const d = checkDashboard(path, JSON.parse(readFileSync(path, "utf8")));
    problems.push(...d.problems);
    exprs.push(...d.exprs);
  }
  problems.push(...parseWithPromtool(exprs));
  for (const e of exprs) problems.push(...checkNames(e.where, substituteGrafanaVars(e.expr), catalog));
  // Informational: catalogue metrics nothing displays or alerts on yet.
  const used = new Set(exprs.flatMap((e) => selectors(substituteGrafanaVars(e.expr)).map((s) => s.name.replace(/_(bucket|sum|count)$/, ""))));
  const unused = [...catalog.keys()].filter((n) => !used.has(n));
  if (unused.length && args.dashboards.length) console.log(`check-promql: not used by these files: ${unused.join(" ")}`);
  for (const p of problems) console.error(`FAIL ${p}`);
  console.log(`check-promql: ${exprs.length} expressions, ${catalog.size} catalogue metrics, ${problems.length} problem(s)`);
  process.exit(problems.length ? 1 : 0);
}

main();
