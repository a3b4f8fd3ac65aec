/**
 * plan(fleet): the fleet-wide answer to "what should we pin, and what does it buy us", on the
 * simulator:
 *
 * 1. baselines (baseline.ts): VMs migrate only between hosts of one CPU model, so each CPU model is a
 *    migration domain; for each domain and each vCPU feature set its VMs use, the baseline over the
 *    profiles (probe.ts on a SimSystem) of every kernel the domain runs — the richest ABI all of them
 *    can honour, and what none can (unhonourable);
 * 2. what each host group gives up when its VMs are pinned to their baseline (baseline's giveUps);
 * 3. the rollback impact (impact.ts) with and without pinning: each group on the fleet's newest kernel
 *    rolled back to each older kernel the fleet runs, its VMs once with the host's defaults and once
 *    pinned to the baseline of the two kernels involved (what a VMM that may roll back to that kernel
 *    pins: the domain-wide baseline can be unhonourable, e.g. 5.10 and 6.1+ disagree on registers
 *    only one of them lists).
 *
 * With no fleet it runs on the built-in example (example-fleet.json: the four kernel generations on two
 * CPU models). Everything is computed on the simulator in a few seconds; the JSON form carries all of
 * it, the human form short aligned sections.
 */
import { vcpuFeatureNames } from "../kvm/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { SIM_GENERATIONS } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import type { Verdict } from "../check/check.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import exampleFleetJson from "./example-fleet.json" with { type: "json" };
import type { Fleet, FleetVm, HostGroup } from "./fleet.js";
import { FleetError, SimHosts, configsFor, loadFleet, vmFeatures } from "./fleet.js";
import { countsText, impact } from "./impact.js";
import type { ImpactReport } from "./impact.js";
import type { HostProfile } from "../formats/profile.js";
import type { AbiTemplate } from "../formats/template.js";
import { templateToJson } from "../formats/template.js";
import { alignColumns } from "../formats/text-table.js";

/** The built-in example fleet (no template or snapshot files: every VM starts with host defaults). */
export async function exampleFleet(): Promise<Fleet> {
  return loadFleet(exampleFleetJson, ".", "example-fleet.json");
}

export interface RollbackSpec {
  group: string;
  to: SimGeneration;
}

export interface PlanOptions {
  /** Default: the rollback of each group on the newest kernel to each older kernel of the fleet. */
  rollbacks?: RollbackSpec[];
  /** Clock for durationMs (tests pin it). */
  clock?: () => number;
  /** The VMM that migrates the VMs (default: guestabi's own restore). */
  vmm?: RestorePolicy;
}

/** One baseline: a CPU model (migration domain) and a vCPU feature set. */
export interface DomainBaseline {
  cpu: string;
  features: number[];
  /** The probe configuration (session.ts) its profiles were reduced to. */
  config: string;
  /** The kernels of the domain, in the order of the profiles given to baseline(). */
  kernels: SimGeneration[];
  template: AbiTemplate;
  unhonourable: Verdict[];
  /** Give-ups by kernel. */
  giveUps: { kernel: SimGeneration; verdicts: Verdict[] }[];
}

export interface GroupGiveUp {
  group: string;
  kernel: SimGeneration;
  cpu: string;
  /** Per feature set of the group's VMs: what pinning to that baseline gives up on this group's hosts. */
  byFeatures: { features: number[]; verdicts: Verdict[] }[];
}

export interface PlanRollback {
  group: string;
  from: SimGeneration;
  to: SimGeneration;
  hostDefaults: ImpactReport;
  pinned: ImpactReport;
  /** The baselines (of `from` and `to`) the group's VMs were pinned to, one per feature set. */
  pinnedTo: DomainBaseline[];
}

export interface PlanReport {
  fleet: { name: string; groups: HostGroup[]; entries: number; vms: number };
  baselines: DomainBaseline[];
  giveUps: GroupGiveUp[];
  rollbacks: PlanRollback[];
  /** Host profiles probed on the simulator. */
  probed: number;
  durationMs: number;
}

