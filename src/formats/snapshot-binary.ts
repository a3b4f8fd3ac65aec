/**
 * The binary form of a snapshot, and snapshot files in either form.
 *
 * Layout (every integer little-endian, as arm64 KVM stores register values):
 *
 *   offset    size  field
 *   0         8     magic "GABISNAP" (ASCII)
 *   8         2     major version (u16) = 1; a reader refuses other majors
 *   10        2     minor version (u16) = 0; a reader accepts newer minors
 *   12        4     section count (u32)
 *   16        8     total length in bytes, checksum included (u64)
 *   24        ...   sections, back to back, each:
 *                     +0  4  kind (u32): 1 = header, 2 = vCPU registers
 *                     +4  4  payload length in bytes (u32)
 *                     +8  .. payload
 *   total-32  32    SHA-256 of bytes [0, total-32)
 *
 *   Section 0 is the header: UTF-8 JSON of snapshot.ts's SnapshotHeaderSchema (source host, VM state,
 *   vCPU inits; no registers). Then one register section per vCPU, in the header's vCPU order:
 *     +0  4  vCPU id (u32), equal to the header's
 *     +4  4  register count (u32)
 *     +8  records sorted by id, strictly ascending: id (u64), then KVM_REG_SIZE(id) bytes of value
 *         exactly as KVM_GET_ONE_REG stores them (1..256 bytes, little-endian)
 *   Sections of kinds this reader does not know are skipped when the file's minor is newer than ours
 *   (that is what a newer minor may add) and refused otherwise.
 *
 * A reader checks magic, version, total length (truncation / trailing bytes) and the checksum first,
 * then the structure, bounding every count by the bytes actually present before believing it.
 */
import { createHash } from "node:crypto";
import { formatId, malformedReason } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import type { RegValue } from "../kvm/types.js";
import { regSizeBytes, regValueFromBytes, regValueToBytes } from "../kvm/values.js";
import { writeFileAtomic } from "./atomic-write.js";
import { readBounded } from "./bounded-read.js";
import type { Snapshot } from "./snapshot.js";
import {
  SNAPSHOT_LIMITS,
  SNAPSHOT_VERSION,
  SnapshotFormatError,
  formatSnapshotJson,
  parseSnapshotJson,
  snapshotFromHeaderJson,
  snapshotHeaderToJson,
  validateSnapshot,
} from "./snapshot.js";

export const SNAPSHOT_MAGIC = new TextEncoder().encode("GABISNAP");
const FIXED_HEADER = 24;
const SECTION_HEADER = 8;
const CHECKSUM = 32;
const MIN_RECORD = 9; // an 8-byte id and a U8 value
export const SECTION_KIND = { header: 1, registers: 2 } as const;
/** The header, one section per vCPU, and room for sections a newer minor might add. */
const MAX_SECTIONS = 1 + SNAPSHOT_LIMITS.vcpus + 256;

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(b).digest());
const cmpId = (a: RegId, b: RegId): number => (a < b ? -1 : a > b ? 1 : 0);
function fail(code: SnapshotFormatError["code"], msg: string): never {
  throw new SnapshotFormatError(code, msg);
}

/** The binary form of a snapshot. Throws SnapshotFormatError("invalid") for an inconsistent snapshot. */
export function encodeSnapshotBinary(s: Snapshot): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(snapshotHeaderToJson(s))); // validates s
  if (header.length > SNAPSHOT_LIMITS.headerBytes)
    fail("limit", `snapshot header is ${header.length} bytes (limit ${SNAPSHOT_LIMITS.headerBytes})`);
  const vcpus = s.vcpus.map((v) => {
    const regs = [...v.regs].sort(([a], [b]) => cmpId(a, b));
    const size = 8 + regs.reduce((n, [id]) => n + 8 + regSizeBytes(id), 0);
    return { id: v.id, regs, size };
  });
  const total =
    FIXED_HEADER +
    SECTION_HEADER +
    header.length +
    vcpus.reduce((n, v) => n + SECTION_HEADER + v.size, 0) +
    CHECKSUM;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(SNAPSHOT_MAGIC, 0);
  dv.setUint16(8, SNAPSHOT_VERSION.major, true);
  dv.setUint16(10, SNAPSHOT_VERSION.minor, true);
  dv.setUint32(12, 1 + vcpus.length, true);
  dv.setBigUint64(16, BigInt(total), true);
  let pos = FIXED_HEADER;
  const section = (kind: number, length: number): void => {
    dv.setUint32(pos, kind, true);
    dv.setUint32(pos + 4, length, true);
    pos += SECTION_HEADER;
  };
  section(SECTION_KIND.header, header.length);
  out.set(header, pos);
  pos += header.length;
  for (const v of vcpus) {
    section(SECTION_KIND.registers, v.size);
    dv.setUint32(pos, v.id, true);
    dv.setUint32(pos + 4, v.regs.length, true);
    pos += 8;
    for (const [id, value] of v.regs) {
      dv.setBigUint64(pos, id, true);
      const bytes = regValueToBytes(id, value);
      out.set(bytes, pos + 8);
      pos += 8 + bytes.length;
    }
  }
  out.set(sha256(out.subarray(0, pos)), pos);
  return out;
}

