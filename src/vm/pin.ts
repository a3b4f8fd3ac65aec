/**
 * pin(vm, template): gives a new VM the guest ABI of an ABI template before its first KVM_RUN, then
 * reads every value back and compares. Also the machinery restore (vm.ts) shares: the write order,
 * the managed-VM record save() needs, read-back comparison and the one-line error.
 *
 * ## The order
 *
 * KVM accepts the ABI registers only in a certain order; each step names the kernel function that makes
 * it so (arch/arm64/kvm/ of 5.10, 6.1, 6.12, 7.2; `~/.cache/guestabi/ksrc/<gen>/`):
 *
 *  0. KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) when the template's MIDR/REVIDR/AIDR differ from
 *     the host's (read on a scratch VM) and the kernel offers it (7.2): kvm_vm_ioctl_enable_cap accepts
 *     it only while `!kvm->created_vcpus`, and without it set_imp_id_reg refuses any value but the
 *     host's (EINVAL). Only then: the capability becomes part of the VM, and a host without it cannot
 *     take the VM (check.ts).
 *  1. KVM_CREATE_VCPU for every vCPU before the first KVM_ARM_VCPU_INIT: kvm_arch_vcpu_precreate refuses
 *     new vCPUs once the vGIC is initialised (EBUSY), and from 6.7 the first init fixes the VM's feature
 *     set (__kvm_vcpu_set_target: KVM_ARCH_FLAG_VCPU_FEATURES_CONFIGURED).
 *  2. KVM_ARM_VCPU_INIT of each vCPU with the template's features and this host's
 *     KVM_ARM_PREFERRED_TARGET (kvm_vcpu_set_target: up to 6.1 the target must be kvm_target_cpu()).
 *     Every ONE_REG access before it is ENOEXEC (kvm_arch_vcpu_ioctl: !kvm_vcpu_initialized); from 6.7
 *     the first init resets the VM-wide ID registers (kvm_reset_sys_regs -> reset_vm_ftr_id_reg), and
 *     PSCI_VERSION's accepted values follow the PSCI_0_2 feature (kvm_arm_set_fw_reg: wants_02).
 *  3. vCPU attributes (PMU_V3 INIT) right after init, before any register: kvm_arm_pmu_v3_set_attr
 *     answers EBUSY once the PMU is created, and SET_PMU resets the counter count PMCR_EL0.N shows
 *     (kvm_arm_set_pmu -> kvm_arm_set_nr_counters), so PMU registers must be written after it.
 *  4. ID registers (is_feature_id_reg: op0 3, op1 0/1/3, CRn 0, CRm 0..7), ascending. First because
 *     - other registers' visibility follows ID fields (sysreg_hidden -> ENOENT in kvm_sys_reg_set_user:
 *       tcr2_visibility, s1pie_visibility, ...), so the list a vCPU accepts is only right after them;
 *     - from 6.12 WORKAROUND_2's accepted level follows the VM's ID_AA64PFR1_EL1.SSBS
 *       (get_kernel_wa_level: kvm_has_feat(kvm, ID_AA64PFR1_EL1, SSBS, IMP));
 *     - from 6.3 CCSIDR values are checked against CTR_EL0 (set_ccsidr -> get_min_cache_line_size);
 *     - they freeze at the first run (set_id_reg: kvm_vm_has_ran_once -> EBUSY).
 *     From 6.7 KVM_ARM_GET_REG_WRITABLE_MASKS (kvm_vm_ioctl_get_reg_writable_masks) says which bits may
 *     differ from KVM's value (arm64_check_features); a refusal names the bits outside the mask. Before
 *     6.7 a write must equal KVM's value (5.10 __set_id_reg, 6.1 set_id_reg: "you can't change it";
 *     set_invariant_sys_reg for MIDR/REVIDR/CTR/...), except ID_AA64PFR0_EL1.CSV2/CSV3
 *     (set_id_aa64pfr0_el1).
 *  5. Firmware registers: PSCI_VERSION and the WORKAROUND levels (kvm_arm_set_fw_reg), then the
 *     hypercall service bitmaps (kvm_arm_set_fw_reg_bmap: EBUSY once the VM ran).
 *  6. SVE: KVM_REG_ARM64_SVE_VLS (set_sve_vls: EPERM once finalized, "too late!"), then
 *     KVM_ARM_VCPU_FINALIZE(SVE) (kvm_arm_vcpu_finalize); KVM_GET_REG_LIST and the Z/P/FFR registers
 *     answer EPERM until then (kvm_arm_vcpu_is_finalized, sve_reg_to_region's callers).
 *  7. (restore only, vm.ts) every other register, ascending: core, system, timer, demux, SVE Z/P/FFR.
 *     Steps 4 and 5 write a register only where it differs from the VM's current value (setIfDifferent:
 *     KVM's write of the current value is a no-op for these registers), so the report lists exactly
 *     what pinning changed.
 *  8. Read every written register back (KVM_GET_ONE_REG) and compare. Two differences are KVM's
 *     documented behaviour, not failures: the WORKAROUND levels are checked against the host's level
 *     and not stored (kvm_arm_set_fw_reg: "get_kernel_wa_level(vcpu, reg->id) < val"), so they read
 *     back as this host's level ("adjusted"); and time-varying bits (time-varying.ts) are ignored.
 *
 * With the host's profile (PinOptions.profile), pin first asks checkAbi(template, profile) (check.ts): an
 * incompatible template is refused before anything is created, and a template register the host does
 * not have (ENOENT) is skipped when the check tolerates it — baseline.ts keeps hypercall bitmaps some
 * hosts lack, at the value of the services those hosts offer unconditionally.
 *
 * ## Ownership
 *
 * - `pin(vm, template)`: the caller owns `vm` (a fresh KVM_CREATE_VM with no vCPU). pin creates the vCPUs
 *   and, on success, hands them back inside the ManagedVm (they live and die with the VM: KVM frees
 *   vCPUs only with their VM). On failure pin closes the vCPU handles it created and throws a VmOpError;
 *   it never destroys the caller's VM — which now holds vCPUs with partial state, must never be run,
 *   and is the caller's to destroy (the error says so).
 * - `createPinnedVm(system, template)`: creates the VM itself, so on failure it destroys it; on success
 *   the caller owns the returned VM.
 */