const genIndex = (g: SimGeneration): number => SIM_GENERATIONS.indexOf(g);
const featKey = (f: readonly number[]) => [...f].sort((a, b) => a - b).join();

/** Each group on the fleet's newest kernel, rolled back to each older kernel the fleet runs (newest first). */
export function defaultRollbacks(fleet: Fleet): RollbackSpec[] {
  const kernels = [...new Set(fleet.groups.map((g) => g.kernel))].sort((a, b) => genIndex(b) - genIndex(a));
  const newest = kernels[0];
  if (newest === undefined) return [];
  return fleet.groups
    .filter((g) => g.kernel === newest)
    .flatMap((g) => kernels.slice(1).map((to) => ({ group: g.name, to })));
}

/** A profile reduced to one vCPU configuration, so that baseline() pins exactly that feature set. */
function onlyConfig(p: HostProfile, config: string): HostProfile {
  return { ...p, configs: p.configs.filter((c) => c.name === config) };
}

/** The feature sets the VMs of a CPU model's groups use (PSCI_0_2 alone when there are none). */
function featureSetsOf(fleet: Fleet, cpu: string): number[][] {
  const names = new Set(fleet.groups.filter((g) => g.cpu === cpu).map((g) => g.name));
  const sets = new Map<string, number[]>();
  for (const vm of fleet.vms.filter((v) => names.has(v.group)))
    sets.set(featKey(vmFeatures(vm)), vmFeatures(vm));
  if (sets.size === 0) sets.set(featKey([2]), [2]);
  return [...sets.values()];
}

/** Baselines of (CPU model, feature set, kernels), computed once each. */
export class Baselines {
  private cache = new Map<string, DomainBaseline | null>();
  constructor(
    private readonly fleet: Fleet,
    private readonly hosts: SimHosts,
  ) {}