/** Whether bytes start like a binary snapshot (the magic, or a prefix of it for very short input). */
export function looksLikeSnapshotBinary(b: Uint8Array): boolean {
  const n = Math.min(b.length, SNAPSHOT_MAGIC.length);
  return n > 0 && SNAPSHOT_MAGIC.subarray(0, n).every((x, i) => x === b[i]);
}

/** A snapshot from its binary form. Every problem is a one-line SnapshotFormatError. */
export function decodeSnapshotBinary(buf: Uint8Array): Snapshot {
  if (buf.length === 0) fail("truncated", "truncated: the snapshot is empty");
  if (!looksLikeSnapshotBinary(buf)) fail("magic", "not a guestabi binary snapshot (bad magic)");
  if (buf.length < FIXED_HEADER)
    fail("truncated", `truncated: ${buf.length} bytes, the fixed header alone is ${FIXED_HEADER}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const major = dv.getUint16(8, true);
  const minor = dv.getUint16(10, true);
  if (major !== SNAPSHOT_VERSION.major)
    fail(
      "version",
      `snapshot format version ${major}.${minor} is not supported (this guestabi reads ${SNAPSHOT_VERSION.major}.x)`,
    );
  const total = dv.getBigUint64(16, true);
  if (total < BigInt(FIXED_HEADER + CHECKSUM))
    fail("section", `total length field ${total} is below the ${FIXED_HEADER + CHECKSUM}-byte minimum`);
  if (total > BigInt(buf.length))
    fail("truncated", `truncated: the snapshot is ${total} bytes, only ${buf.length} present`);
  if (total < BigInt(buf.length))
    fail(
      "trailing",
      `${BigInt(buf.length) - total} bytes of trailing garbage after the snapshot's ${total} bytes`,
    );
  const end = buf.length - CHECKSUM;
  const want = sha256(buf.subarray(0, end));
  if (!want.every((x, i) => x === buf[end + i]))
    fail("checksum", "checksum mismatch: the snapshot is corrupt");

  // Sections: framing first, so every length below is known to lie inside [FIXED_HEADER, end).
  const count = dv.getUint32(12, true);
  if (count === 0) fail("section", "no sections: the header section is missing");
  if (count > MAX_SECTIONS) fail("limit", `${count} sections (limit ${MAX_SECTIONS})`);
  const sections: { kind: number; start: number; length: number }[] = [];
  let pos = FIXED_HEADER;
  for (let i = 0; i < count; i++) {
    if (end - pos < SECTION_HEADER)
      fail("section", `section ${i} of ${count} starts past the end of the data`);
    const kind = dv.getUint32(pos, true);
    const length = dv.getUint32(pos + 4, true);
    pos += SECTION_HEADER;
    if (length > end - pos)
      fail(
        "section",
        `section ${i}: length ${length} runs past the end of the data (${end - pos} bytes left)`,
      );
    sections.push({ kind, start: pos, length });
    pos += length;
  }
  if (pos !== end)
    fail("trailing", `${end - pos} bytes of garbage between the last section and the checksum`);

  const [head, ...rest] = sections;
  if (head!.kind !== SECTION_KIND.header)
    fail("section", `section 0 has kind ${head!.kind}, expected the header (1)`);
  if (head!.length > SNAPSHOT_LIMITS.headerBytes)
    fail("limit", `header section is ${head!.length} bytes (limit ${SNAPSHOT_LIMITS.headerBytes})`);
  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      buf.subarray(head!.start, head!.start + head!.length),
    );
  } catch {
    fail("syntax", "header section is not valid UTF-8");
  }
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail("syntax", `header section is not JSON: ${(e as Error).message}`);
  }
  const snap = snapshotFromHeaderJson(json);

  let vcpu = 0;
  rest.forEach((sec, j) => {
    if (sec.kind === SECTION_KIND.registers) {
      const v = snap.vcpus[vcpu];
      if (!v)
        fail(
          "section",
          `section ${j + 1}: more register sections than the header's ${snap.vcpus.length} vCPUs`,
        );
      readRegisters(dv, sec.start, sec.length, v.id, vcpu, v.regs);
      vcpu++;
    } else if (sec.kind === SECTION_KIND.header) fail("section", `section ${j + 1}: a second header section`);
    else if (minor <= SNAPSHOT_VERSION.minor)
      fail("section", `section ${j + 1} has unknown kind ${sec.kind}`);
  });
  if (vcpu !== snap.vcpus.length)
    fail("section", `${vcpu} register sections for the header's ${snap.vcpus.length} vCPUs`);
  validateSnapshot(snap);
  return snap;
}