import { decodeId, describeId, formatId, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import {
  KVM_CAP,
  KvmError,
  VCPU_ATTR,
  VCPU_FEATURES,
  featureIdRangeEncoding,
  getRegList,
  normalizeVcpuInit,
  regValuesEqual,
  vcpuFeatureNames,
} from "../kvm/index.js";
import type { ErrnoName, KvmSystem, KvmVcpu, KvmVm, RegValue, VcpuInit } from "../kvm/index.js";
import { checkAbi } from "../check/check.js";
import type { CheckReport, Verdict } from "../check/check.js";
import { kernelGeneration } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import type { DeviceAttr, EnabledCap, HostIdentity, VmState } from "../formats/snapshot.js";
import { SVE_VLS_ID, vlsToVqs, vqsToVls } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { ccsidrId, validateTemplate } from "../formats/template.js";
import { timeVaryingRule } from "../kvm/rules/time-varying.js";

// ---- the managed VM: what a VMM set up, which KVM does not report back ----------------------------

export interface ManagedVcpu {
  vcpu: KvmVcpu;
  /** What KVM_ARM_VCPU_INIT was given (features normalized). */
  init: VcpuInit;
  /** SVE vector lengths the vCPU was given (vq), for SVE vCPUs. */
  sveVqs?: number[];
  /** vCPU device attributes set after init, in order (replayed by restore). */
  attrs: DeviceAttr[];
}

/**
 * A VM set up through guestabi, with what save() needs and KVM cannot tell: the KVM_CREATE_VM IPA size,
 * the capabilities enabled and VM attributes set (in order), and each vCPU's init and attributes.
 */
export interface ManagedVm {
  vm: KvmVm;
  vcpus: ManagedVcpu[];
  state: VmState;
  /** The host the VM runs on (KVM_GET_API... kernelRelease of its system); save() records it. */
  host?: HostIdentity;
  /** How the VM's ABI was chosen: pinned to a template, restored from a snapshot, or the host's defaults. */
  abi: "template" | "snapshot" | "host-defaults";
}

/** The identity of the host behind a KvmSystem (for snapshots' `source`). */
export function hostIdentityOf(system: KvmSystem, cpuLabel: string | null = null): HostIdentity {
  const release = system.kernelRelease();
  return { release, generation: kernelGeneration(release), cpuLabel, backend: system.backend };
}

/** Destroys a managed VM (and with it its vCPUs). Idempotent. */
export function destroyManagedVm(m: ManagedVm): void {
  m.vm.destroy();
}

// ---- errors -------------------------------------------------------------------------------------

export type VmOpStage = "create" | "pin" | "save" | "restore" | "migrate";

export type VmOpKind = "kvm" | "verify" | "refused" | "input";

/**
 * A pin/save/restore that failed: one line naming the stage, the vCPU, the operation, the register and
 * the errno (kind "kvm"), or the register whose read-back differs (kind "verify"), or the
 * compatibility verdicts that refused a restore (kind "refused").
 */
export class VmOpError extends Error {
  override name = "VmOpError";
  readonly stage: VmOpStage;
  readonly kind: VmOpKind;
  readonly op: string;
  readonly vcpu?: number;
  readonly register?: RegId;
  readonly errno?: ErrnoName;
  /** kind "refused": the incompatible verdicts of checkAbi. */
  readonly verdicts?: Verdict[];
  /** Whether the VM the operation worked on was destroyed (restore/createPinnedVm: always). */
  readonly vmDestroyed: boolean;

  constructor(
    stage: VmOpStage,
    kind: VmOpKind,
    message: string,
    d: {
      op?: string;
      vcpu?: number;
      register?: RegId;
      errno?: ErrnoName;
      verdicts?: Verdict[];
      vmDestroyed?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(
      `${stage}: ${message}`.replace(/\s+/g, " ").trim(),
      d.cause !== undefined ? { cause: d.cause } : {},
    );
    this.stage = stage;
    this.kind = kind;
    this.op = d.op ?? "";
    if (d.vcpu !== undefined) this.vcpu = d.vcpu;
    if (d.register !== undefined) this.register = d.register;
    if (d.errno !== undefined) this.errno = d.errno;
    if (d.verdicts !== undefined) this.verdicts = d.verdicts;
    this.vmDestroyed = d.vmDestroyed ?? false;
  }

  /** The same error, noting what happened to the VM afterwards. */
  withVm(destroyed: boolean, note?: string): VmOpError {
    const e = new VmOpError(
      this.stage,
      this.kind,
      this.message.replace(/^\w+: /, "") + (note ? `; ${note}` : ""),
      {
        op: this.op,
        ...(this.vcpu !== undefined ? { vcpu: this.vcpu } : {}),
        ...(this.register !== undefined ? { register: this.register } : {}),
        ...(this.errno !== undefined ? { errno: this.errno } : {}),
        ...(this.verdicts !== undefined ? { verdicts: this.verdicts } : {}),
        vmDestroyed: destroyed,
        cause: this.cause,
      },
    );
    return e;
  }
}

/** "ID_AA64PFR0_EL1 (0x603000000013c020)". */
export function regLabel(id: RegId): string {
  return `${describeId(id).name} (${formatId(id)})`;
}

export function valueText(v: RegValue | string): string {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return "0x" + v.toString(16);
  return "0x" + Buffer.from(v).toString("hex") + " (LE bytes)";
}

/** Runs one KVM operation; a KvmError becomes a VmOpError naming the vCPU, register and errno. */
export function kvmStep<T>(
  stage: VmOpStage,
  where: { op: string; vcpu?: number; register?: RegId; value?: RegValue; hint?: () => string | undefined },
  fn: () => T,
): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    const parts = [
      where.vcpu !== undefined ? `vCPU ${where.vcpu}:` : "",
      where.op,
      where.register !== undefined ? regLabel(where.register) : "",
      where.value !== undefined ? `= ${valueText(where.value)}` : "",
    ].filter((p) => p.length > 0);
    const hint = where.hint?.();
    throw new VmOpError(stage, "kvm", `${parts.join(" ")}: ${e.errno}${hint ? `; ${hint}` : ""}`, {
      op: where.op,
      ...(where.vcpu !== undefined ? { vcpu: where.vcpu } : {}),
      ...(where.register !== undefined ? { register: where.register } : {}),
      errno: e.errno,
      cause: e,
    });
  }
}