  /** The baseline of a CPU model and feature set over some kernels; null when no probe config covers the features. */
  of(cpu: string, features: readonly number[], kernels: readonly SimGeneration[]): DomainBaseline | null {
    const ks = [...new Set(kernels)].sort((a, b) => genIndex(a) - genIndex(b));
    const key = `${cpu}|${featKey(features)}|${ks.join()}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    const config = configsFor([features]).find((c) => c !== "psci-0.2" || featKey(features) === "2");
    let out: DomainBaseline | null = null;
    if (config) {
      const profiles = ks.map((k) => onlyConfig(this.hosts.profile(k, cpu), config));
      const b = baseline(profiles, {
        names: ks,
        name: `${this.fleet.name}-${cpu}-${config}-${ks.join("-")}`,
        now: () => new Date(0),
      });
      out = {
        cpu,
        features: [...features],
        config,
        kernels: ks,
        template: b.template,
        unhonourable: b.unhonourable,
        giveUps: b.giveUps.map((g) => ({ kernel: g.host as SimGeneration, verdicts: g.verdicts })),
      };
    }
    this.cache.set(key, out);
    return out;
  }

  /** Per CPU model and feature set, over every kernel the model's groups run. */
  domains(): DomainBaseline[] {
    const out: DomainBaseline[] = [];
    for (const cpu of [...new Set(this.fleet.groups.map((g) => g.cpu))]) {
      const kernels = this.fleet.groups.filter((g) => g.cpu === cpu).map((g) => g.kernel);
      for (const f of featureSetsOf(this.fleet, cpu)) {
        const b = this.of(cpu, f, kernels);
        if (b) out.push(b);
      }
    }
    return out;
  }

  /** The template a VM is pinned to for a rollback: the baseline of its group's kernel and `to`. */
  forRollback(vm: FleetVm, to: SimGeneration): AbiTemplate {
    const g = this.fleet.groups.find((x) => x.name === vm.group);
    const b = g ? this.of(g.cpu, vmFeatures(vm), [g.kernel, to]) : null;
    if (!b)
      throw new FleetError(
        `no baseline for VM '${vm.name}' (features ${vcpuFeatureNames(vmFeatures(vm)).join("+")})`,
      );
    return b.template;
  }
}

export function plan(fleet: Fleet, opts: PlanOptions = {}): PlanReport {
  const clock = opts.clock ?? (() => performance.now());
  const t0 = clock();
  const hosts = new SimHosts(fleet.vms.map(vmFeatures));
  const rollbackSpecs = opts.rollbacks ?? defaultRollbacks(fleet);
  const vmm = opts.vmm ? { vmm: opts.vmm } : {};
  const all = new Baselines(fleet, hosts);
  const baselines = all.domains();
  const giveUps: GroupGiveUp[] = fleet.groups.map((g) => ({
    group: g.name,
    kernel: g.kernel,
    cpu: g.cpu,
    byFeatures: baselines
      .filter((b) => b.cpu === g.cpu)
      .map((b) => ({
        features: b.features,
        verdicts: b.giveUps.find((x) => x.kernel === g.kernel)?.verdicts ?? [],
      })),
  }));
  const rollbacks = rollbackSpecs.map((r): PlanRollback => {
    const group = fleet.groups.find((g) => g.name === r.group);
    const from = group?.kernel ?? r.to;
    const pinnedTo = group
      ? featureSetsOf(fleet, group.cpu)
          .map((f) => all.of(group.cpu, f, [from, r.to]))
          .filter((b): b is DomainBaseline => b !== null)
      : [];
    return {
      group: r.group,
      from,
      to: r.to,
      pinnedTo,
      hostDefaults: impact(fleet, { rollback: r.group, to: r.to, mode: "host-defaults", hosts, ...vmm }),
      pinned: impact(fleet, {
        rollback: r.group,
        to: r.to,
        mode: "pinned",
        pinTo: (vm) => all.forRollback(vm, r.to),
        hosts,
        ...vmm,
      }),
    };
  });
  return {
    fleet: {
      name: fleet.name,
      groups: fleet.groups,
      entries: fleet.vms.length,
      vms: fleet.vms.reduce((n, v) => n + v.count, 0),
    },
    baselines,
    giveUps,
    rollbacks,
    probed: hosts.probed,
    durationMs: Math.round(clock() - t0),
  };
}

// ---- output -------------------------------------------------------------------------------------------

const PSCI_ID = 0x6030000000140000n;

function psciText(v: bigint | undefined): string {
  return v === undefined ? "-" : `${Number(v >> 16n)}.${Number(v & 0xffffn)}`;
}

/** The plan's tables, indented under their headings. */
const table = (rows: string[][]): string[] => alignColumns(rows, "  ");

/** Distinct "REGISTER.FIELD" names of verdicts, at most `max`, for one line. */
export function verdictNames(vs: readonly Verdict[], max = 4): string {
  const names = [...new Set(vs.map((v) => `${v.register}${v.field ? "." + v.field : ""}`))];
  if (names.length === 0) return "nothing";
  return names.slice(0, max).join(", ") + (names.length > max ? `, +${names.length - max} more` : "");
}

const featText = (f: readonly number[]) => vcpuFeatureNames(f).join("+") || "none";

/** The human report: short aligned sections. */
export function formatPlan(r: PlanReport): string {
  const out: string[] = [];
  out.push(
    `guestabi plan: fleet ${r.fleet.name}: ${r.fleet.groups.length} host groups, ${r.fleet.vms} VMs (${r.fleet.entries} entries); simulator, ${r.probed} host profiles, ${(r.durationMs / 1000).toFixed(1)} s`,
    "",
    "BASELINES (per CPU model, the migration domain, and vCPU feature set: the richest ABI every kernel there honours)",
  );
  out.push(
    ...table([
      ["CPU", "FEATURES", "KERNELS", "PSCI", "ID REGS", "REGS", "UNHONOURABLE"],
      ...r.baselines.map((b) => [
        b.cpu,
        featText(b.features),
        b.kernels.join(" "),
        psciText(b.template.firmware.get(PSCI_ID)),
        String(b.template.idRegs.size),
        String(b.template.regs.size),
        b.unhonourable.length
          ? `${b.unhonourable.length}: ${verdictNames(
              b.unhonourable.map((v) => ({ ...v, register: `${v.host ?? "?"} ${v.register}` })),
              3,
            )}`
          : "none",
      ]),
    ]),
  );
  out.push("", "WHAT EACH GROUP GIVES UP (pinned to its baseline instead of the host's defaults)");
  out.push(
    ...table([
      ["GROUP", "KERNEL", "CPU", "HOSTS", "FEATURES", "GIVES UP"],
      ...r.giveUps.flatMap((g) => {
        const hostsOf = r.fleet.groups.find((x) => x.name === g.group)?.hosts ?? 0;
        return g.byFeatures.map((f, i) => [
          i === 0 ? g.group : "",
          i === 0 ? g.kernel : "",
          i === 0 ? g.cpu : "",
          i === 0 ? String(hostsOf) : "",
          featText(f.features),
          f.verdicts.length ? `${f.verdicts.length}: ${verdictNames(f.verdicts)}` : "nothing",
        ]);
      }),
    ]),
  );
  out.push(
    "",
    "ROLLBACK IMPACT (VMs of the group; break = cannot live-migrate onto a rolled-back host, or start there;",
    "  pinned = to the baseline of the group's kernel and the rollback target)",
  );
  if (r.rollbacks.length === 0) out.push("  (the fleet runs one kernel: nothing to roll back to)");
  else
    out.push(
      ...table([
        ["ROLLBACK", "VMS", "HOST DEFAULTS", "PINNED TO BASELINE"],
        ...r.rollbacks.map((x) => [
          `${x.group} ${x.from} -> ${x.to}`,
          String(x.hostDefaults.counts.vms),
          countsText(x.hostDefaults.counts),
          countsText(x.pinned.counts),
        ]),
      ]),
    );
  const lines = r.rollbacks.map((x) => {
    const head = `  roll ${x.group} back to ${x.to}: ${x.hostDefaults.counts.breaks} of ${x.hostDefaults.counts.vms} VMs break with host defaults`;
    const bad = x.pinnedTo.flatMap((b) =>
      b.unhonourable.map((v) => ({ ...v, register: `${v.host ?? "?"} ${v.register}` })),
    );
    if (x.pinned.counts.cannotStart)
      return `${head}; pinning cannot help, no ABI suits both kernels (${verdictNames(bad, 3)})`;
    return `${head}, ${x.pinned.counts.breaks} pinned to the baseline of ${x.from} and ${x.to}`;
  });
  if (lines.length) out.push("", ...lines);
  return out.join("\n") + "\n";
}

/** The JSON form (bigints are left to the caller's serializer; templates in their file form). */
export function planToJson(r: PlanReport): unknown {
  return {
    format: "guestabi-plan",
    version: 1,
    fleet: r.fleet,
    baselines: r.baselines.map((b) => ({
      ...b,
      features: vcpuFeatureNames(b.features),
      template: templateToJson(b.template),
    })),
    giveUps: r.giveUps.map((g) => ({
      ...g,
      byFeatures: g.byFeatures.map((f) => ({ ...f, features: vcpuFeatureNames(f.features) })),
    })),
    rollbacks: r.rollbacks.map((x) => ({
      ...x,
      pinnedTo: x.pinnedTo.map((b) => ({
        cpu: b.cpu,
        features: vcpuFeatureNames(b.features),
        kernels: b.kernels,
        unhonourable: b.unhonourable,
      })),
    })),
    probed: r.probed,
    durationMs: r.durationMs,
  };
}
