import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeProbe, signedX0 } from "./decode.js";
import type { MmioRecord } from "./decode.js";
import { DONE_MAGIC, MMIO_OFFSETS, PROBE_MMIO_BASE, buildProbeProgram } from "./program.js";
import type { GuestItem } from "./program.js";
import { PSCI_FN, SMCCC_ARCH } from "./smccc.js";

const items: GuestItem[] = [
  { kind: "call", name: "PSCI_VERSION", conduit: "hvc", functionId: PSCI_FN.PSCI_VERSION, args: [] },
  { kind: "sysreg", name: "MIDR_EL1", encoding: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 0 } },
  { kind: "sysreg", name: "S3_0_C0_C0_1", encoding: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 1 } },
  { kind: "call", name: "SMCCC_VERSION via smc", conduit: "smc", functionId: SMCCC_ARCH.VERSION, args: [] },
  { kind: "call", name: "never", conduit: "hvc", functionId: SMCCC_ARCH.VERSION, args: [] },
  {
    kind: "call",
    name: "PSCI_SYSTEM_OFF",
    conduit: "hvc",
    functionId: PSCI_FN.SYSTEM_OFF,
    args: [],
    terminal: true,
  },
];
const program = buildProbeProgram(items);
const w = (offset: number | bigint, value: bigint): MmioRecord => ({
  address: PROBE_MMIO_BASE + BigInt(offset),
  isWrite: true,
  length: 8,
  value,
});
const results = (i: number, values: bigint[]) =>
  values.map((v, k) => w(MMIO_OFFSETS.RESULTS + 32 * i + 8 * k, v));

describe("decodeProbe", () => {
  it("decodes returned calls, values, an UNDEF and an SMC answered with -1", () => {
    const undefPc = program.items[2]!.pc.start + 4n; // the MRS after `movz x0, #0`
    const stream = [
      ...results(0, [0x10001n, 0n, 0n, 0n]),
      ...results(1, [0x410fd0c0n]),
      w(MMIO_OFFSETS.EXC_ESR, 0x02000000n),
      w(MMIO_OFFSETS.EXC_ELR, undefPc),
      w(MMIO_OFFSETS.EXC_FAR, 0n),
      w(MMIO_OFFSETS.EXC_VECTOR, 4n),
      ...results(2, [0n]),
      ...results(3, [0xffff_ffff_ffff_ffffn, 0n, 0n, 0n]),
    ];
    const r = decodeProbe(program, stream, { kind: "system-event", event: "SHUTDOWN", type: 1, data: [0n] });
    const [psci, midr, undef, smc, never, off] = r.items;
    assert.deepEqual(psci, {
      index: 0,
      name: "PSCI_VERSION",
      kind: "call",
      conduit: "hvc",
      functionId: 0x84000000,
      args: [],
      timeVarying: false,
      outcome: "returned",
      x: [0x10001n, 0n, 0n, 0n],
    });
    assert.ok(midr?.outcome === "value" && midr.value === 0x410fd0c0n);
    assert.ok(undef?.outcome === "exception");
    assert.equal(undef.exception.ec, 0);
    assert.equal(undef.exception.vector, 4);
    assert.equal(undef.exception.item, 2);
    assert.ok(smc?.outcome === "returned" && signedX0(smc.x[0]) === -1n);
    assert.equal(never?.outcome, "not-reached");
    assert.equal(off?.outcome, "ended-run");
    assert.equal(r.completed, false, "an item before SYSTEM_OFF was not reached");
    assert.deepEqual(r.unexpected, []);
  });

  it("completes on DONE, and on a terminal call that ended the run", () => {
    const all = [0, 1, 2, 3, 4].flatMap((i) => results(i, new Array(program.items[i]!.resultCount).fill(0n)));
    const viaDone = decodeProbe(
      program,
      [...all, ...results(5, [-1n & 0xffff_ffff_ffff_ffffn, 0n, 0n, 0n]), w(0, DONE_MAGIC)],
      { kind: "done" },
    );
    assert.equal(viaDone.completed, true);
    assert.equal(viaDone.items[5]?.outcome, "returned");
    const viaOff = decodeProbe(program, all, {
      kind: "system-event",
      event: "SHUTDOWN",
      type: 1,
      data: [0n],
    });
    assert.equal(viaOff.completed, true);
    assert.equal(viaOff.items[5]?.outcome, "ended-run");
    const stuck = decodeProbe(program, all, { kind: "exit-limit", exits: 20000 });
    assert.equal(stuck.completed, false);
    assert.equal(stuck.items[5]?.outcome, "not-reached");
  });

  it("keeps partial results and protocol violations apart", () => {
    const stream: MmioRecord[] = [
      ...results(0, [1n, 2n]),
      { address: PROBE_MMIO_BASE + 0x100n, isWrite: false, length: 8, value: 0n },
      w(0x5000, 1n),
      w(MMIO_OFFSETS.EXC_ELR, 0n),
      w(MMIO_OFFSETS.DONE, 1234n),
      { ...w(MMIO_OFFSETS.RESULTS + 32, 1n), length: 4 },
    ];
    const r = decodeProbe(program, stream, {
      kind: "error",
      op: "KVM_RUN",
      errno: "EFAULT",
      message: "KVM_RUN: EFAULT",
    });
    assert.ok(r.items[0]?.outcome === "incomplete");
    assert.deepEqual(r.items[0].stored, [1n, 2n, undefined, undefined]);
    assert.equal(r.unexpected.length, 5);
    assert.equal(r.completed, false);
  });
});

