/**
 * planOf(model): the fleet-wide answer to "what should we pin, and what does it buy us", from the
 * hosts' profiles (analysis.ts):
 *
 * 1. baselines (baseline.ts): VMs migrate only between hosts of one CPU model, so each CPU model is a
 *    migration domain; for each domain and each vCPU feature set its VMs use, the baseline over the
 *    distinct profiles of that CPU in the model — the richest ABI all of them can honour, and what none
 *    can (unhonourable);
 * 2. what each host group gives up when its VMs are pinned to their domain's baseline: the verdicts,
 *    and in words what its guests see change (effects.ts);
 * 3. the rollback impact (impact.ts) of each group on the fleet's newest kernel rolled back to each
 *    older kernel the fleet runs, its VMs once with the host's defaults and once pinned to the
 *    baseline of the two kernels involved (the domain-wide baseline can be unhonourable: 5.10 and 6.1+
 *    disagree on registers only one of them lists);
 * 4. a recommendation per rollback, in words: which template to pin before the upgrade, what the
 *    guests give up for it, and what the rollback then does.
 *
 * With no fleet it runs on the built-in example (example-fleet.json: the four kernel generations on two
 * CPU models).
 */
import { vcpuFeatureNames, VCPU_FEATURES } from "../kvm/index.js";
import type { Verdict } from "../check/check.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { templateToJson } from "../formats/template.js";
import { alignColumns } from "../formats/text-table.js";
import exampleFleetJson from "./example-fleet.json" with { type: "json" };
import { effectsText } from "./effects.js";
import type { GuestEffect } from "./effects.js";
import { loadFleet } from "./fleet.js";
import type { Fleet } from "./fleet.js";
import {
  abiFeatures,
  analysisOf,
  compareKernels,
  hostDefaultsAbi,
  registerNames,
  templateAbi,
} from "./analysis.js";
import type { Analysis, DomainBaseline } from "./analysis.js";
import { viewEffects } from "./guest-view.js";
import { countsText, groupProfiles, impactOf } from "./impact.js";
import type { ImpactReport } from "./impact.js";
import type { FleetModel } from "./model.js";

export type { DomainBaseline } from "./analysis.js";

/** The built-in example fleet (no template or snapshot files: every VM starts with host defaults). */
export async function exampleFleet(): Promise<Fleet> {
  return loadFleet(exampleFleetJson, ".", "example-fleet.json");
}

export interface RollbackSpec {
  group: string;
  to: string;
}

export interface PlanOptions {
  /** Default: the rollback of each group on the newest kernel to each older kernel of the fleet. */
  rollbacks?: RollbackSpec[];
  /** Clock for durationMs (tests pin it). */
  clock?: () => number;
  /** The VMM that restores every VM (default: each VM's own). */
  vmm?: RestorePolicy;
}

export interface GroupGiveUp {
  group: string;
  kernels: string[];
  cpu: string;
  hosts: number;
  /** Per domain baseline of the group's CPU: what pinning to it gives up on this group's hosts. */
  byFeatures: { features: number[]; config: string; verdicts: Verdict[]; effects: GuestEffect[] }[];
}

export interface PlanRollback {
  group: string;
  from: string[];
  to: string;
  /** The VMs as the fleet runs them now. */
  asDescribed: ImpactReport;
  hostDefaults: ImpactReport;
  pinned: ImpactReport;
  /** The baselines (of the group's kernel and `to`) its VMs were pinned to, one per profile and feature set. */
  pinnedTo: DomainBaseline[];
  /** What to do before the upgrade, in words. */
  recommendation: string;
}

export interface PlanReport {
  fleet: {
    name: string;
    groups: { name: string; hosts: number; cpus: string[]; kernels: string[] }[];
    /** Rows of the model's VM counts (a fleet file: its VM entries). */
    entries: number;
    vms: number;
    /** Distinct host profiles of the model, and whether they come from the simulator. */
    profiles: number;
    simulated: boolean;
  };
  baselines: DomainBaseline[];
  giveUps: GroupGiveUp[];
  rollbacks: PlanRollback[];
  /** Profiles of what-if hosts the simulator stood in for. */
  whatIf: number;
  durationMs: number;
}

/** The groups of a model in order of first appearance. */
function groupsOf(model: FleetModel): string[] {
  return [...new Set(model.hostCounts.map((h) => h.group))];
}

