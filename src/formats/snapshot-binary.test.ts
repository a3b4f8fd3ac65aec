import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { makeId } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import { runSnapshotFuzz } from "./fuzz-snapshots.js";
import { SnapshotFormatError, snapshotHeaderToJson } from "./snapshot.js";
import {
  SECTION_KIND,
  decodeSnapshot,
  decodeSnapshotBinary,
  encodeSnapshotBinary,
  readSnapshotFile,
  writeSnapshotFile,
} from "./snapshot-binary.js";
import { smallSnapshot, snapshotArb, throwsFormat } from "./testing/snapshot-arbitraries.js";

const enc = new TextEncoder();
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};
const u64 = (n: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
const cat = (...p: Uint8Array[]): Uint8Array => Uint8Array.from(p.flatMap((x) => [...x]));
const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(b).digest());

/** A binary snapshot from raw sections, with a correct total length and checksum (a forger's file). */
function frame(
  sections: [number, Uint8Array][],
  o: { major?: number; minor?: number; count?: number } = {},
): Uint8Array {
  const body = cat(...sections.flatMap(([kind, p]) => [u32(kind), u32(p.length), p]));
  const head = new Uint8Array(24);
  const dv = new DataView(head.buffer);
  head.set(enc.encode("GABISNAP"));
  dv.setUint16(8, o.major ?? 1, true);
  dv.setUint16(10, o.minor ?? 0, true);
  dv.setUint32(12, o.count ?? sections.length, true);
  dv.setBigUint64(16, BigInt(24 + body.length + 32), true);
  const all = cat(head, body);
  return cat(all, sha(all));
}
const header = (h: unknown = snapshotHeaderToJson(smallSnapshot())): [number, Uint8Array] => [
  SECTION_KIND.header,
  enc.encode(JSON.stringify(h)),
];
/** A register section: vCPU id, count (default: the records'), records of id + raw value bytes. */
function regs(vcpu: number, records: [RegId, Uint8Array][], count = records.length): [number, Uint8Array] {
  return [SECTION_KIND.registers, cat(u32(vcpu), u32(count), ...records.flatMap(([id, v]) => [u64(id), v]))];
}
/** The valid register section of smallSnapshot(), as records. */
function smallRecords(): [RegId, Uint8Array][] {
  const b = encodeSnapshotBinary(smallSnapshot());
  const dv = new DataView(b.buffer);
  const hlen = dv.getUint32(28, true);
  let pos = 24 + 8 + hlen + 8 + 8;
  const out: [RegId, Uint8Array][] = [];
  while (pos < b.length - 32) {
    const id = dv.getBigUint64(pos, true);
    const size = 1 << Number((id >> 52n) & 0xfn);
    out.push([id, b.slice(pos + 8, pos + 8 + size)]);
    pos += 8 + size;
  }
  return out;
}

