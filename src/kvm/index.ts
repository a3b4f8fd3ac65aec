/**
 * guestabi's hypervisor layer: the KVM/arm64 interface (types.ts), its errors, uapi numbers, helpers,
 * the Linux backend's opener (loads koffi only when called) and the guest probe program.
 */
export * from "./types.js";
export * from "./errors.js";
export * from "./uapi.js";
export * from "./values.js";
export * from "./helpers.js";
export * from "./machine.js";
export { openLinuxKvm, hostProblem, openProblem } from "./linux/index.js";
export type { LinuxKvmOptions, HostFacts } from "./linux/index.js";
export * as guest from "./guest/index.js";
