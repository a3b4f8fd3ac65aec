/** The simulated kernel: KVM/arm64 of 5.10, 6.1, 6.12 and 7.2 on modelled host CPUs. */
export { SimSystem, SimVm, SimVcpu, openSimKvm } from "./kernel.js";
export type { SimOptions } from "./kernel.js";
export { CPU_MODELS, LAB_CPU_MODELS, cpuModel } from "./cpus.js";
export type { CpuModel, SpectreState } from "./cpus.js";
export { GENERATIONS, generationModel } from "./generations.js";
export type { GenerationModel } from "./generations.js";
export { guestAbiFingerprint } from "./fingerprint.js";
export type { GuestAbiFingerprint } from "./fingerprint.js";
export { injectFaults } from "./faults.js";
export type { FaultRule, FaultOp, FaultInjector } from "./faults.js";
