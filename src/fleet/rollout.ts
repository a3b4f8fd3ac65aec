/**
 * rolloutOf(model, {to: K, waves: N}): upgrading every host not on kernel K in N waves, then rolling
 * back any prefix of the waves, under each ABI policy side by side, from the hosts' profiles
 * (analysis.ts; each host's K profile is Analysis.target's, simulated where no host runs K).
 *
 * The hosts not on K are split evenly into N waves in the model's order (a group may straddle two);
 * the VMs of a (group, profile) go with its hosts, in proportion. At each step:
 * - upgrade wave w: its VMs live-migrate from their profile P onto an upgraded host T (P -> T): how many
 *   break (the VMM refuses the restore, or the VM cannot start on T) and how many see a change;
 * - mixed: how many VMs cannot migrate between upgraded and not-upgraded hosts (T -> P for the VMs
 *   on upgraded hosts, P -> T for the ones still on not-upgraded hosts);
 * - rollback of waves 1..r (after the whole upgrade): their VMs migrate back T -> P.
 *
 * Policies (what is applied to every VM before the upgrade): as described (nothing changes); host
 * defaults (every VM unpinned); pinned to the fleet baseline (per CPU model and feature set, over
 * every profile of that CPU in the model and K's); pinned per pair (the baseline of the VM's profile and
 * its K profile); QEMU compat options (host defaults plus what `export qemu` pins: kvm-psci-version,
 * pmu/sve/pauth off — for VMs restored by QEMU; the others keep host defaults).
 */
import { FW_REGS, vcpuFeatureNames } from "../kvm/index.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import type { AbiTemplate } from "../formats/template.js";
import { alignColumns } from "../formats/text-table.js";
import { exportQemu } from "../vmm/export-qemu.js";
import { abiFeatures, analysisOf, hostDefaultsAbi, kernelMatch, templateAbi } from "./analysis.js";
import type { DomainBaseline, RunAbi, VmStatus } from "./analysis.js";
import { FleetError } from "./fleet.js";
import { pairBaseline } from "./impact.js";
import { baselineFile, profilesByCpu } from "./plan.js";
import type { FleetModel } from "./model.js";

export interface RolloutOptions {
  /** The kernel every host goes to: a release, a kernel generation or a simulator kernel. */
  to: string;
  /** How many waves (1..1000). */
  waves: number;
  /** The VMM that restores every VM (default: each VM's own). */
  vmm?: RestorePolicy;
}

export type RolloutPolicy =
  "as-described" | "host-defaults" | "fleet-baseline" | "pair-baseline" | "qemu-compat";
export const ROLLOUT_POLICIES: readonly RolloutPolicy[] = [
  "as-described",
  "host-defaults",
  "qemu-compat",
  "pair-baseline",
  "fleet-baseline",
];

export const POLICY_TEXT: Readonly<Record<RolloutPolicy, string>> = {
  "as-described": "as described (each VM's own ABI)",
  "host-defaults": "host defaults (every VM unpinned)",
  "qemu-compat": "QEMU compat options (host defaults plus export qemu's -cpu options for QEMU VMs)",
  "pair-baseline": "pinned per CPU model and kernel pair (the baseline of each host's kernel and K)",
  "fleet-baseline": "pinned to the fleet baseline (per CPU model, over every kernel and K)",
};

/** VMs that break, that see a change, and that cannot migrate between upgraded and not-upgraded hosts. */
export interface StepCounts {
  breaks: number;
  changes: number;
  split: number;
}

export interface RolloutStep {
  kind: "upgrade" | "rollback";
  /** upgrade: the wave upgraded; rollback: waves 1..wave rolled back. */
  wave: number;
  /** Hosts changing kernel in this step, VMs that move. */
  hosts: number;
  vms: number;
  byPolicy: Record<RolloutPolicy, StepCounts>;
}

/** A template a policy pins before the upgrade. */
export interface PolicyTemplate {
  cpu: string;
  config: string;
  kernels: string[];
  /** Where `plan --out-dir` style output would put it. */
  file: string;
  template: AbiTemplate;
  unhonourable: number;
}