describe("binary snapshot", () => {
  it("lays out magic, version, count, total length, sections and a trailing SHA-256", () => {
    const s = smallSnapshot();
    const b = encodeSnapshotBinary(s);
    const dv = new DataView(b.buffer);
    assert.equal(new TextDecoder().decode(b.subarray(0, 8)), "GABISNAP");
    assert.deepEqual([dv.getUint16(8, true), dv.getUint16(10, true), dv.getUint32(12, true)], [1, 1, 2]);
    assert.equal(dv.getBigUint64(16, true), BigInt(b.length));
    assert.deepEqual(b.subarray(b.length - 32), sha(b.subarray(0, b.length - 32)));
    assert.equal(dv.getUint32(24, true), SECTION_KIND.header);
    const recs = smallRecords();
    assert.deepEqual(
      recs.map(([id]) => id),
      [...s.vcpus[0]!.regs.keys()].sort((a, c) => (a < c ? -1 : 1)),
    );
    assert.deepEqual([...recs[0]![1]], [0x34, 0x12, 0, 0, 0, 0, 0, 0]); // x0 = 0x1234, little-endian
    assert.deepStrictEqual(decodeSnapshotBinary(frame([header(), regs(0, recs)])), s);
  });

  it("round-trips any snapshot exactly", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        assert.deepStrictEqual(decodeSnapshotBinary(encodeSnapshotBinary(s)), s);
      }),
      { numRuns: 300 },
    );
  });

  it("fails cleanly at every truncation length", () => {
    const b = encodeSnapshotBinary(smallSnapshot());
    for (let n = 0; n < b.length; n++)
      throwsFormat(() => decodeSnapshotBinary(b.subarray(0, n)), "truncated");
  });

  it("fails cleanly on every single-byte change: checksum, or the field it hit", () => {
    const b = encodeSnapshotBinary(smallSnapshot());
    for (let pos = 0; pos < b.length; pos++) {
      for (const mask of [1, 2, 4, 8, 16, 32, 64, 128, 0xff]) {
        const m = Uint8Array.from(b);
        m[pos]! ^= mask;
        const code =
          pos < 8 ? "magic" : pos < 10 ? "version" : pos >= 16 && pos < 24 ? undefined : "checksum";
        assert.throws(
          () => decodeSnapshotBinary(m),
          (e: unknown) =>
            e instanceof SnapshotFormatError &&
            (code ? e.code === code : ["truncated", "trailing", "section"].includes(e.code)),
          `byte ${pos} ^ ${mask}`,
        );
      }
    }
  });

  it("refuses wrong magic, other majors and trailing bytes; accepts newer minors", () => {
    const b = encodeSnapshotBinary(smallSnapshot());
    throwsFormat(() => decodeSnapshotBinary(cat(enc.encode("GABISNAQ"), b.subarray(8))), "magic");
    throwsFormat(
      () => decodeSnapshotBinary(cat(b, Uint8Array.of(0))),
      "trailing",
      /1 bytes of trailing garbage/,
    );
    throwsFormat(
      () => decodeSnapshotBinary(frame([header(), regs(0, smallRecords())], { major: 2 })),
      "version",
      /2\.0/,
    );
    // A newer minor may add section kinds: skipped. The same section in a 1.0 file is refused.
    const future: [number, Uint8Array] = [99, enc.encode("anything")];
    const newer = frame([header(), future, regs(0, smallRecords())], { minor: 3 });
    assert.deepStrictEqual(decodeSnapshotBinary(newer), smallSnapshot());
    throwsFormat(
      () => decodeSnapshotBinary(frame([header(), future, regs(0, smallRecords())])),
      "section",
      /unknown kind 99/,
    );
  });

  it("fails structurally under a forged checksum", () => {
    const recs = smallRecords();
    const [x0, x0v] = recs[0]!;
    const d = (sections: [number, Uint8Array][], o?: Parameters<typeof frame>[1]) => () =>
      decodeSnapshotBinary(frame(sections, o));
    throwsFormat(
      d([header(), regs(0, [recs[0]!, recs[0]!, ...recs.slice(1)])]),
      "register",
      /duplicate register 0x6030000000100000/,
    );
    throwsFormat(d([header(), regs(0, [recs[1]!, recs[0]!, ...recs.slice(2)])]), "register", /not sorted/);
    throwsFormat(
      d([header(), regs(0, [[0x7030000000100000n, x0v], ...recs.slice(1)])]),
      "register",
      /malformed id/,
    );
    // A U2048 id whose 256 value bytes are not there: the id's size field does not match the bytes.
    throwsFormat(
      d([header(), regs(0, [...recs, [makeId("U2048", 0x15, 0x7fe), new Uint8Array(8)]])]),
      "register",
      /needs 256 value bytes/,
    );
    throwsFormat(d([header(), regs(0, recs, recs.length + 1)]), "register");
    throwsFormat(d([header(), regs(0, recs, 70000)]), "limit", /70000 registers/);
    throwsFormat(
      d([header(), regs(0, [...recs, [makeId("U256", 0xfff, 0xffff), new Uint8Array(33)]])]),
      "register",
      /1 bytes after the last/,
    );
    throwsFormat(d([header(), regs(5, recs)]), "section", /for vCPU 5/);
    throwsFormat(d([header(), regs(0, recs), regs(0, recs)]), "section", /more register sections/);
    throwsFormat(d([header()]), "section", /0 register sections for the header's 1 vCPUs/);
    throwsFormat(d([header(), header(), regs(0, recs)]), "section", /second header/);
    throwsFormat(d([regs(0, recs), header()]), "section", /expected the header/);
    throwsFormat(d([[1, Uint8Array.of(0xff, 0xfe)], regs(0, recs)]), "syntax", /UTF-8/);
    throwsFormat(d([[1, enc.encode("{nope")], regs(0, recs)]), "syntax", /not JSON/);
    throwsFormat(
      d([header({ ...snapshotHeaderToJson(smallSnapshot()), vm: {} }), regs(0, recs)]),
      "schema",
      /vm\.ipaBits/,
    );
    const many = { ...snapshotHeaderToJson(smallSnapshot()) };
    many.vcpus = Array.from({ length: 4097 }, (_, i) => ({ ...many.vcpus[0]!, id: i }));
    throwsFormat(d([header(many)]), "schema", /vcpus/);
    throwsFormat(d([header(), regs(0, recs)], { count: 0 }), "section", /no sections/);
    throwsFormat(d([header(), regs(0, recs)], { count: 1 << 30 }), "limit", /sections/);
    throwsFormat(d([header(), regs(0, recs)], { count: 3 }), "section", /starts past the end/);
    throwsFormat(
      d([header(), regs(0, recs)], { count: 1 }),
      "trailing",
      /between the last section and the checksum/,
    );
    throwsFormat(d([header(), regs(0, [[x0, x0v.subarray(0, 4)]])]), "register");
    // A section whose length runs past the data: patch the length field, then reseal.
    const b = frame([header(), regs(0, recs)]);
    new DataView(b.buffer).setUint32(28, 0xfffffff0, true);
    b.set(sha(b.subarray(0, b.length - 32)), b.length - 32);
    throwsFormat(() => decodeSnapshotBinary(b), "section", /length 4294967280 runs past the end/);
  });

  it("survives mutation fuzzing: a valid snapshot or SnapshotFormatError, nothing else", () => {
    const rep = runSnapshotFuzz(3000, 7);
    assert.deepEqual(rep.unexpected, []);
    assert.equal(rep.accepted + Object.values(rep.rejected).reduce((a, b) => a + b, 0), 3000);
    // Resealed mutants reach the structural checks.
    for (const k of ["binary:checksum", "binary:section", "binary:register", "json:syntax"])
      assert.ok((rep.rejected[k] ?? 0) > 0, `no ${k} rejections: ${JSON.stringify(rep.rejected)}`);
    assert.ok(rep.maxMs < 1000, `slowest read ${rep.maxMs} ms`);
  });
});

