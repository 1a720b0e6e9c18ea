// Compares a real /metrics scrape with the metric catalogue (deploy/metrics/catalog.txt).
//
// Usage: node deploy/tools/check-exposition.mjs --process scheduler|agent [--catalog FILE]
//            [--allow-absent REGEX] SCRAPE
//   SCRAPE: a file with the Prometheus text exposition (curl -s http://HOST:PORT/metrics > f),
//   or "-" for standard input. --catalog defaults to deploy/metrics/catalog.txt of this checkout.
//   --allow-absent: metrics whose whole name matches may be missing, e.g. the per-device series
//   of an agent without a GPU: --allow-absent 'plume_agent_(gpu|selftest)_.*'. A metric that is
//   present is checked in full either way.
//
// Checks, for the given process:
//   - every catalogue metric of that process is exposed (a "# TYPE" line) with its type;
//   - every sample's label names are exactly the catalogue's (plus "le" on _bucket series);
//   - no plume_* metric is exposed that the catalogue does not list for that process.
// Other prefixes (process_*, exposer_* from prometheus-cpp) are ignored. Needs only Node: no
// npm packages, so C++ integration tests can call it. Exit 0 when the scrape matches, 1 when it
// does not (each difference printed), 2 on bad usage.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function usage(message) {
  console.error(`check-exposition: ${message}`);
  console.error("usage: node check-exposition.mjs --process scheduler|agent [--catalog FILE] SCRAPE|-");
  process.exit(2);
}

function parseArgs(argv) {
  const here = dirname(fileURLToPath(import.meta.url));
  const args = { process: null, catalog: join(here, "..", "metrics", "catalog.txt"), scrape: null, absent: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--process") args.process = argv[++i];
    else if (argv[i] === "--allow-absent") args.absent = new RegExp(`^(?:${argv[++i]})$`);
    else if (argv[i] === "--catalog") args.catalog = argv[++i];
    else if (args.scrape === null) args.scrape = argv[i];
    else usage(`unexpected argument "${argv[i]}"`);
  }
  if (!["scheduler", "agent"].includes(args.process)) usage("--process must be scheduler or agent");
  if (args.scrape === null) usage("no scrape file given");
  return args;
}

function loadCatalog(path, processName) {
  const metrics = new Map();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const text = line.replace(/#.*/, "").trim();
    if (!text) continue;
    const [name, type, proc, labels] = text.split(/\s+/);
    if (proc === processName) metrics.set(name, { type, labels: labels === "-" ? [] : labels.split(",") });
  }
  return metrics;
}

// Label names of one sample line: name{a="x",b="y"} value [timestamp]
function sampleLabelNames(line) {
  const open = line.indexOf("{");
  if (open < 0) return [];
  const names = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"/g;
  const body = line.slice(open + 1, line.lastIndexOf("}"));
  for (const m of body.matchAll(re)) names.push(m[1]);
  return names;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const catalog = loadCatalog(args.catalog, args.process);
  const text = readFileSync(args.scrape === "-" ? 0 : args.scrape, "utf8");
  const types = new Map();
  const samples = [];
  for (const line of text.split("\n")) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) types.set(t[1], t[2]);
    else if (line && !line.startsWith("#")) samples.push(line);
  }
  const problems = [];
  for (const [name, c] of catalog) {
    if (!types.has(name)) {
      if (!args.absent?.test(name)) problems.push(`${name}: in the catalogue, not exposed`);
    }
    else if (types.get(name) !== c.type) problems.push(`${name}: exposed as ${types.get(name)}, catalogue says ${c.type}`);
  }
  for (const name of types.keys()) {
    if (name.startsWith("plume_") && !catalog.has(name)) {
      problems.push(`${name}: exposed but not in the catalogue for ${args.process}`);
    }
  }
  const seen = new Set();
  for (const line of samples) {
    const series = /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(line)?.[1] ?? "";
    const m = /^(.*)_(bucket|sum|count)$/.exec(series);
    const base = catalog.has(series) ? series : m && catalog.get(m[1])?.type === "histogram" ? m[1] : null;
    if (!base) continue;
    const want = [...catalog.get(base).labels, ...(m && base === m[1] && m[2] === "bucket" ? ["le"] : [])];
    const got = sampleLabelNames(line);
    const key = `${series}:${got.join(",")}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if ([...got].sort().join(",") !== [...want].sort().join(",")) {
      problems.push(`${series}: labels {${got.join(",")}}, catalogue says {${want.join(",")}}`);
    }
  }
  for (const p of problems) console.error(`FAIL ${p}`);
  console.log(`check-exposition: ${args.process}: ${catalog.size} catalogue metrics, ${types.size} exposed families, ${problems.length} problem(s)`);
  process.exit(problems.length ? 1 : 0);
}

main();
