/**
 * Throughput of `guestabi check`: (VM, host) pairs per second on one core, for a fleet of 1000 VMs
 * (saved states of eight simulated hosts, each VM with its own register state and a quarter of them
 * with an ID field lowered) against 8 host profiles (5.10, 6.1, 6.12, 7.2 on Neoverse-N1 and Cortex-A72).
 *
 * - The level path (checkLevel: what impact, plan and rollout ask first, the full report only for a
 *   failing pair): with VMs that repeat (a few signatures, each evaluated once per host and then
 *   remembered); with VMs that each have their own set of state registers at 0 (the same signatures:
 *   those bits count only for registers a host lacks); and with every pair a first sight (copies of
 *   the VMs given a signature never seen before every pass: the rules run every time).
 * - The ideal precompiled loop as the baseline, on the same data: per pair a presence AND-NOT over
 *   the bitsets, then the compared values as aligned BigUint64Arrays (read as 32-bit halves), the
 *   rules (checkLevel) only on a mismatch.
 * - The old figures: the rules per pair (evaluate, what checkLevel ran on every call before its
 *   memo), the full report (checkCompiled), compiling a host and a VM.
 * - checkAbi as the CLI calls it (compile the VM, the host by its file name, the full report), and
 *   its old path (the host compiled afresh on every call, as before compileHost kept them).
 */
import { performance } from "node:perf_hooks";
import type { RegId } from "../regs/index.js";
import { bench, formatRate, ratio } from "./harness.js";
import { checkAbi, checkCompiled, checkLevel } from "../check/check.js";
import { evaluate } from "../check/evaluate.js";
import { levelRank } from "../check/verdicts.js";
import type { HostProfile } from "../formats/profile.js";
import type { CompiledHost } from "../check/host.js";
import { compileHost, hostConfig } from "../check/host.js";
import type { Requirements } from "../check/requirements.js";
import { compileSubject } from "../check/requirements.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import type { Snapshot } from "../formats/snapshot.js";
import { savedSnapshot, simProfile, withReg } from "../check/testing/sim-profiles.js";
import { KERNEL_GENERATIONS } from "../regs/index.js";

const ISAR0 = 0x603000000013c030n;
/** Core register x`n` (KVM_REG_ARM_CORE_REG(regs.regs[n])); x31 is sp, x32 pc. */
const coreReg = (n: number): RegId => 0x6030000000100000n + BigInt(2 * n);

