/**
 * The fleet analysis engine behind impact, plan and rollout: answers from the hosts' PROFILES over a
 * FleetModel (model.ts), never from a VM one by one. A case is a distinct (VM ABI, VMM, source host
 * profile, target host profile); each is checked once (check.ts on compiled forms: each subject and
 * each (host, VMM) compiled once, the fast path checkLevel first, full verdicts only for a failing
 * case), and VMs are counted by reference. The simulator only supplies the profile of a what-if host:
 * a kernel no host of the model runs on that CPU.
 *
 * A case's status:
 * - "cannot-start": the VM cannot start on the source (a template the source refuses, features it
 *   cannot initialise);
 * - "breaks": the VMM refuses the restore on the target (check.ts restore.loads false), or the VM could
 *   not start there (its template or snapshot ABI refused, its features not initialised): it moves
 *   only by rebooting elsewhere;
 * - "guest-view-changes": it loads, but the guest sees a difference on the target (guest-view.ts): a
 *   VM with host defaults after its restart there sees the target's defaults; a VMM that loads an
 *   incompatible VM changes the guest silently;
 * - "safe" otherwise.
 *
 * The subject checked on the target is the VM's state on the source, what vm.ts's save would give
 * right after the VM started there (startedState): with host defaults, a one-vCPU snapshot of the
 * profile's reset readings and machine; pinned to a template, the same with what pin writes over them
 * (the template alone would miss the source's cache geometry, which 6.1's invariant CCSIDR refuses);
 * both checked with the source's profile as checkAbi's sourceProfile, as migrate does. A snapshot is
 * itself. conformance.test.ts holds the answers equal to the per-VM simulation's.
 */