// ---- the order ----------------------------------------------------------------------------------

/** Where a register goes in the write order (see the top of this file). */
export type WritePhase = "id" | "firmware" | "bitmap" | "vls" | "other";
export const WRITE_PHASES: readonly WritePhase[] = ["id", "firmware", "bitmap", "vls", "other"];

/** is_feature_id_reg (7.2 sys_regs.c): op0 3, op1 0/1/3, CRn 0, CRm 0..7 (KVM_ARM_FEATURE_ID_RANGE). */
export function isFeatureIdReg(id: RegId): boolean {
  const d = decodeId(id);
  return (
    d.class === "sysreg" &&
    d.size === "U64" &&
    d.op0 === 3 &&
    (d.op1 === 0 || d.op1 === 1 || d.op1 === 3) &&
    d.crn === 0 &&
    d.crm <= 7
  );
}

export function writePhase(id: RegId): WritePhase {
  const d = decodeId(id);
  if (isFeatureIdReg(id)) return "id";
  if (d.class === "fw") return "firmware";
  if (d.class === "fwBitmap") return "bitmap";
  if (d.class === "sve" && d.kind === "vls") return "vls";
  return "other";
}

const cmpId = (a: RegId, b: RegId): number => (a < b ? -1 : a > b ? 1 : 0);

/** Ids grouped by phase, each group ascending. */
export function groupByPhase(ids: Iterable<RegId>): Record<WritePhase, RegId[]> {
  const out: Record<WritePhase, RegId[]> = { id: [], firmware: [], bitmap: [], vls: [], other: [] };
  for (const id of ids) out[writePhase(id)].push(id);
  for (const p of WRITE_PHASES) out[p].sort(cmpId);
  return out;
}

/** The whole write order of a set of registers (phases 4..7 of the top comment). */
export function writeOrder(ids: Iterable<RegId>): RegId[] {
  const g = groupByPhase(ids);
  return WRITE_PHASES.flatMap((p) => g[p]);
}

// ---- read-back ----------------------------------------------------------------------------------

export type ReadBackStatus = "ok" | "time-varying" | "adjusted" | "mismatch";

export interface ReadBack {
  vcpu: number;
  id: RegId;
  wrote: RegValue;
  read: RegValue;
  status: ReadBackStatus;
}

const WORKAROUND_INDEXES = new Set([1, 2, 3]);

/** KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1/2/3. */
export function isWorkaroundReg(id: RegId): boolean {
  const d = decodeId(id);
  return d.class === "fw" && d.size === "U64" && WORKAROUND_INDEXES.has(d.index);
}

/**
 * How a read-back compares with what was written: equal; equal outside the register's time-varying
 * bits (time-varying.ts: counters, CTL.ISTATUS, PMU counters); "adjusted" for a WORKAROUND level,
 * which kvm_arm_set_fw_reg checks against get_kernel_wa_level() and does not store (the guest sees
 * this host's level); otherwise a mismatch.
 */