/** Each group with hosts on the model's newest kernel, rolled back to each older kernel it runs (newest first). */
export function defaultRollbacks(model: FleetModel): RollbackSpec[] {
  const a = analysisOf(model);
  const kernels = [...new Set(model.hostCounts.map((h) => a.kernel(h.profile)))]
    .sort(compareKernels)
    .reverse();
  const newest = kernels[0];
  if (newest === undefined) return [];
  // To each older kernel the group's hosts can be checked on: one a host of their CPU runs, or a
  // simulator kernel on a simulator CPU (Analysis.target).
  return groupsOf(model)
    .filter((g) => groupProfiles(model, g).some((s) => a.kernel(s.profile) === newest))
    .flatMap((g) =>
      kernels
        .slice(1)
        .filter((to) => groupProfiles(model, g).every((s) => a.targetProblem(s.profile, to) === undefined))
        .map((to) => ({ group: g, to })),
    );
}

const featureKey = (f: readonly number[]) => [...f].sort((x, y) => x - y).join();

/** The feature sets of the VMs on a CPU model's hosts (PSCI_0_2 alone when there are none). */
export function featureSetsOf(model: FleetModel, a: Analysis, cpu: string): number[][] {
  const sets = new Map<string, number[]>();
  for (const v of model.vmCounts)
    if (a.cpu(v.profile) === cpu) {
      const f = abiFeatures(a.abi(v.abi));
      sets.set(featureKey(f), f);
    }
  if (sets.size === 0) sets.set(featureKey([VCPU_FEATURES.PSCI_0_2]), [VCPU_FEATURES.PSCI_0_2]);
  return [...sets.values()].sort((x, y) => featureKey(x).localeCompare(featureKey(y)));
}

/** The distinct profiles of the model's hosts, by CPU model, in the model's order. */
export function profilesByCpu(model: FleetModel, a: Analysis): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of model.hostCounts) {
    const cpu = a.cpu(h.profile);
    const list = out.get(cpu) ?? [];
    if (!list.includes(h.profile)) list.push(h.profile);
    out.set(cpu, list);
  }
  return out;
}

/** The domain baselines: per CPU model and feature set, over every profile of that CPU. */
export function domainBaselines(model: FleetModel, a: Analysis): DomainBaseline[] {
  const out: DomainBaseline[] = [];
  for (const [cpu, profiles] of profilesByCpu(model, a))
    for (const f of featureSetsOf(model, a, cpu)) {
      const b = a.baseline(cpu, f, profiles);
      if (b) out.push(b);
    }
  return out;
}

/** What the guest of a VM with `features` on profile `p` sees change when pinned to `b` instead of host defaults. */
export function pinningEffects(a: Analysis, p: string, b: DomainBaseline): GuestEffect[] {
  const defaults = a.view(hostDefaultsAbi(b.features), p);
  const pinned = a.view(templateAbi(b.template), p);
  return defaults && pinned ? viewEffects(defaults, pinned) : [];
}

const featText = (f: readonly number[]) => vcpuFeatureNames(f).join("+") || "none";

/**
 * The file a baseline is written to: "<cpu>-<probe configuration>.abi.json" for a domain's, with its
 * kernels ("-6.12+7.2") for the baseline of a kernel pair.
 */
export function baselineFile(b: DomainBaseline, pair: boolean): string {
  const name = `${b.cpu}-${b.config}${pair ? `-${[...new Set(b.kernels)].join("+")}` : ""}`;
  // CPU labels and kernel releases come from profiles: a file name keeps only what is safe in one.
  return `${name.replace(/[^A-Za-z0-9._+-]+/g, "-").replace(/^[.-]+/, "")}.abi.json`;
}

/** The templates a plan computed, with their files: the domain baselines, then each rollback's pair baselines. */
export function planTemplates(r: PlanReport): { file: string; template: DomainBaseline["template"] }[] {
  const out = new Map<string, DomainBaseline["template"]>();
  for (const b of r.baselines) out.set(baselineFile(b, false), b.template);
  for (const x of r.rollbacks) for (const b of x.pinnedTo) out.set(baselineFile(b, true), b.template);
  return [...out].map(([file, template]) => ({ file, template }));
}

