/**
 * The write experiments of a probe: a fixed list of KVM_SET_ONE_REG trials per vCPU configuration,
 * run once on a vCPU that has never run ("before-run") and once on the vCPU whose first KVM_RUN was
 * the guest probe program ("after-run"). They show which values each kernel accepts, which it
 * rejects with which errno, and what it reads back, i.e. what a VMM can set and restore.
 *
 * For every register of the vCPU's KVM_GET_REG_LIST that is
 *
 * 1. a firmware register (coproc 0x14: PSCI_VERSION, SMCCC_ARCH_WORKAROUND_1/2/3) or a firmware
 *    feature bitmap (coproc 0x16: STD, STD_HYP, VENDOR_HYP, ...):
 *      "same" (the value read), "zero", "all-ones", and the single bits 1 << 0 .. 1 << 63 (kept as
 *      the group's compact `bits` array); for PSCI_VERSION also "psci-version" with 0.1, 0.2, 1.0,
 *      1.1, 1.2, 1.3 (1, 2, 0x10000, 0x10001, 0x10002, 0x10003);
 * 2. an ID register: the feature-ID space op0=3, op1=0, CRn=0, CRm=0..7 (MIDR, MPIDR, REVIDR, the
 *    AArch32 and AArch64 ID registers, the unallocated encodings KVM lists as RAZ) plus CTR_EL0,
 *    CLIDR_EL1 and DCZID_EL0:
 *      "same", then for each field the catalog (arch/arm64/tools/sysreg) defines, other than
 *      RES0/RES1/RAZ: "field-lower" and "field-raise", the read value with that field one lower /
 *      higher (signed fields — SignedEnum or a signed cpufeature.c policy — in two's complement; a
 *      step that would leave the field's range is skipped);
 * 3. MIDR_EL1 additionally: "imp-id", Revision (bits 3:0) + 1 (mod 16), in both phases; and, when
 *    /dev/kvm answers KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, before-run only, "imp-id-writable": the same
 *    value on a fresh VM on which that capability was enabled before creating the vCPU
 *    (kvm_vm_ioctl_enable_cap requires !kvm->created_vcpus).
 *
 * Each trial records the value tried, "ok" or the errno, and after "ok" the value read back.
 * Isolation: after an accepted write that changed anything the previous value is written back and
 * read again; if that fails (recorded as `restore`), the next trial runs on a fresh VM (after-run:
 * one that has run the program again), so no trial sees another's effect.
 */
import type { RegId } from "../regs/index.js";
import { decodeId, extractBits, ftrPolicies, sysregByEncoding, toSigned } from "../regs/index.js";
import type { KernelGeneration } from "../regs/index.js";
import { FW_REGS, KvmError, errnoOf } from "../kvm/index.js";
import type { KvmVcpu } from "../kvm/index.js";
import type { ExperimentGroup, Phase, Trial, TrialKind } from "../formats/profile.js";
import { regName } from "../formats/profile.js";
import { destroySession } from "./session.js";
import type { Session } from "./session.js";

/** PSCI 0.1, 0.2, 1.0, 1.1, 1.2, 1.3 as KVM_REG_ARM_PSCI_VERSION values (PSCI_VERSION(major, minor)). */
export const PSCI_VERSIONS = [0x1n, 0x2n, 0x1_0000n, 0x1_0001n, 0x1_0002n, 0x1_0003n] as const;

const ALL_ONES = (1n << 64n) - 1n;
const MIDR_EL1 = "MIDR_EL1";
const EXTRA_ID_REGS = new Set(["CTR_EL0", "CLIDR_EL1", "DCZID_EL0"]);
const FIELD_KINDS = new Set(["field", "unsignedEnum", "signedEnum", "enum"]);

export type TargetKind = "firmware" | "id";

/** Which experiments a register gets, by its id; undefined for registers outside the list. */
export function experimentTarget(id: RegId): TargetKind | undefined {
  const d = decodeId(id);
  if ((d.class === "fw" || d.class === "fwBitmap") && d.size === "U64") return "firmware";
  if (d.class !== "sysreg" || d.size !== "U64") return undefined;
  if (d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm <= 7) return "id";
  return EXTRA_ID_REGS.has(regName(id)) ? "id" : undefined;
}

export interface PlannedTrial {
  kind: TrialKind;
  field?: string;
  value: bigint;
}

/** `value` with bits msb..lsb replaced by the low bits of `field`. */
function withField(value: bigint, msb: number, lsb: number, field: bigint): bigint {
  const width = BigInt(msb - lsb + 1);
  const mask = ((1n << width) - 1n) << BigInt(lsb);
  return (value & ~mask) | (BigInt.asUintN(Number(width), field) << BigInt(lsb));
}

/** field-lower / field-raise trials of an ID register, from the catalog's field layout. */
export function fieldTrials(id: RegId, original: bigint, generation: KernelGeneration): PlannedTrial[] {
  const d = decodeId(id);
  if (d.class !== "sysreg") return [];
  const def = sysregByEncoding(d);
  if (!def) return [];
  const policies = ftrPolicies(generation, def.name);
  const out: PlannedTrial[] = [];
  for (const f of def.fields) {
    if (!FIELD_KINDS.has(f.kind)) continue;
    const width = f.msb - f.lsb + 1;
    const policy = policies?.find((p) => p.shift === f.lsb && p.width === width);
    const signed = f.kind === "signedEnum" || Boolean(policy?.signed);
    const raw = extractBits(original, f.msb, f.lsb);
    const cur = signed ? toSigned(raw, width) : raw;
    const min = signed ? -(1n << BigInt(width - 1)) : 0n;
    const max = signed ? (1n << BigInt(width - 1)) - 1n : (1n << BigInt(width)) - 1n;
    if (cur - 1n >= min)
      out.push({ kind: "field-lower", field: f.name, value: withField(original, f.msb, f.lsb, cur - 1n) });
    if (cur + 1n <= max)
      out.push({ kind: "field-raise", field: f.name, value: withField(original, f.msb, f.lsb, cur + 1n) });
  }
  return out;
}

