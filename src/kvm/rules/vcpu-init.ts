/** What KVM_ARM_VCPU_INIT accepts (arm.c kvm_vcpu_init_check_features). */
import type { GenerationModel } from "../kernels/model.js";
import { ARM_TARGETS } from "../uapi.js";

/** A feature bit outside KVM_VCPU_VALID_FEATURES: kvm_vcpu_init_check_features refuses it with ENOENT. */
export function vcpuFeatureKnown(model: Pick<GenerationModel, "validFeatures">, bit: number): boolean {
  return model.validFeatures.includes(bit);
}

/**
 * kvm_target_cpu (guest.c): the KVM_ARM_TARGET_* of the host's MIDR part; GENERIC_V8 for anything but
 * the Arm AEM/Foundation models, Cortex-A53/A57 and APM X-Gene.
 */
export function kvmTargetCpu(midr: bigint): number {
  const implementer = Number((midr >> 24n) & 0xffn);
  const part = Number((midr >> 4n) & 0xfffn);
  if (implementer === 0x41) {
    if (part === 0xd0f) return ARM_TARGETS.AEM_V8;
    if (part === 0xd00) return ARM_TARGETS.FOUNDATION_V8;
    if (part === 0xd03) return ARM_TARGETS.CORTEX_A53;
    if (part === 0xd07) return ARM_TARGETS.CORTEX_A57;
  }
  if (implementer === 0x50 && part === 0x000) return ARM_TARGETS.XGENE_POTENZA;
  return ARM_TARGETS.GENERIC_V8;
}

/**
 * kvm_vcpu_set_target: "exact" generations (<= 6.1) take only kvm_target_cpu(), later ones GENERIC_V8 or
 * kvm_target_cpu().
 */
export function vcpuTargetAccepted(
  model: Pick<GenerationModel, "vcpuTarget">,
  target: number,
  cpuTarget: number,
): boolean {
  return target === cpuTarget || (model.vcpuTarget === "genericOrCpu" && target === ARM_TARGETS.GENERIC_V8);
}
