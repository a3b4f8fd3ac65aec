/**
 * impactOf(model, {group, to}): what rolling a host group's kernel back to K does to the VMs running
 * there, from the hosts' profiles (analysis.ts). Each host profile P of the group goes to its target T
 * (Analysis.target: a profile of the model with the same CPU on K, or a simulated what-if host); each
 * distinct (VM ABI, VMM, P, T) is one case, its VMs counted by reference:
 *
 * - breaks: the VMM refuses to restore the VM on T, or the VM could not start there;
 * - guest-view-changes: it arrives, but its guest sees a difference (with host defaults: after its
 *   restart on T, T's defaults), said in words (effects.ts);
 * - safe; cannot-start: the VM (pinned to a template) cannot even start on P.
 *
 * Modes: "as-described" (each VM's own ABI), "host-defaults" (every VM unpinned, with its features),
 * "pinned" (every VM pinned to one template, or by default to the baseline of P and T for its
 * features: what a VMM that may roll back to K pins). `vmm` overrides each VM's own VMM.
 */
import { vcpuFeatureNames } from "../kvm/index.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import type { AbiTemplate } from "../formats/template.js";
import { alignColumns } from "../formats/text-table.js";
import { effectsText } from "./effects.js";
import type { GuestEffect } from "./effects.js";
import { FleetError } from "./fleet.js";
import { abiFeatures, analysisOf, hostDefaultsAbi, registerNames, templateAbi } from "./analysis.js";
import type { Analysis, CaseResult, ImpactMode, RunAbi, VmStatus } from "./analysis.js";
import type { AbiKind, FleetModel } from "./model.js";

export type { ImpactMode, VmStatus } from "./analysis.js";

export interface ImpactOptions {
  /** The host group rolled back. */
  group: string;
  /** The kernel it goes back to: a release, a kernel generation ("6.1") or a simulator kernel. */
  to: string;
  /** Default "as-described". */
  mode?: ImpactMode;
  /** The VMM that restores every VM (default: each VM's own). */
  vmm?: RestorePolicy;
  /** Mode "pinned": the template every VM is pinned to (default: each case's baseline of P and T). */
  pinTo?: AbiTemplate;
}

/** The VMs of one case: one ABI, VMM, source and target profile. */
export interface ImpactEntry {
  /** The VM entries it covers (a fleet file's names; empty when the model has none). */
  names: string[];
  abi: AbiKind;
  features: string[];
  vmm: string;
  vcpus: number[];
  /** Source and target kernel (kernelLabel), and whether the target is a simulated what-if host. */
  from: string;
  to: string;
  simulated: boolean;
  count: number;
  status: VmStatus;
  /** What the guest sees change, in words. */
  effects: GuestEffect[];
  /** The registers (REGISTER.FIELD) the restore check finds incompatible. */
  verdicts: string[];
  /** One line: why this status. */
  why: string;
  /** The VMM's restore: whether it loads, and where it fails first. */
  restore?: { loads: boolean; register?: string; error?: string };
  /** Answers through the SMC conduit that differ: only a guest whose VMM's tables name SMC sees them. */
  smc: string[];
}

export interface ImpactCounts {
  /** VMs of the group. */
  vms: number;
  breaks: number;
  guestViewChanges: number;
  safe: number;
  cannotStart: number;
}

/** Where each source profile of the group goes. */
export interface ImpactTarget {
  from: string;
  to: string;
  /** Hosts of the group on the source profile. */
  hosts: number;
  simulated: boolean;
  evidence: string;
}

export interface ImpactReport {
  fleet: string;
  rollback: { group: string; hosts: number; cpus: string[]; from: string[]; to: string };
  mode: ImpactMode;
  /** The VMM every VM was restored by, when the options named one. */
  vmm?: string;
  targets: ImpactTarget[];
  entries: ImpactEntry[];
  counts: ImpactCounts;
  /** VMs of the other groups: they never run on the rolled-back hosts. */
  unaffected: number;
}