export function compareReadBack(id: RegId, wrote: RegValue, read: RegValue): ReadBackStatus {
  if (regValuesEqual(wrote, read)) return "ok";
  if (typeof wrote === "bigint" && typeof read === "bigint") {
    const rule = timeVaryingRule(id);
    if (rule && ((wrote ^ read) & ~rule.mask) === 0n) return "time-varying";
    if (isWorkaroundReg(id)) return "adjusted";
  }
  return "mismatch";
}

/** Reads `id` back on a vCPU and compares; a KVM failure or a mismatch throws VmOpError. */
export function readBack(
  stage: VmOpStage,
  vcpuIndex: number,
  vcpu: KvmVcpu,
  id: RegId,
  wrote: RegValue,
): ReadBack {
  const read = kvmStep(stage, { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id }, () =>
    vcpu.getOneReg(id),
  );
  const status = compareReadBack(id, wrote, read);
  if (status === "mismatch")
    throw new VmOpError(
      stage,
      "verify",
      `vCPU ${vcpu.id}: ${regLabel(id)} reads back ${valueText(read)} after KVM_SET_ONE_REG of ${valueText(wrote)}`,
      { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id },
    );
  return { vcpu: vcpuIndex, id, wrote, read, status };
}

// ---- the ABI part of a register set ------------------------------------------------------------------

/**
 * The guest ABI a register set carries, as a template: the feature ID registers, the firmware
 * registers and bitmaps, with the features, vector lengths and the list itself. How a snapshot's vCPU
 * (vm.ts abiOfSnapshot) or a live vCPU (abiOfVcpu) is compared and re-applied.
 */
export function abiFromRegs(
  regs: ReadonlyMap<RegId, RegValue>,
  features: readonly number[],
  sveVqs: readonly number[] | undefined,
  provenance: AbiTemplate["provenance"],
  name?: string,
): AbiTemplate {
  const idRegs = new Map<RegId, bigint>();
  const firmware = new Map<RegId, bigint>();
  for (const [id, value] of regs) {
    if (typeof value !== "bigint") continue;
    const phase = writePhase(id);
    if (phase === "id") idRegs.set(id, value);
    else if ((phase === "firmware" || phase === "bitmap") && decodeId(id).size === "U64")
      firmware.set(id, value);
  }
  return {
    ...(name !== undefined ? { name } : {}),
    idRegs,
    firmware,
    // POWER_OFF is how a vCPU starts, not ABI (6.12+ kvm_arch_vcpu_ioctl_vcpu_init clears it).
    features: [
      ...normalizeVcpuInit({ target: 0, features: features.filter((f) => f !== VCPU_FEATURES.POWER_OFF) })
        .features,
    ],
    ...(sveVqs ? { sveVqs: [...sveVqs] } : {}),
    regs: new Set(regs.keys()),
    provenance,
  };
}

/** The ABI a live, initialised vCPU has now (every register of KVM_GET_REG_LIST read once). */
export function abiOfVcpu(vcpu: KvmVcpu, init: VcpuInit, host: HostIdentity, name?: string): AbiTemplate {
  const ids = kvmStep("save", { op: "KVM_GET_REG_LIST", vcpu: vcpu.id }, () => getRegList(vcpu));
  const regs = new Map<RegId, RegValue>();
  for (const id of ids)
    regs.set(
      id,
      kvmStep("save", { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id }, () => vcpu.getOneReg(id)),
    );
  const vls = regs.get(SVE_VLS_ID);
  return abiFromRegs(
    regs,
    init.features,
    vls instanceof Uint8Array ? vlsToVqs(vls) : undefined,
    { derivedFrom: [{ ...host }] },
    name,
  );
}

// ---- pin ----------------------------------------------------------------------------------------

export interface PinOptions {
  /** vCPUs to create (ids 0..n-1). Default 1. */
  vcpus?: number;
  /**
   * What the caller already did to the VM before handing it over (the KVM_CREATE_VM IPA size, caps,
   * VM attributes), recorded in the ManagedVm so that save() can replay it. Default: nothing.
   */
  vmState?: Partial<VmState>;
  /** The host, recorded for save(); createPinnedVm fills it in. */
  host?: HostIdentity;
  /**
   * This host's profile (probe.ts). When given, pin first runs checkAbi(template, profile): an
   * incompatible template is refused before anything is created (kind "refused", with the verdicts),
   * and a template register the host does not have (ENOENT) is skipped when the check tolerates it
   * (e.g. a hypercall bitmap of a kernel that offers the same services unconditionally).
   */
  profile?: HostProfile;
  /**
   * KVM_ARM_VCPU_PMU_V3_CTRL/INIT on PMU_V3 vCPUs (without an in-kernel irqchip, KVM_RUN fails with
   * EINVAL until it is done: kvm_arm_pmu_v3_enable). Default true.
   */
  initPmu?: boolean;
  /**
   * KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) before the vCPUs. Default false: the capability
   * becomes part of the VM (a snapshot carries it, and a host without it cannot take the VM:
   * kvm_vm_ioctl_enable_cap EINVAL), so it is enabled only when the template's MIDR/REVIDR/AIDR differ
   * from the host's — createPinnedVm finds that out on a scratch VM (needsWritableImpIdRegs).
   */
  writableImpIdRegs?: boolean;
}

