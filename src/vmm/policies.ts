/**
 * The VMMs whose restore rules guestabi models, by their `--vmm` name: guestabi's own restore and each
 * real VMM's table (src/vmm/<vmm>.ts, every rule citing the VMM source it follows).
 */
import type { RestorePolicy } from "../check/restore-policy.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";

/** A `--vmm` name no table answers to. */
export class UnknownVmmError extends Error {
  override name = "UnknownVmmError";
}

const POLICIES: readonly RestorePolicy[] = [GUESTABI_POLICY];

/** Every `--vmm` name, in the order help shows them. */
export const VMM_NAMES: readonly string[] = POLICIES.map((p) => p.id);

/** The restore policy of a `--vmm` name. */
export function vmmPolicy(name: string): RestorePolicy {
  const found = POLICIES.find((p) => p.id === name);
  if (!found) throw new UnknownVmmError(`unknown VMM '${name}' (known: ${VMM_NAMES.join(", ")})`);
  return found;
}