/** The hosts of a group by profile, in the model's order; FleetError naming the groups when there is none. */
export function groupProfiles(model: FleetModel, group: string): { profile: string; hosts: number }[] {
  const out = new Map<string, number>();
  for (const h of model.hostCounts)
    if (h.group === group) out.set(h.profile, (out.get(h.profile) ?? 0) + h.hosts);
  if (out.size === 0) {
    const groups = [...new Set(model.hostCounts.map((h) => h.group))];
    throw new FleetError(`no group '${group}' in fleet ${model.name} (groups: ${groups.join(", ")})`);
  }
  return [...out].map(([profile, hosts]) => ({ profile, hosts }));
}

/** The ABI a VM runs with under a mode (pinned: `pin`'s template for its features, P and T). */
export function modeAbi(
  a: Analysis,
  stored: string,
  mode: ImpactMode,
  pin: (features: number[]) => AbiTemplate,
): RunAbi {
  const abi = a.abi(stored);
  if (mode === "host-defaults") return hostDefaultsAbi(abiFeatures(abi));
  if (mode === "pinned") return templateAbi(pin(abiFeatures(abi)));
  return abi;
}

/** The template a VM is pinned to by default: the baseline of its source and target profile. */
export function pairBaseline(a: Analysis, source: string, target: string, features: number[]): AbiTemplate {
  const b = a.baseline(a.cpu(source), features, [source, target]);
  if (!b)
    throw new FleetError(
      `no baseline for VMs with ${vcpuFeatureNames(features).join("+")}: no probe configuration has exactly these features`,
    );
  return b.template;
}

/**
 * What the VMM's restore fails on: the incompatible registers, or where its first failure is about no
 * register (the saved list longer than the destination's), the VMM's own first message.
 */
function refusalText(c: CaseResult): string {
  const first = c.verdicts.find((v) => v.register === c.restore?.register);
  if (first?.id === "" && c.restore?.error) return c.restore.error.split(" | ")[0]!;
  return registerNames(c.verdicts);
}

/** One line: why a case has its status. */
export function whyText(c: CaseResult): string {
  if (c.status === "cannot-start") return c.startError ?? "";
  const parts: string[] = [];
  if (c.effects.length) parts.push(`the guest ${effectsText(c.effects)}`);
  if (c.status === "breaks") {
    if (c.restore && !c.restore.loads) parts.push(`${c.restore.label} refuses: ${refusalText(c)}`);
    else if (c.startError) parts.push(`cannot start there: ${c.startError}`);
  } else if (c.verdicts.length)
    parts.push(`${c.restore?.label ?? "the VMM"} loads it despite ${registerNames(c.verdicts)}`);
  return parts.join("; ");
}

/** The rollback impact of one group (see the top of this file). */
export function impactOf(model: FleetModel, opts: ImpactOptions): ImpactReport {
  const a = analysisOf(model);
  const mode = opts.mode ?? "as-described";
  const sources = groupProfiles(model, opts.group);
  const targets = new Map(sources.map((s) => [s.profile, a.target(s.profile, opts.to)]));
  const entries = new Map<string, ImpactEntry>();
  const names = new Map<ImpactEntry, Set<string>>();
  const vcpus = new Map<ImpactEntry, Set<number>>();
  for (const v of model.vmCounts) {
    if (v.group !== opts.group) continue;
    const target = targets.get(v.profile) ?? a.target(v.profile, opts.to);
    targets.set(v.profile, target);
    const abi = modeAbi(a, v.abi, mode, (f) => opts.pinTo ?? pairBaseline(a, v.profile, target.profile, f));
    const vmm = opts.vmm ?? a.policy(v.vmm);
    const key = `${abi.key}|${vmm.id}|${v.profile}|${target.profile}`;
    let e = entries.get(key);
    if (!e) {
      const c = a.evaluate(abi, vmm, v.profile, target.profile);
      e = {
        names: [],
        abi: abi.kind,
        features: vcpuFeatureNames(abiFeatures(abi)),
        vmm: vmm.id,
        vcpus: [],
        from: a.kernel(v.profile),
        to: a.kernel(target.profile),
        simulated: target.simulated,
        count: 0,
        status: c.status,
        effects: c.effects,
        verdicts: [...new Set(c.verdicts.map((x) => `${x.register}${x.field ? "." + x.field : ""}`))],
        why: whyText(c),
        ...(c.restore
          ? {
              restore: {
                loads: c.restore.loads,
                ...(c.restore.register !== undefined ? { register: c.restore.register } : {}),
                ...(c.restore.error !== undefined ? { error: c.restore.error } : {}),
              },
            }
          : {}),
        smc: c.smc,
      };
      entries.set(key, e);
      names.set(e, new Set());
      vcpus.set(e, new Set());
    }
    e.count += v.vms;
    if (v.name !== undefined) names.get(e)!.add(v.name);
    vcpus.get(e)!.add(v.vcpus);
  }
  const list = [...entries.values()];
  for (const e of list) {
    e.names = [...names.get(e)!];
    e.vcpus = [...vcpus.get(e)!].sort((x, y) => x - y);
  }
  const sum = (s: VmStatus) => list.filter((e) => e.status === s).reduce((n, e) => n + e.count, 0);
  const groupVms = list.reduce((n, e) => n + e.count, 0);
  const all = model.vmCounts.reduce((n, v) => n + v.vms, 0);
  return {
    fleet: model.name,
    rollback: {
      group: opts.group,
      hosts: sources.reduce((n, s) => n + s.hosts, 0),
      cpus: [...new Set(sources.map((s) => a.cpu(s.profile)))],
      from: [...new Set(sources.map((s) => a.kernel(s.profile)))],
      to: opts.to,
    },
    mode,
    ...(opts.vmm ? { vmm: opts.vmm.id } : {}),
    targets: sources.map((s) => {
      const t = targets.get(s.profile)!;
      return {
        from: a.kernel(s.profile),
        to: a.kernel(t.profile),
        hosts: s.hosts,
        simulated: t.simulated,
        evidence: t.evidence,
      };
    }),
    entries: list,
    counts: {
      vms: groupVms,
      breaks: sum("breaks"),
      guestViewChanges: sum("guest-view-changes"),
      safe: sum("safe"),
      cannotStart: sum("cannot-start"),
    },
    unaffected: all - groupVms,
  };
}

