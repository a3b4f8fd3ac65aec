import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KvmError } from "../errors.js";
import { MiniGuest, MiniVm } from "../testing/mini-guest.js";
import type { FirmwareAnswer, MiniGuestConfig } from "../testing/mini-guest.js";
import type { KvmExit, KvmVcpu } from "../types.js";
import { CORE_PC, coreXReg } from "../uapi.js";
import { buildProbeProgram, defaultProbeItems, defaultSysregList } from "./program.js";
import type { ProbeProgram } from "./program.js";
import { runProbeProgram } from "./run.js";
import { KVM_VENDOR_FN, KVM_VENDOR_UID_REGS, PSCI_FN, SMCCC_ARCH, SMCCC_RET } from "./smccc.js";

const NS = SMCCC_RET.NOT_SUPPORTED;

/** Firmware roughly like KVM 6.x with PSCI 1.1: enough to see the program's plumbing end to end. */
function firmware(fid: number, [a1]: [bigint, bigint, bigint], _conduit?: "hvc" | "smc"): FirmwareAnswer {
  switch (fid) {
    case PSCI_FN.PSCI_VERSION:
      return [0x10001n];
    case PSCI_FN.PSCI_FEATURES:
      return [a1 === BigInt(PSCI_FN.SYSTEM_OFF2) ? NS : 0n];
    case PSCI_FN.SYSTEM_OFF:
      return { systemEvent: 1 };
    case SMCCC_ARCH.VERSION:
      return [0x10001n];
    case KVM_VENDOR_FN.CALL_UID:
      return [...KVM_VENDOR_UID_REGS];
    default:
      return [NS];
  }
}

function sysregs(): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const r of defaultSysregList()) {
    const e = r.encoding;
    if (!r.name.startsWith("S3_"))
      m.set(`${e.op0}.${e.op1}.${e.crn}.${e.crm}.${e.op2}`, BigInt(e.crm * 8 + e.op2 + 1));
  }
  return m;
}

function setup(over: Partial<MiniGuestConfig> = {}) {
  const cpu = new MiniGuest({ firmware, smc: "firmware", sysregs: sysregs(), ...over });
  return { cpu, vm: new MiniVm(cpu) };
}

describe("the probe program, executed by a toy A64 interpreter", () => {
  const program = buildProbeProgram(defaultProbeItems());

  it("records every call and register, and ends with SYSTEM_OFF", () => {
    const { vm, cpu } = setup();
    const run = runProbeProgram(vm, cpu, program);
    const r = run.result;
    assert.equal(r.end.kind, "system-event");
    assert.equal(r.completed, true);
    assert.deepEqual(r.unexpected, []);
    const byName = new Map(r.items.map((it) => [it.name, it]));
    const v = byName.get("PSCI_VERSION");
    assert.ok(v?.outcome === "returned" && v.x[0] === 0x10001n);
    const uid = byName.get("VENDOR_HYP_CALL_UID");
    assert.ok(uid?.outcome === "returned");
    assert.deepEqual(uid.x, [...KVM_VENDOR_UID_REGS]);
    const midr = byName.get("MIDR_EL1");
    assert.ok(midr?.outcome === "value" && midr.value === 1n);
    const aidr = byName.get("AIDR_EL1");
    assert.ok(aidr?.outcome === "value");
    assert.equal(byName.get("PSCI_SYSTEM_OFF")?.outcome, "ended-run");
    // Every unnamed ID-space encoding UNDEFs here; each is caught, attributed and skipped.
    const undefs = r.items.filter((it) => it.outcome === "exception");
    assert.equal(undefs.length, defaultSysregList().filter((s) => s.name.startsWith("S3_")).length);
    for (const u of undefs) {
      assert.ok(
        u.outcome === "exception" && u.kind === "sysreg" && u.exception.ec === 0 && u.exception.vector === 4,
      );
    }
    const ptp = byName.get("VENDOR_HYP_KVM_PTP(0)");
    assert.ok(ptp?.kind === "call" && ptp.timeVarying);
    assert.ok(run.exits < 1000, `${run.exits} exits`);
  });

  it("shows the older SMC behaviours: x0 = -1, or an UNDEF that is skipped", () => {
    for (const smc of ["minus1", "undef"] as const) {
      const { vm, cpu } = setup({ smc });
      const r = runProbeProgram(vm, cpu, program).result;
      const it = r.items.find((i) => i.name === "SMCCC_VERSION via smc");
      if (smc === "minus1") assert.ok(it?.outcome === "returned" && it.x[0] === NS);
      else assert.ok(it?.outcome === "exception" && it.exception.ec === 0);
      assert.equal(r.completed, true);
    }
  });

  it("falls back to the DONE marker when SYSTEM_OFF returns", () => {
    const { vm, cpu } = setup({
      firmware: (fid, a, c) => (fid === PSCI_FN.SYSTEM_OFF ? [NS] : firmware(fid, a, c)),
    });
    const r = runProbeProgram(vm, cpu, program).result;
    assert.equal(r.end.kind, "done");
    assert.equal(r.completed, true);
    const off = r.items.at(-1);
    assert.ok(off?.outcome === "returned" && off.x[0] === NS);
  });
});