/** MIDR_EL1 with Revision (bits 3:0) + 1, wrapping. */
export function nextRevision(midr: bigint): bigint {
  return withField(midr, 3, 0, (extractBits(midr, 3, 0) + 1n) & 0xfn);
}

/** The trials of one register in one phase (the bit sweep and imp-id-writable come separately). */
export function plannedTrials(id: RegId, original: bigint, generation: KernelGeneration): PlannedTrial[] {
  const kind = experimentTarget(id);
  const same: PlannedTrial = { kind: "same", value: original };
  if (kind === "firmware") {
    const trials: PlannedTrial[] = [same, { kind: "zero", value: 0n }, { kind: "all-ones", value: ALL_ONES }];
    if (id === FW_REGS.PSCI_VERSION)
      for (const v of PSCI_VERSIONS) trials.push({ kind: "psci-version", value: v });
    return trials;
  }
  if (kind === "id") {
    const trials = [same, ...fieldTrials(id, original, generation)];
    if (regName(id) === MIDR_EL1) trials.push({ kind: "imp-id", value: nextRevision(original) });
    return trials;
  }
  return [];
}

/** KVM_GET_ONE_REG of a 64-bit register: its value, or the errno. */
export function readU64(vcpu: KvmVcpu, id: RegId): bigint | string {
  try {
    const v = vcpu.getOneReg(id);
    if (typeof v !== "bigint") throw new TypeError(`KVM_GET_ONE_REG ${regName(id)}: expected a 64-bit value`);
    return v;
  } catch (e) {
    if (e instanceof KvmError) return e.errno;
    throw e;
  }
}

interface TrialOutcome {
  result: string;
  read?: bigint | string;
  restore?: string;
}

/** One write, its read-back, and putting `original` back when anything changed. */
function runTrial(vcpu: KvmVcpu, id: RegId, value: bigint, original: bigint): TrialOutcome {
  const result = errnoOf(() => vcpu.setOneReg(id, value));
  if (result !== "ok") return { result };
  const read = readU64(vcpu, id);
  if (value === original && read === original) return { result, read };
  const back = errnoOf(() => vcpu.setOneReg(id, original));
  if (back !== "ok") return { result, read, restore: back };
  return readU64(vcpu, id) === original ? { result, read } : { result, read, restore: "differs" };
}

export interface ExperimentPlan {
  phase: Phase;
  /** The registers to consider, in list order. */
  ids: readonly RegId[];
  /** Generation whose cpufeature.c policies say which fields are signed (7.2 for another kernel). */
  generation: KernelGeneration;
  /** A fresh session for this phase (after-run: one that has run the program). */
  open: () => Session;
  /** Before-run: a fresh session with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS enabled (when the kernel has it). */
  openWritable?: () => Session;
}

export interface ExperimentRun {
  groups: ExperimentGroup[];
  trials: number;
  /** Fresh VMs opened because a restore failed. */
  reopened: number;
}

/**
 * Runs the experiments of one phase. Takes ownership of `session` (already open for the phase) and
 * destroys every VM it used, also when it throws.
 */
export function runExperiments(plan: ExperimentPlan, session: Session): ExperimentRun {
  let s = session;
  let dirty = false;
  let trials = 0;
  let reopened = 0;
  const current = (): Session => {
    if (dirty) {
      destroySession(s);
      s = plan.open();
      dirty = false;
      reopened++;
    }
    return s;
  };
  const groups: ExperimentGroup[] = [];
  try {
    for (const id of plan.ids) {
      const target = experimentTarget(id);
      if (!target) continue;
      const original = readU64(current().vcpu, id);
      const group: ExperimentGroup = { id, name: regName(id), phase: plan.phase, original, trials: [] };
      groups.push(group);
      if (typeof original !== "bigint") continue;
      for (const t of plannedTrials(id, original, plan.generation)) {
        const o = runTrial(current().vcpu, id, t.value, original);
        group.trials.push(trialRecord(t, o));
        trials++;
        if (o.restore) dirty = true;
      }
      if (target === "firmware") {
        group.bits = [];
        for (let bit = 0; bit < 64; bit++) {
          const o = runTrial(current().vcpu, id, 1n << BigInt(bit), original);
          group.bits.push(o.result === "ok" ? o.read! : o.result);
          trials++;
          if (o.restore) {
            dirty = true;
            (group.bitsRestore ??= []).push([bit, o.restore]);
          }
        }
      }
      if (plan.openWritable && regName(id) === MIDR_EL1) {
        const w = plan.openWritable();
        try {
          if (w.ready) {
            const value = nextRevision(original);
            const o = runTrial(w.vcpu, id, value, original);
            group.trials.push(trialRecord({ kind: "imp-id-writable", value }, o, w.steps.enableCap));
            trials++;
          }
        } finally {
          destroySession(w);
        }
      }
    }
  } finally {
    destroySession(s);
  }
  return { groups, trials, reopened };
}

function trialRecord(t: PlannedTrial, o: TrialOutcome, enableCap?: string): Trial {
  return {
    kind: t.kind,
    ...(t.field !== undefined ? { field: t.field } : {}),
    value: t.value,
    ...(enableCap !== undefined ? { enableCap } : {}),
    result: o.result,
    ...(o.read !== undefined ? { read: o.read } : {}),
    ...(o.restore !== undefined ? { restore: o.restore } : {}),
  };
}
