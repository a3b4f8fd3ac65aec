import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildProbeProgram } from "../../guest/program.js";
import { PSCI_FN, SMCCC_ARCH } from "../../guest/smccc.js";
import { ScriptedGuest } from "./scripted-guest.js";
import type { ScriptedGuestConfig } from "./scripted-guest.js";

const NS = (1n << 64n) - 1n;
const program = buildProbeProgram([
  { kind: "call", name: "PSCI_VERSION", conduit: "hvc", functionId: PSCI_FN.PSCI_VERSION, args: [] },
  { kind: "sysreg", name: "MIDR_EL1", encoding: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 0 } },
  { kind: "sysreg", name: "S3_0_C0_C0_1", encoding: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 1 } },
  { kind: "call", name: "via smc", conduit: "smc", functionId: SMCCC_ARCH.VERSION, args: [] },
  { kind: "call", name: "OFF", conduit: "hvc", functionId: PSCI_FN.SYSTEM_OFF, args: [], terminal: true },
]);

function guest(over: Partial<ScriptedGuestConfig> = {}) {
  const g = new ScriptedGuest({
    firmware: (fid) =>
      fid === PSCI_FN.PSCI_VERSION ? [0x10001n] : fid === PSCI_FN.SYSTEM_OFF ? { systemEvent: 1 } : [NS],
    smc: "minus1",
    sysregs: new Map([["3.0.0.0.0", 0x410fd083n]]),
    ...over,
  });
  g.ram = { base: program.ramBase, bytes: new Uint8Array(program.ramSize) };
  g.ram.bytes.set(program.bytes);
  g.pc = program.entry;
  return g;
}

/** Runs to the end, collecting MMIO writes by offset from the MMIO base. */
function runAll(g: ScriptedGuest) {
  const writes = new Map<bigint, bigint>();
  for (;;) {
    const e = g.run();
    if (e.reason !== "MMIO") return { end: e, writes };
    let v = 0n;
    for (let i = e.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(e.data[i]!);
    writes.set(e.address - program.mmioBase, v);
  }
}

describe("ScriptedGuest (the simulator's interpreter with the test as hypervisor)", () => {
  it("runs the probe program: firmware answers, sysreg values, an UNDEF skipped, the SMC policy, SYSTEM_OFF", () => {
    const { end, writes } = runAll(guest());
    assert.ok(end.reason === "SYSTEM_EVENT" && end.event === "SHUTDOWN");
    const res = (i: number, k = 0) => writes.get(0x100n + 32n * BigInt(i) + 8n * BigInt(k));
    assert.equal(res(0), 0x10001n);
    assert.equal(res(1), 0x410fd083n);
    assert.equal(writes.get(0x8n), 0x0200_0000n, "ESR of the UNDEF of item 2");
    assert.equal(writes.get(0x20n), 4n, "vector: current EL, SPx, synchronous");
    assert.equal(res(3), NS, "SMC: x0 = -1");
  });

  it("throws at the step limit and on a fetch outside RAM", () => {
    const g = guest({ maxSteps: 10 });
    assert.throws(() => g.run(), /step limit/);
    const h = guest();
    h.pc = 0n;
    assert.throws(() => h.run(), /outside RAM/);
  });
});
