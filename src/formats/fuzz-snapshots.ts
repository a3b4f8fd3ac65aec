/**
 * Mutation fuzzing of the snapshot readers: valid snapshots (binary and JSON) get bit flips, byte
 * inserts/deletes, length-field edits, splices and truncations, the JSON form also JSON-aware edits
 * (fuzz/engine.ts); every read must return a valid snapshot or throw SnapshotFormatError — never
 * another exception, never a hang. Half of the binary mutants get their total length and checksum
 * recomputed so the mutation reaches the structural checks. The long run of every reader:
 * `npm run fuzz` (src/fuzz/main.ts).
 */
import { createHash } from "node:crypto";
import { COPROC, makeId, sysregId } from "../regs/id.js";
import type { RegId, RegSize } from "../regs/id.js";
import type { RegValue } from "../kvm/types.js";
import { CORE_PC, FW_REGS, VCPU_FEATURES, coreXReg } from "../kvm/uapi.js";
import { regSizeBytes } from "../kvm/values.js";
import {
  SVE_VLS_ID,
  SnapshotFormatError,
  formatSnapshotJson,
  parseSnapshotJson,
  validateSnapshot,
  vqsToVls,
} from "./snapshot.js";
import type { Snapshot, VcpuSnapshot } from "./snapshot.js";
import { decodeSnapshotBinary, encodeSnapshotBinary } from "./snapshot-binary.js";
import {
  JSON_JUNK,
  editU32,
  int,
  mutateBytes,
  mutateJsonText,
  mutateText,
  pick,
  prng,
  randomBytes,
  roundTrips,
  runTarget,
} from "./fuzz/engine.js";
import type { FuzzTarget, Mutant, Rand } from "./fuzz/engine.js";

export interface FuzzReport {
  runs: number;
  /** Mutants that still read as a valid snapshot. */
  accepted: number;
  /** Rejections by "form:code" (e.g. "binary:checksum", "json:schema"). */
  rejected: Record<string, number>;
  /** Anything else thrown (should stay empty): run number, mutation, error. */
  unexpected: { run: number; mutation: string; error: string }[];
  ms: number;
  /** The slowest single read. */
  maxMs: number;
}

const u64 = (r: Rand): bigint => (BigInt(int(r, 2 ** 32)) << 32n) | BigInt(int(r, 2 ** 32));

function value(r: Rand, id: RegId): RegValue {
  const size = regSizeBytes(id);
  return size > 8 ? randomBytes(r, size) : BigInt.asUintN(size * 8, u64(r));
}

