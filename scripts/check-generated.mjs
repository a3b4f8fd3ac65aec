#!/usr/bin/env node
// Proves the committed generated data is what the committed generators make of the sources it names:
// regenerates every file in place, then fails if git sees a difference. Runs only when the cached
// sources (scripts/kernel-sources.sh, scripts/qemu-sources.sh) are exactly the versions the committed
// files were generated from; otherwise it says why it skipped (a new Debian point release is a reason
// to regenerate, not a broken build). The JSON Schemas under schema/ are checked always (from dist/).
//   node scripts/check-generated.mjs
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const cache = process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
const GENERATED = [
  "src/regs/generated",
  "src/regs/fixtures",
  "src/kvm/generated",
  "src/kvm/kernels/generated",
  "src/kvm/sim/generated",
];
const GENERATORS = [
  "scripts/gen-catalog.mjs",
  "scripts/extract-selftest-reglists.mjs",
  "scripts/gen-kvm-uapi.mjs",
  "scripts/gen-sim-sysregs.mjs",
  "scripts/gen-sim-cpus.mjs",
  "scripts/gen-sim-spectre.mjs",
];

/** Every "linux-source-X V" / "qemu V" string a generated JSON file names as its source. */
function namedSources(value, out = new Set()) {
  if (typeof value === "string") {
    for (const m of value.matchAll(/\b(linux-source-[\d.]+ \S+?|qemu \d:\S+?)(?=$|[\s,;)])/g)) out.add(m[1]);
  } else if (value && typeof value === "object") for (const v of Object.values(value)) namedSources(v, out);
  return out;
}

function cachedSources() {
  const out = new Set();
  const read = (f) => fs.existsSync(f) && out.add(fs.readFileSync(f, "utf8").trim());
  const ksrc = path.join(cache, "ksrc");
  if (fs.existsSync(ksrc)) for (const gen of fs.readdirSync(ksrc)) read(path.join(ksrc, gen, "SOURCE"));
  read(path.join(cache, "qemu-src", "SOURCE"));
  return out;
}

// The JSON Schemas under schema/ are generated from the zod schemas in dist/ (npm run build first); they
// need no cached sources, so they are checked before the generators that do.
const SCHEMA_WRITERS = ["dist/formats/schemas.js", "dist/fleet/schema.js"];
for (const w of SCHEMA_WRITERS) {
  if (!fs.existsSync(path.join(repo, w))) {
    console.error(`check-generated: ${w} is missing: build first (npm run build)`);
    process.exit(1);
  }
  const r = spawnSync(process.execPath, [w, "--write"], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`check-generated: ${w} --write failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
    process.exit(1);
  }
}
const schemaDiff = spawnSync("git", ["status", "--porcelain", "--", "schema"], {
  cwd: repo,
  encoding: "utf8",
});
if (schemaDiff.status !== 0 || schemaDiff.stdout.trim()) {
  console.error(
    `check-generated: schema/ differs from what ${SCHEMA_WRITERS.join(" and ")} write:\n${(schemaDiff.stdout || schemaDiff.stderr).trimEnd()}`,
  );
  process.exit(1);
}
console.log(`check-generated: schema/ is what ${SCHEMA_WRITERS.join(" and ")} write`);

const wanted = new Set();
for (const dir of GENERATED)
  for (const f of fs.readdirSync(path.join(repo, dir)).filter((f) => f.endsWith(".json")))
    namedSources(JSON.parse(fs.readFileSync(path.join(repo, dir, f), "utf8")).generatedFrom ?? {}, wanted);
for (const dir of ["src/regs/fixtures"])
  for (const f of fs.readdirSync(path.join(repo, dir)))
    namedSources(JSON.parse(fs.readFileSync(path.join(repo, dir, f), "utf8")).kernel, wanted);

const have = cachedSources();
const missing = [...wanted].filter((s) => !have.has(s)).sort();
if (missing.length > 0) {
  console.log(
    `check-generated: skipped: the cache lacks ${missing.join(", ")} (have: ${[...have].sort().join(", ") || "none"}; fetch with scripts/kernel-sources.sh and scripts/qemu-sources.sh)`,
  );
  process.exit(0);
}

for (const g of GENERATORS) {
  const r = spawnSync(process.execPath, [g], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`check-generated: ${g} failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
    process.exit(1);
  }
}
const diff = spawnSync("git", ["status", "--porcelain", "--", ...GENERATED], { cwd: repo, encoding: "utf8" });
if (diff.status !== 0) {
  console.error(`check-generated: git status failed: ${diff.stderr.trim()}`);
  process.exit(1);
}
if (diff.stdout.trim()) {
  console.error(
    `check-generated: generated files differ from what the generators make:\n${diff.stdout.trimEnd()}`,
  );
  process.exit(1);
}
console.log(
  `check-generated: ${GENERATORS.length} generators reproduce the committed data from ${[...wanted].sort().join(", ")}`,
);
