#!/usr/bin/env node
// Real-KVM speed: save + restore + read-back of a 4-vCPU VM through guestabi's koffi backend against
// the C program lab/kvm-speed/regloop.c doing the same ioctls, in the same boot of each kernel
// (lab/README.md, "Real-KVM speed"). Writes the figures to lab/kvm-speed/results.json (one entry per kernel
// and CPU model; entries of kernels not measured are kept), which `npm run bench` prints.
//
//   node lab/kvm-speed/run.mjs [--kernels 5.10,6.1,6.12,7.2] [--cpu neoverse-n1] [--rounds 9]
//                              [--vcpus 4] [--jobs 1] [--icount shift=0,sleep=off|none]
//                              [--out lab/kvm-speed/results.json]
// --icount: QEMU's -icount for the boots (lib.mjs SPEED_ICOUNT); none: the host's clock.
// --jobs: guests booted at a time (with -icount a second guest slows the first but does not skew it).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { CPUS, KERNELS, REPO, buildInitramfs } from "../lab-lib.mjs";
import {
  RESULTS,
  SPEED_CPU,
  SPEED_ICOUNT,
  SPEED_KERNELS,
  buildRegloop,
  measureInGuest,
  summarize,
} from "./lib.mjs";

function fail(message) {
  console.error(`kvm-speed: error: ${message}`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      kernels: { type: "string", default: SPEED_KERNELS.join(",") },
      cpu: { type: "string", default: SPEED_CPU },
      rounds: { type: "string", default: "9" },
      vcpus: { type: "string", default: "4" },
      jobs: { type: "string", default: "2" },
      icount: { type: "string", default: SPEED_ICOUNT },
      out: { type: "string", default: RESULTS },
    },
  }).values;
} catch (e) {
  fail(e.message);
}
const kernels = opts.kernels.split(",").filter(Boolean);
for (const k of kernels)
  if (!KERNELS.includes(k)) fail(`unknown kernel '${k}' (known: ${KERNELS.join(", ")})`);
if (![...CPUS, "max-impdef"].includes(opts.cpu)) fail(`unknown CPU model '${opts.cpu}'`);
const rounds = Number(opts.rounds);
const vcpus = Number(opts.vcpus);
const jobs = Number(opts.jobs);
if (!(Number.isInteger(rounds) && rounds >= 1)) fail("--rounds must be a positive integer");
if (!(Number.isInteger(vcpus) && vcpus >= 1 && vcpus <= 64)) fail("--vcpus must be 1..64");
if (!(Number.isInteger(jobs) && jobs >= 1)) fail("--jobs must be a positive integer");
const out = path.resolve(opts.out);
const icount = opts.icount === "none" ? undefined : opts.icount;

const t0 = performance.now();
const step = (msg) => console.log(`[kvm-speed ${Math.round((performance.now() - t0) / 1000)} s] ${msg}`);
const build = spawnSync("npx", ["tsc", "-p", "."], { cwd: REPO, encoding: "utf8" });
if (build.status !== 0) fail(`tsc failed: ${build.stdout.trim().split("\n").pop()}`);
let initrd, regloop;
try {
  regloop = buildRegloop();
  initrd = buildInitramfs();
} catch (e) {
  fail(e.message);
}
const qemu = spawnSync("qemu-system-aarch64", ["--version"], { encoding: "utf8" })
  .stdout.split("\n")[0]
  .trim();

const entries = {};
const failures = [];
let next = 0;
const worker = async () => {
  while (next < kernels.length) {
    const kernel = kernels[next++];
    step(`measure ${kernel}/${opts.cpu}`);
    try {
      const doc = await measureInGuest({ kernel, cpu: opts.cpu, initrd, regloop, rounds, vcpus, icount });
      const s = summarize(doc);
      entries[`${kernel}/${opts.cpu}`] = {
        kernel,
        cpu: opts.cpu,
        date: new Date().toISOString().slice(0, 10),
        qemu,
        clock: icount ? `-icount ${icount} (guest instructions)` : "host clock",
        ...s,
      };
      step(
        `${kernel}/${opts.cpu}: ${s.registers} registers; C ${s.c.usPerRegister} µs/register, ` +
          `koffi ioctl loop ${s.ioctlLoop.usPerRegister} (${s.ioctlLoop.ratio}x), ` +
          `guestabi save+restore ${s.guestabi.usPerRegister} (${s.guestabi.ratio}x)`,
      );
    } catch (e) {
      failures.push(`${kernel}/${opts.cpu}: ${e.message}`);
      step(`FAILED ${kernel}/${opts.cpu}: ${e.message}`);
    }
  }
};
await Promise.all(Array.from({ length: Math.min(jobs, kernels.length) }, worker));

if (Object.keys(entries).length) {
  const previous = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, "utf8")) : { results: {} };
  const results = { ...previous.results, ...entries };
  const doc = {
    format: "guestabi-kvm-speed-results",
    about:
      "Save + restore + read-back of a VM through guestabi's koffi backend (src/kvm/linux) against lab/kvm-speed/regloop.c " +
      "doing the same ioctls, in the same boot (QEMU TCG, real Debian arm64 kernels). Guest time under QEMU -icount (1 ns per guest instruction) unless clock says otherwise; best round of each side; " +
      "µs per register = (save + restore) / every register of every vCPU. ioctlLoop: regloop.c's ioctls through " +
      "KvmSystem/KvmVm/KvmVcpu; guestabi: src/vm save() and restore() (checkAbi, write order, read-back). Written by lab/kvm-speed/run.mjs.",
    results: Object.fromEntries(
      Object.entries(results).sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true })),
    ),
  };
  fs.writeFileSync(`${out}.tmp`, JSON.stringify(doc, null, 2) + "\n");
  fs.renameSync(`${out}.tmp`, out);
  step(`wrote ${path.relative(REPO, out)}`);
}
for (const f of failures) console.error(`kvm-speed: failed: ${f}`);
process.exit(failures.length ? 1 : 0);