/** A deterministic pseudo-random 64-bit value (splitmix64). */
function mix(n: bigint): bigint {
  let z = (n + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}

/**
 * `count` VMs saved on the profiles' hosts in turn, each with its own x0..x30, sp and pc, a quarter
 * with ID_AA64ISAR0_EL1.ATOMIC hidden. `zeroed`: VM k also has x0..x9 at 0 where k's bits are 0 (a
 * state register at 0 is one a VM may never have touched), so no two have the same "never knew" set.
 */
function fleet(profiles: readonly HostProfile[], count: number, zeroed: boolean): Snapshot[] {
  const bases = profiles.map(savedSnapshot);
  const out: Snapshot[] = [];
  for (let k = 0; k < count; k++) {
    let s = bases[k % bases.length]!;
    for (let x = 0; x < 33; x++) {
      const zero = zeroed && x < 10 && ((k >> x) & 1) === 0;
      s = withReg(s, coreReg(x), zero ? 0n : mix(BigInt(k * 64 + x)));
    }
    if (k % 4 === 3) {
      const isar0 = s.vcpus[0]!.regs.get(ISAR0);
      if (typeof isar0 === "bigint") s = withReg(s, ISAR0, isar0 & ~(0xfn << 20n)); // ATOMIC hidden
    }
    out.push(s);
  }
  return out;
}

/** A subject's side of the ideal loop: its register set and its compared values. */
interface IdealVm {
  req: Requirements;
  present: Uint32Array;
  /** The compared registers' values, in the subject's order, read as 32-bit halves. */
  values: Uint32Array;
}

/** A host's side for one subject layout: its register set and its values at the subject's registers. */
interface IdealHost {
  host: CompiledHost;
  present: Uint32Array;
  values: Map<number, Uint32Array>;
}

/** The compared values as a BigUint64Array (its buffer read as 32-bit halves by the loop). */
function values64(count: number, value: (k: number) => bigint): Uint32Array {
  const v = new BigUint64Array(count);
  for (let k = 0; k < count; k++) v[k] = value(k);
  return new Uint32Array(v.buffer);
}

function idealVm(req: Requirements): IdealVm {
  const r = req.classes[0]!;
  return {
    req,
    present: r.present,
    values: values64(r.checked.length, (k) => (BigInt(r.cHi[k]!) << 32n) | BigInt(r.cLo[k]!)),
  };
}

function idealHost(host: CompiledHost, vms: readonly IdealVm[]): IdealHost {
  const cfg = hostConfig(host, [VCPU_FEATURES.PSCI_0_2])!;
  const values = new Map<number, Uint32Array>();
  for (const { req } of vms) {
    const r = req.classes[0]!;
    if (!values.has(r.layout))
      values.set(
        r.layout,
        values64(r.checked.length, (k) => {
          const i = r.checked[k]!;
          return (BigInt(cfg.hi[i] ?? 0) << 32n) | BigInt(cfg.lo[i] ?? 0);
        }),
      );
  }
  return { host, present: cfg.present, values };
}

/** The ideal loop's level of one pair: 0 when nothing is missing and every compared value is equal. */
function idealLevel(vm: IdealVm, h: IdealHost): number {
  const p = vm.present;
  const hp = h.present;
  for (let w = 0; w < p.length; w++) if ((p[w]! & ~(hp[w] ?? 0)) !== 0) return checkLevel(vm.req, h.host);
  const a = vm.values;
  const b = h.values.get(vm.req.classes[0]!.layout)!;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return checkLevel(vm.req, h.host);
  return 0;
}

export function runCheckBench(): string[] {
  const t0 = performance.now();
  const configs = ["psci-0.2", "psci-0.2+pmu"];
  const profiles = KERNEL_GENERATIONS.flatMap((gen) =>
    ["neoverse-n1", "cortex-a72"].map((cpu) => simProfile(gen, cpu, configs)),
  );
  const probeMs = performance.now() - t0;
  const vms = fleet(profiles, 1000, false);
  const zeroedVms = fleet(profiles, 1000, true);

  let fresh = 0;
  const compileHosts = bench(
    "compile a host profile (and its psci-0.2 view)",
    profiles.length,
    () => {
      // A name never used before: compileHost keeps hosts by (profile, VMM, name), so this compiles.
      for (const p of profiles) hostConfig(compileHost(p, `host ${fresh++}`), [VCPU_FEATURES.PSCI_0_2]);
    },
    "hosts/s",
    200,
  );
  const hosts = profiles.map((p) => compileHost(p));
  let reqs: Requirements[] = [];
  const compileVms = bench(
    "compile a VM snapshot into requirements",
    vms.length,
    () => {
      reqs = vms.map((s) => compileSubject(s));
    },
    "VMs/s",
    200,
  );
  const zeroedReqs = zeroedVms.map((s) => compileSubject(s));
  // Views compile lazily: warm every (host, feature set) once, as a long-running service would.
  for (const r of [...reqs, ...zeroedReqs]) for (const h of hosts) checkLevel(r, h);

  const levels = [0, 0, 0];
  for (const r of reqs) for (const h of hosts) levels[checkLevel(r, h)]!++;
  const signatures = new Set(reqs.map((r) => r.signature)).size;
  const zeroedSignatures = new Set(zeroedReqs.map((r) => r.signature)).size;
  const pairs = reqs.length * hosts.length;

  let sink = 0;
  const rules = bench(
    `old: the rules per pair (evaluate)`,
    pairs,
    () => {
      for (const r of reqs) for (const h of hosts) sink += levelRank(evaluate(r, h, null));
    },
    "pairs/s",
  );
  let k = 0;
  const full = bench(
    "old: full report (every verdict and reason)",
    hosts.length,
    () => {
      const r = reqs[k++ % reqs.length]!;
      for (const h of hosts) sink += checkCompiled(r, h).verdicts.length;
    },
    "pairs/s",
  );
  const repeating = bench(
    `checkLevel, VMs repeating (${signatures} signatures)`,
    pairs,
    () => {
      for (const r of reqs) for (const h of hosts) sink += checkLevel(r, h);
    },
    "pairs/s",
  );
  const zeros = bench(
    `checkLevel, VMs each with its own state at 0 (${zeroedSignatures} signatures)`,
    zeroedReqs.length * hosts.length,
    () => {
      for (const r of zeroedReqs) for (const h of hosts) sink += checkLevel(r, h);
    },
    "pairs/s",
  );
  // Copies of the VMs given signatures no subject had before every pass: each pair is a first sight.
  const unseenReqs = reqs.map((r) => ({ ...r }));
  let unseenSignature = -1;
  const unseen = bench(
    "checkLevel, every pair a first sight",
    pairs,
    () => {
      for (const r of unseenReqs) {
        r.signature = unseenSignature--;
        for (const h of hosts) sink += checkLevel(r, h);
      }
    },
    "pairs/s",
  );
  const idealVms = reqs.map(idealVm);
  const idealHosts = hosts.map((h) => idealHost(h, idealVms));
  const ideal = bench(
    "ideal loop (bitset AND-NOT, BigUint64Array compare)",
    pairs,
    () => {
      for (const v of idealVms) for (const h of idealHosts) sink += idealLevel(v, h);
    },
    "pairs/s",
  );

  // checkAbi as the CLI calls it: the host named by its file, the subject by its file, guestabi's VMM.
  const cliCall = (s: Snapshot, p: HostProfile, n: number) =>
    checkAbi(s, p, { hostName: `host-${n}.json`, subjectLabel: "vm.json", vmm: GUESTABI_POLICY });
  let c = 0;
  const cli = bench(
    "checkAbi as the CLI calls it",
    profiles.length,
    () => {
      const s = vms[c++ % vms.length]!;
      profiles.forEach((p, n) => (sink += cliCall(s, p, n).verdicts.length));
    },
    "pairs/s",
  );
  const cliOld = bench(
    "old: checkAbi's path, the host compiled each call",
    profiles.length,
    () => {
      const s = vms[c++ % vms.length]!;
      for (const p of profiles) {
        const req = compileSubject(s, { label: "vm.json" });
        sink += checkCompiled(req, compileHost(p, `host ${fresh++}`)).verdicts.length;
      }
    },
    "pairs/s",
  );
  if (sink === -1) console.log(sink); // keeps the loops from being optimised away
  return [
    `guest ABI check: ${reqs.length} VMs x ${hosts.length} hosts (${levels[0]} ok, ${levels[1]} tolerated, ${levels[2]} incompatible pairs; profiles probed in ${(probeMs / 1000).toFixed(1)} s)`,
    ...[compileHosts, compileVms, rules, full, repeating, zeros, unseen, ideal, cli, cliOld].map(formatRate),
    ratio("checkLevel repeating / old rules per pair", repeating, rules),
    ratio("checkLevel first sight / old rules per pair", unseen, rules),
    ratio("ideal loop / checkLevel repeating (goal <= 3)", ideal, repeating),
    ratio("ideal loop / checkLevel first sight", ideal, unseen),
    ratio("checkLevel repeating / full report", repeating, full),
    ratio("checkAbi as the CLI calls it / old path", cli, cliOld),
  ];
}
