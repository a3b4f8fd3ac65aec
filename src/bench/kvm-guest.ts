/**
 * The Node side of the lab's real-KVM speed measurement, run inside a lab guest with /dev/kvm by
 * lab/kvm-speed/run.mjs (and lab/kvm-speed/kvm-speed.test.mjs):
 *
 *   node dist/bench/kvm-guest.js --c PATH --profile PATH [--vcpus 4] [--rounds 5]
 *
 * Each round times three things back to back in the same boot:
 *   - "c": the C program at PATH (lab/kvm-speed/regloop.c), one round, timed inside it;
 *   - "ioctlLoop": exactly its ioctls through guestabi's koffi backend (src/kvm/linux: KvmSystem,
 *     KvmVm, KvmVcpu): save = create a VM of N vCPUs (PSCI 0.2), KVM_GET_REG_LIST, a GET_ONE_REG of
 *     every register; restore = a second VM, SET_ONE_REG of every register, GET_ONE_REG of each back
 *     and a compare;
 *   - "guestabi": the same VM saved and restored by src/vm's save() and restore() (restore: checkAbi
 *     against the host's committed profile at --profile, the write order, setIfDifferent on ID/firmware
 *     registers, the read-back, the destination's register list).
 * Prints one JSON document ("guestabi-kvm-speed"): per-round nanoseconds of each, the register count
 * of each vCPU, and, for lab/kvm-speed/kvm-speed.test.mjs, the registers both sides saved (hex of the
 * little-endian bytes) and the ids whose read-back differed.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  VCPU_FEATURES,
  getRegList,
  normalizeVcpuInit,
  regValueToBytes,
  regValuesEqual,
} from "../kvm/index.js";
import type { KvmSystem, KvmVcpu, KvmVm, RegValue, VcpuInit } from "../kvm/index.js";
import { openLinuxKvm } from "../kvm/linux/index.js";
import { readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { hostIdentityOf } from "../vm/managed-vm.js";
import type { ManagedVm } from "../vm/managed-vm.js";
import { restore, save } from "../vm/vm.js";

export const KVM_SPEED_FORMAT = "guestabi-kvm-speed";

interface RoundNs {
  saveNs: number;
  restoreNs: number;
}

const nsSince = (t0: number): number => Math.round((performance.now() - t0) * 1e6);
const cmpId = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const hexId = (id: bigint): string => "0x" + id.toString(16).padStart(16, "0");
const hexBytes = (id: bigint, v: RegValue): string => Buffer.from(regValueToBytes(id, v)).toString("hex");

/** A VM of `n` vCPUs initialised with PSCI 0.2 on the preferred target: what regloop.c's make_vm does. */
function makeVm(system: KvmSystem, n: number): { vm: KvmVm; vcpus: KvmVcpu[]; init: VcpuInit } {
  const vm = system.createVm();
  const vcpus: KvmVcpu[] = [];
  for (let i = 0; i < n; i++) vcpus.push(vm.createVcpu(i));
  const init = normalizeVcpuInit({ target: vm.preferredTarget().target, features: [VCPU_FEATURES.PSCI_0_2] });
  for (const v of vcpus) v.init(init);
  return { vm, vcpus, init };
}

interface LoopRound extends RoundNs {
  ids: bigint[][];
  values: RegValue[][];
  readBackDiffers: bigint[][];
}

/** One round of regloop.c's ioctls through the koffi backend (plain loops: the bench adds no work). */
function ioctlLoopRound(system: KvmSystem, n: number): LoopRound {
  const t0 = performance.now();
  const src = makeVm(system, n);
  const ids: bigint[][] = [];
  const values: RegValue[][] = [];
  for (const vcpu of src.vcpus) {
    const list = getRegList(vcpu).sort(cmpId);
    const vals: RegValue[] = new Array(list.length);
    for (let j = 0; j < list.length; j++) vals[j] = vcpu.getOneReg(list[j]!);
    ids.push(list);
    values.push(vals);
  }
  const saveNs = nsSince(t0);
  const t1 = performance.now();
  const dst = makeVm(system, n);
  for (let i = 0; i < n; i++) {
    const vcpu = dst.vcpus[i]!;
    const list = ids[i]!;
    const vals = values[i]!;
    for (let j = 0; j < list.length; j++) vcpu.setOneReg(list[j]!, vals[j]!);
  }
  const readBackDiffers: bigint[][] = [];
  for (let i = 0; i < n; i++) {
    const vcpu = dst.vcpus[i]!;
    const list = ids[i]!;
    const vals = values[i]!;
    const differs: bigint[] = [];
    for (let j = 0; j < list.length; j++)
      if (!regValuesEqual(vcpu.getOneReg(list[j]!), vals[j]!)) differs.push(list[j]!);
    readBackDiffers.push(differs);
  }
  const restoreNs = nsSince(t1);
  dst.vm.destroy();
  src.vm.destroy();
  return { saveNs, restoreNs, ids, values, readBackDiffers };
}

