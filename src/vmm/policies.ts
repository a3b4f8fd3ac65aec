/**
 * The VMMs whose restore rules guestabi models, by their `--vmm` name: guestabi's own restore and each
 * real VMM's table (src/vmm/<vmm>.ts, every rule citing the VMM source it follows). "qemu" alone is the
 * newest QEMU modelled.
 */
import type { RestorePolicy } from "../check/restore-policy.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";
import { CLOUD_HYPERVISOR_POLICY } from "./cloud-hypervisor.js";
import { CROSVM_POLICY } from "./crosvm.js";
import { FIRECRACKER_POLICY } from "./firecracker-policy.js";
import { QEMU_DEFAULT_VERSION, QEMU_VERSIONS, qemuPolicy } from "./qemu.js";
import { unknownVmmMessage } from "./vmm-names.js";

export { VMM_NAMES } from "./vmm-names.js";

/** A `--vmm` name no table answers to. */
export class UnknownVmmError extends Error {
  override name = "UnknownVmmError";
}

/** The policies, in VMM_NAMES's order. */
export const POLICIES: readonly RestorePolicy[] = [
  GUESTABI_POLICY,
  ...QEMU_VERSIONS.map((v) => qemuPolicy(v)),
  FIRECRACKER_POLICY,
  CLOUD_HYPERVISOR_POLICY,
  CROSVM_POLICY,
];

/** The restore policy of a `--vmm` name. */
export function vmmPolicy(name: string): RestorePolicy {
  const id = name === "qemu" ? `qemu@${QEMU_DEFAULT_VERSION}` : name;
  const found = POLICIES.find((p) => p.id === id);
  if (!found) throw new UnknownVmmError(unknownVmmMessage(name));
  return found;
}
