import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { parseRegName } from "../regs/index.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import { SVE_VLS_ID, validateSnapshot, vqsToVls } from "../formats/snapshot.js";
import { decodeSnapshotBinary, encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { checkAbi } from "../check/check.js";
import { simProfile } from "../check/testing/sim-profiles.js";
import {
  QemuStreamError,
  decodeQemuStream,
  looksLikeQemuStream,
  qemuStreamToSnapshot,
  readQemuStreamFile,
} from "./qemu-stream.js";
import type { QemuStream } from "./qemu-stream.js";
import { QEMU_STREAM_FIXTURES } from "./testing/qemu-fixtures.js";
import { cpuNode, writeQemuStream } from "./testing/qemu-stream-writer.js";
import type { CpuSpec, DeviceSpec, PageKind, StreamSpec } from "./testing/qemu-stream-writer.js";

const reg = (name: string): bigint => parseRegName(name);
const [A72, MAX] = QEMU_STREAM_FIXTURES as [
  (typeof QEMU_STREAM_FIXTURES)[0],
  (typeof QEMU_STREAM_FIXTURES)[0],
];
const a72 = decodeQemuStream(A72.gz);
const max = decodeQemuStream(MAX.gz);

/** The QemuStreamError code of fn's throw (and that its message is one line). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QemuStreamError, String(e));
    assert.ok(!e.message.includes("\n"));
    return e.code;
  }
  return "no error";
}

/** Values the guest program wrote (testdata/qemu/README.md) and `info registers -a` showed. */
const PROGRAM = {
  x: [0xcafe12345678n, 0xdeadbeefn, 0x40001000n, 0x300000n, 0x3000000n],
  pc: 0x3cn,
  pstate: 0x400003c5,
  TPIDR_EL1: 0xcafe12345678n,
  VBAR_EL1: 0x40001000n,
  CPACR_EL1: 0x300000n,
  fpcr: 0x03000000,
};

describe("QEMU migration streams: the committed TCG streams", () => {
  it("reads virt-a72-smp2: machine, page size, RAM blocks, device sections", () => {
    assert.equal(a72.machineType, "virt-7.2");
    assert.equal(a72.targetPageBits, 12);
    assert.equal(a72.pageSize, 4096);
    assert.deepEqual(a72.capabilities, []);
    assert.deepEqual(a72.ram?.blocks, [
      { name: "virt.flash0", length: 64 << 20 },
      { name: "virt.flash1", length: 64 << 20 },
      { name: "/rom@etc/acpi/tables", length: 128 << 10 },
      { name: "mach-virt.ram", length: 1 << 20 },
      { name: "/rom@etc/table-loader", length: 4096 },
      { name: "/rom@etc/acpi/rsdp", length: 4096 },
    ]);
    assert.deepEqual(a72.ram?.pages, { zero: 33051, normal: 7, xbzrle: 0, compressed: 0 });
    assert.deepEqual(
      a72.devices.map((d) => `${d.idstr}:${d.instanceId}`),
      [
        "arm_gicv3:0",
        "arm_gicv3_its:0",
        "timer:0",
        "pflash_cfi01:0",
        "pflash_cfi01:1",
        "cpu_common:0",
        "cpu:0",
        "cpu_common:1",
        "cpu:1",
        "pl011:0",
        "pl031:0",
        "0000:00:00.0/gpex_root:0",
        "PCIHost:0",
        "PCIBUS:0",
        "acpi-ged:0",
        "fw_cfg:0",
        "virt_acpi_build:0",
        "globalstate:0",
      ],
    );
    assert.equal(a72.bytes, A72.raw.length);
  });

  it("reads each vCPU's cpreg arrays and core registers as the guest left them", () => {
    assert.deepEqual(
      a72.cpus.map((c) => [c.instanceId, c.cpregCount, c.cpregs.size, c.poweredOff]),
      [
        [0, 258, 258, false],
        [1, 258, 258, true], // secondary vCPUs of virt start powered off
      ],
    );
    const [cpu0, cpu1] = a72.cpus as [QemuStream["cpus"][0], QemuStream["cpus"][0]];
    assert.deepEqual(cpu0.subsections, ["cpu/vfp", "cpu/irq-line-state"]);
    // The first ids of TCG's list are AArch32 ones (KVM_REG_ARM), as cpreg_to_kvm_id makes them.
    assert.deepEqual([...cpu0.cpregs.keys()].slice(0, 2), [0x40200000000f6800n, 0x40200000000f6801n]);
    for (const [name, value] of Object.entries({
      TPIDR_EL1: PROGRAM.TPIDR_EL1,
      VBAR_EL1: PROGRAM.VBAR_EL1,
      CPACR_EL1: PROGRAM.CPACR_EL1,
      // aarch64_a72_initfn (target/arm/cpu64.c): ctr, clidr, reset_sctlr, id_aa64isar0, mvfr0, reset_pmcr_el0
      CTR_EL0: 0x8444c004n,
      CLIDR_EL1: 0x0a200023n,
      SCTLR_EL1: 0x00c50838n,
      ID_AA64ISAR0_EL1: 0x00011120n,
      MVFR0_EL1: 0x10110222n,
      PMCR_EL0: 0x41023000n,
      CNTFRQ_EL0: 62_500_000n, // QEMU 7.2's default generic timer frequency
    }))
      assert.equal(cpu0.cpregs.get(reg(name)), value, name);
    // TCG computes MIDR_EL1 (no raw state): it is not in the list.
    assert.equal(cpu0.cpregs.has(reg("MIDR_EL1")), false);
    assert.equal(cpu1.cpregs.get(reg("TPIDR_EL1")), 0n);

    const core = cpu0.core!;
    assert.deepEqual(core.xregs.slice(0, 5), PROGRAM.x);
    assert.equal(core.pc, PROGRAM.pc);
    assert.equal(core.pstate, PROGRAM.pstate);
    assert.equal(Buffer.from(core.fp!.vregs[0]!).toString("hex"), "78563412feca00000000000000000000");
    assert.equal(core.fp!.fpcr, PROGRAM.fpcr);
    assert.equal(core.fp!.fpsr, 0);
    assert.equal(cpu1.core!.pc, 0n);
  });

  it("reads virt-max: SVE, pointer authentication, 304 cpregs", () => {
    assert.equal(max.machineType, "virt-7.2");
    assert.deepEqual(
      max.cpus.map((c) => [c.instanceId, c.cpregCount, c.subsections.join(",")]),
      [[0, 304, "cpu/vfp,cpu/sve,cpu/irq-line-state"]],
    );
    const cpu = max.cpus[0]!;
    assert.equal(cpu.cpregs.get(reg("ZCR_EL1")), 0n);
    assert.equal(cpu.cpregs.get(reg("TPIDR_EL1")), PROGRAM.TPIDR_EL1);
    assert.equal(cpu.cpregs.has(reg("APIAKEYLO_EL1")), true);
    assert.equal(cpu.core!.pc, PROGRAM.pc);
  });

  it("reads raw and gzip'd alike; looksLikeQemuStream knows both", () => {
    assert.deepEqual(decodeQemuStream(A72.raw), a72);
    assert.equal(looksLikeQemuStream(A72.raw), true);
    assert.equal(looksLikeQemuStream(A72.gz), true);
    assert.equal(looksLikeQemuStream(new TextEncoder().encode("GABISNAP")), false);
    assert.equal(looksLikeQemuStream(new TextEncoder().encode('{"format":"guestabi-snapshot"}')), false);
    assert.equal(looksLikeQemuStream(gzipSync(Buffer.from("not a stream"))), false);
    assert.equal(looksLikeQemuStream(new Uint8Array(0)), false);
  });

  it("reads a file, prefixing errors with its path", async () => {
    assert.equal((await readQemuStreamFile(MAX.path)).cpus.length, 1);
    await assert.rejects(readQemuStreamFile(new URL(import.meta.url).pathname), (e: unknown) => {
      assert.ok(e instanceof QemuStreamError);
      assert.equal(e.code, "magic");
      assert.match(e.message, /qemu-stream\.test\.js: not a QEMU migration stream/);
      return true;
    });
  });
});

describe("QEMU migration streams as snapshots", () => {
  it("converts virt-a72-smp2: the arm64 cpregs and core registers, features inferred", () => {
    const s = qemuStreamToSnapshot(a72);
    validateSnapshot(s);
    assert.deepEqual(s.source, {
      release: "unknown host (QEMU migration stream, machine virt-7.2)",
      generation: null,
      cpuLabel: null,
    });
    assert.deepEqual(s.vm, { ipaBits: 0, caps: [], attrs: [] });
    assert.deepEqual(
      s.vcpus.map((v) => [v.id, v.init.target, v.init.features, v.regs.size, v.sveVqs]),
      [
        // 146 arm64 cpregs + 31 x + sp, pc, pstate, sp_el1, elr_el1 + 5 spsr + 32 vregs + fpsr, fpcr
        [0, 5, [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3], 221, undefined],
        [1, 5, [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3], 221, undefined],
      ],
    );
    const regs = s.vcpus[0]!.regs;
    assert.equal(regs.get(reg("x0")), PROGRAM.x[0]);
    assert.equal(regs.get(reg("x1")), PROGRAM.x[1]);
    assert.equal(regs.get(reg("pc")), PROGRAM.pc);
    assert.equal(regs.get(reg("pstate")), BigInt(PROGRAM.pstate));
    assert.equal(regs.get(reg("fpcr")), BigInt(PROGRAM.fpcr));
    assert.equal(
      Buffer.from(regs.get(reg("vregs[0]")) as Uint8Array).toString("hex"),
      "78563412feca00000000000000000000",
    );
    assert.equal(regs.get(reg("TPIDR_EL1")), PROGRAM.TPIDR_EL1);
    assert.ok(
      [...regs.keys()].every((id) => id >> 56n === 0x60n),
      "only arm64 ids",
    );
    assert.match(s.note!, /^QEMU migration stream, machine virt-7\.2, 2 vCPUs\. /);
    assert.match(
      s.note!,
      /PSCI_0_2 \(assumed: QEMU asks for it on every host with KVM_CAP_ARM_PSCI_0_2\), PMU_V3 \(PMCR_EL0 listed/,
    );
    assert.match(s.note!, /Left out: 224 AArch32 ids of a TCG register list/);
    assert.deepEqual(decodeSnapshotBinary(encodeSnapshotBinary(s)), s);
  });

  it("converts virt-max only with SVE vector lengths, and then without V registers", () => {
    assert.equal(
      codeOf(() => qemuStreamToSnapshot(max)),
      "sve",
    );
    assert.equal(
      codeOf(() => qemuStreamToSnapshot(max, { sveVqs: [0] })),
      "sve",
    );
    const s = qemuStreamToSnapshot(max, { sveVqs: [4, 1, 2, 2] });
    const v = s.vcpus[0]!;
    assert.deepEqual(v.init.features, [
      VCPU_FEATURES.PSCI_0_2,
      VCPU_FEATURES.PMU_V3,
      VCPU_FEATURES.SVE,
      VCPU_FEATURES.PTRAUTH_ADDRESS,
      VCPU_FEATURES.PTRAUTH_GENERIC,
    ]);
    assert.deepEqual(v.sveVqs, [1, 2, 4]);
    assert.deepEqual(v.regs.get(SVE_VLS_ID), vqsToVls([1, 2, 4]));
    // With SVE, KVM lists Z registers instead of V registers: none are converted.
    assert.equal(v.regs.has(reg("vregs[0]")), false);
    assert.equal(v.regs.get(reg("x0")), PROGRAM.x[0]);
    assert.match(s.note!, /the SVE Z, P and FFR registers are not converted/);
  });

  it("is a subject checkAbi takes", () => {
    const report = checkAbi(
      qemuStreamToSnapshot(a72),
      simProfile("6.1", "cortex-a72", ["psci-0.2", "psci-0.2+pmu"]),
    );
    assert.equal(report.subject, "snapshot from unknown host (QEMU migration stream, machine virt-7.2)");
    assert.ok(report.verdicts.filter((v) => v.kind === "feature").every((v) => v.level === "ok"));
    // TCG's list is not KVM's: MIDR_EL1 (computed by TCG) is new on a KVM host.
    assert.ok(report.verdicts.some((v) => v.register === "MIDR_EL1" && v.kind === "new"));
  });

  it("infers each init feature from the register KVM lists only with it", () => {
    const features = (cpregs: [bigint, bigint][]) =>
      qemuStreamToSnapshot(decodeQemuStream(writeQemuStream({ cpus: [{ instanceId: 0, cpregs }] })), {
        sveVqs: [1],
      }).vcpus[0]!.init.features;
    assert.deepEqual(features([]), [VCPU_FEATURES.PSCI_0_2]);
    assert.deepEqual(features([[reg("KVM_REG_ARM_PSCI_VERSION"), 1n]]), []); // PSCI 0.1
    assert.deepEqual(features([[reg("KVM_REG_ARM_PSCI_VERSION"), 0x10001n]]), [VCPU_FEATURES.PSCI_0_2]);
    assert.deepEqual(
      features([
        [reg("KVM_REG_ARM_PSCI_VERSION"), 2n],
        [reg("PMCR_EL0"), 0n],
        [reg("ZCR_EL1"), 0n],
        [reg("APIAKEYLO_EL1"), 0n],
        [reg("APGAKEYLO_EL1"), 0n],
        [reg("HCR_EL2"), 0n],
      ]),
      [2, 3, 4, 5, 6, 7],
    );
  });

  it("refuses registers QEMU could not have written", () => {
    const convert = (cpregs: [bigint, bigint][]) => () =>
      qemuStreamToSnapshot(decodeQemuStream(writeQemuStream({ cpus: [{ instanceId: 0, cpregs }] })));
    assert.equal(codeOf(convert([[0x6020000000110000n, 1n << 32n]])), "cpu"); // a U32 CCSIDR over 32 bits
    assert.equal(codeOf(convert([[reg("x0"), 0n]])), "cpu"); // core registers are not cpregs
    assert.equal(codeOf(convert([[0x6040000000130000n, 0n]])), "cpu"); // U128
    assert.equal(codeOf(convert([[0x1234n, 0n]])), "cpu"); // not an Arm id
    assert.equal(
      codeOf(() => qemuStreamToSnapshot({ ...a72, cpus: [] })),
      "cpu",
    );
    // A U32 id keeps its value (QEMU zero-extends it to u64).
    const ok = convert([[0x6020000000110000n, 0x701fe00an]])();
    assert.equal(ok.vcpus[0]!.regs.get(0x6020000000110000n), 0x701fe00an);
  });
});

// ---- written streams ----------------------------------------------------------------------------

const smallCpu = (instanceId: number, cpregs: [bigint, bigint][] = [[reg("TPIDR_EL1"), 7n]]): CpuSpec => ({
  instanceId,
  cpregs,
});
const written = (spec: Partial<StreamSpec> = {}): Uint8Array =>
  writeQemuStream({ cpus: [smallCpu(0)], ...spec });
const bytesOf = (s: string): number[] => [...Buffer.from(s, "latin1")];

/** The stream with occurrence `nth` of `from` replaced by `to` (the same length keeps the framing). */
function patched(b: Uint8Array, from: number[], to: number[], nth = 0): Uint8Array {
  const buf = Buffer.from(b);
  let at = -1;
  for (let k = 0; k <= nth; k++) at = buf.indexOf(Buffer.from(from), at + 1);
  assert.ok(at >= 0, "pattern not found");
  const out = Uint8Array.from(b);
  out.set(to, at);
  return out;
}

/** A written stream's body (up to QEMU_VM_EOF) and JSON description. */
function split(b: Uint8Array): { body: Uint8Array; json: string } {
  const at = Buffer.from(b).lastIndexOf(Buffer.from('{"page_size"'));
  return { body: b.subarray(0, at - 5), json: Buffer.from(b.subarray(at)).toString("latin1") };
}

/** body + QEMU_VM_VMDESCRIPTION + be32 length + JSON. */
function framed(body: Uint8Array, json: string): Uint8Array {
  const head = Buffer.alloc(5);
  head[0] = 0x06;
  head.writeUInt32BE(json.length, 1);
  return new Uint8Array(Buffer.concat([body, head, Buffer.from(json, "latin1")]));
}

/** Where a written stream's (first) cpu section puts cpreg_vmstate_array_len. */
function cpregCountAt(b: Uint8Array): number {
  const cpu = decodeQemuStream(b).devices.find((d) => d.idstr === "cpu")!;
  const fields = cpuNode({ instanceId: 0, cpregs: [] }).fields;
  const before = fields.slice(
    0,
    fields.findIndex((f) => f.name === "cpreg_vmstate_array_len"),
  );
  // SECTION_FULL, section id, "\x03cpu", instance id, version
  return cpu.offset + 1 + 4 + 4 + 4 + 4 + before.reduce((n, f) => n + f.data.length, 0);
}

describe("QEMU migration streams: bad input is a one-line QemuStreamError", () => {
  const ram = {
    blocks: [{ name: "mach-virt.ram", length: 4 * 4096 }],
    pages: [{ block: 0, page: 1, kind: "page" as const }],
  };
  const PAGE_1 = [0, 0, 0, 0, 0, 0, 0x10, 0x08]; // be64 4096 | RAM_SAVE_FLAG_PAGE

  it("names what is wrong with a code", () => {
    const two: [bigint, bigint][] = [
      [1n, 2n],
      [3n, 4n],
    ];
    const good = written({ ram, cpus: [smallCpu(0, two)] });
    const { body, json } = split(good);
    const listedTwice = (b: Uint8Array): Uint8Array => {
      const ids = cpregCountAt(b) + 4;
      const out = Uint8Array.from(b);
      out.set(b.subarray(ids, ids + 8), ids + 8);
      return out;
    };
    const cases: [string, Uint8Array, string][] = [
      ["empty", new Uint8Array(0), "truncated"],
      ["another format", new TextEncoder().encode("GABISNAP and more"), "magic"],
      ["version 2", patched(good, [0, 0, 0, 3, 7], [0, 0, 0, 2, 7]), "version"],
      ["corrupt gzip", Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3), "gzip"],
      ["no description", good.subarray(0, good.length - 10), "vmdesc"],
      ["description not JSON", framed(body, json.slice(1)), "vmdesc"],
      ["page size 4095", framed(body, json.replace('"page_size":4096', '"page_size":4095')), "vmdesc"],
      ["body cut", framed(body.subarray(0, 60), json), "truncated"],
      ["unknown block", patched(good, bytesOf("\x0dmach-virt.ram"), bytesOf("\x0dmach-virt.rax"), 1), "ram"],
      ["page past its block", patched(good, PAGE_1, [0, 0, 0, 0, 0, 0, 0x50, 0x08]), "ram"],
      ["unknown RAM flags", patched(good, PAGE_1, [0, 0, 0, 0, 0, 0, 0x10, 0x09]), "ram"],
      ["RDMA hook", patched(good, PAGE_1, [0, 0, 0, 0, 0, 0, 0x10, 0x80]), "unsupported"],
      ["another device described", framed(body, json.replace('"name":"cpu"', '"name":"cpX"')), "device"],
      [
        "cpreg elements of 9 bytes",
        framed(
          body,
          json.replace(
            '"cpreg_vmstate_indexes","array_len":2,"type":"uint64","size":8',
            '"cpreg_vmstate_indexes","array_len":2,"type":"uint64","size":9',
          ),
        ),
        "cpu",
      ],
      ["bad footer", patched(good, [0x7e, 0, 0, 0, 1, 0], [0x7e, 0, 0, 0, 9, 0]), "section"],
      ["unknown section type", patched(good, [0x7e, 0, 0, 0, 1, 0], [0x7e, 0, 0, 0, 1, 0x09]), "section"],
      ["a register listed twice", listedTwice(good), "cpu"],
    ];
    assert.deepEqual(
      cases.map(([what, input]) => [what, codeOf(() => decodeQemuStream(input))]),
      cases.map(([what, , code]) => [what, code]),
    );
  });

  it("bounds the cpreg count before believing it", () => {
    const b = written();
    const at = cpregCountAt(b);
    assert.equal(new DataView(b.buffer).getInt32(at), 1);
    const bad = Uint8Array.from(b);
    new DataView(bad.buffer).setInt32(at, 0x7fffffff);
    assert.equal(
      codeOf(() => decodeQemuStream(bad)),
      "limit",
    );
    new DataView(bad.buffer).setInt32(at, -1);
    assert.equal(
      codeOf(() => decodeQemuStream(bad)),
      "cpu",
    );
    new DataView(bad.buffer).setInt32(at, 2); // the description says 1
    assert.equal(
      codeOf(() => decodeQemuStream(bad)),
      "cpu",
    );
  });

  it("refuses streams of kinds it does not read", () => {
    assert.equal(
      codeOf(() => decodeQemuStream(written({ capabilities: ["mapped-ram"] }))),
      "unsupported",
    );
    const withCommand = (cmd: number): Uint8Array => {
      const b = written();
      const at = Buffer.from(b).indexOf(Buffer.from([0x04, 0, 0, 0, 0, 3])); // the cpu's SECTION_FULL
      return Uint8Array.from([...b.subarray(0, at), 0x08, 0, cmd, 0, 0, ...b.subarray(at)]);
    };
    assert.equal(decodeQemuStream(withCommand(1)).cpus.length, 1); // OPEN_RETURN_PATH
    assert.equal(
      codeOf(() => decodeQemuStream(withCommand(3))),
      "unsupported",
    ); // POSTCOPY_ADVISE
    const block = patched(
      written({ ram }),
      [0x01, 0, 0, 0, 0, 3, ...bytesOf("ram")],
      [0x01, 0, 0, 0, 0, 3, ...bytesOf("blk")],
    );
    assert.equal(
      codeOf(() => decodeQemuStream(block)),
      "unsupported",
    );
  });

  it("reads x-ignore-shared block addresses and a stream without footers or configuration", () => {
    const shared = decodeQemuStream(written({ ram, capabilities: ["x-ignore-shared"] }));
    assert.deepEqual(shared.capabilities, ["x-ignore-shared"]);
    assert.deepEqual(shared.ram?.blocks, ram.blocks);
    const bare = decodeQemuStream(written({ ram, footers: false, machineType: null }));
    assert.equal(bare.machineType, null);
    assert.equal(bare.targetPageBits, null);
    assert.deepEqual(bare.ram?.pages, { zero: 0, normal: 1, xbzrle: 0, compressed: 0 });
  });

  it("refuses a description nested deeper than its limit before parsing it", () => {
    const { body } = split(written());
    const json = `{"page_size":4096,"devices":[${"[".repeat(300)}${"]".repeat(300)}]}`;
    assert.equal(
      codeOf(() => decodeQemuStream(framed(body, json))),
      "limit",
    );
  });
});

describe("QEMU migration streams: framing round trip (property)", () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const name = fc.stringMatching(/^[a-z][a-z0-9./@-]{0,20}$/);
  const field = fc.record({
    name,
    count: fc.integer({ min: 1, max: 4 }),
    size: fc.integer({ min: 0, max: 9 }),
  });
  const node = (depth: number): fc.Arbitrary<DeviceSpec["subsections"]> =>
    depth === 0
      ? fc.constant([])
      : fc.array(
          fc.record({
            vmsdName: name,
            version: fc.integer({ min: 0, max: 5 }),
            fields: fc.array(field, { maxLength: 3 }).map(toFields),
            subsections: node(depth - 1),
          }),
          { maxLength: 2 },
        );
  function toFields(fs: { name: string; count: number; size: number }[]) {
    return fs.map((f, i) => ({
      name: `${f.name}${i}`,
      count: f.count,
      data: Uint8Array.from({ length: f.size * f.count }, (_, k) => (k * 37 + i) & 0xff),
    }));
  }
  const device = fc.record({
    idstr: name.filter((n) => n !== "cpu"),
    instanceId: fc.integer({ min: 0, max: 3 }),
    vmsdName: name,
    version: fc.integer({ min: 0, max: 5 }),
    fields: fc.array(field, { maxLength: 4 }).map(toFields),
    subsections: node(2),
  });
  const pageKind = fc.constantFrom<PageKind>("zero", "page", "xbzrle");
  const ramSpec = fc
    .uniqueArray(fc.record({ name, pages: fc.integer({ min: 1, max: 4 }) }), {
      selector: (b) => b.name,
      minLength: 1,
      maxLength: 3,
    })
    .chain((blocks) =>
      fc.record({
        blocks: fc.constant(blocks.map((b) => ({ name: b.name, length: b.pages * 4096 }))),
        pages: fc.array(
          fc.integer({ min: 0, max: blocks.length - 1 }).chain((block) =>
            fc.record({
              block: fc.constant(block),
              page: fc.integer({ min: 0, max: blocks[block]!.pages - 1 }),
              kind: pageKind,
            }),
          ),
          { maxLength: 8 },
        ),
        parts: fc.integer({ min: 0, max: 3 }),
      }),
    );
  const spec = fc.record({
    machineType: fc.option(fc.stringMatching(/^[a-z0-9.-]{1,30}$/), { nil: null }),
    footers: fc.boolean(),
    ram: fc.option(ramSpec, { nil: undefined }),
    devices: fc.array(device, { maxLength: 3 }),
    cpus: fc
      .integer({ min: 1, max: 3 })
      .chain((n) =>
        fc.tuple(
          ...Array.from({ length: n }, () =>
            fc.uniqueArray(fc.tuple(u64, u64), { selector: ([id]) => id, maxLength: 12 }),
          ),
        ),
      )
      .map((lists) => lists.map((cpregs, instanceId) => ({ instanceId, cpregs }))),
  });

  it("reads back the cpreg arrays, machine type, RAM and sections that were written", () => {
    fc.assert(
      fc.property(spec, (s) => {
        const got = decodeQemuStream(writeQemuStream(s));
        assert.equal(got.machineType, s.machineType);
        assert.deepEqual(
          got.cpus.map((c) => [c.instanceId, c.cpregCount, [...c.cpregs]]),
          s.cpus.map((c) => [c.instanceId, c.cpregs.length, c.cpregs]),
        );
        assert.deepEqual(got.ram?.blocks ?? null, s.ram?.blocks ?? null);
        if (s.ram) {
          const count = (k: PageKind) => s.ram!.pages.filter((p) => p.kind === k).length;
          assert.deepEqual(got.ram!.pages, {
            zero: count("zero"),
            normal: count("page"),
            xbzrle: count("xbzrle"),
            compressed: 0,
          });
        }
        assert.deepEqual(
          got.devices.map((d) => [d.idstr, d.instanceId, d.version]),
          [
            ...s.devices.map((d) => [d.idstr, d.instanceId, d.version]),
            ...s.cpus.map((c) => ["cpu", c.instanceId, 22]),
          ],
        );
      }),
      { numRuns: 300 },
    );
  });

  it("every truncation of a written stream is a QemuStreamError", () => {
    fc.assert(
      fc.property(spec, fc.nat(), (s, cut) => {
        const b = writeQemuStream(s);
        const code = codeOf(() => decodeQemuStream(b.subarray(0, cut % b.length)));
        assert.notEqual(code, "no error");
      }),
      { numRuns: 300 },
    );
  });
});
