/**
 * The machine part of `check` and `baseline`: guest ABI a VMM pins outside ONE_REG (a template's
 * `machine` section, formats/machine-pins.ts) judged against a host profile, each by the kernel's rule:
 *
 * - GICD_IIDR revision: accepted by vgic_mmio_uaccess_write_v3_misc (rules/vgic.ts gicdIidrWrite);
 * - ITS table ABI (GITS_IIDR revision): vgic_mmio_uaccess_write_its_iidr / vgic_its_set_abi;
 * - PMU counters (PMCR_EL0.N): 5.10/6.1 store any N (reg_from_user), 6.7+ set_pmcr ignores N above the
 *   PMU's counters, SET_NR_COUNTERS refuses it (rules/vgic.ts pmuCountersWrite);
 * - counter offset: KVM_ARM_SET_COUNTER_OFFSET (kvm_vm_ioctl_set_counter_offset);
 * - SMCCC filter: KVM_ARM_VM_SMCCC_FILTER (kvm_smccc_set_filter).
 *
 * Evidence (evidence.ts): measured where the profile has the facts (configs[].machine's write trials and
 * registers, kvm.smcccFilter, kvm.counterOffset, the PMCR_EL0 reset reading), else inferred from the
 * generation's model; a fact neither gives is unknown.
 */