describe("snapshot files", () => {
  it("write atomically and read back in either form", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guestabi-snap-"));
    try {
      const s = smallSnapshot();
      await writeSnapshotFile(join(dir, "a.snap"), s);
      await writeSnapshotFile(join(dir, "a.json"), s, "json");
      assert.deepStrictEqual(await readSnapshotFile(join(dir, "a.snap")), s);
      assert.deepStrictEqual(await readSnapshotFile(join(dir, "a.json")), s);
      assert.equal((await readFile(join(dir, "a.json"), "utf8")).slice(0, 1), "{");
      assert.deepStrictEqual(decodeSnapshot(await readFile(join(dir, "a.json"))), s);
      await writeFile(join(dir, "bad.snap"), (await readFile(join(dir, "a.snap"))).subarray(0, 40));
      await assert.rejects(readSnapshotFile(join(dir, "bad.snap")), (e: unknown) => {
        assert.ok(e instanceof SnapshotFormatError);
        assert.match(e.message, /bad\.snap: truncated/);
        return true;
      });
      throwsFormat(() => decodeSnapshot(enc.encode("hello")), "magic");
      // Nothing is written for an invalid snapshot.
      s.vcpus[0]!.init = { target: 5, features: [9, 1] };
      await assert.rejects(writeSnapshotFile(join(dir, "a.snap"), s), SnapshotFormatError);
      assert.deepStrictEqual(await readSnapshotFile(join(dir, "a.snap")), smallSnapshot());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
