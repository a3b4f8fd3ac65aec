#!/usr/bin/env node
// npm run lab: probe every kernel x CPU model of the lab on real KVM and write lab/profiles/, then
// try every ordered pair of kernels of a CPU model's restore matrix (lab/lab-kernels.json's restoreCpus):
// restore on kernel Y the registers saved on kernel X.
//
//   node lab/run.mjs [--kernels 5.10,6.1,6.12,6.18-bpo,7.2,7.3] [--cpus max,cortex-a57,...] [--jobs 2]
//                    [--restore-cpus cortex-a72] [--no-setup] [--no-probe] [--no-restore]
//                    [--out lab/profiles] [--timeout 1500]
//
// Profiles: <out>/<kernel>-<cpu>.json (`guestabi probe` inside the guest), and which Debian kernel
// they come from: <out>/kernels/<kernel>.json. Restore trials:
// <out>/restore/<kernel>-<cpu>.json (`guestabi restore-trial` on <kernel> with the state saved on every
// kernel of the same CPU model's restore matrix). A run that fails leaves the previous file in place and is reported;
// the exit code is then 1.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  CPUS,
  KERNELS,
  LAB_CACHE,
  REPO,
  boot,
  buildInitramfs,
  initramfsWithSaved,
  probeCommand,
  profileFile,
  recordKernel,
  restoreCommand,
  restoreFile,
  restoreKernels,
} from "./lab-lib.mjs";

function fail(message) {
  console.error(`lab: error: ${message}`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      kernels: { type: "string", default: KERNELS.join(",") },
      cpus: { type: "string", default: CPUS.join(",") },
      "restore-cpus": { type: "string" },
      jobs: { type: "string", default: String(Math.max(1, Math.min(2, os.availableParallelism()))) },
      "no-setup": { type: "boolean", default: false },
      "no-probe": { type: "boolean", default: false },
      "no-restore": { type: "boolean", default: false },
      out: { type: "string", default: path.join(REPO, "lab/profiles") },
      timeout: { type: "string", default: "1500" },
    },
  }).values;
} catch (e) {
  fail(e.message);
}
const list = (s, known, what) => {
  const items = s.split(",").filter(Boolean);
  for (const i of items) if (!known.includes(i)) fail(`unknown ${what} '${i}' (known: ${known.join(", ")})`);
  return items;
};
const kernels = list(opts.kernels, KERNELS, "kernel");
const cpus = list(opts.cpus, [...CPUS, "max-impdef"], "CPU model");
const restoreCpus = opts["no-restore"] ? [] : list(opts["restore-cpus"] ?? opts.cpus, cpus, "CPU model");
const jobs = Number(opts.jobs);
if (!(jobs >= 1)) fail("--jobs must be a positive number");
const outDir = path.resolve(opts.out);
const t0 = performance.now();
const step = (msg) => console.log(`[lab ${Math.round((performance.now() - t0) / 1000)} s] ${msg}`);

function runSync(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) fail(`${what} failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
}

if (!opts["no-setup"]) {
  step("setup (lab/setup.sh)");
  runSync("lab/setup.sh", "bash", ["lab/setup.sh"]);
}
step("build (tsc)");
runSync("build", "npx", ["tsc", "-p", "."]);
step("initramfs");
let initrd;
try {
  initrd = buildInitramfs();
} catch (e) {
  fail(e.message);
}

/** Why `text` is not a JSON document of `format`, or undefined when it is. */
function problemWith(text, format) {
  try {
    return JSON.parse(text).format === format ? undefined : `output is not a ${format} document`;
  } catch (e) {
    return `output is not JSON (${e.message.split("\n")[0]})`;
  }
}

/** Runs the tasks `jobs` at a time; each boots, checks the output and writes its target atomically. */
async function runAll(tasks) {
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      step(`start ${task.label}`);
      const started = performance.now();
      const resultFile = path.join(LAB_CACHE, "results", `${path.basename(task.target, ".json")}.boot.json`);
      const r = await boot({ ...task, timeoutS: Number(opts.timeout), resultFile });
      const secs = Math.round((performance.now() - started) / 1000);
      const problem = r.code !== 0 ? r.problem : problemWith(r.stdout, task.format);
      if (problem) {
        failures.push(`${task.label}: ${problem} (log: ${resultFile})`);
        step(`FAILED ${task.label}: ${problem} (${secs} s)`);
        continue;
      }
      fs.mkdirSync(path.dirname(task.target), { recursive: true });
      fs.writeFileSync(`${task.target}.tmp`, r.stdout);
      fs.renameSync(`${task.target}.tmp`, task.target);
      task.onDone?.();
      step(`done ${task.label}: ${path.relative(REPO, task.target)} (${secs} s)`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return failures;
}

const failures = await runAll(
  (opts["no-probe"] ? [] : kernels).flatMap((kernel) =>
    cpus.map((cpu) => ({
      label: `probe ${kernel}/${cpu}`,
      kernel,
      cpu,
      initrd,
      cmd: probeCommand(cpu),
      target: profileFile(outDir, kernel, cpu),
      format: "guestabi-host-profile",
      onDone: () => recordKernel(outDir, kernel),
    })),
  ),
);

// Restore pass: each kernel of a CPU model's restore matrix boots once with the profiles saved on
// every kernel of the matrix.
const restoreTasks = [];
for (const cpu of restoreCpus) {
  const matrix = restoreKernels(cpu).filter((k) => kernels.includes(k));
  const saved = Object.fromEntries(
    matrix.map((k) => [k, profileFile(outDir, k, cpu)]).filter(([, f]) => fs.existsSync(f)),
  );
  if (Object.keys(saved).length === 0) continue;
  let restoreInitrd;
  try {
    restoreInitrd = initramfsWithSaved(initrd, saved);
  } catch (e) {
    fail(e.message);
  }
  for (const kernel of matrix)
    restoreTasks.push({
      label: `restore on ${kernel}/${cpu} from ${Object.keys(saved).join(", ")}`,
      kernel,
      cpu,
      initrd: restoreInitrd,
      cmd: restoreCommand(cpu, Object.keys(saved)),
      target: restoreFile(outDir, kernel, cpu),
      format: "guestabi-restore-trial",
    });
}
failures.push(...(await runAll(restoreTasks)));

step(`finished: ${failures.length === 0 ? "all runs ok" : `${failures.length} failed`}`);
for (const f of failures) console.error(`lab: failed: ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