export interface RolloutReport {
  fleet: string;
  to: string;
  /** Hosts already on K, and VMs there (they do not move). */
  onTarget: { hosts: number; vms: number };
  waves: { wave: number; hosts: number; vms: number }[];
  /** Where each profile goes, and whether the K profile is simulated. */
  targets: { from: string; to: string; cpu: string; hosts: number; simulated: boolean; evidence: string }[];
  /** Hosts of the fleet the rollout cannot check (no profile of K for their CPU), and why. */
  leftOut: { group: string; cpu: string; kernel: string; hosts: number; vms: number; reason: string }[];
  policies: { policy: RolloutPolicy; text: string; templates: PolicyTemplate[]; qemuOptions: string[] }[];
  steps: RolloutStep[];
  /** Per policy: breaks and changes over the upgrade and the full rollback. */
  totals: Record<RolloutPolicy, { breaks: number; changes: number }>;
  assumptions: string[];
  recommendation: { policy: RolloutPolicy; text: string };
}

export const ROLLOUT_ASSUMPTIONS = [
  "each wave's VMs live-migrate from their host's profile onto an upgraded host of the same CPU model before their hosts upgrade",
  "VMs on upgraded hosts are assumed restarted before a rollback: VMs with host defaults then carry the new kernel's defaults, pinned VMs their template, VMs from a snapshot its state",
  "a VM whose policy template cannot start on its current host counts as breaking (it cannot take the policy without moving)",
  "hosts already on the target kernel, and their VMs, stay where they are",
];

/** The hosts (in model order) split into `n` waves: per wave, hosts per (group, profile). */
function splitWaves(rows: readonly { key: string; hosts: number }[], n: number): Map<string, number[]> {
  const total = rows.reduce((s, r) => s + r.hosts, 0);
  const out = new Map<string, number[]>();
  let before = 0;
  for (const r of rows) {
    const per = out.get(r.key) ?? new Array<number>(n).fill(0);
    for (let h = 0; h < r.hosts;) {
      const index = before + h;
      const wave = Math.min(n - 1, Math.floor((index * n) / total));
      // Hosts up to the wave's end in one step.
      const end = Math.ceil(((wave + 1) * total) / n);
      const take = Math.min(r.hosts - h, end - index);
      per[wave]! += take;
      h += take;
    }
    before += r.hosts;
    out.set(r.key, per);
  }
  return out;
}

/** `n` split in proportion to `weights` (cumulative rounding: the parts sum to n). */
function apportion(n: number, weights: readonly number[]): number[] {
  const total = weights.reduce((s, w) => s + w, 0);
  if (total === 0) return weights.map(() => 0);
  let cum = 0;
  let given = 0;
  return weights.map((w) => {
    cum += w;
    const upTo = Math.round((n * cum) / total);
    const part = upTo - given;
    given = upTo;
    return part;
  });
}

const PSCI_OPTION = "kvm-psci-version";

/** QEMU's "-cpu" value for kvm-psci-version ("1.1") as PSCI_VERSION (major << 16 | minor). */
function psciOf(text: string): bigint {
  const [major, minor] = text.split(".").map(Number) as [number, number];
  return (BigInt(major) << 16n) | BigInt(minor);
}

/** The case of a VM under a policy, forward and back. */
interface Moves {
  forward: VmStatus;
  back: VmStatus;
}

