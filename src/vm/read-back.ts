/**
 * Read-back: after pin or restore wrote a register, KVM_GET_ONE_REG and compare (step 8 of the order,
 * write-order.ts). A difference KVM documents (a WORKAROUND level, time-varying bits) is not a failure.
 */
import { decodeId, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { regValuesEqual } from "../kvm/index.js";
import type { KvmVcpu, RegValue } from "../kvm/index.js";
import { timeVaryingRule } from "../kvm/rules/time-varying.js";
import { PMCR_USER_MUTABLE } from "../kvm/rules/vgic.js";
import { VmOpError, getOneRegStep, regLabel, valueText } from "./managed-vm.js";
import type { VmOpStage } from "./managed-vm.js";

export type ReadBackStatus = "ok" | "time-varying" | "adjusted" | "mismatch";

export interface ReadBack {
  vcpu: number;
  id: RegId;
  wrote: RegValue;
  read: RegValue;
  status: ReadBackStatus;
}

const WORKAROUND_INDEXES = new Set([1, 2, 3]);
const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);

/** KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1/2/3. */
export function isWorkaroundReg(id: RegId): boolean {
  const d = decodeId(id);
  return d.class === "fw" && d.size === "U64" && WORKAROUND_INDEXES.has(d.index);
}

/**
 * How a read-back compares with what was written: equal; equal outside the register's time-varying
 * bits (time-varying.ts: counters, CTL.ISTATUS, PMU counters); "adjusted" for a WORKAROUND level,
 * which kvm_arm_set_fw_reg checks against get_kernel_wa_level() and does not store (the guest sees
 * this host's level), and for PMCR_EL0 differing only in the bits set_pmcr (6.7+) does not take from
 * userspace (IMP, IDCODE: the guest sees this host's); otherwise a mismatch.
 */
export function compareReadBack(id: RegId, wrote: RegValue, read: RegValue): ReadBackStatus {
  if (regValuesEqual(wrote, read)) return "ok";
  if (typeof wrote === "bigint" && typeof read === "bigint") {
    const rule = timeVaryingRule(id);
    if (rule && ((wrote ^ read) & ~rule.mask) === 0n) return "time-varying";
    if (isWorkaroundReg(id)) return "adjusted";
    if (id === PMCR_EL0 && ((wrote ^ read) & PMCR_USER_MUTABLE) === 0n) return "adjusted";
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
  const read = getOneRegStep(stage, vcpu, id);
  return { vcpu: vcpuIndex, id, wrote, read, status: verifiedReadBack(stage, vcpu, id, wrote, read) };
}

/** compareReadBack of a value read back; a mismatch throws VmOpError. */
export function verifiedReadBack(
  stage: VmOpStage,
  vcpu: KvmVcpu,
  id: RegId,
  wrote: RegValue,
  read: RegValue,
): Exclude<ReadBackStatus, "mismatch"> {
  const status = compareReadBack(id, wrote, read);
  if (status === "mismatch")
    throw new VmOpError(
      stage,
      "verify",
      `vCPU ${vcpu.id}: ${regLabel(id)} reads back ${valueText(read)} after KVM_SET_ONE_REG of ${valueText(wrote)}`,
      { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id },
    );
  return status;
}
