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