/** A vCPU that replays scripted exits, for the run loop's own behaviour. */
function scripted(
  exits: (KvmExit | KvmError)[],
): KvmVcpu & { sets: [bigint, unknown][]; mmioData: Uint8Array[] } {
  const sets: [bigint, unknown][] = [];
  const mmioData: Uint8Array[] = [];
  return {
    id: 0,
    sets,
    mmioData,
    init() {},
    finalize() {},
    getRegListRaw: () => [],
    getOneReg: () => 0n,
    setOneReg: (id, v) => void sets.push([id, v]),
    run() {
      const e = exits.shift();
      if (!e)
        return {
          reason: "MMIO",
          code: 6,
          address: 0x20000000n,
          isWrite: true,
          length: 8,
          data: new Uint8Array(8),
        };
      if (e instanceof KvmError) throw e;
      return e;
    },
    setMmioReadData: (d) => void mmioData.push(d),
    hasDeviceAttr: () => false,
    getDeviceAttr: () => new Uint8Array(0),
    setDeviceAttr() {},
    destroy() {},
  };
}

describe("runProbeProgram's exit loop", () => {
  const program: ProbeProgram = buildProbeProgram([
    { kind: "call", name: "X", conduit: "hvc", functionId: 0xc6000040, args: [] },
  ]);
  const vm = () => new MiniVm(new MiniGuest({ firmware, smc: "firmware", sysregs: new Map() }));

  it("loads the program, sets PC, answers reads with zeros and forwarded calls with NOT_SUPPORTED", () => {
    const v = scripted([
      { reason: "MMIO", code: 6, address: 0x9000000n, isWrite: false, length: 4, data: new Uint8Array(4) },
      {
        reason: "HYPERCALL",
        code: 3,
        nr: 0xc6000040n,
        functionId: 0xc6000040,
        conduit: "hvc",
        is16bit: false,
        flags: 0n,
        args: [],
        ret: 0n,
      },
      { reason: "SYSTEM_EVENT", code: 24, type: 2, event: "RESET", data: [0n], flags: 0n },
    ]);
    const m = vm();
    const run = runProbeProgram(m, v, program);
    assert.deepEqual(m.readGuestMemory(0, 0, 8), program.bytes.subarray(0, 8));
    assert.deepEqual(v.sets[0], [CORE_PC, program.entry]);
    assert.deepEqual(v.sets[1], [coreXReg(0), NS]);
    assert.deepEqual(v.mmioData, [new Uint8Array(4)]);
    assert.equal(run.hypercalls.length, 1);
    assert.deepEqual(run.result.end, { kind: "system-event", event: "RESET", type: 2, data: [0n] });
    assert.equal(run.result.unexpected.length, 1, "the read is outside the protocol");
  });

  it("lets the caller answer forwarded calls", () => {
    const v = scripted([
      {
        reason: "HYPERCALL",
        code: 3,
        nr: 1n,
        functionId: 1,
        conduit: "smc",
        is16bit: false,
        flags: 1n,
        args: [],
        ret: 0n,
      },
      { reason: "SHUTDOWN", code: 8 },
    ]);
    const run = runProbeProgram(vm(), v, program, { onHypercall: (e) => [BigInt(e.functionId) + 1n, 7n] });
    assert.deepEqual(v.sets.slice(1), [
      [coreXReg(0), 2n],
      [coreXReg(1), 7n],
    ]);
    assert.deepEqual(run.result.end, { kind: "exit", reason: "SHUTDOWN", code: 8 });
  });

  it("stops on KVM_RUN errors and at the exit limit", () => {
    const err = runProbeProgram(vm(), scripted([new KvmError("KVM_RUN", "ENOEXEC")]), program);
    assert.deepEqual(err.result.end, {
      kind: "error",
      op: "KVM_RUN",
      errno: "ENOEXEC",
      message: "KVM_RUN: ENOEXEC (exec format error)",
    });
    const lim = runProbeProgram(vm(), scripted([]), program, { maxExits: 5 });
    assert.deepEqual(lim.result.end, { kind: "exit-limit", exits: 5 });
    assert.equal(lim.exits, 5);
  });
});
