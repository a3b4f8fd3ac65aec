/**
 * Conveniences built only on the interface (types.ts), so every backend gets them for free.
 */
import type { RegId } from "../regs/id.js";
import { KvmError } from "./errors.js";
import type { KvmVcpu, VcpuInit } from "./types.js";
import { CORE_PC, KVM_VCPU_INIT_FEATURE_WORDS, VCPU_ATTR, VCPU_FEATURES, coreXReg } from "./uapi.js";
import type { VcpuFeatureName } from "./uapi.js";

/**
 * KVM_GET_REG_LIST the usual way: ask with room for nothing, get E2BIG with the count, ask again with
 * that much room. Retries if the count grew in between (it does not on a quiescent vCPU).
 */
export function getRegList(vcpu: KvmVcpu): RegId[] {
  let capacity = 0;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return vcpu.getRegListRaw(capacity);
    } catch (e) {
      if (!KvmError.is(e, "E2BIG") || e.required === undefined || e.required <= capacity) throw e;
      capacity = e.required;
    }
  }
  throw new KvmError("KVM_GET_REG_LIST", "E2BIG", { detail: "register count kept changing" });
}

/** Feature bit numbers from names: vcpuFeatures("PSCI_0_2", "PMU_V3") -> [2, 3]. */
export function vcpuFeatures(...names: VcpuFeatureName[]): number[] {
  return [...new Set(names.map((n) => VCPU_FEATURES[n]))].sort((a, b) => a - b);
}

/** Feature names of bit numbers; unknown bits as "bit<n>". */
export function vcpuFeatureNames(bits: readonly number[]): string[] {
  const byBit = new Map(Object.entries(VCPU_FEATURES).map(([k, v]) => [v as number, k]));
  return [...new Set(bits)].sort((a, b) => a - b).map((b) => byBit.get(b) ?? `bit${b}`);
}

/** struct kvm_vcpu_init.features[7] words from feature bit numbers. */
export function featureWords(features: readonly number[]): number[] {
  const words = new Array<number>(KVM_VCPU_INIT_FEATURE_WORDS).fill(0);
  for (const bit of features) {
    if (!Number.isInteger(bit) || bit < 0 || bit >= KVM_VCPU_INIT_FEATURE_WORDS * 32)
      throw new RangeError(`vCPU feature bit ${bit} does not fit kvm_vcpu_init.features[7]`);
    words[bit >> 5] = (words[bit >> 5]! | (1 << (bit & 31))) >>> 0;
  }
  return words;
}

/** Feature bit numbers from struct kvm_vcpu_init.features[] words. */
export function featureBitsOf(words: readonly number[]): number[] {
  const bits: number[] = [];
  words.forEach((w, i) => {
    for (let b = 0; b < 32; b++) if ((w >>> b) & 1) bits.push(i * 32 + b);
  });
  return bits;
}

/** A VcpuInit with the features normalized (sorted, unique). */
export function normalizeVcpuInit(init: VcpuInit): VcpuInit {
  return { target: init.target, features: featureBitsOf(featureWords(init.features)) };
}

export function getX(vcpu: KvmVcpu, n: number): bigint {
  return vcpu.getOneReg(coreXReg(n)) as bigint;
}

export function setX(vcpu: KvmVcpu, n: number, value: bigint): void {
  vcpu.setOneReg(coreXReg(n), BigInt.asUintN(64, value));
}

export function setPc(vcpu: KvmVcpu, pc: bigint): void {
  vcpu.setOneReg(CORE_PC, pc);
}

export function getPc(vcpu: KvmVcpu): bigint {
  return vcpu.getOneReg(CORE_PC) as bigint;
}

/**
 * Completes an SMCCC call forwarded by a HYPERCALL exit: x0..x3 <- results (missing ones left as they
 * are). Values are taken modulo 2^64, so -1n gives SMCCC_RET_NOT_SUPPORTED.
 */
export function completeHypercall(vcpu: KvmVcpu, results: readonly bigint[]): void {
  results.slice(0, 4).forEach((v, i) => setX(vcpu, i, v));
}

/**
 * KVM_ARM_VCPU_PMU_V3_INIT on a vCPU initialised with PMU_V3 and no in-kernel irqchip (no PMU IRQ):
 * required before its first KVM_RUN on kernels that check it (EINVAL otherwise).
 */
export function initPmu(vcpu: KvmVcpu): void {
  vcpu.setDeviceAttr(VCPU_ATTR.PMU_V3_CTRL.group, VCPU_ATTR.PMU_V3_CTRL.INIT);
}
