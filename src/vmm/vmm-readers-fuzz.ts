/**
 * Fuzz targets of the readers of other VMMs' snapshot files (formats/fuzz/engine.ts): a Firecracker
 * state file (readFirecrackerSnapshot) and a Cloud Hypervisor state.json (readCloudHypervisorState),
 * seeded with the files the test writers make for every release and era. Every mutant must read as a
 * valid snapshot or be refused with the reader's one-line SnapshotFormatError, never anything else.
 */
import { SnapshotFormatError, validateSnapshot } from "../formats/snapshot.js";
import { decodeSnapshotBinary, encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import {
  JSON_JUNK,
  int,
  mutateBytes,
  mutateJson,
  mutateJsonText,
  mutateText,
  pick,
  roundTrips,
} from "../formats/fuzz/engine.js";
import type { FuzzTarget, Mutant, Rand } from "../formats/fuzz/engine.js";
import { readFirecrackerSnapshot } from "./firecracker-snapshot.js";
import { readCloudHypervisorState } from "./cloud-hypervisor.js";
import type { VmmSnapshotRead } from "./vmm-snapshot.js";
import {
  FIRECRACKER_RELEASES,
  withCrc,
  writeFirecrackerSnapshot,
} from "./testing/firecracker-snapshot-writer.js";
import type { FirecrackerRelease } from "./testing/firecracker-snapshot-writer.js";
import { writeCloudHypervisorState } from "./testing/cloud-hypervisor-state-writer.js";
import type { CloudHypervisorEra } from "./testing/cloud-hypervisor-state-writer.js";
import { sampleVcpuRegs } from "./testing/vmm-vcpu-samples.js";

const rejection = (reader: string) => (e: unknown) =>
  e instanceof SnapshotFormatError ? `${reader}:${e.code}` : undefined;

/** An accepted file must give a valid snapshot that survives a guestabi binary round trip. */
function verifyRead(doc: unknown): void {
  const { snapshot } = doc as VmmSnapshotRead;
  validateSnapshot(snapshot);
  roundTrips(snapshot, (s) => decodeSnapshotBinary(encodeSnapshotBinary(s as typeof snapshot)));
}

// ---- Firecracker ----------------------------------------------------------------------------------

/** One file per release: two vCPUs, the second with SVE (kvi of vCPU 1 left out on v1.7). */
export function firecrackerSeeds(): Uint8Array[] {
  return (Object.keys(FIRECRACKER_RELEASES) as FirecrackerRelease[]).map((release) => {
    const v17 = release === "v1.7";
    return writeFirecrackerSnapshot(
      {
        memMib: 128n,
        bootArgs: "console=ttyS0",
        caps: ["170"],
        vcpus: [0, 1].map((i) => ({
          regs: sampleVcpuRegs(i, { pmu: i === 0, sve: !v17 && i === 1 }),
          mpidr: 0x8000_0000n | BigInt(i),
          ...(v17 && i === 1
            ? {}
            : { kvi: { target: 5, features: [2, ...(i ? [0] : []), ...(!v17 && i ? [4] : [])] } }),
          pvtimeIpa: 0x4000_0000n,
        })),
      },
      release,
    );
  });
}

const U64_EDITS = [0n, 1n, 2n, 0xffn, 0x1_0000n, 0xffff_ffffn, 1n << 32n, 1n << 63n, (1n << 64n) - 1n];

/**
 * Byte mutations; a third first set a u64 at a random offset to a boundary value (lengths, tags and
 * variants are what bincode reads), and half are resealed with a fresh CRC-64 so that the mutation
 * reaches the structure behind the checksum.
 */
function mutateFirecracker(r: Rand, base: Uint8Array, other: Uint8Array): Mutant<Uint8Array> {
  let b: Uint8Array = base;
  const names: string[] = [];
  if (r() < 0.3 && base.length > 16) {
    b = Uint8Array.from(base);
    new DataView(b.buffer).setBigUint64(int(r, b.length - 15), pick(r, U64_EDITS), true);
    names.push("u64");
  }
  if (names.length === 0 || r() < 0.5) {
    const m = mutateBytes(r, b, other);
    b = m.input;
    names.push(m.mutation);
  }
  if (r() < 0.5 && b.length >= 8) {
    b = withCrc(b.subarray(0, b.length - 8));
    names.push("reseal");
  }
  return { input: b, mutation: names.join("+") };
}

/** readFirecrackerSnapshot under fuzz. */
export function firecrackerSnapshotTarget(
  seeds: readonly Uint8Array[] = firecrackerSeeds(),
): FuzzTarget<Uint8Array> {
  return {
    name: "firecracker-snapshot",
    seeds,
    mutate: mutateFirecracker,
    read: readFirecrackerSnapshot,
    rejection: rejection("firecracker"),
    verify: verifyRead,
  };
}

// ---- Cloud Hypervisor -----------------------------------------------------------------------------

const ERAS: readonly CloudHypervisorEra[] = ["v29-v38", "v39-v52", "v53"];

/** One state.json per era: two vCPUs, the second with SVE in v53. */
export function cloudHypervisorSeeds(): string[] {
  return ERAS.map((era) =>
    writeCloudHypervisorState(
      [0, 1].map((i) => sampleVcpuRegs(i, { pmu: i === 0, sve: era === "v53" && i === 1 })),
      era,
    ),
  );
}

type StateTree = { snapshots: Record<string, { snapshots: Record<string, { snapshot_data: unknown }> }> };

/**
 * Half the mutants edit the whole file (JSON-aware and text edits), half one vCPU's state inside it:
 * the JSON text in a string (v39+) or in an array of byte values (v29-v38), where a whole-file edit
 * rarely reaches. The whole-file JSON edits see each vCPU state as a short token, put back after: the
 * engine's long-string edit repeats a value up to 200,000 times, more than V8 makes of a state's
 * kilobytes.
 */
function mutateCloudHypervisor(r: Rand, base: string, other: string): Mutant<string> {
  // The seeds' trees hold no integer beyond 2^53 outside the states: JSON.parse keeps them exact.
  const doc = JSON.parse(base) as StateTree;
  const vcpus = doc.snapshots["cpu-manager"]!.snapshots;
  if (r() < 0.5) {
    const states = new Map<string, string>();
    for (const [id, leaf] of Object.entries(vcpus)) {
      const token = `vcpu-state-${id}`;
      states.set(JSON.stringify(token), JSON.stringify(leaf.snapshot_data));
      leaf.snapshot_data = token;
    }
    const skeleton = JSON.stringify(doc);
    const m = r() < 0.5 ? mutateJson(r, skeleton, other) : mutateText(r, skeleton, other, JSON_JUNK);
    let text = m.input;
    for (const [token, data] of states) text = text.split(token).join(data);
    return { input: text, mutation: m.mutation };
  }
  const leaf = vcpus[pick(r, Object.keys(vcpus))]!;
  const data = leaf.snapshot_data;
  const text = Array.isArray(data)
    ? new TextDecoder().decode(Uint8Array.from(data as number[]))
    : (data as { state: string }).state;
  const m = mutateJsonText(r, text, text);
  leaf.snapshot_data = Array.isArray(data) ? [...new TextEncoder().encode(m.input)] : { state: m.input };
  return { input: JSON.stringify(doc), mutation: `vcpu-state:${m.mutation}` };
}

/** readCloudHypervisorState under fuzz. */
export function cloudHypervisorStateTarget(
  seeds: readonly string[] = cloudHypervisorSeeds(),
): FuzzTarget<string> {
  return {
    name: "cloud-hypervisor-state",
    seeds,
    mutate: mutateCloudHypervisor,
    read: readCloudHypervisorState,
    rejection: rejection("cloud-hypervisor"),
    verify: verifyRead,
  };
}