export interface PinStep {
  op: string;
  detail: string;
}

export interface PinReport {
  /** What pin did, in order. */
  steps: PinStep[];
  /** Every template register read back on every vCPU. */
  readBacks: ReadBack[];
  /** KVM_ARM_GET_REG_WRITABLE_MASKS: nonzero masks by register, or the errno (before 6.7: EINVAL). */
  writableMasks: Map<RegId, bigint> | ErrnoName;
  /** The template registers that differed from this host's defaults, so pin wrote them (vCPU 0). */
  changed: PinChange[];
  /** Template registers this host does not have (ENOENT) that the check tolerates: not written. */
  skipped: RegId[];
  /** checkAbi(template, profile), when pin was given the host's profile. */
  check?: CheckReport;
  /** Registers vCPU 0 lists that the template does not allow (a snapshot would carry them). */
  listedNotInTemplate: RegId[];
  /** Registers of the template vCPU 0 does not list. */
  inTemplateNotListed: RegId[];
}

export interface PinResult {
  vm: ManagedVm;
  report: PinReport;
}

/** MIDR_EL1, REVIDR_EL1, AIDR_EL1: the IMPLEMENTATION_ID registers (7.2 set_imp_id_reg). */
export const IMP_ID_REGS: ReadonlySet<RegId> = new Set<RegId>([
  0x603000000013c000n, // MIDR_EL1 S3_0_C0_C0_0
  0x603000000013c006n, // REVIDR_EL1 S3_0_C0_C0_6
  0x603000000013c807n, // AIDR_EL1 S3_1_C0_C0_7
]);

export function readMasks(vm: KvmVm): Map<RegId, bigint> | ErrnoName {
  try {
    const masks = vm.getRegWritableMasks();
    const out = new Map<RegId, bigint>();
    masks.forEach((m, i) => {
      if (m === 0n) return;
      const e = featureIdRangeEncoding(i);
      out.set(sysregId(e.op0, e.op1, e.crn, e.crm, e.op2), m);
    });
    return out;
  } catch (e) {
    if (e instanceof KvmError) return e.errno;
    throw e;
  }
}

/** A hint for a refused ID register write: KVM's current value (the write changed nothing) and the mask. */
export function idWriteHint(
  vcpu: KvmVcpu,
  masks: Map<RegId, bigint> | ErrnoName,
  id: RegId,
  want: bigint,
): () => string | undefined {
  return () => {
    try {
      return maskHint(masks, id, want, vcpu.getOneReg(id) as bigint);
    } catch {
      return undefined;
    }
  };
}

function maskHint(
  masks: Map<RegId, bigint> | ErrnoName,
  id: RegId,
  want: bigint,
  current: bigint | undefined,
): string | undefined {
  if (current === undefined) return undefined;
  const differ = want ^ current;
  if (differ === 0n) return undefined;
  if (typeof masks === "string")
    return `KVM's value is 0x${current.toString(16)} and this kernel has no writable ID registers (KVM_ARM_GET_REG_WRITABLE_MASKS: ${masks})`;
  const mask = masks.get(id) ?? 0n;
  const outside = differ & ~mask;
  return outside
    ? `bits 0x${outside.toString(16)} differ from KVM's 0x${current.toString(16)} outside the writable mask 0x${mask.toString(16)}`
    : `KVM's value is 0x${current.toString(16)}; the differing bits are writable, so the value exceeds what this host allows (arm64_check_features)`;
}

/**
 * KVM_SET_ONE_REG of an ABI register (ID, firmware, bitmap) unless it already holds the value; true
 * when it wrote. For these registers KVM's write of the current value is a no-op — set_id_reg stores
 * the same value, set_imp_id_reg returns 0 when `expected == val`, kvm_arm_set_fw_reg stores the same
 * PSCI version, kvm_arm_set_fw_reg_bmap the same bitmap — so skipping it changes nothing, and what is
 * written is exactly what the pin or restore changed. (Not for the other registers: a counter write
 * moves the VM's offset, PMU writes have side effects.) A register the read refuses is written anyway,
 * so that the error is the write's.
 */
export function setIfDifferent(
  stage: VmOpStage,
  vcpu: KvmVcpu,
  id: RegId,
  want: RegValue,
  hint?: () => string | undefined,
): { wrote: boolean; before?: RegValue } {
  let current: RegValue | undefined;
  try {
    current = vcpu.getOneReg(id);
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
  }
  if (current !== undefined && regValuesEqual(current, want)) return { wrote: false, before: current };
  kvmStep(
    stage,
    { op: "KVM_SET_ONE_REG", vcpu: vcpu.id, register: id, value: want, ...(hint ? { hint } : {}) },
    () => vcpu.setOneReg(id, want),
  );
  return { wrote: true, ...(current !== undefined ? { before: current } : {}) };
}