/** "40 break, 20 see a change, 0 safe" (+ cannot start when any). */
export function countsText(c: ImpactCounts): string {
  const parts = [`${c.breaks} break`, `${c.guestViewChanges} see a change`, `${c.safe} safe`];
  if (c.cannotStart) parts.push(`${c.cannotStart} cannot start`);
  return parts.join(", ");
}

const MODE_TEXT: Record<ImpactMode, string> = {
  "as-described": "as described",
  "host-defaults": "with host defaults",
  pinned: "pinned",
};

/** "1 host", "3 hosts". */
export const counted = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

/** A list of names, at most `max`, then how many more. */
export function namesText(names: readonly string[], max = 3): string {
  if (names.length === 0) return "-";
  return names.slice(0, max).join(", ") + (names.length > max ? `, +${names.length - max}` : "");
}

/** The human report of one impact run. */
export function formatImpact(r: ImpactReport): string {
  const rb = r.rollback;
  const lines = [
    `rollback of group ${rb.group} (${counted(rb.hosts, "host")}, ${rb.cpus.join(", ")}) from ${rb.from.join(", ")} to ${rb.to}, VMs ${MODE_TEXT[r.mode]}${r.vmm ? `, restored by ${r.vmm}` : ""}`,
    ...r.targets.map((t) => `  ${counted(t.hosts, "host")} on ${t.from} -> ${t.to}: ${t.evidence}`),
    `  ${counted(r.counts.vms, "VM")}: ${countsText(r.counts)}; ${counted(r.unaffected, "VM")} of other groups unaffected`,
    "",
  ];
  const rows = [
    ["VMS", "COUNT", "STATUS", "ABI", "VMM", "WHAT THE GUEST SEES; WHY"],
    ...r.entries.map((e) => [
      namesText(e.names),
      String(e.count),
      e.status,
      e.abi,
      e.vmm,
      e.why || "nothing changes",
    ]),
  ];
  lines.push(...alignColumns(rows, "  "));
  const smc = r.entries.find((e) => e.smc.length > 0);
  if (smc)
    lines.push(
      "",
      `  a guest whose VMM's tables name the SMC conduit would also see (handle_smc; no register pins it): ${smc.smc.slice(0, 2).join("; ")}`,
    );
  return lines.join("\n") + "\n";
}

/** The JSON form. */
export function impactToJson(r: ImpactReport): unknown {
  return { format: "guestabi-impact", version: 2, ...r };
}