/** The recommendation for one rollback (see the top of the file). */
function recommend(a: Analysis, r: Omit<PlanRollback, "recommendation">): string {
  const d = r.hostDefaults.counts;
  const p = r.pinned.counts;
  const head = `roll ${r.group} back to ${r.to}: ${d.breaks} of ${d.vms} VMs break with host defaults`;
  const kernels = `${r.from.join("/")} and ${r.to}`;
  if (p.cannotStart) {
    const bad = r.pinnedTo.flatMap((b) =>
      b.unhonourable.map((v) => ({ ...v, register: `${v.host ?? "?"} ${v.register}` })),
    );
    return `${head}; pinning cannot help, no ABI suits both kernels (${registerNames(bad, 3)}): keep hosts on ${r.from.join("/")} to move these VMs to, or restart them after the rollback`;
  }
  if (d.breaks === 0 && d.guestViewChanges === 0)
    return `${head}: nothing to pin, the rollback is safe with host defaults`;
  const gives = r.pinnedTo.flatMap((b) =>
    b.profiles.filter((h) => r.from.includes(a.kernel(h))).map((h) => pinningEffects(a, h, b)),
  );
  const given = gives.flat();
  const givesText = given.length
    ? `; the guests give up: ${effectsText(dedupe(given), 4)}`
    : "; the guests give up nothing";
  const changes = p.guestViewChanges
    ? `, ${p.guestViewChanges} still see a change (${firstEffect(r.pinned)})`
    : "";
  const files = [...new Set(r.pinnedTo.map((b) => baselineFile(b, true)))];
  return `${head}, ${p.breaks} pinned to the baseline of ${kernels}${changes}: before the upgrade, pin ${r.group}'s VMs to ${files.join(", ")}${givesText}`;
}

/** Effects with the same text once. */
function dedupe(effects: readonly GuestEffect[]): GuestEffect[] {
  const seen = new Set<string>();
  return effects.filter((e) => !seen.has(e.text) && seen.add(e.text));
}

/** The first guest effect among an impact's changing entries, in words. */
function firstEffect(r: ImpactReport): string {
  const e = r.entries.find((x) => x.status === "guest-view-changes" && x.effects.length);
  return e ? effectsText(e.effects, 1) : "a register the VMM loads despite its check";
}