/** A register pin changed: the host's default value and the template's. */
export interface PinChange {
  id: RegId;
  before: bigint | undefined;
  after: bigint;
}

/**
 * Steps 4 and 5 of the order on each vCPU: the ID registers (ascending), then the firmware registers,
 * then the hypercall bitmaps, each written only where it differs (setIfDifferent). `masks`
 * (readMasks) only improves the messages of a refused ID write. Returns the registers written on the
 * first vCPU (what the pin changed).
 */
export function writeAbiRegisters(
  stage: VmOpStage,
  vcpus: readonly KvmVcpu[],
  idRegs: ReadonlyMap<RegId, bigint>,
  firmware: ReadonlyMap<RegId, bigint>,
  masks: Map<RegId, bigint> | ErrnoName,
  skipAbsent: (id: RegId) => boolean = () => false,
): { ids: RegId[]; fw: Record<WritePhase, RegId[]>; changed: PinChange[]; skipped: RegId[] } {
  const changed: PinChange[] = [];
  const skipped = new Set<RegId>();
  const put = (i: number, v: KvmVcpu, id: RegId, want: bigint, hint?: () => string | undefined) => {
    let r: { wrote: boolean; before?: RegValue };
    try {
      r = setIfDifferent(stage, v, id, want, hint);
    } catch (e) {
      // A register this host does not have, which the host's profile says the guest does not miss.
      if (e instanceof VmOpError && e.errno === "ENOENT" && skipAbsent(id)) {
        skipped.add(id);
        return;
      }
      throw e;
    }
    if (r.wrote && i === 0)
      changed.push({ id, before: typeof r.before === "bigint" ? r.before : undefined, after: want });
  };
  const ids = groupByPhase(idRegs.keys()).id;
  vcpus.forEach((v, i) => {
    for (const id of ids) put(i, v, id, idRegs.get(id)!, idWriteHint(v, masks, id, idRegs.get(id)!));
  });
  const fw = groupByPhase(firmware.keys());
  for (const phase of ["firmware", "bitmap"] as const)
    vcpus.forEach((v, i) => {
      for (const id of fw[phase]) put(i, v, id, firmware.get(id)!);
    });
  const keep = (list: RegId[]) => list.filter((id) => !skipped.has(id));
  return {
    ids: keep(ids),
    fw: { ...fw, firmware: keep(fw.firmware), bitmap: keep(fw.bitmap) },
    changed,
    skipped: [...skipped].sort(cmpId),
  };
}

/**
 * With a host profile: checkAbi(template, profile) first. An incompatible template is refused before
 * anything is created (VmOpError kind "refused", with the verdicts); the registers the check tolerates
 * are those a restore or pin may find absent on this host (ENOENT) and skip.
 */
export function checkTemplateFirst(
  stage: VmOpStage,
  template: AbiTemplate,
  profile: HostProfile | undefined,
): { check?: CheckReport; tolerated: (id: RegId) => boolean } {
  if (!profile) return { tolerated: () => false };
  const check = checkAbi(template, profile);
  if (!check.compatible) {
    const bad = check.verdicts.filter((v) => v.level === "incompatible");
    const names = [...new Set(bad.map((v) => `${v.register}${v.field ? "." + v.field : ""}`))];
    throw new VmOpError(
      stage,
      "refused",
      `${check.host} cannot honour the template (${bad.length} incompatible verdict${bad.length === 1 ? "" : "s"}: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}; first: ${bad[0]?.reason ?? ""})`,
      { verdicts: bad },
    );
  }
  const ok = new Set<string>(check.verdicts.filter((v) => v.level === "tolerated" && v.id).map((v) => v.id));
  return { check, tolerated: (id) => ok.has(formatId(id)) };
}

/**
 * Applies a template to a fresh VM (no vCPUs yet) in the order above, then verifies. See the top of
 * this file for what it owns. Throws VmOpError (one line) on the first refusal or mismatch.
 */
export function pin(vm: KvmVm, template: AbiTemplate, opts: PinOptions = {}): PinResult {
  return applyTemplate(vm, template, opts, "caller");
}

