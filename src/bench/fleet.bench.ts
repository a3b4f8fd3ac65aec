/**
 * The fleet analysis at scale (src/fleet/analysis.ts): a generated fleet of 4 kernels x 4 CPU models
 * of the simulator, 1k, 10k and 100k hosts with 10 VMs a host, a mix of VMs with host defaults (with
 * and without a PMU), VMs pinned to a baseline and VMs restored from snapshots (1, 2 and 4 vCPUs),
 * restored by guestabi, QEMU 10.0, QEMU 11.1 and Firecracker. Timed from a cold analysis each run (a
 * fresh model object: nothing cached but the profiles): impact of the largest group rolled back, plan,
 * rollout to 7.2 in 5 waves; then the old path (the per-VM simulation, fleet/testing/oracle.ts) on the
 * same fleet against the analysis, and the rolled-back group with 10x more distinct ABIs. Then each
 * fleet written into a SQLite inventory, and `guestabi impact|plan|rollout --db` timed as a user runs
 * them (a new process: module loading, reading the inventory, the analysis), against `guestabi impact
 * --fleet` on the same fleet as a file and against the per-VM simulation the fleet file path was.
 * Goals (issue 13): impact on 100k hosts x 1M VMs <= 1 s, plan <= 5 s, rollout in 5 waves <= 10 s.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { VCPU_FEATURES, vcpuFeatureNames } from "../kvm/index.js";
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
import { formatTemplateJson } from "../formats/template.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { importFleet } from "../inventory/import-fleet.js";
import { openInventory } from "../inventory/store.js";

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

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** The best of `runs` wall times of `guestabi ARGS` in a new process, in seconds; its stdout. */
function cliSeconds(args: string[], runs = 3): { s: number; stdout: string } {
  let best = Infinity;
  let stdout = "";
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
    best = Math.min(best, (performance.now() - t) / 1000);
    if (r.status !== 0 && r.status !== 1) throw new Error(`guestabi ${args.join(" ")}: ${r.stderr}`);
    stdout = r.stdout;
  }
  return { s: best, stdout };
}

/**
 * The fleet as the file `guestabi --fleet` reads: its templates and snapshots written beside it (one
 * file each, as an operator keeps them), VM entries naming them.
 */
function writeFleetFile(dir: string, f: Fleet): string {
  const files = new Map<object, string>();
  const fileOf = (thing: object, ext: string, text: () => string | Uint8Array): string => {
    let name = files.get(thing);
    if (!name) {
      name = `abi-${files.size}.${ext}`;
      files.set(thing, name);
      writeFileSync(join(dir, name), text());
    }
    return name;
  };
  const vms = f.vms.map((v) => {
    const common = { name: v.name, group: v.group, count: v.count, vcpus: v.vcpus, vmm: v.vmm };
    switch (v.abi.kind) {
      case "host-defaults":
        return { ...common, abi: "host-defaults", features: vcpuFeatureNames(v.abi.features) };
      case "template": {
        const t = v.abi.template;
        return { ...common, template: fileOf(t, "abi.json", () => formatTemplateJson(t)) };
      }
      case "snapshot": {
        const snap = v.abi.snapshot;
        return { ...common, snapshot: fileOf(snap, "snap", () => encodeSnapshotBinary(snap)) };
      }
    }
  });
  const path = join(dir, "fleet.json");
  writeFileSync(
    path,
    JSON.stringify({ format: "guestabi-fleet", version: 1, name: f.name, groups: f.groups, vms }),
  );
  return path;
}

/** A fleet written into a new SQLite inventory in `dir`; the file, and the seconds writing took. */
async function inventoryOf(dir: string, f: Fleet, name: string): Promise<{ db: string; written: number }> {
  const db = join(dir, `${name}.db`);
  const t = performance.now();
  const inv = await openInventory(db);
  await importFleet(inv, f);
  await inv.close();
  return { db, written: (performance.now() - t) / 1000 };
}

