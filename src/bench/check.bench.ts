/**
 * Throughput of `guestabi check`: (VM, host) pairs per second on one core, for a fleet of 1000 VMs
 * (saved states of eight simulated hosts, each VM with its own register state and a quarter of them
 * with an ID field lowered) against 8 host profiles (5.10, 6.1, 6.12, 7.2 on Neoverse-N1 and Cortex-A72).
 * The fast path (checkLevel: compiled forms, no verdicts) over every pair and over the compatible
 * pairs only (which run the whole loop, no early exit), and the full report (every verdict with its
 * reason).
 */
import { performance } from "node:perf_hooks";
import type { RegId } from "../regs/index.js";
import { bench, formatRate, ratio } from "./harness.js";
import { checkCompiled, checkLevel } from "../check/check.js";
import type { HostProfile } from "../formats/profile.js";
import type { CompiledHost } from "../check/host.js";
import { compileHost, hostConfig } from "../check/host.js";
import type { Requirements } from "../check/requirements.js";
import { compileSubject } from "../check/requirements.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import type { Snapshot } from "../formats/snapshot.js";
import { savedSnapshot, simProfile, withReg } from "../check/testing/sim-profiles.js";
import { KERNEL_GENERATIONS } from "../regs/index.js";

const ISAR0 = 0x603000000013c030n;

/** A deterministic pseudo-random 64-bit value (splitmix64). */
function mix(n: bigint): bigint {
  let z = (n + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}

function fleet(profiles: readonly HostProfile[], count: number): Snapshot[] {
  const bases = profiles.map(savedSnapshot);
  const out: Snapshot[] = [];
  for (let k = 0; k < count; k++) {
    let s = bases[k % bases.length]!;
    // Its own register state: x0..x30, sp, pc (core registers 0x6030000000100000 + 2n).
    for (let x = 0; x < 33; x++) {
      const id: RegId = 0x6030000000100000n + BigInt(2 * x);
      s = withReg(s, id, mix(BigInt(k * 64 + x)));
    }
    if (k % 4 === 3) {
      const isar0 = s.vcpus[0]!.regs.get(ISAR0);
      if (typeof isar0 === "bigint") s = withReg(s, ISAR0, isar0 & ~(0xfn << 20n)); // ATOMIC hidden
    }
    out.push(s);
  }
  return out;
}

export function runCheckBench(): string[] {
  const t0 = performance.now();
  const configs = ["psci-0.2", "psci-0.2+pmu"];
  const profiles = KERNEL_GENERATIONS.flatMap((gen) =>
    ["neoverse-n1", "cortex-a72"].map((cpu) => simProfile(gen, cpu, configs)),
  );
  const probeMs = performance.now() - t0;
  const vms = fleet(profiles, 1000);

  let hosts: CompiledHost[] = [];
  const compileHosts = bench(
    "compile a host profile (and its psci-0.2 view)",
    profiles.length,
    () => {
      hosts = profiles.map((p) => {
        const h = compileHost(p);
        hostConfig(h, [VCPU_FEATURES.PSCI_0_2]);
        return h;
      });
    },
    "hosts/s",
    200,
  );
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
  // Views compile lazily: warm every (host, feature set) once, as a long-running service would.
  for (const r of reqs) for (const h of hosts) checkLevel(r, h);

  const pairs: [Requirements, CompiledHost][] = [];
  const levels = [0, 0, 0];
  for (const r of reqs)
    for (const h of hosts) {
      const l = checkLevel(r, h);
      levels[l]!++;
      if (l < 2) pairs.push([r, h]);
    }
  let sink = 0;
  const fast = bench(
    `fast check, ${reqs.length} VMs x ${hosts.length} hosts`,
    reqs.length * hosts.length,
    () => {
      for (const r of reqs) for (const h of hosts) sink += checkLevel(r, h);
    },
    "pairs/s",
  );
  const fastCompatible = bench(
    `fast check, the ${pairs.length} compatible pairs only`,
    pairs.length,
    () => {
      for (const [r, h] of pairs) sink += checkLevel(r, h);
    },
    "pairs/s",
  );
  let k = 0;
  const full = bench(
    "full report (every verdict and reason)",
    hosts.length,
    () => {
      const r = reqs[k++ % reqs.length]!;
      for (const h of hosts) sink += checkCompiled(r, h).verdicts.length;
    },
    "pairs/s",
  );
  if (sink === -1) console.log(sink); // keeps the loops from being optimised away
  return [
    `guest ABI check: ${reqs.length} VMs x ${hosts.length} hosts (${levels[0]} ok, ${levels[1]} tolerated, ${levels[2]} incompatible pairs; profiles probed in ${(probeMs / 1000).toFixed(1)} s)`,
    ...[compileHosts, compileVms, fast, fastCompatible, full].map(formatRate),
    ratio("fast (all pairs) / full report", fast, full),
    ratio("fast (compatible pairs) / full report", fastCompatible, full),
  ];
}