function applyTemplate(
  vm: KvmVm,
  template: AbiTemplate,
  opts: PinOptions,
  owner: "caller" | "pin",
  checked?: ReturnType<typeof checkTemplateFirst>,
): PinResult {
  try {
    validateTemplate(template);
  } catch (e) {
    throw new VmOpError("pin", "input", (e as Error).message);
  }
  const n = opts.vcpus ?? 1;
  if (!Number.isInteger(n) || n < 1)
    throw new VmOpError("pin", "input", `vCPU count ${n} is not a positive integer`);
  // With a profile, the check decides first: nothing is created for a template the host cannot honour.
  const first = checked ?? checkTemplateFirst("pin", template, opts.profile);
  const steps: PinStep[] = [];
  if (first.check)
    steps.push({
      op: "checkAbi",
      detail: `compatible with ${first.check.host} (${first.check.verdicts.filter((v) => v.level === "tolerated").length} tolerated verdicts)`,
    });
  const state: VmState = {
    ipaBits: opts.vmState?.ipaBits ?? 0,
    caps: [...(opts.vmState?.caps ?? [])],
    attrs: [...(opts.vmState?.attrs ?? [])],
  };
  const created: KvmVcpu[] = [];
  try {
    // 0. KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, before any vCPU (kvm_vm_ioctl_enable_cap: !kvm->created_vcpus).
    if (opts.writableImpIdRegs && !state.caps.some((c) => c.cap === KVM_CAP.ARM_WRITABLE_IMP_ID_REGS)) {
      const cap: EnabledCap = { cap: KVM_CAP.ARM_WRITABLE_IMP_ID_REGS, flags: 0, args: [] };
      kvmStep("pin", { op: "KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS)" }, () => vm.enableCap(cap.cap));
      state.caps.push(cap);
      steps.push({
        op: "KVM_ENABLE_CAP",
        detail: "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (the template's MIDR/REVIDR/AIDR differ from the host's)",
      });
    }
    // 1. every vCPU first.
    for (let i = 0; i < n; i++)
      created.push(kvmStep("pin", { op: `KVM_CREATE_VCPU ${i}` }, () => vm.createVcpu(i)));
    steps.push({ op: "KVM_CREATE_VCPU", detail: `${n} vCPU${n > 1 ? "s" : ""}` });
    // 2. init with the template's features and this host's preferred target.
    const target = kvmStep("pin", { op: "KVM_ARM_PREFERRED_TARGET" }, () => vm.preferredTarget()).target;
    const init = normalizeVcpuInit({ target, features: template.features });
    for (const v of created) kvmStep("pin", { op: "KVM_ARM_VCPU_INIT", vcpu: v.id }, () => v.init(init));
    steps.push({
      op: "KVM_ARM_VCPU_INIT",
      detail: `target ${target}, features ${vcpuFeatureNames(init.features).join(", ") || "none"}`,
    });
    // 3. vCPU attributes: the PMU, before any register (kvm_arm_pmu_v3_set_attr, kvm_arm_set_pmu).
    const managed: ManagedVcpu[] = created.map((vcpu) => ({
      vcpu,
      init,
      ...(template.sveVqs ? { sveVqs: [...template.sveVqs] } : {}),
      attrs: [],
    }));
    if (init.features.includes(VCPU_FEATURES.PMU_V3) && (opts.initPmu ?? true)) {
      const attr: DeviceAttr = {
        group: VCPU_ATTR.PMU_V3_CTRL.group,
        attr: VCPU_ATTR.PMU_V3_CTRL.INIT,
        data: new Uint8Array(),
      };
      for (const m of managed) {
        kvmStep("pin", { op: "KVM_SET_DEVICE_ATTR(PMU_V3_INIT)", vcpu: m.vcpu.id }, () =>
          m.vcpu.setDeviceAttr(attr.group, attr.attr),
        );
        m.attrs.push(attr);
      }
      steps.push({ op: "KVM_SET_DEVICE_ATTR", detail: "KVM_ARM_VCPU_PMU_V3_INIT on every vCPU" });
    }
    // 4. ID registers (with the writable masks for the messages), 5. firmware registers and bitmaps.
    const masks = readMasks(vm);
    const { ids, fw, changed, skipped } = writeAbiRegisters(
      "pin",
      created,
      template.idRegs,
      template.firmware,
      masks,
      first.tolerated,
    );
    // Cache geometry after CLIDR_EL1 (an ID register, written above): from 6.3 set_ccsidr checks each
    // value against CTR_EL0 and the CLIDR; before 6.3 demux_c15_set takes only the host's value, which
    // setIfDifferent then does not write. Levels the CLIDR does not implement are not in the template.
    const geometry = [...(template.ccsidr ?? [])]
      .sort((a, b) => a[0] - b[0])
      .map(([sel, v]) => [ccsidrId(sel), v] as const);
    created.forEach((v, i) => {
      for (const [id, want] of geometry) {
        const r = setIfDifferent("pin", v, id, want);
        if (r.wrote && i === 0)
          changed.push({ id, before: typeof r.before === "bigint" ? r.before : undefined, after: want });
      }
    });
    if (geometry.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `cache geometry: ${geometry.filter(([id]) => changed.some((c) => c.id === id)).length} of ${geometry.length} CCSIDR values differ`,
      });
    const changedIn = (list: RegId[]) => list.filter((id) => changed.some((c) => c.id === id)).length;
    steps.push({
      op: "KVM_SET_ONE_REG",
      detail: `ID registers: ${changedIn(ids)} of ${ids.length} differ from this host's defaults (${typeof masks === "string" ? `no writable masks: ${masks}` : `${masks.size} writable masks`})`,
    });
    if (fw.firmware.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `firmware registers: ${changedIn(fw.firmware)} of ${fw.firmware.length} differ`,
      });
    if (fw.bitmap.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `hypercall bitmaps: ${changedIn(fw.bitmap)} of ${fw.bitmap.length} differ`,
      });
    if (skipped.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `${skipped.length} not on this host (ENOENT), skipped as checkAbi tolerates: ${skipped.map((id) => describeId(id).name).join(", ")}`,
      });
    // 6. SVE vector lengths, then finalize.
    if (init.features.includes(VCPU_FEATURES.SVE)) {
      const vls = vqsToVls(template.sveVqs ?? []);
      for (const v of created) {
        kvmStep("pin", { op: "KVM_SET_ONE_REG", vcpu: v.id, register: SVE_VLS_ID, value: vls }, () =>
          v.setOneReg(SVE_VLS_ID, vls),
        );
        kvmStep("pin", { op: "KVM_ARM_VCPU_FINALIZE(SVE)", vcpu: v.id }, () => v.finalize(VCPU_FEATURES.SVE));
      }
      steps.push({ op: "KVM_ARM_VCPU_FINALIZE", detail: `SVE with vq ${template.sveVqs?.join(",")}` });
    }
    // 8. read everything back.
    const readBacks: ReadBack[] = [];
    created.forEach((v, i) => {
      for (const id of ids) readBacks.push(readBack("pin", i, v, id, template.idRegs.get(id)!));
      for (const id of [...fw.firmware, ...fw.bitmap])
        readBacks.push(readBack("pin", i, v, id, template.firmware.get(id)!));
      for (const [id, want] of geometry) readBacks.push(readBack("pin", i, v, id, want));
      if (template.sveVqs) readBacks.push(readBack("pin", i, v, SVE_VLS_ID, vqsToVls(template.sveVqs)));
    });
    const listed = new Set(
      kvmStep("pin", { op: "KVM_GET_REG_LIST", vcpu: 0 }, () => getRegList(created[0]!)),
    );
    steps.push({ op: "KVM_GET_ONE_REG", detail: `${readBacks.length} read-backs compared` });
    return {
      vm: {
        vm,
        vcpus: managed,
        state,
        ...(opts.host ? { host: opts.host } : {}),
        abi: "template",
      },
      report: {
        steps,
        readBacks,
        changed,
        skipped,
        ...(first.check ? { check: first.check } : {}),
        writableMasks: masks,
        listedNotInTemplate: [...listed].filter((id) => !template.regs.has(id)).sort(cmpId),
        inTemplateNotListed: [...template.regs].filter((id) => !listed.has(id)).sort(cmpId),
      },
    };
  } catch (e) {
    for (const v of created) v.destroy();
    if (e instanceof VmOpError && owner === "caller")
      throw e.withVm(
        false,
        created.length
          ? `the VM (the caller's) now holds ${created.length} vCPU(s) with partial state: destroy it, never run it`
          : undefined,
      );
    throw e;
  }
}

