/**
 * Mutation fuzzing of the snapshot readers: valid snapshots (binary and JSON) get bit flips, byte
 * inserts/deletes, length-field edits, splices and truncations; every read must return a valid snapshot
 * or throw SnapshotFormatError — never another exception, never a hang. Half of the binary mutants get
 * their total length and checksum recomputed so the mutation reaches the structural checks.
 *
 *   node dist/formats/fuzz-snapshots.js [runs] [seed]
 *
 * Self-contained (no fast-check) and deterministic for a seed.
 */
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
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

type Rand = () => number;
/** mulberry32: small, fast, good enough to pick mutations. */
function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const bytes = (r: Rand, n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(r, 256));
const u64 = (r: Rand): bigint => (BigInt(int(r, 2 ** 32)) << 32n) | BigInt(int(r, 2 ** 32));

function value(r: Rand, id: RegId): RegValue {
  const size = regSizeBytes(id);
  return size > 8 ? bytes(r, size) : BigInt.asUintN(size * 8, u64(r));
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
      attrs: r() < 0.5 ? [{ group: 0, attr: 0n, data: bytes(r, 24) }] : [],
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

function mutateBinary(r: Rand, base: Uint8Array, other: Uint8Array): { data: Uint8Array; mutation: string } {
  let b: Uint8Array = Uint8Array.from(base);
  const names: string[] = [];
  for (let k = 0; k < 1 + int(r, 3); k++) {
    const kind = ["flip", "insert", "delete", "length", "splice", "truncate"][int(r, 6)]!;
    names.push(kind);
    const at = int(r, b.length + 1);
    if (kind === "flip" && b.length > 0) {
      for (let i = 0; i < 1 + int(r, 4); i++) b[int(r, b.length)]! ^= 1 << int(r, 8);
    } else if (kind === "insert") {
      b = concat(b.subarray(0, at), bytes(r, 1 + int(r, 8)), b.subarray(at));
    } else if (kind === "delete") {
      b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(r, 16))));
    } else if (kind === "length" && k === 0) {
      // Only on the unshifted base, where the fields are where lengthFields says.
      const fields = lengthFields(base);
      const off = fields[int(r, fields.length)]!;
      const dv = new DataView(b.buffer);
      const old = dv.getUint32(off, true);
      const v = [0, 1, old - 1, old + 1, old * 2, 0xffffffff, 0x80000000, int(r, 2 ** 32)][int(r, 8)]!;
      dv.setUint32(off, v >>> 0, true);
    } else if (kind === "splice") {
      const from = int(r, other.length);
      const chunk = other.subarray(from, from + 1 + int(r, 64));
      b =
        r() < 0.5
          ? concat(b.subarray(0, at), chunk, b.subarray(at))
          : concat(b.subarray(0, at), chunk, b.subarray(at + chunk.length));
    } else if (kind === "truncate") {
      b = b.slice(0, at);
    }
  }
  if (r() < 0.5 && b.length >= 56) {
    // Forge a consistent frame so the mutation reaches the structural checks.
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
  return { data: b, mutation: names.join("+") };
}

function mutateJson(r: Rand, base: string, other: string): { text: string; mutation: string } {
  let t = base;
  const names: string[] = [];
  const junk = [
    '"',
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "0",
    "x",
    "f",
    "-",
    "1e999",
    "null",
    "\\",
    "\u00e9",
    "\ud800",
    " ",
  ];
  for (let k = 0; k < 1 + int(r, 3); k++) {
    const kind = ["replace", "insert", "delete", "splice", "truncate"][int(r, 5)]!;
    names.push(kind);
    const at = int(r, t.length + 1);
    if (kind === "replace") t = t.slice(0, at) + junk[int(r, junk.length)]! + t.slice(at + 1);
    else if (kind === "insert") t = t.slice(0, at) + junk[int(r, junk.length)]! + t.slice(at);
    else if (kind === "delete") t = t.slice(0, at) + t.slice(at + 1 + int(r, 24));
    else if (kind === "splice") {
      const from = int(r, other.length);
      t = t.slice(0, at) + other.slice(from, from + 1 + int(r, 80)) + t.slice(at);
    } else t = t.slice(0, at);
  }
  return { text: t, mutation: names.join("+") };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Runs n mutants (4 of 5 binary, 1 of 5 JSON) and tallies what the readers did. */
export function runSnapshotFuzz(n: number, seed = 1): FuzzReport {
  const r = prng(seed);
  const snaps = Array.from({ length: 6 }, () => sampleSnapshot(r));
  const bins = snaps.map(encodeSnapshotBinary);
  const jsons = snaps.map(formatSnapshotJson);
  const report: FuzzReport = { runs: n, accepted: 0, rejected: {}, unexpected: [], ms: 0, maxMs: 0 };
  const started = performance.now();
  for (let run = 0; run < n; run++) {
    const i = int(r, snaps.length);
    const j = int(r, snaps.length);
    const binary = run % 5 !== 4;
    const m = binary ? mutateBinary(r, bins[i]!, bins[j]!) : mutateJson(r, jsons[i]!, jsons[j]!);
    const t0 = performance.now();
    try {
      const s = "data" in m ? decodeSnapshotBinary(m.data) : parseSnapshotJson(m.text);
      // A success must be a real snapshot: valid, and stable through another binary round trip.
      validateSnapshot(s);
      if (!isDeepStrictEqual(decodeSnapshotBinary(encodeSnapshotBinary(s)), s))
        throw new Error("round trip differs");
      report.accepted++;
    } catch (e) {
      if (e instanceof SnapshotFormatError && !e.message.includes("\n")) {
        const key = `${binary ? "binary" : "json"}:${e.code}`;
        report.rejected[key] = (report.rejected[key] ?? 0) + 1;
      } else report.unexpected.push({ run, mutation: m.mutation, error: String((e as Error)?.stack ?? e) });
    }
    report.maxMs = Math.max(report.maxMs, performance.now() - t0);
  }
  report.ms = performance.now() - started;
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 10000);
  const seed = Number(process.argv[3] ?? 1);
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(seed)) {
    console.error("usage: node dist/formats/fuzz-snapshots.js [runs] [seed]");
    process.exit(2);
  }
  const rep = runSnapshotFuzz(n, seed);
  console.log(
    `runs ${rep.runs} (seed ${seed}) in ${(rep.ms / 1000).toFixed(2)} s, ${Math.round(rep.runs / (rep.ms / 1000))} reads/s, slowest read ${rep.maxMs.toFixed(2)} ms`,
  );
  console.log(`accepted (valid snapshots) ${rep.accepted}`);
  for (const [k, v] of Object.entries(rep.rejected).sort()) console.log(`rejected ${k.padEnd(18)} ${v}`);
  console.log(`unexpected ${rep.unexpected.length}`);
  for (const u of rep.unexpected.slice(0, 5))
    console.log(`  run ${u.run} ${u.mutation}: ${u.error.split("\n")[0]}`);
  process.exitCode = rep.unexpected.length ? 1 : 0;
}
