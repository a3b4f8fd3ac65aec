/**
 * The order in which KVM accepts a VM's guest ABI, which pin (pin.ts) and restore (vm.ts) both follow,
 * and the writes of the ABI registers (steps 4 and 5) they share.
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
 *     back as this host's level ("adjusted"); and time-varying bits (time-varying.ts) are ignored
 *     (read-back.ts).
 */
import { decodeId, sysregId } from "../regs/index.js";
import type { DecodedId, RegId } from "../regs/index.js";
import { KvmError, featureIdRangeEncoding, regValuesEqual } from "../kvm/index.js";
import type { ErrnoName, KvmVcpu, KvmVm, RegValue } from "../kvm/index.js";
import { VmOpError, setOneRegStep } from "./managed-vm.js";
import type { VmOpStage } from "./managed-vm.js";

// ---- the order ----------------------------------------------------------------------------------

/** Where a register goes in the write order (see the top of this file). */
export type WritePhase = "id" | "firmware" | "bitmap" | "vls" | "other";
export const WRITE_PHASES: readonly WritePhase[] = ["id", "firmware", "bitmap", "vls", "other"];

/** is_feature_id_reg (7.2 sys_regs.c): op0 3, op1 0/1/3, CRn 0, CRm 0..7 (KVM_ARM_FEATURE_ID_RANGE). */
export function isFeatureIdReg(id: RegId): boolean {
  return isFeatureId(decodeId(id));
}

function isFeatureId(d: DecodedId): boolean {
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
  if (isFeatureId(d)) return "id";
  if (d.class === "fw") return "firmware";
  if (d.class === "fwBitmap") return "bitmap";
  if (d.class === "sve" && d.kind === "vls") return "vls";
  return "other";
}

/** Register ids ascending. */
export const cmpId = (a: RegId, b: RegId): number => (a < b ? -1 : a > b ? 1 : 0);

/** Ids grouped by phase (writePhase, or a memo of it), each group ascending. */
export function groupByPhase(
  ids: Iterable<RegId>,
  phaseOf: (id: RegId) => WritePhase = writePhase,
): Record<WritePhase, RegId[]> {
  const out: Record<WritePhase, RegId[]> = { id: [], firmware: [], bitmap: [], vls: [], other: [] };
  for (const id of ids) out[phaseOf(id)].push(id);
  for (const p of WRITE_PHASES) out[p].sort(cmpId);
  return out;
}

/** The whole write order of a set of registers (phases 4..7 of the top comment). */
export function writeOrder(ids: Iterable<RegId>): RegId[] {
  const g = groupByPhase(ids);
  return WRITE_PHASES.flatMap((p) => g[p]);
}

// ---- writing the ABI registers (steps 4 and 5) ----------------------------------------------------

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
  setOneRegStep(stage, vcpu, id, want, hint);
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