/** One round of src/vm's save() and restore() of the same VM (no vGIC, like the C program's). */
function guestabiRound(system: KvmSystem, n: number, profile: HostProfile): RoundNs {
  const t0 = performance.now();
  const { vm, vcpus, init } = makeVm(system, n);
  const managed: ManagedVm = {
    vm,
    vcpus: vcpus.map((vcpu) => ({ vcpu, init, attrs: [] })),
    state: { ipaBits: 0, caps: [], attrs: [] },
    host: hostIdentityOf(system),
    abi: "host-defaults",
  };
  const snapshot = save(managed, { createdAt: false });
  const saveNs = nsSince(t0);
  const t1 = performance.now();
  const restored = restore(snapshot, system, { profile });
  const restoreNs = nsSince(t1);
  restored.vm.vm.destroy();
  vm.destroy();
  return { saveNs, restoreNs };
}

interface RegloopOutput {
  regs: number[];
  rounds: RoundNs[];
  saved?: Record<string, string>[];
  readBackDiffers?: string[][];
}

function regloop(path: string, n: number, dump: boolean): RegloopOutput {
  const args = ["--vcpus", String(n), "--rounds", "1", ...(dump ? ["--dump"] : [])];
  const r = spawnSync(path, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${path} failed (${r.status}): ${(r.stderr || "").trim()}`);
  return JSON.parse(r.stdout) as RegloopOutput;
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      c: { type: "string" },
      profile: { type: "string" },
      vcpus: { type: "string", default: "4" },
      rounds: { type: "string", default: "5" },
    },
  });
  if (!opts.c || !opts.profile)
    throw new Error("usage: kvm-guest --c PATH --profile PATH [--vcpus N] [--rounds R]");
  const n = Number(opts.vcpus);
  const rounds = Number(opts.rounds);
  const profile = readProfile(fs.readFileSync(opts.profile, "utf8"), opts.profile);
  const system = await openLinuxKvm();
  const c: RoundNs[] = [];
  const ioctlLoop: RoundNs[] = [];
  const guestabi: RoundNs[] = [];
  let lastC: RegloopOutput | undefined;
  let lastLoop: LoopRound | undefined;
  // One warm-up round of each (JIT, page cache), then the timed rounds, interleaved.
  for (let r = -1; r < rounds; r++) {
    const cOut = regloop(opts.c, n, r === rounds - 1);
    const loop = ioctlLoopRound(system, n);
    const full = guestabiRound(system, n, profile);
    if (r < 0) continue;
    c.push(cOut.rounds[0]!);
    ioctlLoop.push({ saveNs: loop.saveNs, restoreNs: loop.restoreNs });
    guestabi.push(full);
    lastC = cOut;
    lastLoop = loop;
  }
  system.close();
  const out = {
    format: KVM_SPEED_FORMAT,
    release: os.release(),
    vcpus: n,
    regs: lastLoop!.ids.map((l) => l.length),
    rounds: { c, ioctlLoop, guestabi },
    agreement: {
      c: { regs: lastC!.regs, saved: lastC!.saved, readBackDiffers: lastC!.readBackDiffers },
      ioctlLoop: {
        saved: lastLoop!.ids.map((list, i) =>
          Object.fromEntries(list.map((id, j) => [hexId(id), hexBytes(id, lastLoop!.values[i]![j]!)])),
        ),
        readBackDiffers: lastLoop!.readBackDiffers.map((l) => l.map(hexId)),
      },
    },
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

await main();
