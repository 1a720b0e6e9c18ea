// Checks the metric catalogue (scripts/check-deploy.sh prometheus).
//
// Usage: node deploy/tools/check-catalog.mjs deploy/metrics/catalog.txt docs/metrics.md OUTDIR
//
// 1. docs/metrics.md (the human table) and catalog.txt (the machine list) name the same metrics
//    with the same type, process and label names.
// 2. Writes OUTDIR/scheduler.prom and OUTDIR/agent.prom: synthetic expositions with every
//    metric of that process, its help text from the table and one sample, for
//    `promtool check metrics` to lint names, types and help texts before any C++ implements
//    them, and as known-good input for check-exposition.mjs.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [catalogPath, docPath, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node check-catalog.mjs CATALOG.txt METRICS.md OUTDIR");
  process.exit(2);
}

function loadCatalog(path) {
  const metrics = new Map();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const text = line.replace(/#.*/, "").trim();
    if (!text) continue;
    const [name, type, process, labels] = text.split(/\s+/);
    metrics.set(name, { type, process, labels: labels === "-" ? [] : labels.split(",") });
  }
  return metrics;
}

// Label cell: parts separated by ";"; in a part with " = " the names are the backticked words
// before it (the rest are example values), otherwise every backticked word is a name.
function labelNames(cell) {
  if (cell.trim() === "-") return [];
  return cell.split(";").flatMap((part) => {
    const names = part.includes(" = ") ? part.slice(0, part.indexOf(" = ")) : part;
    return [...names.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]);
  });
}

// Table rows under "## Scheduler" / "## Agent" headings: | `name` | type | labels | unit | help |
function loadDoc(path) {
  const metrics = new Map();
  let process = null;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const heading = /^## (Scheduler|Agent)\b/.exec(line);
    if (heading) process = heading[1].toLowerCase();
    else if (line.startsWith("## ")) process = null;
    const row = /^\| `(plume_[a-z0-9_]+)` \|(.*)\|\s*$/.exec(line);
    if (!row || !process) continue;
    const [type, labels, unit, help] = row[2].split(" | ").map((c) => c.trim());
    metrics.set(row[1], { type, process, labels: labelNames(labels), unit, help });
  }
  return metrics;
}

const catalog = loadCatalog(catalogPath);
const doc = loadDoc(docPath);
const problems = [];
for (const [name, c] of catalog) {
  const d = doc.get(name);
  if (!d) {
    problems.push(`${name}: in catalog.txt but not in the tables of ${docPath}`);
    continue;
  }
  for (const field of ["type", "process"]) {
    if (c[field] !== d[field]) problems.push(`${name}: ${field} is ${c[field]} in catalog.txt, ${d[field]} in ${docPath}`);
  }
  if (c.labels.join(",") !== d.labels.join(",")) {
    problems.push(`${name}: labels are [${c.labels}] in catalog.txt, [${d.labels}] in ${docPath}`);
  }
  if (!d.help || d.help.length < 10) problems.push(`${name}: help text missing in ${docPath}`);
}
for (const name of doc.keys()) {
  if (!catalog.has(name)) problems.push(`${name}: in ${docPath} but not in catalog.txt`);
}

// Synthetic exposition: one sample per metric with placeholder label values.
const lines = { scheduler: [], agent: [] };
for (const [name, c] of catalog) {
  const out = lines[c.process];
  if (!out) {
    problems.push(`${name}: process must be scheduler or agent, not ${c.process}`);
    continue;
  }
  const help = (doc.get(name)?.help ?? "").replace(/`/g, "").replace(/\\/g, "\\\\");
  const labels = c.labels.map((l) => `${l}="x"`);
  const set = (extra = []) => {
    const all = [...labels, ...extra];
    return all.length ? `{${all.join(",")}}` : "";
  };
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${c.type}`);
  if (c.type === "histogram") {
    out.push(`${name}_bucket${set(['le="1"'])} 0`, `${name}_bucket${set(['le="+Inf"'])} 0`);
    out.push(`${name}_sum${set()} 0`, `${name}_count${set()} 0`);
  } else {
    out.push(`${name}${set()} 0`);
  }
}
mkdirSync(outDir, { recursive: true });
for (const [proc, out] of Object.entries(lines)) writeFileSync(join(outDir, `${proc}.prom`), out.join("\n") + "\n");

for (const p of problems) console.error(`FAIL ${p}`);
console.log(`check-catalog: ${catalog.size} metrics in catalog.txt, ${doc.size} in ${docPath}, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
