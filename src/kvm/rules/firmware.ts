/**
 * Whether KVM accepts a userspace write of a firmware pseudo-register: kvm_arm_set_fw_reg (psci.c 5.10,
 * hypercalls.c 6.1+) for PSCI_VERSION and the SMCCC_ARCH_WORKAROUND levels (against get_kernel_wa_level),
 * kvm_arm_set_fw_reg_bmap for the feature bitmaps. Values come as 32-bit halves (`lo`, `hi`), so the
 * checker's fast path calls these directly; the simulator splits its bigint.
 */
import type { GenerationModel } from "../kernels/model.js";

/**
 * kvm_arm_set_fw_reg(PSCI_VERSION): the versions a vCPU may be set to: with KVM_ARM_VCPU_PSCI_0_2 the ones
 * the kernel knows (KVM_ARM_PSCI_0_2 .. its latest), without it only 0.1.
 */
export function psciVersionsAccepted(
  model: Pick<GenerationModel, "psciVersions">,
  wants02: boolean,
): bigint[] {
  return wants02 ? [...model.psciVersions] : [0x1n];
}

/**
 * kvm_arm_set_fw_reg(SMCCC_ARCH_WORKAROUND_1/_3): only the level bits, and get_kernel_wa_level(regid) >= val
 * (a lower level than the kernel's is accepted: the guest gets more than it asked for).
 */
export function waAccepted(lo: number, hi: number, kernelLevel: number): boolean {
  return hi === 0 && (lo & ~0xf) === 0 && lo <= kernelLevel;
}

/**
 * kvm_arm_set_fw_reg(SMCCC_ARCH_WORKAROUND_2): the level it compares (NOT_AVAIL 0 for NOT_AVAIL/UNKNOWN,
 * NOT_REQUIRED 3 for AVAIL/NOT_REQUIRED), or -1 for a value it refuses outright (bits beyond the level
 * and ENABLED, ENABLED without AVAIL, an undefined level).
 */
export function wa2Level(lo: number, hi: number): number {
  if (hi !== 0 || (lo & ~0x1f) !== 0) return -1;
  const level = lo & 0xf;
  if (lo & 0x10 && level !== 2) return -1;
  if (level <= 1) return 0;
  if (level <= 3) return 3;
  return -1;
}

/** kvm_arm_set_fw_reg(SMCCC_ARCH_WORKAROUND_2): "We can deal with NOT_AVAIL on NOT_REQUIRED, but not the other way around". */
export function wa2Accepted(lo: number, hi: number, kernelLevel: number): boolean {
  const want = wa2Level(lo, hi);
  return want >= 0 && kernelLevel >= want;
}

/** kvm_arm_set_fw_reg_bmap: no bit the kernel does not know (`features`, at most 32 bits wide). */
export function bitmapAccepted(lo: number, hi: number, features: number): boolean {
  return hi === 0 && (lo & ~features) >>> 0 === 0;
}