/** Seconds from opening the inventory to the impact's answer, in this process (the best of `runs`). */
async function impactFromInventory(db: string, group: string, runs = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const inv = await openInventory(db, { mustExist: true });
    impactOf(await inv.model(), { group, to: "6.12" });
    await inv.close();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

/** The counts line of an impact report (its third): what --fleet and --db must agree on. */
const countsLine = (report: string) => report.split("\n")[2] ?? "";

export async function runFleetBench(): Promise<string[]> {
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
  out.push("the analysis alone, on a fleet model in memory (a cold analysis each run):");
  let inMemory = 0; // the largest fleet's impact
  for (const [i, m] of models.entries()) {
    const f = fleets[i]!;
    const hosts = f.groups.reduce((s, g) => s + g.hosts, 0);
    const vms = f.vms.reduce((s, v) => s + v.count, 0);
    const impact = seconds(() => impactOf(fresh(m), { group: largest(f), to: "6.12" }), 5);
    const plan = seconds(() => planOf(fresh(m)));
    const rollout = seconds(() => rolloutOf(fresh(m), { to: "7.2", waves: 5 }));
    inMemory = impact;
    out.push(
      line(`  ${hosts} hosts, ${vms} VMs (${f.vms.length} entries): impact of ${largest(f)}`, fmt(impact)),
      line(`    plan (${f.groups.length} groups)`, fmt(plan)),
      line("    rollout to 7.2 in 5 waves", fmt(rollout)),
    );
  }

  // From SQLite, as a user runs it: each command a new process (node, modules, the inventory read,
  // the analysis), and in process from opening the inventory to the answer.
  const dir = mkdtempSync(join(tmpdir(), "guestabi-bench-"));
  try {
    out.push(
      "",
      "from a SQLite inventory: guestabi impact|plan|rollout --db (a new process each), and in process:",
    );
    const impactArgs = (f: Fleet) => ["impact", "--rollback", largest(f), "--to", "6.12"];
    let last = { db: "", impact: { s: 0, stdout: "" } };
    for (const f of fleets) {
      const hosts = f.groups.reduce((s, g) => s + g.hosts, 0);
      const vms = f.vms.reduce((s, v) => s + v.count, 0);
      const { db, written } = await inventoryOf(dir, f, f.name);
      const impact = cliSeconds([...impactArgs(f), "--db", db]);
      const inProcess = await impactFromInventory(db, largest(f));
      const plan = cliSeconds(["plan", "--db", db], 1);
      const rollout = cliSeconds(["rollout", "--to", "7.2", "--waves", "5", "--db", db], 1);
      out.push(
        line(`  ${hosts} hosts, ${vms} VMs (written in ${fmt(written)}): impact --db`, fmt(impact.s)),
        line(`    impact in process: open, read the fleet model, analyse (goal <= 1 s)`, fmt(inProcess)),
        line(`    plan --db (goal <= 5 s)`, fmt(plan.s)),
        line(`    rollout --db --waves 5 (goal <= 10 s)`, fmt(rollout.s)),
      );
      last = { db, impact };
    }

    // The largest fleet as a fleet file, and by the old path: the per-VM simulation of the group.
    const f = fleets[fleets.length - 1]!;
    const group = largest(f);
    const fleetDir = join(dir, "fleet-file");
    mkdirSync(fleetDir);
    const fromFile = cliSeconds([...impactArgs(f), "--fleet", writeFleetFile(fleetDir, f)], 1);
    if (countsLine(fromFile.stdout) !== countsLine(last.impact.stdout))
      throw new Error(`impact --fleet and --db differ: ${fromFile.stdout} / ${last.impact.stdout}`);
    const entries = f.vms.filter((v) => v.group === group).length;
    const oldPath = seconds(() => simulateImpact(f, { rollback: group, to: "6.12", hosts: p.hosts }), 1);
    out.push(
      line(
        `  the same impact from a fleet file (impact --fleet)`,
        `${fmt(fromFile.s)}, ${(fromFile.s / last.impact.s).toFixed(1)}x --db`,
      ),
      line(
        `  the old path: the per-VM simulation of the group's ${entries} entries, in process`,
        `${fmt(oldPath)}, ${(oldPath / inMemory).toFixed(0)}x the analysis in memory (${fmt(inMemory)})`,
      ),
    );

    // 10x more distinct ABIs in the rolled-back group (snapshots of their own guest state).
    const abisIn = (m: FleetModel) =>
      new Set(m.vmCounts.filter((v) => v.group === group).map((v) => v.abi)).size;
    const tenfoldFleet = generate(p, 100_000, 9 * abisIn(models[2]!));
    const tenfold = await inventoryOf(dir, tenfoldFleet, "tenfold");
    const t10 = cliSeconds([...impactArgs(f), "--db", tenfold.db]);
    const inProcess10 = await impactFromInventory(tenfold.db, group);
    const inProcess1 = await impactFromInventory(last.db, group);
    out.push(
      line(
        `  with ${abisIn(fleetFileModel(tenfoldFleet, p.hosts))} distinct ABIs in the group instead of ${abisIn(models[2]!)}: impact --db`,
        `${fmt(t10.s)}, ${(t10.s / last.impact.s).toFixed(2)}x (goal: within 2x)`,
      ),
      line("    in process", `${fmt(inProcess10)}, ${(inProcess10 / inProcess1).toFixed(2)}x`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