export function planOf(model: FleetModel, opts: PlanOptions = {}): PlanReport {
  const clock = opts.clock ?? (() => performance.now());
  const t0 = clock();
  const a = analysisOf(model);
  const vmm = opts.vmm ? { vmm: opts.vmm } : {};
  const baselines = domainBaselines(model, a);
  const giveUps: GroupGiveUp[] = groupsOf(model).map((g) => {
    const sources = groupProfiles(model, g);
    const cpu = a.cpu(sources[0]!.profile);
    return {
      group: g,
      kernels: [...new Set(sources.map((s) => a.kernel(s.profile)))],
      cpu,
      hosts: sources.reduce((n, s) => n + s.hosts, 0),
      byFeatures: baselines
        .filter((b) => b.cpu === cpu)
        .map((b) => ({
          features: b.features,
          config: b.config,
          verdicts: sources.flatMap((s) => b.giveUps.find((x) => x.profile === s.profile)?.verdicts ?? []),
          effects: dedupe(sources.flatMap((s) => pinningEffects(a, s.profile, b))),
        })),
    };
  });
  const rollbacks = (opts.rollbacks ?? defaultRollbacks(model)).map((r): PlanRollback => {
    const sources = groupProfiles(model, r.group);
    const asDescribed = impactOf(model, { group: r.group, to: r.to, ...vmm });
    const hostDefaults = impactOf(model, { group: r.group, to: r.to, mode: "host-defaults", ...vmm });
    const pinned = impactOf(model, { group: r.group, to: r.to, mode: "pinned", ...vmm });
    const cpu = a.cpu(sources[0]!.profile);
    const pinnedTo = sources.flatMap((s) => {
      const t = a.target(s.profile, r.to).profile;
      return featureSetsOf(model, a, cpu)
        .map((f) => a.baseline(a.cpu(s.profile), f, [s.profile, t]))
        .filter((b): b is DomainBaseline => b !== null);
    });
    const out = {
      group: r.group,
      from: [...new Set(sources.map((s) => a.kernel(s.profile)))],
      to: r.to,
      asDescribed,
      hostDefaults,
      pinned,
      pinnedTo: pinnedTo.filter((b, i) => pinnedTo.indexOf(b) === i),
    };
    return { ...out, recommendation: recommend(a, out) };
  });
  const groups = groupsOf(model).map((g) => {
    const s = groupProfiles(model, g);
    return {
      name: g,
      hosts: s.reduce((n, x) => n + x.hosts, 0),
      cpus: [...new Set(s.map((x) => a.cpu(x.profile)))],
      kernels: [...new Set(s.map((x) => a.kernel(x.profile)))],
    };
  });
  return {
    fleet: {
      name: model.name,
      groups,
      entries: model.vmCounts.length,
      vms: model.vmCounts.reduce((n, v) => n + v.vms, 0),
      profiles: model.profiles.size,
      simulated: [...model.profiles.values()].every((p) => p.backend === "sim"),
    },
    baselines,
    giveUps,
    rollbacks,
    whatIf: a.whatIfProfiles,
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

/** The human report: short aligned sections. */
export function formatPlan(r: PlanReport): string {
  const out: string[] = [];
  const hosts = r.fleet.groups.reduce((n, g) => n + g.hosts, 0);
  out.push(
    `guestabi plan: fleet ${r.fleet.name}: ${r.fleet.groups.length} host groups, ${hosts} hosts, ${r.fleet.vms} VMs (${r.fleet.entries} entries); ${r.fleet.profiles} host profiles${r.fleet.simulated ? " (simulator)" : ""}, ${r.whatIf} what-if, ${(r.durationMs / 1000).toFixed(1)} s`,
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
          ? `${b.unhonourable.length}: ${registerNames(
              b.unhonourable.map((v) => ({ ...v, register: `${v.host ?? "?"} ${v.register}` })),
              3,
            )}`
          : "none",
      ]),
    ]),
  );
  out.push(
    "",
    "WHAT EACH GROUP GIVES UP (its VMs pinned to the domain's baseline instead of the host's defaults)",
  );
  out.push(
    ...table([
      ["GROUP", "KERNEL", "CPU", "HOSTS", "FEATURES", "THE GUEST", "VERDICTS"],
      ...r.giveUps.flatMap((g) =>
        g.byFeatures.map((f, i) => [
          i === 0 ? g.group : "",
          i === 0 ? g.kernels.join(" ") : "",
          i === 0 ? g.cpu : "",
          i === 0 ? String(g.hosts) : "",
          featText(f.features),
          f.effects.length ? effectsText(f.effects, 2) : "gives up nothing",
          f.verdicts.length ? `${f.verdicts.length}: ${registerNames(f.verdicts, 3)}` : "none",
        ]),
      ),
    ]),
  );
  out.push(
    "",
    "ROLLBACK IMPACT (VMs of the group; break = cannot live-migrate onto a rolled-back host, or start there;",
    "  see a change = arrives, but its guest sees a difference; pinned = to the baseline of the group's kernel and the target)",
  );
  if (r.rollbacks.length === 0) out.push("  (the fleet runs one kernel: nothing to roll back to)");
  else
    out.push(
      ...table([
        ["ROLLBACK", "VMS", "AS DESCRIBED", "HOST DEFAULTS", "PINNED TO BASELINE"],
        ...r.rollbacks.map((x) => [
          `${x.group} ${x.from.join("/")} -> ${x.to}${x.hostDefaults.targets.some((t) => t.simulated) ? " (what-if)" : ""}`,
          String(x.hostDefaults.counts.vms),
          countsText(x.asDescribed.counts),
          countsText(x.hostDefaults.counts),
          countsText(x.pinned.counts),
        ]),
      ]),
    );
  if (r.rollbacks.length) out.push("", "RECOMMENDATIONS", ...r.rollbacks.map((x) => `  ${x.recommendation}`));
  return out.join("\n") + "\n";
}

/** A baseline in the JSON form: features by name, its template in its file form. */
function baselineToJson(b: DomainBaseline): unknown {
  return { ...b, features: vcpuFeatureNames(b.features), template: templateToJson(b.template) };
}

/** The JSON form (bigints are left to the caller's serializer; templates in their file form). */
export function planToJson(r: PlanReport): unknown {
  return {
    format: "guestabi-plan",
    version: 2,
    fleet: r.fleet,
    baselines: r.baselines.map((b) => ({ file: baselineFile(b, false), ...(baselineToJson(b) as object) })),
    giveUps: r.giveUps.map((g) => ({
      ...g,
      byFeatures: g.byFeatures.map((f) => ({ ...f, features: vcpuFeatureNames(f.features) })),
    })),
    rollbacks: r.rollbacks.map((x) => ({
      ...x,
      hostDefaults: {
        counts: x.hostDefaults.counts,
        targets: x.hostDefaults.targets,
        entries: x.hostDefaults.entries,
      },
      pinned: { counts: x.pinned.counts, targets: x.pinned.targets, entries: x.pinned.entries },
      pinnedTo: x.pinnedTo.map((b) => ({
        file: baselineFile(b, true),
        cpu: b.cpu,
        features: vcpuFeatureNames(b.features),
        config: b.config,
        kernels: b.kernels,
        unhonourable: b.unhonourable,
      })),
    })),
    whatIf: r.whatIf,
    durationMs: r.durationMs,
  };
}
