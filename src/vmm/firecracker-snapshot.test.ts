import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { COPROC, makeId, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { FW_REGS, coreXReg } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { SnapshotFormatError } from "../formats/snapshot.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { smallSnapshot, throwsFormat } from "../formats/testing/snapshot-arbitraries.js";
import {
  FIRECRACKER_FORMATS,
  firecrackerCrc64,
  looksLikeFirecrackerSnapshot,
  readFirecrackerSnapshot,
} from "./firecracker-snapshot.js";
import {
  FIRECRACKER_RELEASES,
  withCrc,
  writeFirecrackerSnapshot,
} from "./testing/firecracker-snapshot-writer.js";
import type { FirecrackerRelease, FirecrackerSnapshotModel } from "./testing/firecracker-snapshot-writer.js";
import { MIDR_EL1, VLS, Z0, sampleVcpuRegs } from "./testing/vmm-vcpu-samples.js";

const RELEASES = Object.keys(FIRECRACKER_RELEASES) as FirecrackerRelease[];
const PC = makeId("U64", COPROC.core, 256 / 4);

/** Two vCPUs; vCPU 1 has SVE (not on v1.7, whose kvi may be None). */
function model(release: FirecrackerRelease): FirecrackerSnapshotModel {
  const sve = release !== "v1.7";
  return {
    memMib: 256n,
    bootArgs: "console=ttyS0 reboot=k panic=1",
    caps: ["170", "!126"],
    vcpus: [0, 1].map((i) => ({
      regs: sampleVcpuRegs(i, { sve: sve && i === 1 }),
      mpidr: 0x8000_0000n | BigInt(i),
      kvi: { target: 5, features: [2, ...(i > 0 ? [0] : []), ...(sve && i === 1 ? [4] : [])] },
      pvtimeIpa: 0x4000_1000n + BigInt(i) * 64n,
    })),
  };
}

/** The u64 little-endian bytes of v. */
const le64 = (v: bigint): number[] =>
  Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const le32 = (v: number): number[] => Array.from({ length: 4 }, (_, i) => (v >>> (8 * i)) & 0xff);
const str = (s: string): number[] => [...le64(BigInt(s.length)), ...new TextEncoder().encode(s)];

/** Re-seals bytes whose body was edited: a fresh CRC-64 over all but the last 8. */
const reseal = (b: Uint8Array): Uint8Array => withCrc(b.subarray(0, Math.max(0, b.length - 8)));

describe("Firecracker snapshot state files (aarch64, bincode era)", () => {
  it("computes the crc64 crate's CRC-64: Firecracker's test vector and the Jones check value", () => {
    // snapshot/crc.rs test_crc_write: 16 bytes of 123.
    assert.equal(firecrackerCrc64(new Uint8Array(16).fill(123)), 0x29d5_3572_1632_6566n);
    assert.equal(firecrackerCrc64(new TextEncoder().encode("123456789")), 0xe9c6_d914_c4b8_d9can);
    const file = writeFirecrackerSnapshot(model("v1.14"), "v1.14");
    assert.equal(firecrackerCrc64(file), 0n); // Snapshot::load's test: the whole file's CRC is 0
  });

  it("reads a format 6.0.0 file assembled byte by byte from the v1.12 definitions", () => {
    const body = [
      ...le64(0x0710_1984_aaaa_0000n), // magic (aarch64)
      ...str("6.0.0"),
      // VmInfo: mem_size_mib, smt, cpu_template None (1), boot_source, huge_pages None (0)
      ...le64(128n),
      0,
      ...le32(1),
      ...str("vmlinux"),
      0,
      1,
      ...str("console=ttyS0"),
      ...le32(0),
      // KvmState: kvm_cap_modifiers ["170"]
      ...le64(1n),
      ...str("170"),
      // VmState.memory: one region {base_address, size}
      ...le64(1n),
      ...le64(0x8000_0000n),
      ...le64(128n << 20n),
      // VmState.gic: dist [[chunk]], one vCPU interface {rdist [], icc {main [], ap [None]}}
      ...le64(1n),
      ...le64(1n),
      ...le32(0x12),
      ...le64(1n),
      ...le64(0n),
      ...le64(0n),
      ...le64(1n),
      0,
      // vcpu_states: one VcpuState
      ...le64(1n),
      ...le64(4n),
      ...le32(0), // mp_state: KVM_MP_STATE_RUNNABLE as a 4-byte blob
      ...le64(4n),
      ...le64(coreXReg(0)),
      ...le64(PC),
      ...le64(MIDR_EL1),
      ...le64(FW_REGS.PSCI_VERSION),
      ...le64(32n),
      ...le64(0x1234n),
      ...le64(0xffff_8000_0801_0000n),
      ...le64(0x410f_d0c1n),
      ...le64(0x1_0001n),
      ...le64(0x8000_0000n), // mpidr
      ...le64(32n),
      ...le32(5),
      ...le32(0b1100),
      ...Array<number>(24).fill(0), // kvi: GENERIC_V8, PSCI 0.2 + PMU
      ...Array<number>(8).fill(0xdd), // device states: not read
    ];
    const read = readFirecrackerSnapshot(withCrc(Uint8Array.from(body)));
    assert.equal(read.format, "Firecracker snapshot format 6.0.0 (Firecracker v1.12)");
    const [vcpu, ...rest] = read.snapshot.vcpus;
    assert.equal(rest.length, 0);
    assert.deepEqual(vcpu!.init, { target: 5, features: [2, 3] });
    assert.deepEqual(
      vcpu!.regs,
      new Map<RegId, RegValue>([
        [0x6030_0000_0010_0000n, 0x1234n],
        [0x6030_0000_0010_0040n, 0xffff_8000_0801_0000n],
        [0x6030_0000_0013_c000n, 0x410f_d0c1n],
        [0x6030_0000_0014_0000n, 0x1_0001n],
      ]),
    );
    assert.deepEqual(vcpu!.attrs, []);
    assert.deepEqual(read.snapshot.source, { release: "unknown", generation: null, cpuLabel: null });
    assert.deepEqual(read.snapshot.vm, { ipaBits: 0, caps: [], attrs: [] });
    assert.equal(read.snapshot.note, "Firecracker v1.12 snapshot (format 6.0.0), 128 MiB, CPU template None");
  });

  it("reads every release's layout back to the registers, inits and stolen-time IPAs it saved", () => {
    const expected: Record<FirecrackerRelease, string> = {
      "v1.7": "Firecracker snapshot format 1.0.0 (Firecracker v1.7)",
      "v1.8": "Firecracker snapshot format 2.0.0 (Firecracker v1.8)",
      "v1.10.0": "Firecracker snapshot format 3.0.0 (Firecracker v1.9, v1.10.0)",
      "v1.10.1": "Firecracker snapshot format 4.0.0 (Firecracker v1.10.1)",
      "v1.11": "Firecracker snapshot format 5.0.0 (Firecracker v1.11)",
      "v1.12": "Firecracker snapshot format 6.0.0 (Firecracker v1.12)",
      "v1.13": "Firecracker snapshot format 8.0.0 (Firecracker v1.13)",
      "v1.14": "Firecracker snapshot format 8.0.0 (Firecracker v1.14)",
    };
    for (const release of RELEASES) {
      const m = model(release);
      const read = readFirecrackerSnapshot(writeFirecrackerSnapshot(m, release));
      assert.equal(read.format, expected[release]);
      const [v0, v1] = read.snapshot.vcpus;
      assert.deepEqual(v0!.regs, new Map(m.vcpus[0]!.regs), release);
      assert.deepEqual(v1!.regs, new Map(m.vcpus[1]!.regs), release);
      assert.deepEqual(v0!.init, { target: 5, features: [2] });
      const pvtime = (ipa: number[]) => [{ group: 2, attr: 0n, data: Uint8Array.from(ipa) }];
      if (release === "v1.7") {
        assert.deepEqual(v1!.init, { target: 5, features: [0, 2] });
        assert.equal(v1!.sveVqs, undefined);
      } else {
        // vCPU 1: POWER_OFF, PSCI 0.2 and SVE with vq 1 and 2 from its KVM_REG_ARM64_SVE_VLS.
        assert.deepEqual(v1!.init, { target: 5, features: [0, 2, 4] });
        assert.deepEqual(v1!.sveVqs, [1, 2]);
        assert.equal((v1!.regs.get(Z0) as Uint8Array).length, 256);
        assert.ok(v1!.regs.has(VLS));
      }
      const since13 = release === "v1.13" || release === "v1.14";
      assert.deepEqual(v0!.attrs, since13 ? pvtime([0x00, 0x10, 0x00, 0x40, 0, 0, 0, 0]) : [], release);
      assert.deepEqual(v1!.attrs, since13 ? pvtime([0x40, 0x10, 0x00, 0x40, 0, 0, 0, 0]) : [], release);
    }
    assert.deepEqual(
      FIRECRACKER_FORMATS.map((f) => `${f.version} ${f.releases}`),
      ["1 v1.7", "2 v1.8", "3 v1.9, v1.10.0", "4 v1.10.1", "5 v1.11", "6 v1.12", "8 v1.14", "8 v1.13"],
    );
  });

  it("fills in v1.7's missing kvi from Firecracker's default_kvi, and says so", () => {
    const m = model("v1.7");
    m.vcpus.forEach((v) => delete v.kvi);
    const read = readFirecrackerSnapshot(writeFirecrackerSnapshot(m, "v1.7"));
    assert.deepEqual(
      read.snapshot.vcpus.map((v) => v.init),
      [
        { target: 5, features: [2] },
        { target: 5, features: [0, 2] },
      ],
    );
    assert.deepEqual(read.notes, [
      "kvm_vcpu_init not saved (v1.7 without template vcpu_features): Firecracker's default_kvi is assumed, PSCI 0.2 (+ POWER_OFF past vCPU 0) and the destination's preferred target, taken as GENERIC_V8",
      "the host the snapshot was taken on is not recorded (source: unknown)",
      "the GIC's saved registers are skipped: no machine pins (GICD_IIDR is not saved)",
    ]);
  });

  it("tells v1.13's from v1.14's 8.0.0 layout (the same version string)", () => {
    const m = model("v1.13");
    m.its = false;
    assert.match(
      readFirecrackerSnapshot(writeFirecrackerSnapshot(m, "v1.13")).format,
      /\(Firecracker v1\.13\)$/,
    );
    assert.match(
      readFirecrackerSnapshot(writeFirecrackerSnapshot(m, "v1.14")).format,
      /\(Firecracker v1\.14\)$/,
    );
  });

  it("names the snapshots it cannot read: x86_64, Versionize, bitcode, 7.0.0, unknown versions", () => {
    const file = writeFirecrackerSnapshot(model("v1.14"), "v1.14");
    const withMagic = (magic: bigint) => {
      const b = Uint8Array.from(file);
      new DataView(b.buffer).setBigUint64(0, magic, true);
      return reseal(b);
    };
    throwsFormat(() => readFirecrackerSnapshot(withMagic(0x0710_1984_8664_0000n)), "magic", /x86_64/);
    throwsFormat(
      () => readFirecrackerSnapshot(withMagic(0x0710_1984_aaaa_0001n)),
      "version",
      /^Firecracker snapshot: Versionize format 1 \(Firecracker v1\.6 and earlier\): not readable/,
    );
    // A bitcode file has no magic at offset 0; its CRC-64 trailer gives it away.
    const bitcode = withCrc(Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff));
    assert.equal(looksLikeFirecrackerSnapshot(bitcode), true);
    throwsFormat(
      () => readFirecrackerSnapshot(bitcode),
      "version",
      /bitcode format of Firecracker v1\.15 and later/,
    );
    const withVersion = (v: string) =>
      withCrc(Uint8Array.from([...le64(0x0710_1984_aaaa_0000n), ...str(v), 0, 0]));
    throwsFormat(
      () => readFirecrackerSnapshot(withVersion("7.0.0")),
      "version",
      /never in a Firecracker release/,
    );
    throwsFormat(
      () => readFirecrackerSnapshot(withVersion("9.0.0")),
      "version",
      /is bitcode \(Firecracker v1\.15/,
    );
    throwsFormat(() => readFirecrackerSnapshot(withVersion("0.1.0")), "version", /format 0\.1\.0 is unknown/);
    throwsFormat(
      () => readFirecrackerSnapshot(withVersion("8.1.0")),
      "version",
      /no Firecracker release writes minor 1/,
    );
    throwsFormat(() => readFirecrackerSnapshot(withVersion("v8")), "version", /not MAJOR\.MINOR\.PATCH/);
    throwsFormat(() => readFirecrackerSnapshot(Uint8Array.of(1, 2, 3)), "truncated");
    throwsFormat(() => readFirecrackerSnapshot(new TextEncoder().encode('{"snapshots":{}}')), "magic");
  });

  it("refuses corrupt files with one typed line: CRC, counts, register data, variants", () => {
    const file = writeFirecrackerSnapshot(model("v1.12"), "v1.12");
    const flipped = Uint8Array.from(file);
    flipped[40]! ^= 1;
    throwsFormat(() => readFirecrackerSnapshot(flipped), "checksum", /CRC-64 mismatch/);
    // mem_size_mib is at 21 (8 magic + 13 version); smt at 29; cpu_template at 30.
    const edit = (at: number, bytes: number[]) => {
      const b = Uint8Array.from(file);
      b.set(bytes, at);
      return reseal(b);
    };
    throwsFormat(() => readFirecrackerSnapshot(edit(29, [2])), "section", /vm_info\.smt: bool byte 2/);
    throwsFormat(
      () => readFirecrackerSnapshot(edit(30, le32(7))),
      "section",
      /vm_info\.cpu_template: variant 7 does not exist/,
    );
    throwsFormat(
      () => readFirecrackerSnapshot(edit(34, le64(1n << 40n))),
      "limit",
      /kernel_image_path: 1099511627776 elements/,
    );
    throwsFormat(
      () => readFirecrackerSnapshot(edit(34, le64(60000n))),
      "truncated",
      /kernel_image_path \(60000 elements\)/,
    );
    throwsFormat(() => readFirecrackerSnapshot(reseal(file.subarray(0, 300))), "truncated");
    // GICv3::save_device saves one interface per vCPU: another count is another layout, or corruption.
    throwsFormat(
      () => readFirecrackerSnapshot(writeFirecrackerSnapshot({ ...model("v1.12"), gicVcpus: 3 }, "v1.12")),
      "section",
      /vcpu_states has 2 vCPUs, the GIC state 3 vCPU interfaces/,
    );
  });

  it("refuses register data that does not add up, duplicates and malformed ids", () => {
    const m = model("v1.11");
    m.vcpus[0]!.regs.push(m.vcpus[0]!.regs[0]!);
    throwsFormat(
      () => readFirecrackerSnapshot(writeFirecrackerSnapshot(m, "v1.11")),
      "register",
      /vcpu_states\[0\]: register 0x6030000000100000 appears twice/,
    );
    const bad = model("v1.11");
    bad.vcpus[1]!.regs.push([0x7030_0000_0013_c000n, 1n]);
    throwsFormat(
      () => readFirecrackerSnapshot(writeFirecrackerSnapshot(bad, "v1.11")),
      "register",
      /vcpu_states\[1\]: register \d+ has malformed id 0x703000000013c000: architecture field/,
    );
    // The data blob's length must be the sum of the sizes (Aarch64RegisterVec::deserialize): 41 U64
    // and 32 U128 core registers, fpsr and fpcr (U32), a U32 CCSIDR and 8 U64 others: 916 bytes.
    const short = model("v1.11");
    short.vcpus[0]!.dataShortBy = 8;
    throwsFormat(
      () => readFirecrackerSnapshot(writeFirecrackerSnapshot(short, "v1.11")),
      "register",
      /vcpu_states\[0\]: register data is 908 bytes, the 84 registers' sizes add up to 916/,
    );
  });

  it("detects Firecracker files and nothing else", () => {
    for (const release of RELEASES)
      assert.equal(looksLikeFirecrackerSnapshot(writeFirecrackerSnapshot(model(release), release)), true);
    assert.equal(looksLikeFirecrackerSnapshot(encodeSnapshotBinary(smallSnapshot())), false);
    assert.equal(
      looksLikeFirecrackerSnapshot(new TextEncoder().encode('{"format":"guestabi-snapshot"}')),
      false,
    );
    assert.equal(looksLikeFirecrackerSnapshot(Uint8Array.of(0, 0, 0xaa, 0xaa)), false);
  });

  it("fails cleanly at every truncation, sealed or not, and on every resealed byte flip", () => {
    const file = writeFirecrackerSnapshot(model("v1.14"), "v1.14");
    const typed = (fn: () => unknown, what: string) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof SnapshotFormatError, `${what}: ${String(e)}`);
        assert.ok(!e.message.includes("\n"), what);
        return;
      }
    };
    for (let n = 0; n < file.length - 8; n++)
      throwsFormatAny(() => readFirecrackerSnapshot(file.subarray(0, n)), `cut at ${n}`);
    // Sealed again, a cut inside the 8 device-state bytes after the vCPUs still reads (they are not read).
    for (let n = 0; n < file.length - 16; n++)
      throwsFormatAny(() => readFirecrackerSnapshot(withCrc(file.subarray(0, n))), `cut and sealed at ${n}`);
    for (let pos = 0; pos < file.length - 8; pos += 3) {
      const b = Uint8Array.from(file);
      b[pos]! ^= 0x41;
      typed(() => readFirecrackerSnapshot(reseal(b)), `flip at ${pos}`);
    }
  });

  it("reads back any register set, vCPU count and release (property)", () => {
    const reg = fc.oneof(
      fc.constantFrom(coreXReg(3), PC, MIDR_EL1, sysregId(3, 0, 2, 0, 0), FW_REGS.STD_BMAP),
      fc.constant(makeId("U128", COPROC.core, 0x54)),
      fc.constant(makeId("U32", COPROC.demux, 2)),
    );
    const vcpu = fc
      .uniqueArray(fc.tuple(reg, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
        selector: ([id]) => id,
        maxLength: 7,
      })
      .map((pairs) =>
        pairs.map(([id, v]): [RegId, RegValue] => {
          const size =
            id === makeId("U128", COPROC.core, 0x54) ? 16 : id === makeId("U32", COPROC.demux, 2) ? 4 : 8;
          if (size === 16)
            return [id, Uint8Array.from({ length: 16 }, (_, i) => Number((v >> BigInt(i * 4)) & 0xffn))];
          return [id, BigInt.asUintN(size * 8, v)];
        }),
      );
    fc.assert(
      fc.property(
        fc.constantFrom(...RELEASES),
        fc.array(vcpu, { minLength: 1, maxLength: 4 }),
        (release, sets) => {
          const m: FirecrackerSnapshotModel = {
            memMib: 64n,
            vcpus: sets.map((regs, i) => ({ regs, mpidr: BigInt(i), kvi: { target: 5, features: [2] } })),
          };
          const read = readFirecrackerSnapshot(writeFirecrackerSnapshot(m, release));
          assert.deepEqual(
            read.snapshot.vcpus.map((v) => v.regs),
            sets.map((regs) => new Map(regs)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Throws a one-line SnapshotFormatError, whatever its code. */
function throwsFormatAny(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SnapshotFormatError && !e.message.includes("\n"), what);
}
