/**
 * A fleet as the analysis reads it: host profiles and VM ABIs each stored once (by content hash), hosts
 * and VMs as counts by reference. An inventory (src/inventory) and a fleet file both come down to this;
 * impact, plan and rollout never see a VM one by one, so their cost grows with distinct (ABI, VMM,
 * host profile) triples, not with VM count.
 */
import { createHash } from "node:crypto";
import { serializeProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import type { Snapshot } from "../formats/snapshot.js";
import { formatTemplateJson } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";

/** How a VM's ABI is chosen: host defaults with vCPU features, a template it is pinned to, or a snapshot. */
export type StoredAbi =
  | { kind: "host-defaults"; features: number[] }
  | { kind: "template"; template: AbiTemplate }
  | { kind: "snapshot"; snapshot: Snapshot };

export type AbiKind = StoredAbi["kind"];

/** Hosts of one group with one profile. */
export interface HostCount {
  group: string;
  /** Content hash of the profile (profileHash). */
  profile: string;
  hosts: number;
}

/** VMs of one group on hosts with one profile, with one ABI, VMM and vCPU count. */
export interface VmCount {
  group: string;
  profile: string;
  /** Content hash of the ABI (abiHash). */
  abi: string;
  /** The VMM's `--vmm` name (src/vmm/policies.ts). */
  vmm: string;
  vcpus: number;
  vms: number;
  /** What reports call these VMs (a fleet file's VM entry name); an inventory may leave it out. */
  name?: string;
}

export interface FleetModel {
  name: string;
  profiles: ReadonlyMap<string, HostProfile>;
  abis: ReadonlyMap<string, StoredAbi>;
  hostCounts: readonly HostCount[];
  vmCounts: readonly VmCount[];
}

const sha256 = (kind: string, bytes: string | Uint8Array): string =>
  createHash("sha256").update(kind).update("\0").update(bytes).digest("hex");

/**
 * The content hash of a profile: sha256 of its canonical JSON (serializeProfile) without when and how
 * long it was probed, so that probing the same host again gives the same hash.
 */
export function profileHash(p: HostProfile): string {
  return sha256("profile", serializeProfile({ ...p, probedAt: new Date(0).toISOString(), durationMs: 0 }));
}

/** The content hash of an ABI (without creation times): its template JSON, its binary snapshot, or its sorted feature bits. */
export function abiHash(a: StoredAbi): string {
  switch (a.kind) {
    case "host-defaults":
      return sha256("host-defaults", [...a.features].sort((x, y) => x - y).join(","));
    case "template": {
      const provenance = { ...a.template.provenance };
      delete provenance.createdAt;
      return sha256("template", formatTemplateJson({ ...a.template, provenance }));
    }
    case "snapshot": {
      const snapshot = { ...a.snapshot };
      delete snapshot.createdAt;
      return sha256("snapshot", encodeSnapshotBinary(snapshot));
    }
  }
}