export function rolloutOf(model: FleetModel, opts: RolloutOptions): RolloutReport {
  if (!Number.isInteger(opts.waves) || opts.waves < 1 || opts.waves > 1000)
    throw new FleetError(`waves must be 1..1000, not ${opts.waves}`);
  const a = analysisOf(model);
  const n = opts.waves;
  const k = opts.to;
  const key = (group: string, profile: string) => `${group}\u0000${profile}`;
  // Hosts without a profile to go to (no host of their CPU runs K, and none can be simulated) are left
  // out of the waves, and said so.
  const leftOut: RolloutReport["leftOut"] = [];
  const upgrade = model.hostCounts.filter((h) => {
    if (kernelMatch(a.profile(h.profile), k) !== 0) return false;
    const problem = a.targetProblem(h.profile, k);
    if (problem === undefined) return true;
    const vms = model.vmCounts
      .filter((v) => v.group === h.group && v.profile === h.profile)
      .reduce((s, v) => s + v.vms, 0);
    leftOut.push({
      group: h.group,
      cpu: a.cpu(h.profile),
      kernel: a.kernel(h.profile),
      hosts: h.hosts,
      vms,
      reason: problem,
    });
    return false;
  });
  const onK = model.hostCounts.filter((h) => kernelMatch(a.profile(h.profile), k) !== 0);
  const hostsByWave = splitWaves(
    upgrade.map((h) => ({ key: key(h.group, h.profile), hosts: h.hosts })),
    n,
  );
  const targets = new Map<string, string>();
  const targetRows: RolloutReport["targets"] = [];
  for (const h of upgrade)
    if (!targets.has(h.profile)) {
      const t = a.target(h.profile, k);
      targets.set(h.profile, t.profile);
      targetRows.push({
        from: a.kernel(h.profile),
        to: a.kernel(t.profile),
        cpu: a.cpu(h.profile),
        hosts: upgrade.filter((x) => x.profile === h.profile).reduce((s, x) => s + x.hosts, 0),
        simulated: t.simulated,
        evidence: t.evidence,
      });
    }

  // The fleet baseline: per CPU model and feature set, over every profile of that CPU and its K profiles.
  const cpuProfiles = profilesByCpu(model, a);
  for (const [p, t] of targets) {
    const list = cpuProfiles.get(a.cpu(p))!;
    if (!list.includes(t)) list.push(t);
  }
  const fleetBaseline = (cpu: string, f: number[]): DomainBaseline => {
    const b = a.baseline(cpu, f, cpuProfiles.get(cpu) ?? []);
    if (!b) throw new FleetError(`no baseline for ${cpu} VMs with ${vcpuFeatureNames(f).join("+")}`);
    return b;
  };
  const used = new Map<RolloutPolicy, Map<string, PolicyTemplate>>();
  const qemuOptions = new Set<string>();
  const note = (policy: RolloutPolicy, b: DomainBaseline, file: string) => {
    const m = used.get(policy) ?? new Map<string, PolicyTemplate>();
    m.set(file, {
      cpu: b.cpu,
      config: b.config,
      kernels: [...new Set(b.kernels)],
      file,
      template: b.template,
      unhonourable: b.unhonourable.length,
    });
    used.set(policy, m);
  };

  /** The ABI of a VM under a policy, on profile p going to t. */
  const abiUnder = (
    policy: RolloutPolicy,
    stored: string,
    vmm: RestorePolicy,
    p: string,
    t: string,
  ): RunAbi => {
    const abi = a.abi(stored);
    const f = abiFeatures(abi);
    switch (policy) {
      case "as-described":
        return abi;
      case "host-defaults":
        return hostDefaultsAbi(f);
      case "fleet-baseline": {
        const b = fleetBaseline(a.cpu(p), f);
        note(policy, b, baselineFile(b, false));
        return templateAbi(b.template);
      }
      case "pair-baseline": {
        const template = pairBaseline(a, p, t, f);
        const b = a.baseline(a.cpu(p), f, [p, t])!;
        note(policy, b, baselineFile(b, true));
        return templateAbi(template);
      }
      case "qemu-compat": {
        if (!vmm.id.startsWith("qemu@")) return hostDefaultsAbi(f);
        const template = pairBaseline(a, p, t, f);
        const e = exportQemu(template, [a.profile(p), a.profile(t)], vmm.id.slice("qemu@".length), {
          names: [a.kernel(p), a.kernel(t)],
        });
        qemuOptions.add(`${e.label} on ${a.cpu(p)} ${a.kernel(p)} and ${a.kernel(t)}: -cpu ${e.cpu}`);
        const psci = e.options.find((o) => o.property === PSCI_OPTION);
        return hostDefaultsAbi(
          template.features,
          psci ? new Map([[FW_REGS.PSCI_VERSION, psciOf(psci.value)]]) : undefined,
        );
      }
    }
  };

  // Per policy and VM row: the moves, and the row's VMs per wave.
  interface Row {
    wave: number[];
    moves: Record<RolloutPolicy, Moves>;
  }
  const rows: Row[] = [];
  let onTargetVms = 0;
  for (const v of model.vmCounts) {
    const per = hostsByWave.get(key(v.group, v.profile));
    if (!per) {
      if (kernelMatch(a.profile(v.profile), k) !== 0) onTargetVms += v.vms;
      continue;
    }
    const t = targets.get(v.profile)!;
    const vmm = opts.vmm ?? a.policy(v.vmm);
    const moves = {} as Record<RolloutPolicy, Moves>;
    for (const policy of ROLLOUT_POLICIES) {
      const abi = abiUnder(policy, v.abi, vmm, v.profile, t);
      moves[policy] = {
        forward: a.evaluate(abi, vmm, v.profile, t).status,
        back: a.evaluate(abi, vmm, t, v.profile).status,
      };
    }
    rows.push({ wave: apportion(v.vms, per), moves });
  }

  const broken = (s: VmStatus) => s === "breaks" || s === "cannot-start";
  const zero = (): Record<RolloutPolicy, StepCounts> =>
    Object.fromEntries(ROLLOUT_POLICIES.map((p) => [p, { breaks: 0, changes: 0, split: 0 }])) as Record<
      RolloutPolicy,
      StepCounts
    >;
  const waveHosts = Array.from({ length: n }, (_, w) =>
    [...hostsByWave.values()].reduce((s, per) => s + per[w]!, 0),
  );
  const waveVms = Array.from({ length: n }, (_, w) => rows.reduce((s, r) => s + r.wave[w]!, 0));
  const steps: RolloutStep[] = [];
  for (let w = 0; w < n; w++) {
    const byPolicy = zero();
    for (const r of rows)
      for (const policy of ROLLOUT_POLICIES) {
        const m = r.moves[policy];
        const c = byPolicy[policy];
        const moving = r.wave[w]!;
        if (broken(m.forward)) c.breaks += moving;
        else if (m.forward === "guest-view-changes") c.changes += moving;
        // Mixed: upgraded VMs that cannot go back, the others that cannot come over.
        if (w < n - 1)
          for (let x = 0; x < n; x++) if (x <= w ? broken(m.back) : broken(m.forward)) c.split += r.wave[x]!;
      }
    steps.push({ kind: "upgrade", wave: w + 1, hosts: waveHosts[w]!, vms: waveVms[w]!, byPolicy });
  }
  for (let w = 0; w < n; w++) {
    const byPolicy = zero();
    for (const r of rows)
      for (const policy of ROLLOUT_POLICIES) {
        const m = r.moves[policy];
        const c = byPolicy[policy];
        const back = r.wave.slice(0, w + 1).reduce((s, x) => s + x, 0);
        if (broken(m.back)) c.breaks += back;
        else if (m.back === "guest-view-changes") c.changes += back;
      }
    steps.push({
      kind: "rollback",
      wave: w + 1,
      hosts: waveHosts.slice(0, w + 1).reduce((s, x) => s + x, 0),
      vms: waveVms.slice(0, w + 1).reduce((s, x) => s + x, 0),
      byPolicy,
    });
  }

  const totals = Object.fromEntries(
    ROLLOUT_POLICIES.map((p) => {
      const up = steps.filter((s) => s.kind === "upgrade");
      const full = steps[steps.length - 1]!.byPolicy[p];
      return [
        p,
        {
          breaks: up.reduce((s, x) => s + x.byPolicy[p].breaks, 0) + full.breaks,
          changes: up.reduce((s, x) => s + x.byPolicy[p].changes, 0) + full.changes,
        },
      ];
    }),
  ) as Record<RolloutPolicy, { breaks: number; changes: number }>;
  const best = [...ROLLOUT_POLICIES].sort(
    (x, y) => totals[x].breaks - totals[y].breaks || totals[x].changes - totals[y].changes,
  )[0]!;
  const policies = ROLLOUT_POLICIES.map((p) => ({
    policy: p,
    text: POLICY_TEXT[p],
    templates: [...(used.get(p)?.values() ?? [])],
    qemuOptions: p === "qemu-compat" ? [...qemuOptions] : [],
  }));
  return {
    fleet: model.name,
    to: k,
    onTarget: { hosts: onK.reduce((s, h) => s + h.hosts, 0), vms: onTargetVms },
    waves: waveHosts.map((hosts, w) => ({ wave: w + 1, hosts, vms: waveVms[w]! })),
    targets: targetRows,
    leftOut,
    policies,
    steps,
    totals,
    assumptions: ROLLOUT_ASSUMPTIONS,
    recommendation: {
      policy: best,
      text: recommendation(
        best,
        totals,
        policies.find((p) => p.policy === best)!,
      ),
    },
  };
}