/** A plausible vCPU: core, V and FP registers, ID/system registers, firmware, SVE, an unknown class. */
function sampleVcpu(r: Rand, id: number): VcpuSnapshot {
  const sve = r() < 0.4;
  const sveVqs = sve ? [1, 2, 4].slice(0, 1 + int(r, 3)) : undefined;
  const ids: RegId[] = [
    coreXReg(0),
    coreXReg(1),
    CORE_PC,
    makeId("U128", COPROC.core, 0x54),
    makeId("U32", COPROC.core, 0xd4),
  ];
  for (let i = 0; i < 6 + int(r, 10); i++)
    ids.push(sysregId(3, int(r, 8), int(r, 16), int(r, 16), int(r, 8)));
  ids.push(FW_REGS.PSCI_VERSION, FW_REGS.SMCCC_ARCH_WORKAROUND_1, FW_REGS.STD_BMAP);
  ids.push(
    makeId((["U8", "U16", "U64", "U256"] as RegSize[])[int(r, 4)]!, 0x7a + int(r, 8), int(r, 0x10000)),
  );
  if (sve) ids.push(makeId("U2048", COPROC.sve, 0), makeId("U256", COPROC.sve, 0x400), SVE_VLS_ID);
  const regs = new Map<RegId, RegValue>();
  for (const x of [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    regs.set(x, x === SVE_VLS_ID ? vqsToVls(sveVqs!) : value(r, x));
  const features = [
    VCPU_FEATURES.PSCI_0_2,
    ...(r() < 0.5 ? [VCPU_FEATURES.PMU_V3] : []),
    ...(sve ? [VCPU_FEATURES.SVE] : []),
  ];
  return {
    id,
    init: { target: 5, features },
    ...(sveVqs ? { sveVqs } : {}),
    attrs: r() < 0.5 ? [{ group: 1, attr: 0n, data: Uint8Array.of(27, 0, 0, 0) }] : [],
    regs,
  };
}

export function sampleSnapshot(r: Rand): Snapshot {
  return {
    source: { release: "6.1.0-31-arm64", generation: "6.1", cpuLabel: "Neoverse-N1", backend: "sim" },
    note: "fuzz base",
    vm: {
      ipaBits: 40,
      caps: r() < 0.5 ? [{ cap: 221, flags: 0, args: [1n] }] : [],
      attrs: r() < 0.5 ? [{ group: 0, attr: 0n, data: randomBytes(r, 24) }] : [],
    },
    vcpus: Array.from({ length: 1 + int(r, 3) }, (_, i) => sampleVcpu(r, i)),
  };
}

/** Offsets of the little-endian length/count fields of a valid binary snapshot (u32 each). */
function lengthFields(b: Uint8Array): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = [12, 16];
  let pos = 24;
  for (let i = 0; i < dv.getUint32(12, true); i++) {
    out.push(pos + 4);
    if (i > 0) out.push(pos + 12); // a register section's count
    pos += 8 + dv.getUint32(pos + 4, true);
  }
  return out;
}

/**
 * Byte mutations of a binary snapshot; a third first edit a length field of the unshifted base, and
 * half get their total length and checksum recomputed so the mutation reaches the structural checks.
 */
function mutateBinary(r: Rand, base: Uint8Array, other: Uint8Array): Mutant<Uint8Array> {
  let b: Uint8Array = base;
  const names: string[] = [];
  if (r() < 0.3) {
    b = Uint8Array.from(base);
    const fields = lengthFields(base);
    const off = pick(r, fields);
    const dv = new DataView(b.buffer);
    dv.setUint32(off, editU32(r, dv.getUint32(off, true)), true);
    names.push("length");
  }
  if (names.length === 0 || r() < 0.5) {
    const m = mutateBytes(r, b, other);
    b = m.input;
    names.push(m.mutation);
  }
  if (r() < 0.5 && b.length >= 56) {
    b = Uint8Array.from(b);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dv.setBigUint64(16, BigInt(b.length), true);
    b.set(
      createHash("sha256")
        .update(b.subarray(0, b.length - 32))
        .digest(),
      b.length - 32,
    );
    names.push("reseal");
  }
  return { input: b, mutation: names.join("+") };
}

const snapshotRejection = (form: string) => (e: unknown) =>
  e instanceof SnapshotFormatError ? `${form}:${e.code}` : undefined;

/** A success must be a real snapshot: valid, and stable through another binary round trip. */
function verifySnapshot(doc: unknown): void {
  const s = doc as Snapshot;
  validateSnapshot(s);
  roundTrips(s, (x) => decodeSnapshotBinary(encodeSnapshotBinary(x as Snapshot)));
}

/** Seed snapshots: plausible vCPU states of every register class, deterministic for a seed. */
export function sampleSnapshots(seed: number, n = 6): Snapshot[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => sampleSnapshot(r));
}

/** The binary snapshot reader (decodeSnapshotBinary) under fuzz. */
export function snapshotBinaryTarget(snaps: readonly Snapshot[]): FuzzTarget<Uint8Array> {
  return {
    name: "snapshot-binary",
    seeds: snaps.map(encodeSnapshotBinary),
    mutate: mutateBinary,
    read: decodeSnapshotBinary,
    rejection: snapshotRejection("binary"),
    verify: verifySnapshot,
  };
}

/** The JSON snapshot reader (parseSnapshotJson) under fuzz: text and JSON-aware mutations by default. */
export function snapshotJsonTarget(
  snaps: readonly Snapshot[],
  mutate: FuzzTarget<string>["mutate"] = mutateJsonText,
): FuzzTarget<string> {
  return {
    name: "snapshot-json",
    seeds: snaps.map(formatSnapshotJson),
    mutate,
    read: parseSnapshotJson,
    rejection: snapshotRejection("json"),
    verify: verifySnapshot,
  };
}

/** Runs n mutants (4 of 5 binary, 1 of 5 JSON) and tallies what the readers did. */
export function runSnapshotFuzz(n: number, seed = 1): FuzzReport {
  const snaps = sampleSnapshots(seed);
  const json = Math.floor(n / 5);
  const reps = [
    runTarget(snapshotBinaryTarget(snaps), { runs: n - json, seed }),
    // Text mutations only here; the JSON-aware ones run in src/fuzz.
    runTarget(
      snapshotJsonTarget(snaps, (r, base, other) => mutateText(r, base, other, JSON_JUNK)),
      { runs: json, seed },
    ),
  ];
  return {
    runs: n,
    accepted: reps.reduce((a, x) => a + x.accepted, 0),
    rejected: Object.assign({}, ...reps.map((x) => x.rejected)) as Record<string, number>,
    // A multi-line message breaks the one-line error contract of the CLI: unexpected too.
    unexpected: reps.flatMap((x) =>
      [...x.found.crashes, ...x.found.multiLine].map((f) => ({
        run: f.index,
        mutation: f.mutation,
        error: f.error,
      })),
    ),
    ms: reps.reduce((a, x) => a + x.ms, 0),
    maxMs: Math.max(...reps.map((x) => x.slowest.ms)),
  };
}
