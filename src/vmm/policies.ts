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

/** A `--vmm` name no table answers to. */
export class UnknownVmmError extends Error {
  override name = "UnknownVmmError";
}

const POLICIES: readonly RestorePolicy[] = [
  GUESTABI_POLICY,
  ...QEMU_VERSIONS.map((v) => qemuPolicy(v)),
  FIRECRACKER_POLICY,
  CLOUD_HYPERVISOR_POLICY,
  CROSVM_POLICY,
];

/** Every `--vmm` name, in the order help shows them. */
export const VMM_NAMES: readonly string[] = [...POLICIES.map((p) => p.id), "qemu"];

/** The restore policy of a `--vmm` name. */
export function vmmPolicy(name: string): RestorePolicy {
  const id = name === "qemu" ? `qemu@${QEMU_DEFAULT_VERSION}` : name;
  const found = POLICIES.find((p) => p.id === id);
  if (!found) throw new UnknownVmmError(`unknown VMM '${name}' (known: ${VMM_NAMES.join(", ")})`);
  return found;
}
