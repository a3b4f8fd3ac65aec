/**
 * The simulated kernel: KVM/arm64 of upstream 5.10, 6.1, 6.12, 6.18 and 7.2, Amazon Linux's 5.10 and 6.1 (and a
 * synthetic "next") on modelled host CPUs.
 */
export { SimSystem, openSimKvm } from "./system.js";
export type { SimOptions } from "./system.js";
export { SimVm } from "./vm.js";
export type { Scope } from "./vm.js";
export { SimVcpu } from "./vcpu.js";
export { kvmTargetCpu } from "../rules/vcpu-init.js";
export { CPU_MODELS, LAB_CPU_MODELS, cpuModel } from "./cpus.js";
export type { CpuModel, SpectreState } from "./cpus.js";
export { learnCpuModel } from "./learn-cpu.js";
export type { LearnedCpuModel } from "./learn-cpu.js";
export {
  GENERATIONS,
  NEXT_GENERATION,
  SIM_GENERATION_MODELS,
  generationModel,
} from "../kernels/generations.js";
export { HYPERCALL_SERVICE, SIM_GENERATIONS, isSimGeneration } from "../kernels/model.js";
export type { GenerationModel, SimGeneration } from "../kernels/model.js";
export {
  GUESTABI_CAP,
  HYPERCALL_IDENTITY_BASE,
  HYPERCALL_IDENTITY_COUNT,
  REG_SCOPE_VM_FLAG,
  hasScopeFlag,
  identityRegId,
  identityService,
  scopeOfListEntry,
  stripScopeFlag,
} from "./proposals.js";
export { DEFAULT_CONDUIT, guestAbiFingerprint } from "./fingerprint.js";
export type { Conduit, FingerprintHooks, GuestAbiFingerprint } from "./fingerprint.js";
export { injectFaults } from "./faults.js";
export type { FaultRule, FaultOp, FaultInjector } from "./faults.js";