describe("decodeProbe: load items", () => {
  const GICD = 0x0800_0000n;
  const GICR = 0x080a_0000n;
  const GITS = 0x0808_0000n;
  const loads: GuestItem[] = [
    { kind: "load", name: "GICD_IIDR", address: GICD + 8n, size: 4 },
    { kind: "load", name: "GICR_TYPER", address: GICR + 8n, size: 8 },
    { kind: "load", name: "GITS_IIDR", address: GITS + 4n, size: 4 },
    { kind: "load", name: "GICD_IIDR again", address: GICD + 8n, size: 4 },
  ];
  const p = buildProbeProgram(loads);
  const read = (address: bigint, length: number): MmioRecord => ({
    address,
    isWrite: false,
    length,
    value: 0n,
  });
  // x0 = 0, x1 = GITS + 4 (movz, movk), then the ldr: the abort's ELR
  const abortedLoad = p.items[2]!.pc.start + 12n;

  const stream: MmioRecord[] = [
    ...results(0, [0x4b00_343bn]), // an in-kernel vGIC answered: no exit, just the result
    read(GICR + 8n, 8), // no device: the read left KVM, the host answered zeros
    ...results(1, [0n]),
    w(MMIO_OFFSETS.EXC_ESR, 0x9600_0010n), // EC 0x25 data abort (current EL), IL, FSC 0x10 external abort
    w(MMIO_OFFSETS.EXC_ELR, abortedLoad),
    w(MMIO_OFFSETS.EXC_FAR, GITS + 4n),
    w(MMIO_OFFSETS.EXC_VECTOR, 4n),
    ...results(2, [0n]), // the handler skipped to the NOP; x0 still 0
    read(GICD + 8n, 4), // the same register again, this time unanswered: item 3's, not item 0's
    ...results(3, [0n]),
    read(GICD + 0x100n, 4), // no load item reads there
    read(PROBE_MMIO_BASE + 0x100n, 4), // the result area is never a load's address
    w(MMIO_OFFSETS.DONE, DONE_MAGIC),
  ];
  const r = decodeProbe(p, stream, { kind: "done" });

  it("a load an in-kernel device answered: outcome value", () => {
    assert.deepEqual(r.items[0], {
      index: 0,
      name: "GICD_IIDR",
      kind: "load",
      address: 0x0800_0008n,
      size: 4,
      outcome: "value",
      value: 0x4b00_343bn,
    });
  });

  it("a load whose read exited to userspace: outcome unhandled, not the zeros it was answered", () => {
    assert.deepEqual(r.items[1], {
      index: 1,
      name: "GICR_TYPER",
      kind: "load",
      address: 0x080a_0008n,
      size: 8,
      outcome: "unhandled",
    });
    assert.deepEqual(r.items[3], {
      index: 3,
      name: "GICD_IIDR again",
      kind: "load",
      address: 0x0800_0008n,
      size: 4,
      outcome: "unhandled",
    });
  });

  it("an external abort on a load: outcome exception, attributed by ELR", () => {
    assert.deepEqual(r.items[2], {
      index: 2,
      name: "GITS_IIDR",
      kind: "load",
      address: 0x0808_0004n,
      size: 4,
      outcome: "exception",
      exception: {
        esr: 0x9600_0010n,
        elr: 0x4000_1100n + 24n * 2n + 12n,
        far: 0x0808_0004n,
        vector: 4,
        ec: 0x25,
        item: 2,
      },
    });
  });

  it("reads no load item explains stay unexpected; the run completed", () => {
    assert.deepEqual(r.unexpected, [read(0x0800_0100n, 4), read(0x1000_0100n, 4)]);
    assert.equal(r.completed, true);
  });

  it("a read of the wrong size is not the load's", () => {
    const wrongSize = decodeProbe(p, [read(GICR + 8n, 4), ...results(1, [0n])], { kind: "done" });
    assert.ok(wrongSize.items[1]?.outcome === "value" && wrongSize.items[1].value === 0n);
    assert.deepEqual(wrongSize.unexpected, [read(0x080a_0008n, 4)]);
  });
});
