/**
 * Mutation fuzzing of the QEMU migration stream reader (qemu-stream.ts): valid streams get byte
 * mutations (bit flips, inserts, deletes, splices, truncation; fuzz/engine.ts) over the whole stream,
 * or over its device sections with the JSON description re-framed behind them, or JSON-aware edits of
 * the description; a few are gzip'd. Every read, parse and Snapshot conversion, must give a valid
 * Snapshot or throw QemuStreamError: never another exception, never a hang.
 */
import { gzipSync } from "node:zlib";
import { validateSnapshot } from "../formats/snapshot.js";
import type { Snapshot } from "../formats/snapshot.js";
import { decodeSnapshotBinary, encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { concat, mutateBytes, mutateJson, roundTrips, runTarget } from "../formats/fuzz/engine.js";
import type { FuzzTarget, Mutant, Rand, TargetReport } from "../formats/fuzz/engine.js";
import { QemuStreamError, decodeQemuStream, qemuStreamToSnapshot } from "./qemu-stream.js";

/** A valid stream split where the mutations aim: the framed body, its device sections, the JSON. */
interface SeedParts {
  /** Everything before QEMU_VM_VMDESCRIPTION (QEMU_VM_EOF included). */
  body: Uint8Array;
  /** Where the first device section starts in the body. */
  devicesAt: number;
  json: string;
}

const partsOf = new WeakMap<Uint8Array, SeedParts>();

function seedParts(seed: Uint8Array): SeedParts {
  let p = partsOf.get(seed);
  if (!p) {
    const devices = decodeQemuStream(seed).devices; // seeds are valid streams
    const marker = descriptionAt(seed);
    p = {
      body: seed.subarray(0, marker),
      devicesAt: Math.min(...devices.map((d) => d.offset)),
      json: Buffer.from(seed.subarray(marker + 5)).toString("latin1"),
    };
    partsOf.set(seed, p);
  }
  return p;
}

/** Where a valid stream's JSON description starts: the last 0x06 + be32 length that reaches the end. */
function descriptionAt(seed: Uint8Array): number {
  const dv = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  for (let p = seed.length - 5; p > 0; p--)
    if (seed[p] === 0x06 && dv.getUint32(p + 1) === seed.length - p - 5) return p;
  throw new Error("a fuzz seed without a JSON description");
}

/** body + QEMU_VM_VMDESCRIPTION + be32 length + JSON: what QEMU ends a stream with. */
function frame(body: Uint8Array, json: string): Uint8Array {
  const text = Buffer.from(json, "latin1");
  const head = new Uint8Array(5);
  head[0] = 0x06;
  new DataView(head.buffer).setUint32(1, text.length);
  return concat(body, head, text);
}

/** One mutant of a seed: whole-stream bytes, device-section bytes, description JSON; a few gzip'd. */
export function mutateQemuStream(r: Rand, base: Uint8Array, other: Uint8Array): Mutant<Uint8Array> {
  const p = seedParts(base);
  const kind = r();
  let m: Mutant<Uint8Array>;
  if (kind < 0.3) m = mutateBytes(r, base, other);
  else if (kind < 0.7) {
    const tail = mutateBytes(r, p.body.subarray(p.devicesAt), other);
    m = {
      input: frame(concat(p.body.subarray(0, p.devicesAt), tail.input), p.json),
      mutation: `devices:${tail.mutation}`,
    };
  } else {
    const json = mutateJson(r, p.json, seedParts(other).json);
    m = { input: frame(p.body, json.input), mutation: json.mutation };
  }
  return r() < 0.03
    ? { input: new Uint8Array(gzipSync(m.input, { level: 1 })), mutation: `${m.mutation}+gzip` }
    : m;
}

/** What `guestabi check` does with a stream: read it, then convert it (SVE vCPUs get vq 1, 2, 4). */
function readStream(input: Uint8Array): Snapshot {
  return qemuStreamToSnapshot(decodeQemuStream(input), { sveVqs: [1, 2, 4] });
}

/** The QEMU stream reader under fuzz, seeded with valid streams (testing/qemu-fixtures.ts qemuFuzzSeeds). */
export function qemuStreamTarget(seeds: readonly Uint8Array[]): FuzzTarget<Uint8Array> {
  return {
    name: "qemu-stream",
    seeds,
    mutate: mutateQemuStream,
    read: readStream,
    rejection: (e) => (e instanceof QemuStreamError ? e.code : undefined),
    verify: (doc) => {
      validateSnapshot(doc as Snapshot);
      roundTrips(doc, (x) => decodeSnapshotBinary(encodeSnapshotBinary(x as Snapshot)));
    },
  };
}

/** Runs n mutants of the seeds (the unit test's small run; the long one goes through src/fuzz). */
export function runQemuStreamFuzz(seeds: readonly Uint8Array[], n: number, seed = 1): TargetReport {
  return runTarget(qemuStreamTarget(seeds), { runs: n, seed });
}