import { createHash } from "node:crypto";
import { nameOf, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { KVM_CAP, VCPU_FEATURES, vcpuFeatureNames } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { CPU_MODELS, SIM_GENERATIONS, generationModel, isSimGeneration } from "../kvm/sim/index.js";
import { IMP_ID_REG_IDS } from "../kvm/rules/id-regs.js";
import { gicdIidr, gitsIidr } from "../kvm/rules/vgic.js";
import { baseline } from "../check/baseline.js";
import { checkCompiled, checkLevel } from "../check/check.js";
import type { RestoreOutcome, Verdict } from "../check/check.js";
import { capValue, configView } from "../check/config-view.js";
import { compileHost } from "../check/host.js";
import type { CompiledHost } from "../check/host.js";
import { compileSubject } from "../check/requirements.js";
import { REGISTRY, isUntouched } from "../check/registry.js";
import type { Requirements } from "../check/requirements.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { kernelVersion, profileRules } from "../formats/profile.js";
import type { HostProfile, ProfileHead } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { abiOfSnapshot } from "../vm/guest-abi.js";
import { UnknownVmmError, vmmPolicy } from "../vmm/policies.js";
import type { GuestEffect } from "./effects.js";
import { FleetError, SimHosts, configsFor, vmFeatures } from "./fleet.js";
import type { Fleet } from "./fleet.js";
import { guestView, smcDifferences, templatePins, viewDifferences, viewEffects } from "./guest-view.js";
import type { GuestView, Pins } from "./guest-view.js";
import { abiHash, profileHash } from "./model.js";
import type { FleetModel, HostCount, StoredAbi, VmCount } from "./model.js";

export { IMPACT_MODES } from "./impact-modes.js";
export type { ImpactMode } from "./impact-modes.js";
export type VmStatus = "breaks" | "guest-view-changes" | "safe" | "cannot-start";
export const VM_STATUSES: readonly VmStatus[] = ["breaks", "guest-view-changes", "safe", "cannot-start"];

// ---- a fleet file as a model ----------------------------------------------------------------------

const featureKeyOf = (f: readonly number[]): string => [...f].sort((a, b) => a - b).join(",");

/**
 * A fleet file as a model: each group's simulated host profile (SimHosts, probed with the
 * configurations that cover its VMs' features) and host count; each VM entry a VM count (its ABI, its
 * VMM, its name). Profiles and ABIs shared by groups and entries are stored once.
 */
export function fleetFileModel(fleet: Fleet, hosts?: SimHosts): FleetModel {
  const sim = hosts ?? new SimHosts(fleet.vms.map(vmFeatures));
  const profiles = new Map<string, HostProfile>();
  const abis = new Map<string, StoredAbi>();
  const groupProfile = new Map<string, string>();
  const hostCounts: HostCount[] = fleet.groups.map((g) => {
    const p = sim.profile(g.kernel, g.cpu);
    const hash = hashOfProfile(p);
    profiles.set(hash, p);
    groupProfile.set(g.name, hash);
    return { group: g.name, profile: hash, hosts: g.hosts };
  });
  const vmCounts: VmCount[] = fleet.vms.map((v) => {
    const stored: StoredAbi =
      v.abi.kind === "host-defaults"
        ? { kind: "host-defaults", features: [...v.abi.features] }
        : v.abi.kind === "template"
          ? { kind: "template", template: v.abi.template }
          : { kind: "snapshot", snapshot: v.abi.snapshot };
    const hash = abiHash(stored);
    if (!abis.has(hash)) abis.set(hash, stored);
    return {
      group: v.group,
      profile: groupProfile.get(v.group)!,
      abi: hash,
      vmm: v.vmm,
      vcpus: v.vcpus,
      vms: v.count,
      name: v.name,
    };
  });
  const model: FleetModel = { name: fleet.name, profiles, abis, hostCounts, vmCounts };
  simHostsOfModel.set(model, sim);
  return model;
}

/** The simulated hosts a fleet file's model was probed on: what-if hosts come from the same ones. */
const simHostsOfModel = new WeakMap<FleetModel, SimHosts>();

const profileHashes = new WeakMap<HostProfile, string>();
/** profileHash, once per profile object (it serialises the whole profile). */
function hashOfProfile(p: HostProfile): string {
  let h = profileHashes.get(p);
  if (h === undefined) profileHashes.set(p, (h = profileHash(p)));
  return h;
}

// ---- kernels ----------------------------------------------------------------------------------------

/** The simulator generation whose release a simulated profile has, if any. */
function simGenerationOf(p: ProfileHead): string | undefined {
  if (p.backend !== "sim") return undefined;
  return SIM_GENERATIONS.find((g) => generationModel(g).release === p.host.release);
}

/** How reports name a profile's kernel: its simulator generation ("6.1-amzn"), else its release. */
export function kernelLabel(p: ProfileHead): string {
  return simGenerationOf(p) ?? p.host.release;
}

/**
 * How well a profile runs kernel `k`: 2 its release is `k` (or, simulated, the simulator's release of
 * generation `k`); 1 its release is of generation `k` (profileRules, exact); 0 not at all. A release
 * of another kernel whose rules only stand in for `k` (6.18 read by 6.12's rules) is not `k`.
 */
export function kernelMatch(p: ProfileHead, k: string): 0 | 1 | 2 {
  if (p.host.release === k || (isSimGeneration(k) && simGenerationOf(p) === k)) return 2;
  const r = profileRules(p);
  return r.basis === "exact" && r.generation === k ? 1 : 0;
}

/** Kernels oldest first: simulator generations in their order, else by major.minor, then by name. */
export function compareKernels(a: string, b: string): number {
  const ga = SIM_GENERATIONS.indexOf(a as never);
  const gb = SIM_GENERATIONS.indexOf(b as never);
  if (ga >= 0 && gb >= 0) return ga - gb;
  const va = kernelVersion(a) ?? [0, 0];
  const vb = kernelVersion(b) ?? [0, 0];
  return va[0] - vb[0] || va[1] - vb[1] || (a < b ? -1 : a > b ? 1 : 0);
}

// ---- ABIs as the engine runs them ----------------------------------------------------------------

/**
 * A VM's ABI as checked: host defaults (with what a VMM option pins over them: QEMU's
 * kvm-psci-version), a template, or a snapshot. `key` identifies it among the analysis' caches.
 */
export type RunAbi =
  | { kind: "host-defaults"; key: string; features: number[]; pins?: ReadonlyMap<RegId, bigint> }
  | { kind: "template"; key: string; template: AbiTemplate }
  | { kind: "snapshot"; key: string; snapshot: Snapshot };

/** The vCPU features of an ABI (POWER_OFF is how a vCPU starts, not ABI). */
export function abiFeatures(a: StoredAbi | RunAbi): number[] {
  switch (a.kind) {
    case "host-defaults":
      return a.features;
    case "template":
      return a.template.features;
    case "snapshot":
      return (a.snapshot.vcpus[0]?.init.features ?? []).filter((f) => f !== VCPU_FEATURES.POWER_OFF);
  }
}

const objectKeys = new WeakMap<object, string>();
let nextObjectKey = 0;
/** A key for a template or snapshot object the model does not store (a baseline, a --template file). */
function objectKey(o: object): string {
  let k = objectKeys.get(o);
  if (k === undefined) objectKeys.set(o, (k = `o${nextObjectKey++}`));
  return k;
}

export const hostDefaultsAbi = (features: readonly number[], pins?: ReadonlyMap<RegId, bigint>): RunAbi => ({
  kind: "host-defaults",
  key: `d:${featureKeyOf(features)}${pins?.size ? `:${[...pins].map(([id, v]) => `${id.toString(16)}=${v.toString(16)}`).join(",")}` : ""}`,
  features: [...features].sort((a, b) => a - b),
  ...(pins?.size ? { pins } : {}),
});

export const templateAbi = (template: AbiTemplate, key = objectKey(template)): RunAbi => ({
  kind: "template",
  key: `t:${key}`,
  template,
});

/**
 * What of a snapshot the check and the guest view read, as a digest: its source, VM state, and each
 * vCPU's features and registers, with the same equivalence as requirements.ts classKey (a state
 * register counts only as touched or not, every other register by its value). Snapshots of running
 * VMs differ in their guest state; equal here, they share every case. One pass over the registers in
 * their saved order (a different order is a different key: a cache miss, never a wrong answer).
 */
function snapshotCheckKey(s: Snapshot): string {
  const h = createHash("sha256");
  h.update(JSON.stringify([s.source.release, s.source.generation, s.source.cpuLabel]));
  h.update(JSON.stringify(s.vm, (_k, v: unknown) => (typeof v === "bigint" ? v.toString(16) : v)));
  for (const v of s.vcpus) {
    h.update(`|${v.init.features.join(",")};${v.init.target};${(v.sveVqs ?? []).join(",")}|`);
    const buf = Buffer.allocUnsafe(v.regs.size * 17);
    let o = 0;
    for (const [id, val] of v.regs) {
      o = buf.writeBigUInt64LE(id, o);
      if (REGISTRY.checkClass(REGISTRY.intern(id)) === "state") buf[o++] = isUntouched(val) ? 0 : 1;
      else if (typeof val === "bigint") {
        buf[o++] = 2;
        o = buf.writeBigUInt64LE(val, o);
      } else {
        buf[o++] = 3;
        h.update(buf.subarray(0, o)).update(val);
        o = 0;
      }
    }
    h.update(buf.subarray(0, o));
  }
  return h.digest("hex");
}

/** A stored ABI of the model (its key: its content hash; a snapshot's, what check reads of it). */
export function runAbi(stored: StoredAbi, hash: string): RunAbi {
  switch (stored.kind) {
    case "host-defaults":
      return hostDefaultsAbi(stored.features);
    case "template":
      return templateAbi(stored.template, hash);
    case "snapshot":
      return { kind: "snapshot", key: `s:${snapshotCheckKey(stored.snapshot)}`, snapshot: stored.snapshot };
  }
}

// ---- targets -------------------------------------------------------------------------------------

/** The profile a host of one profile runs once it runs kernel K. */
export interface Target {
  profile: string;
  /** Simulated what-if: no host of the model runs K on this CPU, the simulator stands in. */
  simulated: boolean;
  /** Why this profile: which hosts run it, or that it is simulated. */
  evidence: string;
}

// ---- a case ----------------------------------------------------------------------------------------

export interface CaseResult {
  status: VmStatus;
  /** The VMM's restore on the target (absent when the VM cannot start on the source). */
  restore?: RestoreOutcome;
  /** Incompatible verdicts of the restore check (failing cases only). */
  verdicts: Verdict[];
  /** Why the VM cannot start on the source (cannot-start) or on the target (breaks). */
  startError?: string;
  /** What the guest sees change, in words (effects.ts), and the registers behind them. */
  effects: GuestEffect[];
  /** Register and machine names whose guest-visible value differs. */
  differences: string[];
  /**
   * The probe guest's answers through the SMC conduit that differ (handle_smc changed in 6.4): only a
   * guest whose VMM's tables name SMC sees them, and no register pins them; they change no status.
   */
  smc: string[];
}

/** One baseline: a CPU model (the migration domain), a vCPU feature set, over some host profiles. */
export interface DomainBaseline {
  cpu: string;
  features: number[];
  /** The probe configuration (session.ts) its profiles were reduced to. */
  config: string;
  /** The profiles it spans (content hashes) and their kernels, oldest first. */
  profiles: string[];
  kernels: string[];
  template: AbiTemplate;
  unhonourable: Verdict[];
  /** Give-ups by profile. */
  giveUps: { profile: string; kernel: string; verdicts: Verdict[] }[];
}

/** A profile reduced to one vCPU configuration, so that baseline() pins exactly that feature set. */
function onlyConfig(p: HostProfile, config: string): HostProfile {
  return { ...p, configs: p.configs.filter((c) => c.name === config) };
}

const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
const PMCR_N = 0x1fn << 11n;

/**
 * A VM's state on a host right after it started, as a one-vCPU snapshot: the profile's reset readings
 * for its features and the machine the probe built, with what pin (vm/pin.ts) writes over them for a
 * template: its ID and firmware registers and cache geometry (where the host lists them), its vector
 * lengths, its machine pins (vGIC and ITS revisions, PMCR_EL0.N), and KVM_CAP_ARM_WRITABLE_IMP_ID_REGS
 * where its MIDR/REVIDR/AIDR differ from the host's and the host offers it (needsWritableImpIdRegs).
 * Undefined when no probed configuration initialises with the features.
 */
function startedState(p: HostProfile, features: readonly number[], pins?: Pins): Snapshot | undefined {
  const view = configView(p, features);
  if (!view) return undefined;
  const regs = new Map<RegId, RegValue>();
  for (const id of view.ids) {
    const v = view.reset.get(id);
    if (v !== undefined && typeof v !== "string") regs.set(id, v);
  }
  let impIdRegs = false;
  for (const [id, v] of pins?.regs ?? [])
    if (regs.has(id)) {
      if (IMP_ID_REG_IDS.has(id) && regs.get(id) !== v) impIdRegs = true;
      regs.set(id, v);
    }
  const counters = pins?.machine?.pmuCounters;
  const pmcr = regs.get(PMCR_EL0);
  if (counters !== undefined && typeof pmcr === "bigint" && features.includes(VCPU_FEATURES.PMU_V3))
    regs.set(PMCR_EL0, (pmcr & ~PMCR_N) | (BigInt(counters) << 11n));
  const m = view.base.machine;
  const reg = (name: string): number | undefined => {
    const v = m?.regs?.find(([n]) => n === name)?.[1];
    return typeof v === "bigint" ? Number(v) : undefined;
  };
  const gicd = pins?.machine?.gicdIidrRevision;
  const its = pins?.machine?.itsAbi;
  const gicdIidrValue = gicd !== undefined ? gicdIidr(gicd) : reg("GICD_IIDR");
  const gitsIidrValue = its !== undefined ? gitsIidr(its) : reg("GITS_IIDR");
  const target = p.kvm && typeof p.kvm.preferredTarget !== "string" ? p.kvm.preferredTarget.target : 0;
  return {
    source: {
      release: p.host.release,
      generation: p.host.generation,
      cpuLabel: p.host.cpuLabel,
      backend: p.backend,
    },
    vm: {
      ipaBits: 0,
      caps:
        impIdRegs && capValue(p, "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS") > 0
          ? [{ cap: KVM_CAP.ARM_WRITABLE_IMP_ID_REGS, flags: 0, args: [] }]
          : [],
      attrs: [],
      ...(m && m.steps.gic === "ok" && gicdIidrValue !== undefined
        ? {
            machine: {
              nrIrqs: m.nrIrqs,
              its: m.its,
              gicdIidr: gicdIidrValue,
              ...(m.its && gitsIidrValue !== undefined ? { gitsIidr: gitsIidrValue } : {}),
            },
          }
        : {}),
    },
    vcpus: [
      {
        id: 0,
        init: { target, features: [...features].sort((a, b) => a - b) },
        ...(pins?.sveVqs ? { sveVqs: [...pins.sveVqs] } : {}),
        attrs: [],
        regs,
      },
    ],
  };
}

/**
 * One analysis of a model: the caches every question shares (compiled hosts and subjects, guest
 * views, cases, targets, baselines). analysisOf gives the one of a model.
 */
export class Analysis {
  private readonly whatIf = new Map<string, HostProfile>();
  private readonly hostTotals = new Map<string, number>();
  private readonly hostsByProfile = new Map<string, Map<string, number>>();
  private readonly compiledHosts = new Map<string, CompiledHost>();
  private readonly subjects = new Map<string, Requirements | null>();
  private readonly views = new Map<string, GuestView | null>();
  private readonly cases = new Map<string, CaseResult>();
  private readonly targets = new Map<string, Target>();
  private readonly baselines = new Map<string, DomainBaseline | null>();
  private readonly starts = new Map<string, { error: string | null; refused: Set<RegId> }>();
  private readonly runAbis = new Map<string, RunAbi>();
  private readonly policies = new Map<string, RestorePolicy>();
  private sim: SimHosts | undefined;

  constructor(
    readonly model: FleetModel,
    hosts?: SimHosts,
  ) {
    this.sim = hosts;
    for (const h of model.hostCounts) {
      this.hostTotals.set(h.profile, (this.hostTotals.get(h.profile) ?? 0) + h.hosts);
      let by = this.hostsByProfile.get(h.profile);
      if (!by) this.hostsByProfile.set(h.profile, (by = new Map()));
      by.set(h.group, (by.get(h.group) ?? 0) + h.hosts);
    }
  }

  /** How many what-if profiles the simulator stood in for. */
  get whatIfProfiles(): number {
    return this.whatIf.size;
  }

  /** A profile of the model, or a what-if profile this analysis simulated. */
  profile(hash: string): HostProfile {
    const p = this.model.profiles.get(hash) ?? this.whatIf.get(hash);
    if (!p) throw new FleetError(`fleet ${this.model.name}: no host profile ${hash.slice(0, 12)}`);
    return p;
  }

  /** A profile's host and backend, without loading the profile where the model has heads. */
  head(hash: string): ProfileHead {
    return this.model.heads?.get(hash) ?? this.profile(hash);
  }

  kernel(hash: string): string {
    return kernelLabel(this.head(hash));
  }

  /** The CPU model of a profile (its cpuLabel), "unknown CPU" without one. */
  cpu(hash: string): string {
    return this.head(hash).host.cpuLabel ?? "unknown CPU";
  }

  /** Hosts of the model that run a profile. */
  hostsOn(hash: string): number {
    return this.hostTotals.get(hash) ?? 0;
  }

  /** The model's stored ABI of a hash, as the engine runs it. */
  abi(hash: string): RunAbi {
    let a = this.runAbis.get(hash);
    if (!a) {
      const stored = this.model.abis.get(hash);
      if (!stored) throw new FleetError(`fleet ${this.model.name}: no ABI ${hash.slice(0, 12)}`);
      this.runAbis.set(hash, (a = runAbi(stored, hash)));
    }
    return a;
  }

  /** The restore policy of a VM count's `vmm` name. */
  policy(name: string): RestorePolicy {
    let p = this.policies.get(name);
    if (!p) {
      try {
        p = vmmPolicy(name);
      } catch (e) {
        if (e instanceof UnknownVmmError) throw new FleetError(`fleet ${this.model.name}: ${e.message}`);
        throw e;
      }
      this.policies.set(name, p);
    }
    return p;
  }

  /** The simulated hosts what-if profiles come from: probed with the configurations the model's ABIs need. */
  private simHosts(): SimHosts {
    this.sim ??=
      simHostsOfModel.get(this.model) ??
      new SimHosts([...this.model.abis.values()].map((a) => abiFeatures(a)));
    return this.sim;
  }

  /**
   * The profile a host of `source` runs on kernel `k`: a profile of the model with the same CPU (cpuLabel,
   * and MIDR_EL1 where both profiles have it) whose kernel is `k` (kernelMatch: its release first, then
   * its generation; of several, the one most hosts run); else a simulated what-if host when `k` is a
   * simulator generation and the CPU a simulator CPU model; else a FleetError naming what is missing.
   */
  target(source: string, k: string): Target {
    const t = this.findTarget(source, k);
    if (typeof t === "string") throw new FleetError(t);
    return t;
  }

  /** Why target(source, k) has no answer (undefined when it has one): what a plan or rollout leaves out. */
  targetProblem(source: string, k: string): string | undefined {
    const t = this.findTarget(source, k);
    return typeof t === "string" ? t : undefined;
  }

  /** target's answer, or why there is none. */
  private findTarget(source: string, k: string): Target | string {
    const key = `${source}>${k}`;
    const known = this.targets.get(key);
    if (known) return known;
    const p = this.head(source);
    const cpu = p.host.cpuLabel;
    const midr = p.host.facts?.midr ?? null;
    let best: { hash: string; match: number; hosts: number } | undefined;
    for (const [hash, t] of this.model.heads ?? this.model.profiles) {
      if (t.host.cpuLabel !== cpu) continue;
      const tMidr = t.host.facts?.midr ?? null;
      if (midr !== null && tMidr !== null && midr !== tMidr) continue;
      const match = kernelMatch(t, k);
      if (match === 0) continue;
      const hosts = this.hostsOn(hash);
      if (!best || match > best.match || (match === best.match && hosts > best.hosts))
        best = { hash, match, hosts };
    }
    let out: Target;
    if (best) {
      const groups = [...(this.hostsByProfile.get(best.hash) ?? new Map<string, number>()).keys()];
      out = {
        profile: best.hash,
        simulated: false,
        evidence: `the profile ${best.hosts === 1 ? "1 host of the fleet runs" : `${best.hosts} hosts of the fleet run`}${groups.length ? ` (${groups.slice(0, 3).join(", ")}${groups.length > 3 ? ", ..." : ""})` : ""}`,
      };
    } else {
      if (cpu === null)
        return `no host runs ${k} with this CPU, and the profile names no CPU model to simulate one`;
      if (!isSimGeneration(k))
        return `no host runs ${k} on ${cpu}, and ${k} is not a simulator kernel (known: ${SIM_GENERATIONS.join(", ")})`;
      if (!Object.hasOwn(CPU_MODELS, cpu))
        return `no host runs ${k} on ${cpu}, and ${cpu} is not a simulator CPU model`;
      const t = this.simHosts().profile(k, cpu);
      const hash = hashOfProfile(t);
      if (!this.model.profiles.has(hash)) this.whatIf.set(hash, t);
      out = {
        profile: hash,
        simulated: true,
        evidence: `simulated what-if host: no inventory host runs ${k} on ${cpu}`,
      };
    }
    this.targets.set(key, out);
    return out;
  }

  /** A profile compiled for a VMM's restore (guestabi's by default), once. */
  compiled(hash: string, policy: RestorePolicy = GUESTABI_POLICY): CompiledHost {
    const key = `${hash}|${policy.id}`;
    let h = this.compiledHosts.get(key);
    if (!h) {
      const p = this.profile(hash);
      this.compiledHosts.set(
        key,
        (h = compileHost(p, `${kernelLabel(p)} (${p.host.cpuLabel ?? "?"})`, policy)),
      );
    }
    return h;
  }

  /** The VM's state on the source, compiled (see the top of the file); null when it cannot start there. */
  private subject(abi: RunAbi, source: string): Requirements | null {
    const key = `${abi.key}|${source}`;
    let r = this.subjects.get(key);
    if (r === undefined) {
      const p = this.profile(source);
      switch (abi.kind) {
        case "host-defaults":
        case "template": {
          const state =
            abi.kind === "template"
              ? startedState(p, abi.template.features, templatePins(abi.template))
              : startedState(p, abi.features, abi.pins ? { regs: abi.pins } : undefined);
          r = state ? compileSubject(state, { sourceProfile: p }) : null;
          break;
        }
        case "snapshot":
          // A snapshot's values are its own; the source's reset values do not decide what it touched.
          r = compileSubject(abi.snapshot);
          break;
      }
      this.subjects.set(key, r);
    }
    return r;
  }

  /** The template an ABI pins when it starts (a snapshot: the ABI registers of its vCPU 0). */
  private pinnedTemplate(abi: RunAbi): AbiTemplate | undefined {
    if (abi.kind === "template") return abi.template;
    if (abi.kind === "snapshot") {
      const key = `${abi.key}|template`;
      let t = this.runAbis.get(key);
      if (!t) this.runAbis.set(key, (t = templateAbi(abiOfSnapshot(abi.snapshot), key)));
      return (t as { template: AbiTemplate }).template;
    }
    return undefined;
  }

  /**
   * Why a VM of this ABI cannot start on a host, or null: features no probed configuration initialises;
   * a template (a snapshot's ABI) the host refuses (pin.ts checks it first with checkAbi).
   */
  startError(abi: RunAbi, host: string): string | null {
    return this.start(abi, host).error;
  }

  /** startError, and the registers whose pinned values the host refuses (incompatible verdicts). */
  private start(abi: RunAbi, host: string): { error: string | null; refused: Set<RegId> } {
    const key = `${abi.key}|${host}`;
    let s = this.starts.get(key);
    if (s === undefined) {
      const p = this.profile(host);
      const name = `${kernelLabel(p)} (${p.host.cpuLabel ?? "?"})`;
      const t = this.pinnedTemplate(abi);
      s = { error: null, refused: new Set() };
      if (!t) {
        if (!configView(p, abiFeatures(abi)))
          s.error = `${name} initialises no vCPU with ${vcpuFeatureNames(abiFeatures(abi)).join("+")}`;
      } else {
        const req = this.templateSubject(abi, t);
        const h = this.compiled(host);
        if (checkLevel(req, h) === 2) {
          const bad = checkCompiled(req, h).verdicts.filter((v) => v.level === "incompatible");
          s.error = `${name} cannot honour the ${abi.kind === "snapshot" ? "snapshot's ABI" : "template"} (${registerNames(bad)})`;
          for (const v of bad) if (v.id !== "") s.refused.add(BigInt(v.id));
        }
      }
      this.starts.set(key, s);
    }
    return s;
  }

  private templateSubject(abi: RunAbi, t: AbiTemplate): Requirements {
    const key = `${abi.key}|pin`;
    let r = this.subjects.get(key);
    if (!r) this.subjects.set(key, (r = compileSubject(t)));
    return r;
  }

  /**
   * What the guest of a VM with this ABI sees on a host (guest-view.ts): a template's values where the
   * host takes them, its own elsewhere; null when no probed configuration has the VM's features.
   */
  view(abi: RunAbi, host: string): GuestView | null {
    const key = `${abi.key}|${host}`;
    let v = this.views.get(key);
    if (v === undefined) {
      const p = this.profile(host);
      const t = this.pinnedTemplate(abi);
      let pins: Pins | undefined;
      if (t) {
        // A value the host refuses is not what the guest gets: it sees the host's own.
        const refused = this.start(abi, host).refused;
        pins = templatePins(t);
        if (refused.size)
          pins = { ...pins, regs: new Map([...pins.regs].filter(([id]) => !refused.has(id))) };
      } else if (abi.kind === "host-defaults" && abi.pins) pins = { regs: abi.pins };
      v = guestView(p, t ? t.features : abiFeatures(abi), pins) ?? null;
      this.views.set(key, v);
    }
    return v;
  }

  /** A case: a VM of `abi` on a host of `source`, restored by `vmm` on a host of `target` (see the top). */
  evaluate(abi: RunAbi, vmm: RestorePolicy, source: string, target: string): CaseResult {
    const key = `${abi.key}|${vmm.id}|${source}|${target}`;
    let c = this.cases.get(key);
    if (!c) this.cases.set(key, (c = this.evaluateOnce(abi, vmm, source, target)));
    return c;
  }

  private evaluateOnce(abi: RunAbi, vmm: RestorePolicy, source: string, target: string): CaseResult {
    const none = { verdicts: [], effects: [], differences: [], smc: [] };
    const notHere = abi.kind === "snapshot" ? null : this.startError(abi, source);
    const req = notHere === null ? this.subject(abi, source) : null;
    if (notHere !== null || !req)
      return { status: "cannot-start", startError: notHere ?? "no state on the source", ...none };
    const host = this.compiled(target, vmm);
    const level = checkLevel(req, host);
    let restore: RestoreOutcome = { vmm: vmm.id, label: vmm.label, loads: true };
    let verdicts: Verdict[] = [];
    if (level === 2) {
      const report = checkCompiled(req, host);
      restore = report.restore;
      verdicts = report.verdicts.filter((v) => v.level === "incompatible");
    }
    const startError = this.startError(abi, target);
    const before = this.view(abi, source);
    const after = this.view(abi, target);
    const diff = before && after ? viewDifferences(before, after) : { regs: [], machine: [] };
    const effects = before && after ? viewEffects(before, after) : [];
    const differences = [...diff.regs.map((id) => registerName(id)), ...diff.machine];
    const smc = before && after ? smcDifferences(before, after) : [];
    const status: VmStatus =
      !restore.loads || startError !== null
        ? "breaks"
        : level === 2 || differences.length > 0
          ? "guest-view-changes"
          : "safe";
    return {
      status,
      restore,
      verdicts,
      ...(startError !== null ? { startError } : {}),
      effects,
      differences,
      smc,
    };
  }

  /**
   * The baseline of a CPU model and feature set over some profiles (baseline.ts, each profile reduced
   * to the configuration of exactly those features); null when no probe configuration is exactly them.
   */
  baseline(cpu: string, features: readonly number[], profiles: readonly string[]): DomainBaseline | null {
    const hashes = [...new Set(profiles)].sort(
      (a, b) => compareKernels(this.kernel(a), this.kernel(b)) || (a < b ? -1 : 1),
    );
    const key = `${cpu}|${featureKeyOf(features)}|${hashes.join(",")}`;
    const known = this.baselines.get(key);
    if (known !== undefined) return known;
    const fk = featureKeyOf(features);
    const config = configsFor([features]).find(
      (c) => c !== "psci-0.2" || fk === String(VCPU_FEATURES.PSCI_0_2),
    );
    let out: DomainBaseline | null = null;
    if (config) {
      const kernels = hashes.map((h) => this.kernel(h));
      const names = kernels.map((k, i) =>
        kernels.indexOf(k) === i && kernels.lastIndexOf(k) === i ? k : `${k} #${i + 1}`,
      );
      const b = baseline(
        hashes.map((h) => onlyConfig(this.profile(h), config)),
        {
          names,
          name: `${this.model.name}-${cpu}-${config}-${[...new Set(kernels)].join("-")}`,
          now: () => new Date(0),
        },
      );
      out = {
        cpu,
        features: [...features].sort((a, c) => a - c),
        config,
        profiles: hashes,
        kernels,
        template: b.template,
        unhonourable: b.unhonourable,
        giveUps: b.giveUps.map((g, k) => ({
          profile: hashes[k]!,
          kernel: kernels[k]!,
          verdicts: g.verdicts,
        })),
      };
    }
    this.baselines.set(key, out);
    return out;
  }
}

const analyses = new WeakMap<FleetModel, Analysis>();

/** The analysis of a model: one per model object, so impact, plan and rollout share its caches. */
export function analysisOf(model: FleetModel, hosts?: SimHosts): Analysis {
  let a = analyses.get(model);
  if (!a) analyses.set(model, (a = new Analysis(model, hosts)));
  return a;
}

// ---- names --------------------------------------------------------------------------------------

const registerName = (id: RegId): string => nameOf(id).name;

/** Distinct "REGISTER.FIELD" names of verdicts, at most `max`, for one line. */
export function registerNames(vs: readonly Verdict[], max = 4): string {
  const names = [...new Set(vs.map((v) => `${v.register}${v.field ? "." + v.field : ""}`))];
  if (names.length === 0) return "nothing";
  return names.slice(0, max).join(", ") + (names.length > max ? `, +${names.length - max} more` : "");
}
