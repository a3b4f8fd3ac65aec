// What lab/kvm-speed/run.mjs and kvm-speed.test.mjs share: building the C baseline, booting a kernel
// with it and the Node side (dist/bench/kvm-guest.js), and turning a guest's rounds into figures.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO, boot, initramfsWithFiles, profileFile } from "../lab-lib.mjs";

export const RESULTS = path.join(REPO, "lab/kvm-speed/results.json");
/** The kernels the README's figure is given for, and the outer CPU model they are measured on. */
export const SPEED_KERNELS = ["5.10", "6.1", "6.12", "7.2"];
export const SPEED_CPU = "neoverse-n1";
/**
 * QEMU's -icount for the measuring boots: guest time advances 1 ns per guest instruction
 * (shift=0) and skips idle time (sleep=off), so a loaded host (the lab shares its two cores) slows
 * the boot but cannot skew the figures; the C and Node sides are compared in guest instructions.
 */
export const SPEED_ICOUNT = "shift=0,sleep=off";

/** lab/kvm-speed/build.sh: the arm64 regloop binary in the lab cache; returns its path. */
export function buildRegloop() {
  const r = spawnSync("bash", ["lab/kvm-speed/build.sh"], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(`lab/kvm-speed/build.sh failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
  return r.stdout.trim().split("\n").pop();
}

/**
 * Boots `kernel` on `cpu` with regloop and the host's committed profile (restore's check needs it) and
 * runs the Node side; resolves with the guest's JSON document, or throws with the boot's problem.
 */
export async function measureInGuest({
  kernel,
  cpu,
  initrd,
  regloop,
  rounds,
  vcpus,
  icount,
  timeoutS = 900,
}) {
  const withFiles = initramfsWithFiles(initrd, {
    "payload/kvm-speed/regloop": regloop,
    "payload/saved/host.json": profileFile(path.join(REPO, "lab/profiles"), kernel, cpu),
  });
  try {
    const cmd = `node dist/bench/kvm-guest.js --c kvm-speed/regloop --profile saved/host.json --rounds ${rounds} --vcpus ${vcpus}`;
    const r = await boot({ kernel, cpu, initrd: withFiles, cmd, timeoutS, icount });
    if (r.code !== 0) throw new Error(`lab/boot.mjs ${kernel}/${cpu}: ${r.problem}`);
    const doc = JSON.parse(r.stdout);
    if (doc.format !== "guestabi-kvm-speed")
      throw new Error(`${kernel}/${cpu}: not a guestabi-kvm-speed document`);
    return doc;
  } finally {
    fs.rmSync(path.dirname(withFiles), { recursive: true, force: true });
  }
}

const round3 = (x) => Math.round(x * 1000) / 1000;

/**
 * The figures of one guest document: per side, the best (least disturbed: the lab shares its cores)
 * round's save + restore in µs, with that round's save and restore, and µs per register (over every
 * register of every vCPU); the Node sides' ratios to C.
 */
export function summarize(doc) {
  const registers = doc.regs.reduce((a, b) => a + b, 0);
  const side = (rounds) => {
    const best = rounds.reduce((a, r) => (r.saveNs + r.restoreNs < a.saveNs + a.restoreNs ? r : a));
    const total = (best.saveNs + best.restoreNs) / 1000;
    return {
      saveUs: round3(best.saveNs / 1000),
      restoreUs: round3(best.restoreNs / 1000),
      totalUs: round3(total),
      usPerRegister: round3(total / registers),
    };
  };
  const c = side(doc.rounds.c);
  const ioctlLoop = side(doc.rounds.ioctlLoop);
  const guestabi = side(doc.rounds.guestabi);
  return {
    release: doc.release,
    vcpus: doc.vcpus,
    registers,
    rounds: doc.rounds.c.length,
    c,
    ioctlLoop: { ...ioctlLoop, ratio: round3(ioctlLoop.totalUs / c.totalUs) },
    guestabi: { ...guestabi, ratio: round3(guestabi.totalUs / c.totalUs) },
  };
}
