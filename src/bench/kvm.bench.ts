/**
 * Real KVM: save + restore + read-back of a 4-vCPU VM through guestabi's koffi backend against a C
 * program doing the same ioctls in the same boot of each lab kernel (lab/kvm-speed, kvm-guest.ts).
 * The figures need a lab guest (QEMU TCG, minutes), so this prints those lab/kvm-speed/run.mjs
 * committed to lab/kvm-speed/results.json, saying when they were measured; with GUESTABI_LAB set it
 * measures the four kernels afresh first (lab/setup.sh needed) and prints those instead.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const COMMITTED = path.join(REPO, "lab/kvm-speed/results.json");
/** The Node sides' goal: within 1.2x of C (issue 15). */
const GOAL = 1.2;

interface Side {
  usPerRegister: number;
}
interface SpeedEntry {
  kernel: string;
  cpu: string;
  date: string;
  qemu: string;
  clock: string;
  release: string;
  vcpus: number;
  registers: number;
  rounds: number;
  c: Side;
  ioctlLoop: Side & { ratio: number };
  guestabi: Side & { ratio: number };
}

/** lab/kvm-speed/run.mjs into a temporary file; returns its path. */
function remeasure(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-kvm-speed-"));
  const file = path.join(dir, "results.json");
  const r = spawnSync(process.execPath, ["lab/kvm-speed/run.mjs", "--out", file], {
    cwd: REPO,
    encoding: "utf8",
  });
  if (r.status !== 0 || !fs.existsSync(file))
    throw new Error(`lab/kvm-speed/run.mjs failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
  return file;
}

const us = (x: number) => `${x.toFixed(1)} µs`;
const times = (x: number) => `${x.toFixed(2)}x`;

export function runKvmBench(): string[] {
  const now = Boolean(process.env.GUESTABI_LAB);
  const file = now ? remeasure() : COMMITTED;
  const header = "real KVM, lab: save + restore + read-back of a 4-vCPU VM, koffi vs C (same boot)";
  if (!fs.existsSync(file)) return [header, `  no figures: ${path.relative(REPO, file)} is missing`];
  const entries = Object.values(
    (JSON.parse(fs.readFileSync(file, "utf8")) as { results: Record<string, SpeedEntry> }).results,
  );
  const lines = [header];
  for (const e of entries) {
    lines.push(
      `  ${e.kernel}/${e.cpu} (${e.release}), ${e.registers} registers: measured ${now ? "now (GUESTABI_LAB)" : `in the lab on ${e.date}`}, ${e.clock}, best of ${e.rounds} rounds`,
      `    ${"C (lab/kvm-speed/regloop.c)".padEnd(44)} ${us(e.c.usPerRegister)}/register`,
      `    ${"koffi, the same ioctls (src/kvm/linux)".padEnd(44)} ${us(e.ioctlLoop.usPerRegister)}/register  ${times(e.ioctlLoop.ratio)} C (goal ${GOAL}x)`,
      `    ${"guestabi save() + restore() (src/vm)".padEnd(44)} ${us(e.guestabi.usPerRegister)}/register  ${times(e.guestabi.ratio)} C`,
    );
  }
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href)
  for (const line of runKvmBench()) console.log(line);