function recommendation(
  best: RolloutPolicy,
  totals: RolloutReport["totals"],
  p: RolloutReport["policies"][number],
): string {
  const t = totals[best];
  const head = `${POLICY_TEXT[best]}: ${t.breaks} VM moves break and ${t.changes} see a change over the upgrade and a full rollback`;
  const asIs = totals["as-described"];
  const than =
    best === "as-described" ? "" : ` (as described: ${asIs.breaks} break, ${asIs.changes} see a change)`;
  if (p.templates.length)
    return `${head}${than}; before the upgrade pin the VMs to ${p.templates.length} template${p.templates.length === 1 ? "" : "s"}: ${p.templates.map((x) => x.file).join(", ")}`;
  if (p.qemuOptions.length)
    return `${head}${than}; before the upgrade start QEMU VMs with ${p.qemuOptions.join("; ")}`;
  if (best === "host-defaults") return `${head}${than}; before the upgrade restart the VMs unpinned`;
  return `${head}; nothing to apply before the upgrade`;
}

// ---- output ---------------------------------------------------------------------------------------

const cell = (c: StepCounts, mixed: boolean): string =>
  `${c.breaks} break, ${c.changes} change${mixed ? `, ${c.split} split` : ""}`;

/** The human report: waves, a table of steps by policy, assumptions, the recommendation. */
export function formatRollout(r: RolloutReport): string {
  const upgraded = r.waves.reduce((s, w) => s + w.hosts, 0);
  const out = [
    `guestabi rollout: fleet ${r.fleet} to ${r.to}: ${upgraded} hosts in ${r.waves.length} waves (${r.onTarget.hosts} hosts already on ${r.to}, ${r.onTarget.vms} VMs there stay)`,
    ...r.targets.map((t) => `  ${t.hosts} ${t.cpu} hosts on ${t.from} -> ${t.to}: ${t.evidence}`),
    ...r.leftOut.map(
      (x) => `  left out: ${x.hosts} ${x.cpu} hosts of ${x.group} on ${x.kernel} (${x.vms} VMs): ${x.reason}`,
    ),
    "",
    "POLICIES (applied to every VM before the upgrade)",
    ...r.policies.map((p) => `  ${p.policy.padEnd(14)}  ${p.text}`),
    "",
    "STEPS (break = cannot live-migrate, or start, there; change = the guest sees a difference; split = cannot migrate",
    "  between upgraded and not-upgraded hosts)",
    ...alignColumns(
      [
        ["STEP", "HOSTS", "VMS", ...ROLLOUT_POLICIES.map((p) => p.toUpperCase())],
        ...r.steps.map((s) => [
          s.kind === "upgrade" ? `upgrade wave ${s.wave}` : `roll back waves 1-${s.wave}`,
          String(s.hosts),
          String(s.vms),
          ...ROLLOUT_POLICIES.map((p) =>
            cell(s.byPolicy[p], s.kind === "upgrade" && s.wave < r.waves.length),
          ),
        ]),
      ],
      "  ",
    ),
    "",
    "ASSUMPTIONS",
    ...r.assumptions.map((x) => `  ${x}`),
    "",
    "RECOMMENDATION",
    `  ${r.recommendation.text}`,
  ];
  return out.join("\n") + "\n";
}

/** The JSON form (templates in their file form are left out: plan --out-dir writes them). */
export function rolloutToJson(r: RolloutReport): unknown {
  return {
    format: "guestabi-rollout",
    version: 1,
    ...r,
    policies: r.policies.map((p) => ({
      ...p,
      templates: p.templates.map((t) => ({
        cpu: t.cpu,
        config: t.config,
        kernels: t.kernels,
        file: t.file,
        unhonourable: t.unhonourable,
      })),
    })),
  };
}
