/**
 * What a VMM wrote, recognised by its first bytes, read into a guestabi Snapshot: a QEMU migration
 * stream (qemu-stream.ts), a Firecracker snapshot state file (firecracker-snapshot.ts) or a Cloud
 * Hypervisor state.json (cloud-hypervisor.ts). Each reader throws its own one-line error on a corrupt
 * file; a file none of them recognises is undefined here.
 */
import type { Snapshot } from "../formats/snapshot.js";
import { SnapshotFormatError } from "../formats/snapshot.js";
import { looksLikeCloudHypervisorState, readCloudHypervisorState } from "./cloud-hypervisor.js";
import { looksLikeFirecrackerSnapshot, readFirecrackerSnapshot } from "./firecracker-snapshot.js";
import { QEMU_VERSIONS } from "./qemu.js";
import {
  QemuStreamError,
  decodeQemuStream,
  looksLikeQemuStream,
  qemuStreamToSnapshot,
} from "./qemu-stream.js";

export interface VmmArtifact {
  snapshot: Snapshot;
  /** The `--vmm` name of the VMM that wrote it (its restore rules are the natural ones to check by). */
  vmm: string;
  /** What the file is, e.g. "QEMU migration stream (machine virt-7.2)". */
  format: string;
  /** What the file does not record and how the snapshot fills it in. */
  notes: string[];
}

/**
 * The QEMU that wrote a stream, from its versioned machine type ("virt-7.2" is QEMU 7.2's newest, the
 * machine `-M virt` names there); the newest modelled QEMU where the type names no modelled version.
 */
function qemuVmmOf(machineType: string | null): string {
  const version = /^virt-(\d+\.\d+)$/.exec(machineType ?? "")?.[1];
  return version && (QEMU_VERSIONS as readonly string[]).includes(version) ? `qemu@${version}` : "qemu";
}

/** The VMM artifact in `bytes`, or undefined when it is none of the formats above. */
export function readVmmArtifact(bytes: Uint8Array): VmmArtifact | undefined {
  if (looksLikeQemuStream(bytes)) {
    const stream = decodeQemuStream(bytes);
    const snapshot = qemuStreamToSnapshot(stream);
    return {
      snapshot,
      vmm: qemuVmmOf(stream.machineType),
      format: `QEMU migration stream${stream.machineType ? ` (machine ${stream.machineType})` : ""}`,
      notes: snapshot.note ? [snapshot.note] : [],
    };
  }
  if (looksLikeFirecrackerSnapshot(bytes)) return { ...readFirecrackerSnapshot(bytes), vmm: "firecracker" };
  if (looksLikeCloudHypervisorState(bytes))
    return { ...readCloudHypervisorState(bytes), vmm: "cloud-hypervisor" };
  return undefined;
}

/** Whether `e` is a reader's one-line error about a corrupt artifact. */
export const isArtifactError = (e: unknown): e is Error =>
  e instanceof QemuStreamError || e instanceof SnapshotFormatError;
