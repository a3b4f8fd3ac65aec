/**
 * Profiles and ABIs as the inventory stores them, each once under its content hash (fleet/model.ts):
 * a profile as the JSON text serializeProfile writes (read back by readProfile), an ABI as the form
 * its own file has — a template's JSON file text, a snapshot's binary encoding — or, for host defaults,
 * its sorted feature bits ("2,3"). Encoding validates: nothing invalid reaches a database.
 */
import { abiHash, profileHash } from "../fleet/model.js";
import type { AbiKind, StoredAbi } from "../fleet/model.js";
import { ProfileError, readProfile, serializeProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { decodeSnapshotBinary, encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { SnapshotFormatError } from "../formats/snapshot.js";
import { TemplateFormatError, formatTemplateJson, parseTemplateJson } from "../formats/template.js";
import { InventoryError } from "./backend.js";

export interface ProfileRecord {
  hash: string;
  release: string;
  cpu: string | null;
  json: string;
}

export interface AbiRecord {
  hash: string;
  kind: AbiKind;
  features: string | null;
  template: string | null;
  snapshot: Buffer | null;
}

/** struct kvm_vcpu_init has features[7]: 224 feature bits. */
const FEATURE_BITS = 224;

/** Runs `fn`, a format error (the document is not valid) becoming an InventoryError naming `what`. */
function validating<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProfileError || e instanceof TemplateFormatError || e instanceof SnapshotFormatError)
      throw new InventoryError(`${what}: ${e.message}`);
    throw e;
  }
}

export function profileRecord(p: HostProfile): ProfileRecord {
  const json = validating("host profile", () => serializeProfile(p));
  return { hash: profileHash(p), release: p.host.release, cpu: p.host.cpuLabel, json };
}

export function profileFromRecord(r: Pick<ProfileRecord, "hash" | "json">): HostProfile {
  return validating(`stored profile ${r.hash}`, () => readProfile(r.json, `profile ${r.hash}`));
}

function featureText(features: readonly number[]): string {
  const sorted = [...features].sort((a, b) => a - b);
  if (!sorted.every((b, i) => Number.isInteger(b) && b >= 0 && b < FEATURE_BITS && b !== sorted[i - 1]))
    throw new InventoryError(
      `host-defaults ABI: features must be unique bit numbers below ${FEATURE_BITS} (got ${JSON.stringify(features)})`,
    );
  return sorted.join(",");
}

export function abiRecord(a: StoredAbi): AbiRecord {
  const none = { features: null, template: null, snapshot: null };
  switch (a.kind) {
    case "host-defaults":
      return { hash: abiHash(a), kind: a.kind, ...none, features: featureText(a.features) };
    case "template": {
      const template = validating("template ABI", () => formatTemplateJson(a.template));
      return { hash: abiHash(a), kind: a.kind, ...none, template };
    }
    case "snapshot": {
      const bytes = validating("snapshot ABI", () => encodeSnapshotBinary(a.snapshot));
      return { hash: abiHash(a), kind: a.kind, ...none, snapshot: Buffer.from(bytes) };
    }
    default:
      throw new InventoryError(`unknown ABI kind ${JSON.stringify((a as { kind: unknown }).kind)}`);
  }
}

export function abiFromRecord(r: AbiRecord): StoredAbi {
  return validating(`stored ABI ${r.hash}`, (): StoredAbi => {
    if (r.kind === "host-defaults")
      return { kind: r.kind, features: r.features ? r.features.split(",").map(Number) : [] };
    if (r.kind === "template") return { kind: r.kind, template: parseTemplateJson(r.template!) };
    const b = r.snapshot!;
    return {
      kind: r.kind,
      snapshot: decodeSnapshotBinary(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
    };
  });
}