function readRegisters(
  dv: DataView,
  start: number,
  length: number,
  vcpuId: number,
  index: number,
  into: Map<RegId, RegValue>,
): void {
  const where = `vCPU ${vcpuId} (section ${index + 1})`;
  if (length < 8)
    fail("section", `${where}: register section is ${length} bytes, shorter than its 8-byte header`);
  const id = dv.getUint32(start, true);
  if (id !== vcpuId) fail("section", `${where}: register section is for vCPU ${id}`);
  const count = dv.getUint32(start + 4, true);
  if (count > SNAPSHOT_LIMITS.regsPerVcpu)
    fail("limit", `${where}: ${count} registers (limit ${SNAPSHOT_LIMITS.regsPerVcpu})`);
  if (count * MIN_RECORD > length - 8)
    fail("register", `${where}: ${count} registers cannot fit in ${length - 8} bytes`);
  const end = start + length;
  let pos = start + 8;
  let prev = -1n;
  for (let i = 0; i < count; i++) {
    if (end - pos < 8) fail("register", `${where}: register ${i} of ${count} runs past the section's end`);
    const reg = dv.getBigUint64(pos, true);
    const bad = malformedReason(reg);
    if (bad) fail("register", `${where}: register ${i} has malformed id ${formatId(reg)}: ${bad}`);
    const size = regSizeBytes(reg);
    if (size > end - pos - 8)
      fail(
        "register",
        `${where}: register ${formatId(reg)} needs ${size} value bytes, the section has ${end - pos - 8} left`,
      );
    if (reg === prev) fail("register", `${where}: duplicate register ${formatId(reg)}`);
    if (reg < prev)
      fail("register", `${where}: registers not sorted by id (${formatId(reg)} after ${formatId(prev)})`);
    const at = dv.byteOffset + pos + 8;
    into.set(reg, regValueFromBytes(reg, new Uint8Array(dv.buffer, at, size)));
    prev = reg;
    pos += 8 + size;
  }
  if (pos !== end) fail("register", `${where}: ${end - pos} bytes after the last of its ${count} registers`);
}

// ---- files --------------------------------------------------------------------------------------

export type SnapshotEncoding = "binary" | "json";

/** A snapshot from bytes of either form: the binary magic picks binary, anything else is read as JSON. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  if (looksLikeSnapshotBinary(bytes)) return decodeSnapshotBinary(bytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return fail("syntax", "neither a binary snapshot nor UTF-8 JSON");
  }
  if (!/^\s*\{/.test(text))
    fail("magic", "not a guestabi snapshot (neither the GABISNAP magic nor a JSON object)");
  return parseSnapshotJson(text);
}

/**
 * The largest snapshot file a reader takes: SNAPSHOT_LIMITS.vcpus (4096) vCPUs of a 7.2 `max` host with
 * SVE and the PMU come to about 200 MB as JSON (512 of them measured 24.8 MB; binary 7.2 MB).
 */
export const SNAPSHOT_FILE_BYTES = 256 << 20;

/** A snapshot's bytes in `encoding`. */
export function encodeSnapshot(s: Snapshot, encoding: SnapshotEncoding = "binary"): Uint8Array | string {
  return encoding === "binary" ? encodeSnapshotBinary(s) : formatSnapshotJson(s);
}

/** Writes a snapshot atomically (temp file + fsync + rename), binary by default. */
export async function writeSnapshotFile(
  path: string,
  s: Snapshot,
  encoding: SnapshotEncoding = "binary",
): Promise<void> {
  await writeFileAtomic(path, encodeSnapshot(s, encoding));
}

/**
 * Reads a snapshot file of either form, at most SNAPSHOT_FILE_BYTES of it (InputTooLargeError past
 * that). Format problems are SnapshotFormatError prefixed with the path.
 */
export async function readSnapshotFile(path: string): Promise<Snapshot> {
  const bytes = await readBounded(path, SNAPSHOT_FILE_BYTES, "a snapshot");
  try {
    return decodeSnapshot(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new SnapshotFormatError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}
