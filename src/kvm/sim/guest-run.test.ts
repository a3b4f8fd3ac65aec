import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KvmError } from "../errors.js";
import { SimSystem } from "./index.js";
import type { SimOptions } from "./index.js";
import type { KvmExit, KvmVcpu } from "../types.js";
import { CORE_PC, FW_REGS, KVM_CAP, coreXReg, packSmcccFilter } from "../uapi.js";
import { sysregId } from "../../regs/id.js";
import { buildProbeProgram, defaultProbeItems, defaultSysregList } from "../guest/program.js";
import type { ProbeProgram } from "../guest/program.js";
import { runProbeProgram } from "../guest/run.js";
import { KVM_VENDOR_UID_REGS, PSCI_FN, SMCCC_RET } from "../guest/smccc.js";

const NS = SMCCC_RET.NOT_SUPPORTED;
const MIDR_EL1 = sysregId(3, 0, 0, 0, 0);

/**
 * A simulated VM with one PSCI_0_2 vCPU, ready for the probe. The default is 7.2 on a Cortex-A72 with
 * the values the probe's assertions want set the way a VMM would: PSCI 1.1 through KVM_REG_ARM_PSCI_VERSION
 * (kvm_arm_set_fw_reg) and MIDR_EL1 = 1 through KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg).
 */
function setup(opts: Partial<SimOptions> & { midr1?: boolean } = {}) {
  const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72", ...opts });
  const vm = sys.createVm();
  const midr1 = opts.midr1 ?? sys.model.writableImpIdRegs;
  if (midr1) vm.enableCap(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS);
  const cpu = vm.createVcpu(0);
  cpu.init({ target: vm.preferredTarget().target, features: [2] });
  if (sys.model.psciVersions.includes(0x10001n)) cpu.setOneReg(FW_REGS.PSCI_VERSION, 0x10001n);
  if (midr1) cpu.setOneReg(MIDR_EL1, 1n);
  return { sys, vm, cpu };
}

describe("the probe program, executed by the simulator (7.2, Cortex-A72)", () => {
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
    // The unnamed encodings of the ID space: CRm 0's (S3_0_C0_C0_{1,2,3,4,7}) are not registers and UNDEF;
    // CRm 1..7's are the reserved ID space, which KVM traps (HCR_EL2.TID3) and emulates as RAZ
    // (ID_UNALLOCATED in sys_reg_descs). Each UNDEF is caught, attributed and skipped.
    const unnamed = defaultSysregList().filter((s) => s.name.startsWith("S3_"));
    const crm0 = unnamed.filter((s) => s.encoding.crm === 0).map((s) => s.name);
    assert.deepEqual(crm0, ["S3_0_C0_C0_1", "S3_0_C0_C0_2", "S3_0_C0_C0_3", "S3_0_C0_C0_4", "S3_0_C0_C0_7"]);
    const undefs = r.items.filter((it) => it.outcome === "exception");
    assert.deepEqual(
      undefs.map((u) => u.name),
      crm0,
    );
    for (const u of undefs) {
      assert.ok(
        u.outcome === "exception" && u.kind === "sysreg" && u.exception.ec === 0 && u.exception.vector === 4,
      );
    }
    for (const s of unnamed.filter((x) => x.encoding.crm !== 0)) {
      const it = byName.get(s.name);
      assert.ok(it?.outcome === "value" && it.value === 0n, s.name);
    }
    const ptp = byName.get("VENDOR_HYP_KVM_PTP(0)");
    assert.ok(ptp?.kind === "call" && ptp.timeVarying);
    assert.ok(run.exits < 1000, `${run.exits} exits`);
  });

  it("shows the older SMC behaviours: x0 = -1, or an UNDEF that is skipped", () => {
    // 6.1's handle_smc answers every SMC with x0 = ~0; on a host whose HCR_EL2.TSC does not trap SMC
    // (no EL3, before FEAT_NV) the SMC is UNDEFINED at EL1 and KVM never sees it.
    for (const smc of ["minus1", "undef"] as const) {
      const { vm, cpu } = smc === "minus1" ? setup({ generation: "6.1" }) : setup({ hostSmcUndefined: true });
      const r = runProbeProgram(vm, cpu, program).result;
      const it = r.items.find((i) => i.name === "SMCCC_VERSION via smc");
      if (smc === "minus1") assert.ok(it?.outcome === "returned" && it.x[0] === NS);
      else assert.ok(it?.outcome === "exception" && it.exception.ec === 0);
      assert.equal(r.completed, true);
    }
  });

  it("falls back to the DONE marker when SYSTEM_OFF returns", () => {
    // The SMCCC filter (6.4+) denies PSCI SYSTEM_OFF: kvm_smccc_call_handler answers NOT_SUPPORTED.
    const { vm, cpu } = setup();
    vm.setDeviceAttr(0, 0n, packSmcccFilter({ base: PSCI_FN.SYSTEM_OFF, nrFunctions: 1, action: "DENY" }));
    const r = runProbeProgram(vm, cpu, program).result;
    assert.equal(r.end.kind, "done");
    assert.equal(r.completed, true);
    const off = r.items.at(-1);
    assert.ok(off?.outcome === "returned" && off.x[0] === NS);
  });

  it("hands calls the SMCCC filter forwards to the caller (KVM_EXIT_HYPERCALL)", () => {
    const { vm, cpu } = setup();
    vm.setDeviceAttr(
      0,
      0n,
      packSmcccFilter({ base: PSCI_FN.PSCI_VERSION, nrFunctions: 1, action: "FWD_TO_USER" }),
    );
    const run = runProbeProgram(vm, cpu, program, { onHypercall: () => [0x10000n] });
    assert.deepEqual(
      run.hypercalls.map((h) => [h.functionId, h.conduit, h.flags]),
      [
        [PSCI_FN.PSCI_VERSION, "hvc", 0n],
        [PSCI_FN.PSCI_VERSION, "smc", 1n], // KVM_HYPERCALL_EXIT_SMC
      ],
    );
    const v = run.result.items.find((i) => i.name === "PSCI_VERSION");
    assert.ok(v?.outcome === "returned" && v.x[0] === 0x10000n);
    assert.equal(run.result.completed, true);
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
  const vm = () => new SimSystem({ generation: "7.2", cpu: "cortex-a72" }).createVm();

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
