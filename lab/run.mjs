#!/usr/bin/env node
// npm run lab: probe every kernel x CPU model of the lab on real KVM and write lab/profiles/, then
// try every ordered pair of kernels: restore on kernel Y the registers saved on kernel X.
//
//   node lab/run.mjs [--kernels 5.10,6.1,6.12,7.2] [--cpus max,cortex-a57,...] [--jobs 2]
//                    [--restore-cpus cortex-a72] [--no-setup] [--no-restore] [--out lab/profiles]
//                    [--timeout 1500]
//
// Profiles: <out>/<kernel>-<cpu>.json (guestabi host profiles, written by `guestabi probe` inside the
// guest). Restore trials: <out>/restore/<cpu>/<from>-on-<to>.json (`guestabi restore-trial`).
// A run that fails leaves the previous file in place and is reported; the exit code is then 1.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const KERNELS = ["5.10", "6.1", "6.12", "7.2"];
const CPUS = ["max", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "a64fx"];
const LAB_CACHE = path.join(process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi"), "lab");

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
const elapsed = () => `${Math.round((performance.now() - t0) / 1000)} s`;
const step = (msg) => console.log(`[lab ${elapsed()}] ${msg}`);

function runSync(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) fail(`${what} failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
  return r.stdout;
}

if (!opts["no-setup"]) {
  step("setup (lab/setup.sh)");
  runSync("lab/setup.sh", "bash", ["lab/setup.sh"]);
}
step("build (tsc)");
runSync("build", "npx", ["tsc", "-p", "."]);
step("initramfs");
const initrd = runSync("lab/build-initramfs.sh", "bash", ["lab/build-initramfs.sh", REPO, "--uncompressed"])
  .trim()
  .split("\n")
  .pop();

/** Boots kernel/cpu with `cmd`, streaming the guest's stdout into `target` atomically once complete. */
function boot({ kernel, cpu, cmd, target, initrdFile, check }) {
  return new Promise((resolve) => {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp.${process.pid}`;
    const out = fs.openSync(tmp, "w");
    const result = path.join(LAB_CACHE, "results", `${path.basename(target, ".json")}.boot.json`);
    const args = ["lab/boot.mjs", "--kernel", kernel, "--cpu", cpu, "--initrd", initrdFile, "--cmd", cmd];
    const child = spawn(process.execPath, [...args, "--timeout", opts.timeout, "--out", result], {
      cwd: REPO,
      stdio: ["ignore", out, "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const started = performance.now();
    child.on("close", (code) => {
      fs.closeSync(out);
      const secs = Math.round((performance.now() - started) / 1000);
      const problem = code !== 0 ? stderr.trim().split("\n").pop() || `boot.mjs exit ${code}` : check(tmp);
      if (problem) {
        fs.rmSync(tmp, { force: true });
        resolve({ ok: false, message: `${kernel}/${cpu}: ${problem} (${secs} s; log: ${result})` });
      } else {
        fs.renameSync(tmp, target);
        resolve({ ok: true, message: `${kernel}/${cpu}: ${path.relative(REPO, target)} (${secs} s)` });
      }
    });
  });
}

/** Why the JSON document at `file` is not a `format` document, or undefined when it is. */
const expectFormat = (format) => (file) => {
  try {
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    return doc.format === format ? undefined : `output is not a ${format} document`;
  } catch (e) {
    return `output is not JSON (${e.message.split("\n")[0]})`;
  }
};

async function runAll(tasks) {
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      step(`start ${task.label}`);
      const r = await boot(task);
      step(`${r.ok ? "done" : "FAILED"} ${r.message}`);
      if (!r.ok) failures.push(r.message);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return failures;
}

const profileFile = (kernel, cpu) => path.join(outDir, `${kernel}-${cpu}.json`);
const failures = await runAll(
  kernels.flatMap((kernel) =>
    cpus.map((cpu) => ({
      label: `probe ${kernel}/${cpu}`,
      kernel,
      cpu,
      initrdFile: initrd,
      cmd: `node dist/cli/main.js probe --out - --cpu-label ${cpu}`,
      target: profileFile(kernel, cpu),
      check: expectFormat("guestabi-host-profile"),
    })),
  ),
);

// Restore pass: each kernel Y boots once per CPU model with the profiles saved on every kernel X
// appended to the initramfs as one more cpio archive (the kernel unpacks concatenated archives).
const restoreTasks = [];
for (const cpu of restoreCpus) {
  const saved = kernels.filter((k) => fs.existsSync(profileFile(k, cpu)));
  if (saved.length === 0) continue;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-restore-"));
  fs.mkdirSync(path.join(stage, "payload/saved"), { recursive: true });
  for (const k of saved) fs.copyFileSync(profileFile(k, cpu), path.join(stage, `payload/saved/${k}.json`));
  const extra = path.join(stage, "saved.cpio");
  const cpio = spawnSync("sh", [
    "-c",
    `cd '${stage}' && find payload | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet`,
  ]);
  if (cpio.status !== 0) fail(`cpio failed: ${cpio.stderr}`);
  fs.writeFileSync(extra, cpio.stdout);
  const restoreInitrd = path.join(stage, "initrd.cpio");
  fs.writeFileSync(restoreInitrd, Buffer.concat([fs.readFileSync(initrd), cpio.stdout]));
  for (const kernel of kernels) {
    restoreTasks.push({
      label: `restore on ${kernel}/${cpu} from ${saved.join(", ")}`,
      kernel,
      cpu,
      initrdFile: restoreInitrd,
      cmd: `node dist/cli/main.js restore-trial ${saved.map((k) => `--from saved/${k}.json`).join(" ")} --out -`,
      target: path.join(outDir, "restore", `${kernel}-${cpu}.json`),
      check: expectFormat("guestabi-restore-trial"),
    });
  }
}
failures.push(...(await runAll(restoreTasks)));

step(`finished: ${failures.length === 0 ? "all runs ok" : `${failures.length} failed`}`);
for (const f of failures) console.error(`lab: failed: ${f}`);
process.exit(failures.length === 0 ? 0 : 1);
