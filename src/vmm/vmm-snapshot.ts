/**
 * What the readers of other VMMs' snapshot files share (firecracker-snapshot.ts, cloud-hypervisor.ts):
 * the result they return, and guestabi's vCPU snapshot built from the registers a VMM saved. Every
 * problem is a one-line SnapshotFormatError (formats/snapshot.ts), so `check` treats a corrupt
 * Firecracker or Cloud Hypervisor file like a corrupt guestabi snapshot.
 */
import { formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { normalizeVcpuInit } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import { SVE_VLS_ID, SnapshotFormatError, vlsToVqs } from "../formats/snapshot.js";
import type {
  DeviceAttr,
  HostIdentity,
  Snapshot,
  SnapshotErrorCode,
  VcpuSnapshot,
} from "../formats/snapshot.js";

/** A snapshot read from another VMM's file, with what the file left for the reader to fill in. */
export interface VmmSnapshotRead {
  snapshot: Snapshot;
  /** The file's format and the VMM releases that write it, e.g. "Firecracker snapshot format 8.0.0 (v1.14)". */
  format: string;
  /** What the file does not record and how `snapshot` fills it in, one line each. */
  notes: string[];
}

/** Neither Firecracker's state file nor Cloud Hypervisor's state.json names the host it was taken on. */
export const UNKNOWN_SOURCE: HostIdentity = { release: "unknown", generation: null, cpuLabel: null };

/** A one-line SnapshotFormatError naming the file kind, e.g. "Firecracker snapshot: ...". */
export function vmmFileError(kind: string, code: SnapshotErrorCode, message: string): SnapshotFormatError {
  return new SnapshotFormatError(code, `${kind}: ${message}`);
}

/** Sets a register once: a second value for the same id is a corrupt file (KVM lists each id once). */
export function addRegister(
  regs: Map<RegId, RegValue>,
  id: RegId,
  value: RegValue,
  fail: (message: string) => never,
): void {
  if (regs.has(id)) fail(`register ${formatId(id)} appears twice`);
  regs.set(id, value);
}

/**
 * guestabi's vCPU snapshot of the registers a VMM saved: features normalised, SVE vector lengths taken
 * from KVM_REG_ARM64_SVE_VLS (which a vCPU with the SVE feature always lists: sve_reg_to_region).
 */
export function vmmVcpu(
  id: number,
  target: number,
  features: readonly number[],
  regs: Map<RegId, RegValue>,
  attrs: DeviceAttr[],
  fail: (message: string) => never,
): VcpuSnapshot {
  const init = normalizeVcpuInit({ target, features: [...features] });
  const vls = regs.get(SVE_VLS_ID);
  const sve = init.features.includes(VCPU_FEATURES.SVE);
  if (sve && !(vls instanceof Uint8Array))
    fail(`vCPU ${id} has the SVE feature but no KVM_REG_ARM64_SVE_VLS register`);
  return { id, init, ...(sve ? { sveVqs: vlsToVqs(vls as Uint8Array) } : {}), attrs, regs };
}
