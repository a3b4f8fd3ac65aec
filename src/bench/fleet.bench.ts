/**
 * The fleet analysis at scale (src/fleet/analysis.ts): a generated fleet of 4 kernels x 4 CPU models
 * of the simulator, 1k, 10k and 100k hosts with 10 VMs a host, a mix of VMs with host defaults (with
 * and without a PMU), VMs pinned to a baseline and VMs restored from snapshots (1, 2 and 4 vCPUs),
 * restored by guestabi, QEMU 10.0, QEMU 11.1 and Firecracker. Timed from a cold analysis each run (a
 * fresh model object: nothing cached but the profiles): impact of the largest group rolled back, plan,
 * rollout to 7.2 in 5 waves; then the old path (the per-VM simulation, fleet/testing/oracle.ts) on the
 * same fleet against the analysis, and the rolled-back group with 10x more distinct ABIs.
 * Goals (issue 13): impact on 100k hosts x 1M VMs <= 1 s, plan <= 5 s, rollout in 5 waves <= 10 s.
 */
import { performance } from "node:perf_hooks";
import { VCPU_FEATURES } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import { withReg } from "../check/testing/sim-profiles.js";
import type { HostProfile } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { createDefaultVm, save } from "../vm/vm.js";
import { fleetFileModel } from "../fleet/analysis.js";
import { SimHosts } from "../fleet/fleet.js";
import type { Fleet, FleetVm, VmAbi } from "../fleet/fleet.js";
import { impactOf } from "../fleet/impact.js";
import type { FleetModel } from "../fleet/model.js";
import { planOf } from "../fleet/plan.js";
import { rolloutOf } from "../fleet/rollout.js";
import { simulateImpact } from "../fleet/testing/oracle.js";

const KERNELS: readonly SimGeneration[] = ["5.10", "6.1", "6.12", "7.2"];
const CPUS = ["cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1"];
const VMMS = ["guestabi", "qemu@10.0", "qemu@11.1", "firecracker"];
const PSCI = [VCPU_FEATURES.PSCI_0_2];
const PMU = [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3];
/** Hosts of each group, relative: newer kernels and the later CPU models run more hosts. */
const weight = (k: number, c: number) => (k + 1) * (c + 1);

const only = (p: HostProfile, config: string): HostProfile => ({
  ...p,
  configs: p.configs.filter((c) => c.name === config),
});

/**
 * A snapshot with its own guest state (x0..x3, as a running VM has): a distinct ABI to the model, the
 * same case to the analysis as any other snapshot of its kind.
 */
const ownState = (s: Snapshot, n: number): Snapshot =>
  [0, 1, 2, 3].reduce((x, r) => withReg(x, 0x6030000000100000n + BigInt(2 * r), BigInt(n * 4 + r + 1)), s);

/** What every size shares: the profiles, a template and the snapshots per (kernel, CPU). */
interface Parts {
  hosts: SimHosts;
  templates: Map<string, AbiTemplate>;
  snapshots: Map<string, Snapshot[]>;
}

function parts(): Parts {
  const hosts = new SimHosts([PSCI, PMU]);
  const templates = new Map<string, AbiTemplate>();
  const snapshots = new Map<string, Snapshot[]>();
  for (const cpu of CPUS)
    KERNELS.forEach((k, i) => {
      // Pinned to the baseline of its kernel and the next newer one (7.2: 6.12 and 7.2; 5.10: its own).
      const pair = k === "5.10" ? [k] : k === "7.2" ? ["6.12", k] : [k, KERNELS[i + 1]!];
      templates.set(
        `${k}/${cpu}`,
        baseline(
          pair.map((x) => only(hosts.profile(x as SimGeneration, cpu), "psci-0.2")),
          { names: pair, now: () => new Date(0) },
        ).template,
      );
      snapshots.set(
        `${k}/${cpu}`,
        [1, 2, 4].map((vcpus) =>
          save(createDefaultVm(openSimKvm({ generation: k, cpu }), { vcpus, cpuLabel: cpu }), {
            createdAt: false,
          }),
        ),
      );
    });
  return { hosts, templates, snapshots };
}

/**
 * The fleet: one group per (kernel, CPU) sized by weight(), 10 VMs a host spread over entries of every
 * ABI x VMM x vCPU count; the largest group (7.2 on the last CPU) with `extraAbis` more snapshots.
 */
