#!/usr/bin/env node
// Real QEMU migrations between kernels: for each QEMU version V, outer CPU model C and kernel K, boot
// K on C and migrate a stopped `qemu-system-aarch64 -accel kvm` VM (QEMU V) to a file; then on every
// kernel K2 boot once and -incoming each stream of (V, C). Writes the streams and outcomes to
// lab/qemu/ (results.json, streams/SET/V-C-K.qemu.gz); see lab/README.md.
//
//   node lab/qemu-migrate.mjs [--qemu 7.2,10.0,11.1] [--cpus cortex-a72,neoverse-n1]
//        [--kernels 5.10,6.1,6.12,7.2] [--cpu-opts OPTS] [--src-cpu-opts OPTS] [--dst-cpu-opts OPTS]
//        [--set NAME] [--mem 16] [--jobs 2] [--timeout 300] [--no-setup] [--out lab/qemu]
//
// --cpu-opts: extra options of the inner -cpu host (e.g. kvm-psci-version=1.0) on both sides;
// --src-cpu-opts / --dst-cpu-opts set one side. A run with options is its own result set (named by
// the options, or --set). Each finished (V, C) matrix replaces its entry in results.json at once.
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { KERNELS, CPUS, REPO } from "./lab-lib.mjs";
import {
  INNER_MEM_MB,
  QEMUS,
  QEMU_CPUS,
  QEMU_KERNELS,
  RESULTS_DIR,
  guestSlots,
  qemuInitramfs,
  readResults,
  recordMatrix,
  resultSet,
  runMatrix,
} from "./qemu-lib.mjs";

function fail(message) {
  console.error(`qemu-migrate: error: ${message}`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      qemu: { type: "string", default: QEMUS.join(",") },
      cpus: { type: "string", default: QEMU_CPUS.join(",") },
      kernels: { type: "string", default: QEMU_KERNELS.join(",") },
      "cpu-opts": { type: "string", default: "" },
      "src-cpu-opts": { type: "string" },
      "dst-cpu-opts": { type: "string" },
      set: { type: "string" },
      mem: { type: "string", default: String(INNER_MEM_MB) },
      jobs: { type: "string", default: String(Math.max(1, Math.min(2, os.availableParallelism()))) },
      timeout: { type: "string", default: "300" },
      "no-setup": { type: "boolean", default: false },
      out: { type: "string", default: RESULTS_DIR },
    },
  }).values;
} catch (e) {
  fail(e.message);
}
const list = (s, known, what) => {
  const items = s.split(",").filter(Boolean);
  if (items.length === 0) fail(`no ${what} given`);
  for (const i of items) if (!known.includes(i)) fail(`unknown ${what} '${i}' (known: ${known.join(", ")})`);
  return items;
};
const qemus = list(opts.qemu, QEMUS, "QEMU version");
const cpus = list(opts.cpus, CPUS, "CPU model");
const kernels = list(opts.kernels, KERNELS, "kernel");
const mem = Number(opts.mem);
const jobs = Number(opts.jobs);
const timeoutS = Number(opts.timeout);
if (!(Number.isInteger(mem) && mem > 0)) fail("--mem must be a positive number of MiB");
if (!(Number.isInteger(jobs) && jobs > 0)) fail("--jobs must be a positive number");
if (!(timeoutS > 0)) fail("--timeout must be a positive number of seconds");
let set;
try {
  set = resultSet({
    cpuOpts: opts["cpu-opts"],
    srcCpuOpts: opts["src-cpu-opts"],
    dstCpuOpts: opts["dst-cpu-opts"],
    name: opts.set,
  });
} catch (e) {
  fail(e.message);
}
const outDir = path.resolve(opts.out);
let results;
try {
  results = readResults(outDir);
} catch (e) {
  fail(e.message);
}

const t0 = performance.now();
const elapsed = () => Math.round((performance.now() - t0) / 1000);
const step = (msg) => console.log(`[qemu ${elapsed()} s] ${msg}`);

if (!opts["no-setup"]) {
  step("QEMU sysroots (lab/qemu-sysroot.sh)");
  const r = spawnSync("bash", ["lab/qemu-sysroot.sh"], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0) fail(`lab/qemu-sysroot.sh failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
}

// Built before any guest starts: building one blocks the event loop for seconds.
step(`initramfs for QEMU ${qemus.join(", ")}`);
try {
  for (const qemu of qemus) qemuInitramfs(qemu);
} catch (e) {
  fail(e.message);
}
step(
  `set '${set.name}' (-cpu host options: source '${set.cpuOptions.source}', destination '${set.cpuOptions.destination}')`,
);
const slot = guestSlots(jobs);
const failures = [];
await Promise.all(
  qemus.flatMap((qemu, qi) =>
    cpus.map(async (cpu, ci) => {
      try {
        const { sources, outcomes } = await runMatrix({
          qemu,
          cpu,
          kernels,
          cpuOptions: set.cpuOptions,
          slot,
          priority: qi * cpus.length + ci,
          mem,
          timeoutS,
          log: step,
        });
        recordMatrix(results, outDir, { set, qemu, cpu, kernels, sources, outcomes, mem });
        step(`QEMU ${qemu} on ${cpu}: matrix written to ${path.relative(REPO, outDir)}/results.json`);
      } catch (e) {
        failures.push(`QEMU ${qemu} on ${cpu}: ${e.message}`);
        step(`FAILED QEMU ${qemu} on ${cpu}: ${e.message}`);
      }
    }),
  ),
);
step(`finished: ${failures.length === 0 ? "every matrix written" : `${failures.length} matrices failed`}`);
for (const f of failures) console.error(`qemu-migrate: failed: ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