/**
 * Whether pinning `template` on this host needs KVM_CAP_ARM_WRITABLE_IMP_ID_REGS: the template sets
 * MIDR/REVIDR/AIDR to values the host's vCPUs do not show, and the kernel offers the capability (7.2).
 * The host's values come from a scratch VM with one vCPU (what QEMU's kvm_arm_create_scratch_host_vcpu
 * does), destroyed before returning.
 */
export function needsWritableImpIdRegs(system: KvmSystem, template: AbiTemplate): boolean {
  const wanted = [...template.idRegs].filter(([id]) => IMP_ID_REGS.has(id));
  if (wanted.length === 0 || system.checkExtension(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS) <= 0) return false;
  const scratch = kvmStep("pin", { op: "KVM_CREATE_VM (scratch)" }, () => system.createVm());
  try {
    const v = kvmStep("pin", { op: "KVM_CREATE_VCPU (scratch)" }, () => scratch.createVcpu(0));
    const target = scratch.preferredTarget().target;
    kvmStep("pin", { op: "KVM_ARM_VCPU_INIT (scratch)" }, () => v.init({ target, features: [] }));
    return wanted.some(([id, value]) => {
      try {
        return v.getOneReg(id) !== value;
      } catch {
        return true;
      }
    });
  } finally {
    scratch.destroy();
  }
}

/** Options of createPinnedVm: pin's, plus the KVM_CREATE_VM IPA size. */
export interface CreatePinnedOptions extends Omit<PinOptions, "vmState" | "host"> {
  ipaBits?: number;
  cpuLabel?: string | null;
}

/** Creates a VM and pins it; on any failure the VM is destroyed (it was ours). */
export function createPinnedVm(
  system: KvmSystem,
  template: AbiTemplate,
  opts: CreatePinnedOptions = {},
): PinResult {
  const ipaBits = opts.ipaBits ?? 0;
  try {
    validateTemplate(template);
  } catch (e) {
    throw new VmOpError("pin", "input", (e as Error).message);
  }
  const checked = checkTemplateFirst("pin", template, opts.profile); // refuses before any VM exists
  const vm = kvmStep("pin", { op: "KVM_CREATE_VM" }, () => system.createVm(ipaBits ? { ipaBits } : {}));
  try {
    const host = hostIdentityOf(system, opts.cpuLabel ?? null);
    const writableImpIdRegs = opts.writableImpIdRegs ?? needsWritableImpIdRegs(system, template);
    return applyTemplate(
      vm,
      template,
      { ...opts, vmState: { ipaBits }, host, writableImpIdRegs },
      "pin",
      checked,
    );
  } catch (e) {
    vm.destroy();
    if (e instanceof VmOpError) throw e.withVm(true, "the VM was destroyed");
    throw e;
  }
}