function generate(p: Parts, totalHosts: number, extraAbis = 0): Fleet {
  const weights = KERNELS.flatMap((_, k) => CPUS.map((_c, c) => weight(k, c)));
  const sum = weights.reduce((s, w) => s + w, 0);
  const groups = KERNELS.flatMap((kernel, k) =>
    CPUS.map((cpu, c) => ({
      name: `${kernel}-${cpu}`,
      kernel,
      cpu,
      hosts: Math.max(1, Math.round((totalHosts * weight(k, c)) / sum)),
    })),
  );
  const largest = groups[groups.length - 1]!.name;
  const vms: FleetVm[] = [];
  for (const g of groups) {
    const key = `${g.kernel}/${g.cpu}`;
    const snaps = p.snapshots.get(key)!;
    const extra = g.name === largest ? extraAbis : 0;
    const abis: [VmAbi, number, number][] = [
      // [ABI, share of the group's VMs in tenths of a percent, vCPUs]
      [{ kind: "host-defaults", features: PSCI }, 400, 0],
      [{ kind: "host-defaults", features: PMU }, 150, 0],
      [{ kind: "template", path: "(generated)", template: p.templates.get(key)! }, 250, 0],
      ...snaps.map((s): [VmAbi, number, number] => [
        { kind: "snapshot", path: "(generated)", snapshot: s },
        200 / snaps.length,
        s.vcpus.length,
      ]),
      ...Array.from({ length: extra }, (_, i): [VmAbi, number, number] => [
        {
          kind: "snapshot",
          path: "(generated)",
          snapshot: ownState(snaps[i % snaps.length]!, snaps.length + i),
        },
        0,
        snaps[i % snaps.length]!.vcpus.length,
      ]),
    ];
    const groupVms = g.hosts * 10;
    abis.forEach(([abi, share, snapVcpus], a) =>
      VMMS.forEach((vmm, m) => {
        for (const vcpus of snapVcpus ? [snapVcpus] : [1, 2, 4]) {
          const count = Math.max(
            1,
            Math.round((groupVms * share) / 1000 / VMMS.length / (snapVcpus ? 1 : 3)),
          );
          vms.push({ name: `${g.name}-${a}-${m}-${vcpus}`, group: g.name, count, vcpus, abi, vmm });
        }
      }),
    );
  }
  return { name: `bench-${totalHosts}`, groups, vms };
}

/** A model the analysis has never seen (a fresh object: its caches start cold). */
const fresh = (m: FleetModel): FleetModel => ({ ...m });

/** The best of `runs` timings of `fn`, in seconds. */
function seconds(fn: () => void, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

const fmt = (s: number) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
const line = (label: string, value: string) => `${label.padEnd(64)} ${value}`;

export function runFleetBench(): string[] {
  const out: string[] = [];
  const t0 = performance.now();
  const p = parts();
  const fleets = [1_000, 10_000, 100_000].map((n) => generate(p, n));
  const models = fleets.map((f) => fleetFileModel(f, p.hosts));
  out.push(
    line(
      "setup: 16 profiles, templates, snapshots, 3 fleets",
      `${((performance.now() - t0) / 1000).toFixed(1)} s (not timed below)`,
    ),
  );
  const largest = (f: Fleet) => f.groups[f.groups.length - 1]!.name;
  // Warm up the JIT on the smallest fleet, untimed.
  impactOf(fresh(models[0]!), { group: largest(fleets[0]!), to: "6.12" });
  planOf(fresh(models[0]!));
  rolloutOf(fresh(models[0]!), { to: "7.2", waves: 5 });
  for (const [i, m] of models.entries()) {
    const f = fleets[i]!;
    const hosts = f.groups.reduce((s, g) => s + g.hosts, 0);
    const vms = f.vms.reduce((s, v) => s + v.count, 0);
    const impact = seconds(() => impactOf(fresh(m), { group: largest(f), to: "6.12" }), 5);
    const plan = seconds(() => planOf(fresh(m)));
    const rollout = seconds(() => rolloutOf(fresh(m), { to: "7.2", waves: 5 }));
    out.push(
      line(`${hosts} hosts, ${vms} VMs (${f.vms.length} entries): impact of ${largest(f)}`, fmt(impact)),
      line(`  plan (${f.groups.length} groups)`, fmt(plan)),
      line("  rollout to 7.2 in 5 waves", fmt(rollout)),
    );
  }

  // The old path on the smallest fleet: each VM entry of the group built, saved and fingerprinted.
  const small = fleets[0]!;
  const sm = models[0]!;
  const group = largest(small);
  const entries = small.vms.filter((v) => v.group === group).length;
  const oldPath = seconds(() => simulateImpact(small, { rollback: group, to: "6.12", hosts: p.hosts }), 1);
  const newPath = seconds(() => impactOf(fresh(sm), { group, to: "6.12" }), 5);
  out.push(
    line(`old path (per-VM simulation) vs analysis, impact of ${group} (${entries} entries)`, ""),
    line("  old", fmt(oldPath)),
    line("  new", fmt(newPath)),
    line("  new / old", `${(oldPath / newPath).toFixed(1)}x faster`),
  );

  // 10x more distinct ABIs in the rolled-back group, on the largest fleet.
  const base = models[2]!;
  const baseGroup = largest(fleets[2]!);
  const abisIn = (m: FleetModel) =>
    new Set(m.vmCounts.filter((v) => v.group === baseGroup).map((v) => v.abi)).size;
  const tenfold = fleetFileModel(generate(p, 100_000, 9 * abisIn(base)), p.hosts);
  const t1 = seconds(() => impactOf(fresh(base), { group: baseGroup, to: "6.12" }), 7);
  const t10 = seconds(() => impactOf(fresh(tenfold), { group: baseGroup, to: "6.12" }), 7);
  out.push(
    line(`impact with ${abisIn(base)} distinct ABIs in the group`, fmt(t1)),
    line(
      `  with ${abisIn(tenfold)} (10x)`,
      `${fmt(t10)}, ${(t10 / t1).toFixed(2)}x the time (goal: within 2x)`,
    ),
  );
  return out;
}