import { VCPU_FEATURES } from "../kvm/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import type { GenerationModel } from "../kvm/kernels/model.js";
import type { PmuCountersOutcome } from "../kvm/rules/vgic.js";
import { gicdIidr, gicdIidrRevisionsAccepted, iidrRevision, pmuCountersWrite } from "../kvm/rules/vgic.js";
import { sysregId } from "../regs/index.js";
import type { MachinePins, SmcccFilterRange } from "../formats/machine-pins.js";
import type { ConfigProfile, HostProfile, MachineProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import type { VerdictLevel } from "./check.js";
import type { Grounds } from "./evidence.js";
import { MEASURED, NOT_MEASURED, raised } from "./evidence.js";
import type { CompiledHost } from "./host.js";
import { isReady } from "./config-view.js";
import type { Requirements } from "./requirements.js";
import type { Out } from "./verdicts.js";
import { worse } from "./verdicts.js";

/** A host's answer to one machine item: the values it takes, on what grounds. */
interface Fact<T> {
  value: T;
  grounds: Grounds;
}

/** What a host offers for each machine item (from its profile, else its generation's model). */
export interface HostMachine {
  /** The in-kernel vGICv3 could not be created (measured): every GIC item is refused. */
  noVgic: string | undefined;
  /** The GICD_IIDR revision a new vGIC reports, and the revisions a userspace write may select. */
  iidrRevision: Fact<number>;
  iidrAccepted: Fact<number[]>;
  /** When a GICD_IIDR write is taken: after CTRL_INIT, or from KVM_CREATE_DEVICE on (reg_allowed_pre_init). */
  iidrSetAt: "init" | "create";
  /** The ITS table ABI a new ITS uses, and those GITS_IIDR writes may select. */
  itsAbi: Fact<number>;
  itsAbis: Fact<number[]>;
  /** The PMU's counter count (PMCR_EL0.N at reset of a PMU configuration), when known. */
  pmuLimit: Fact<number | undefined>;
  /** How KVM takes a counter count, and where the answer comes from. */
  pmuVia: "pmcr" | "attr";
  pmuModel: Pick<GenerationModel, "pmcrReset" | "pmuCtrlMaxAttr">;
  pmuRuleGrounds: Grounds;
  /** Measured SET_NR_COUNTERS trials: count -> "ok" or the errno. */
  nrCountersTrials: Map<number, string>;
  counterOffset: Fact<boolean>;
  smcccFilter: Fact<boolean>;
}

const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
/** PMCR_EL0.N, bits 15:11. */
const pmcrN = (v: bigint): number => Number((v >> 11n) & 0x1fn);

/** A write trial's value as a revision: the trials record the revision, or the whole IIDR written. */
const trialRevision = (v: number): number => (v <= 0xf ? v : iidrRevision(v));

const cache = new WeakMap<HostProfile, HostMachine>();

/** The machine facts of a host profile (memoised per profile). */
export function hostMachine(profile: HostProfile, model: Grounds): HostMachine {
  let m = cache.get(profile);
  if (!m) {
    m = buildHostMachine(profile, model);
    cache.set(profile, m);
  }
  return m;
}

function buildHostMachine(profile: HostProfile, model: Grounds): HostMachine {
  const gen = generationModel(profileRules(profile).generation);
  const machines = profile.configs.flatMap((c) => (c.machine ? [c.machine] : []));
  const first = <K extends keyof MachineProfile>(k: K): MachineProfile[K] | undefined =>
    machines.find((x) => x[k] !== undefined)?.[k];
  const failed = machines.find((x) => x.steps.gic !== "ok");
  const reg = (name: string): bigint | undefined => {
    const r = first("regs")?.find(([n]) => n === name)?.[1];
    return typeof r === "bigint" ? r : undefined;
  };
  const accepted = (trials: [number, string][] | undefined): number[] | undefined =>
    trials &&
    [...new Set(trials.filter(([, r]) => r === "ok").map(([v]) => trialRevision(v)))].sort((a, b) => a - b);

  const iidr = reg("GICD_IIDR");
  const iidrOk = accepted(first("iidrWrites"));
  const gits = reg("GITS_IIDR");
  const itsOk = accepted(first("itsIidrWrites"));

  // The PMU: its counters from a PMU configuration's PMCR_EL0 reset reading, or the SET_NR_COUNTERS trials.
  const pmuConfig = profile.configs.find((c) => isReady(c) && c.features.includes("PMU_V3"));
  const reading = pmuConfig?.reset?.find(([id]) => id === PMCR_EL0)?.[1];
  const trials = new Map<number, string>(
    (pmuConfig?.machine?.nrCountersWrites ?? first("nrCountersWrites") ?? []).map(([n, r]) => [n, r]),
  );
  const okCounts = [...trials].filter(([, r]) => r === "ok").map(([n]) => n);
  const hasAttr = attrMeasured(pmuConfig, 4) ?? gen.pmuCtrlMaxAttr >= 4;
  const pmuLimit: Fact<number | undefined> =
    okCounts.length > 0 && trials.size > okCounts.length
      ? { value: Math.max(...okCounts), grounds: MEASURED }
      : typeof reading === "bigint"
        ? { value: pmcrN(reading), grounds: MEASURED }
        : { value: undefined, grounds: NOT_MEASURED };

  const opFact = (measured: boolean | string | undefined, modelled: boolean): Fact<boolean> =>
    profile.kvm && measured !== undefined
      ? { value: measured === true || measured === "ok", grounds: MEASURED }
      : { value: modelled, grounds: model };
  return {
    noVgic: failed ? `KVM_CREATE_DEVICE(VGIC_V3) failed here (${failed.steps.gic})` : undefined,
    iidrRevision:
      iidr !== undefined
        ? { value: iidrRevision(Number(iidr)), grounds: MEASURED }
        : { value: gen.vgic.iidrRevision, grounds: model },
    iidrSetAt: gen.vgic.iidrSetAt,
    iidrAccepted: iidrOk
      ? { value: iidrOk, grounds: MEASURED }
      : { value: gicdIidrRevisionsAccepted(gen.vgic), grounds: model },
    itsAbi:
      gits !== undefined
        ? { value: iidrRevision(Number(gits)), grounds: MEASURED }
        : { value: Math.max(...gen.vgic.itsAbis), grounds: model },
    itsAbis: itsOk ? { value: itsOk, grounds: MEASURED } : { value: [...gen.vgic.itsAbis], grounds: model },
    pmuLimit,
    pmuVia: hasAttr ? "attr" : "pmcr",
    pmuModel: gen,
    pmuRuleGrounds: hasAttr && trials.size > 0 ? MEASURED : model,
    nrCountersTrials: trials,
    counterOffset: opFact(profile.kvm?.counterOffset, gen.counterOffset),
    smcccFilter: opFact(profile.kvm?.smcccFilter, gen.smcccFilter),
  };
}

/** Whether a PMU configuration measured KVM_HAS_DEVICE_ATTR(PMU_V3_CTRL, attr); undefined when not measured. */
function attrMeasured(c: ConfigProfile | undefined, attr: number): boolean | undefined {
  const a = c?.machine?.pmuAttrs?.find(([n]) => n === attr)?.[1];
  return a === undefined ? undefined : a === true;
}

/** The weaker of two grounds (unknown < inferred < measured), notes joined. */
function weaker(a: Grounds, b: Grounds): Grounds {
  const rank = { measured: 2, inferred: 1, unknown: 0 } as const;
  const w = rank[a.evidence] <= rank[b.evidence] ? a : b;
  return { evidence: w.evidence, note: a.note === b.note ? a.note : a.note + b.note };
}

const hex = (v: number): string => "0x" + (v >>> 0).toString(16);
const list = (xs: readonly number[]): string => (xs.length ? `{${xs.join(", ")}}` : "none");

// ---- the verdicts of one item -------------------------------------------------------------------------

type Say = (register: string, level: VerdictLevel, reason: string, grounds: Grounds, field?: string) => void;

/** GICD_IIDR.Revision: vgic_mmio_uaccess_write_v3_misc. */
function iidrLevel(rev: number, h: HostMachine, say: Say | null): VerdictLevel {
  const register = "GICD_IIDR";
  if (h.noVgic) {
    say?.(register, "incompatible", `${h.noVgic}: revision ${rev} cannot be set`, MEASURED, "Revision");
    return "incompatible";
  }
  const g = weaker(h.iidrAccepted.grounds, h.iidrRevision.grounds);
  const own = h.iidrRevision.value;
  let level: VerdictLevel;
  let reason: string;
  if (!h.iidrAccepted.value.includes(rev)) {
    level = "incompatible";
    reason = `vgic_mmio_uaccess_write_v3_misc refuses revision ${rev} (EINVAL): this host accepts ${list(h.iidrAccepted.value)} and its guest sees revision ${own} (${hex(gicdIidr(own))})`;
  } else if (rev === own) {
    level = "ok";
    reason = `revision ${rev} (${hex(gicdIidr(rev))}) is what this host's vGIC reports`;
  } else {
    level = "tolerated";
    reason = `vgic_mmio_uaccess_write_v3_misc accepts revision ${rev} (of ${list(h.iidrAccepted.value)}): the VMM writes GICD_IIDR ${hex(gicdIidr(rev))} ${h.iidrSetAt === "init" ? "after CTRL_INIT" : "once the vGIC exists"}, else the guest sees revision ${own}`;
  }
  level = raised(level, g);
  say?.(register, level, reason, g, "Revision");
  return level;
}

/** GITS_IIDR.Revision, the ITS table ABI: vgic_mmio_uaccess_write_its_iidr -> vgic_its_set_abi. */
function itsLevel(abi: number, h: HostMachine, say: Say | null): VerdictLevel {
  const register = "GITS_IIDR";
  if (h.noVgic) {
    say?.(
      register,
      "incompatible",
      `${h.noVgic}: no ITS, table ABI ${abi} cannot be set`,
      MEASURED,
      "Revision",
    );
    return "incompatible";
  }
  const g = weaker(h.itsAbis.grounds, h.itsAbi.grounds);
  const own = h.itsAbi.value;
  let level: VerdictLevel;
  let reason: string;
  if (!h.itsAbis.value.includes(abi)) {
    level = "incompatible";
    reason = `vgic_mmio_uaccess_write_its_iidr refuses table ABI ${abi} (EINVAL): this kernel implements ${list(h.itsAbis.value)}; saved ITS tables of ABI ${abi} cannot be restored`;
  } else if (abi === own) {
    level = "ok";
    reason = `table ABI ${abi} is what a new ITS here uses (vgic_its_create)`;
  } else {
    level = "tolerated";
    reason = `vgic_its_set_abi accepts table ABI ${abi} (of ${list(h.itsAbis.value)}): the VMM writes GITS_IIDR before KVM_DEV_ARM_ITS_RESTORE_TABLES, else ABI ${own}`;
  }
  level = raised(level, g);
  say?.(register, level, reason, g, "Revision");
  return level;
}

/** How this host takes a counter count n: measured SET_NR_COUNTERS trials, else the rule. */
function pmuOutcome(n: number, h: HostMachine, limit: number): PmuCountersOutcome {
  const tried = h.nrCountersTrials.get(n);
  if (h.pmuVia === "attr" && tried !== undefined)
    return tried === "ok"
      ? { kind: "set" }
      : { kind: "error", errno: tried as "EINVAL", why: `${n} counters > the PMU's ${limit}` };
  return pmuCountersWrite(h.pmuModel, h.pmuVia, n, limit, false);
}

/** PMCR_EL0.N: the PMU's event counters. */
function pmuLevel(n: number, hasPmu: boolean, h: HostMachine, say: Say | null): VerdictLevel {
  const register = "PMCR_EL0";
  const field = "N";
  if (!hasPmu) {
    say?.(
      register,
      "tolerated",
      `the template pins ${n} PMU counters but has no PMU_V3 vCPU feature: the guest has no PMU`,
      MEASURED,
      field,
    );
    return "tolerated";
  }
  const limit = h.pmuLimit.value;
  if (limit === undefined) {
    const g = NOT_MEASURED;
    say?.(
      register,
      "tolerated",
      `this profile has no PMU configuration's PMCR_EL0 reading: whether ${n} counters exist here was not measured`,
      g,
      field,
    );
    return "tolerated";
  }
  const g = weaker(h.pmuLimit.grounds, h.pmuRuleGrounds);
  const how =
    h.pmuVia === "attr"
      ? "KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS (kvm_arm_pmu_v3_set_nr_counters)"
      : "KVM_SET_ONE_REG(PMCR_EL0)";
  const o = pmuOutcome(n, h, limit);
  let level: VerdictLevel;
  let reason: string;
  switch (o.kind) {
    case "set":
      level = n === limit ? "ok" : "tolerated";
      reason =
        n === limit
          ? `the PMU here has ${limit} counters, as pinned`
          : `${how} takes ${n} of the PMU's ${limit} counters: the guest sees ${n}`;
      break;
    case "unchecked":
      level = n > limit ? "incompatible" : n === limit ? "ok" : "tolerated";
      reason =
        n > limit
          ? `reg_from_user stores PMCR_EL0 unchecked: N = ${n} is accepted though the PMU has ${limit} counters, so the guest sees ${n - limit} counters that do not exist`
          : n === limit
            ? `the PMU here has ${limit} counters, as pinned`
            : `reg_from_user stores PMCR_EL0.N = ${n} (the PMU has ${limit}): the guest sees ${n}`;
      break;
    case "ignored":
      level = "incompatible";
      reason = `set_pmcr ignores N = ${n} (${o.why}): the write returns 0 and the guest sees ${limit} counters; the pin silently fails`;
      break;
    case "error":
      level = "incompatible";
      reason = `${how} refuses ${n} counters (${o.errno}: ${o.why})`;
      break;
  }
  level = raised(level, g);
  say?.(register, level, reason, g, field);
  return level;
}

/** The VM counter offset: KVM_ARM_SET_COUNTER_OFFSET. */
function offsetLevel(offset: bigint, h: HostMachine, say: Say | null): VerdictLevel {
  const f = h.counterOffset;
  const level = raised(f.value ? "ok" : "tolerated", f.grounds);
  say?.(
    "KVM_ARM_SET_COUNTER_OFFSET",
    level,
    f.value
      ? `kvm_vm_ioctl_set_counter_offset sets the VM-wide offset 0x${offset.toString(16)}`
      : "no KVM_ARM_SET_COUNTER_OFFSET here (KVM_CAP_COUNTER_OFFSET absent): the VMM restores the guest's virtual counter through ONE_REG KVM_REG_ARM_TIMER_CNT instead (the kernel derives the offset from it), so CNTVCT_EL0 continues from its saved value but the pinned offset itself is not applied",
    f.grounds,
  );
  return level;
}

/** kvm_smccc_filter_insert_reserved: the Arm architecture SMC32/SMC64 ranges always stay with KVM. */
const RESERVED_RANGES: readonly [number, number][] = [
  [0x8000_0000, 0x8000_ffff],
  [0xc000_0000, 0xc000_ffff],
];

/** One SMCCC filter range: KVM_ARM_VM_SMCCC_FILTER (kvm_smccc_set_filter). */
function filterLevel(r: SmcccFilterRange, h: HostMachine, say: Say | null): VerdictLevel {
  const end = r.base + r.nrFunctions - 1;
  const field = `${hex(r.base)}-${hex(end)} ${r.action}`;
  const register = "KVM_ARM_VM_SMCCC_FILTER";
  const f = h.smcccFilter;
  let level: VerdictLevel;
  let reason: string;
  const reserved = RESERVED_RANGES.find(([s, e]) => r.base <= e && s <= end);
  if (reserved) {
    // Every kernel with the filter refuses it: a rule of the uapi, not of this host.
    level = "incompatible";
    reason = `kvm_smccc_filter_insert_reserved keeps ${hex(reserved[0])}-${hex(reserved[1])} with KVM: the range is refused (EEXIST)`;
  } else if (f.value) {
    level = "ok";
    reason = `kvm_smccc_set_filter takes the range (${r.action})`;
  } else if (r.action === "HANDLE") {
    level = "tolerated";
    reason =
      "no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): KVM handles these calls itself, which is what HANDLE asks";
  } else if (r.action === "DENY") {
    level = "incompatible";
    reason =
      "no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): the range cannot be denied; a call KVM implements in it (PSCI, TRNG, the KVM vendor services) is answered as on an unfiltered host, the others return SMCCC_RET_NOT_SUPPORTED (-1)";
  } else {
    level = "incompatible";
    reason =
      "no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): no KVM_EXIT_HYPERCALL reaches the VMM; KVM answers these calls itself (SMCCC_RET_NOT_SUPPORTED (-1) for those it does not implement)";
  }
  level = raised(level, f.grounds);
  say?.(register, level, reason, f.grounds, field);
  return level;
}

/**
 * The worst level of a template's machine pins on `host`, each verdict written to `out` when it is a
 * list. Nothing when the subject pins no machine item (snapshots, older templates).
 */
export function machineLevel(req: Requirements, host: CompiledHost, out: Out): VerdictLevel {
  const m = req.machine;
  if (!m) return "ok";
  const h = hostMachine(host.profile, host.model);
  const say: Say | null = out
    ? (register, level, reason, g, field) => out.machine(register, level, reason, g, field)
    : null;
  const hasPmu = req.classes.some((c) => c.features.includes(VCPU_FEATURES.PMU_V3));
  let worst: VerdictLevel = "ok";
  const add = (l: VerdictLevel): boolean => {
    worst = worse(worst, l);
    return !out && worst === "incompatible";
  };
  if (m.gicdIidrRevision !== undefined && add(iidrLevel(m.gicdIidrRevision, h, say))) return worst;
  if (m.itsAbi !== undefined && add(itsLevel(m.itsAbi, h, say))) return worst;
  if (m.pmuCounters !== undefined && add(pmuLevel(m.pmuCounters, hasPmu, h, say))) return worst;
  if (m.counterOffset !== undefined && add(offsetLevel(m.counterOffset, h, say))) return worst;
  for (const r of m.smcccFilter ?? []) if (add(filterLevel(r, h, say))) return worst;
  return worst;
}

// ---- baseline -------------------------------------------------------------------------------------------

/** A machine item no value lets this host honour (baseline's unhonourable list). */
export interface MachineGiveUp {
  host: string;
  register: string;
  field: string;
  reason: string;
  grounds: Grounds;
}

/**
 * The machine pins every host honours: the GICD_IIDR revision every host accepts (of those, the one
 * most hosts' guests already see, the lower on a tie), the ITS table ABI every host implements (the
 * same preference), and with a PMU the fewest counters any host has (every host can then set it). An
 * item without a common value is left out, each host named with why.
 */
export function chooseMachine(
  hosts: readonly CompiledHost[],
  withPmu: boolean,
): { machine: MachinePins; giveUps: MachineGiveUp[] } {
  const facts = hosts.map((h) => ({ name: h.name, m: hostMachine(h.profile, h.model) }));
  const giveUps: MachineGiveUp[] = [];
  const machine: MachinePins = {};
  const noVgic = facts.filter(({ m }) => m.noVgic);
  for (const { name, m } of noVgic)
    giveUps.push({
      host: name,
      register: "GICD_IIDR",
      field: "Revision",
      reason: `${m.noVgic}: no vGIC state to pin`,
      grounds: MEASURED,
    });
  const withVgic = facts.filter(({ m }) => !m.noVgic);
  if (noVgic.length === 0 && withVgic.length > 0) {
    const pick = (
      accepted: (m: HostMachine) => Fact<number[]>,
      own: (m: HostMachine) => Fact<number>,
    ): number | undefined => {
      const sets = withVgic.map(({ m }) => accepted(m).value);
      const common = sets[0]!.filter((v) => sets.every((s) => s.includes(v)));
      const seen = (v: number) => withVgic.filter(({ m }) => own(m).value === v).length;
      return common.sort((a, b) => seen(b) - seen(a) || a - b)[0];
    };
    const rev = pick(
      (m) => m.iidrAccepted,
      (m) => m.iidrRevision,
    );
    if (rev !== undefined) machine.gicdIidrRevision = rev;
    else
      for (const { name, m } of withVgic)
        giveUps.push({
          host: name,
          register: "GICD_IIDR",
          field: "Revision",
          reason: `no GICD_IIDR revision every host accepts (vgic_mmio_uaccess_write_v3_misc): ${withVgic.map((x) => `${x.name} ${list(x.m.iidrAccepted.value)}`).join(", ")}; this host accepts ${list(m.iidrAccepted.value)}`,
          grounds: m.iidrAccepted.grounds,
        });
    const abi = pick(
      (m) => m.itsAbis,
      (m) => m.itsAbi,
    );
    if (abi !== undefined) machine.itsAbi = abi;
    else
      for (const { name, m } of withVgic)
        giveUps.push({
          host: name,
          register: "GITS_IIDR",
          field: "Revision",
          reason: `no ITS table ABI every host implements (vgic_its_set_abi): this host has ${list(m.itsAbis.value)}`,
          grounds: m.itsAbis.grounds,
        });
  }
  if (withPmu) {
    const unknown = facts.filter(({ m }) => m.pmuLimit.value === undefined);
    const n = Math.min(...facts.map(({ m }) => m.pmuLimit.value ?? Infinity));
    if (unknown.length === 0 && Number.isFinite(n)) {
      const refusing = facts.filter(({ m }) => {
        const o = pmuOutcome(n, m, m.pmuLimit.value!);
        return o.kind !== "set" && o.kind !== "unchecked";
      });
      if (refusing.length === 0) machine.pmuCounters = n;
      for (const { name, m } of refusing)
        giveUps.push({
          host: name,
          register: "PMCR_EL0",
          field: "N",
          reason: `this host cannot be made to show ${n} PMU counters (the fewest of the hosts'): ${describe(pmuOutcome(n, m, m.pmuLimit.value!))}`,
          grounds: m.pmuRuleGrounds,
        });
    } else
      for (const { name } of unknown)
        giveUps.push({
          host: name,
          register: "PMCR_EL0",
          field: "N",
          reason:
            "the PMU's counter count was not measured here (no PMU configuration's PMCR_EL0 reading): PMCR_EL0.N left out of the template",
          grounds: NOT_MEASURED,
        });
  }
  return { machine, giveUps };
}

const describe = (o: PmuCountersOutcome): string =>
  o.kind === "error" ? `${o.errno}, ${o.why}` : o.kind === "ignored" ? `ignored, ${o.why}` : o.kind;
