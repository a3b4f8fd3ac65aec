/** cpuModelFromFirecracker: a simulator CPU model from a Firecracker fingerprint, run on the simulator. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { VCPU_FEATURES, getRegList } from "../kvm/index.js";
import { SimSystem } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { cpuModelFromFirecracker } from "./firecracker-cpu.js";
import { readFirecrackerEvidence } from "./firecracker-evidence.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";

const GENERATION: Record<string, SimGeneration> = { "5.10": "5.10-amzn", "6.1": "6.1-amzn", "6.18": "6.18" };
const fixture = (cpu: string, kernel: string) =>
  FINGERPRINT_FIXTURES.find((f) => f.cpu === cpu && f.kernel === kernel)!;

/** The ID and firmware registers a learned model reads back on `gen`, vCPU 0 with PSCI_0_2 as Firecracker's. */
function idAndFirmware(gen: SimGeneration, learned: ReturnType<typeof cpuModelFromFirecracker>) {
  const sys = new SimSystem({ generation: gen, cpu: learned.cpu });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: vm.preferredTarget().target, features: [VCPU_FEATURES.PSCI_0_2] });
  const out = new Map<RegId, bigint>();
  for (const id of getRegList(v).filter(isIdOrFirmware)) out.set(id, v.getOneReg(id) as bigint);
  sys.close();
  return out;
}
function isIdOrFirmware(id: RegId): boolean {
  const d = decodeId(id);
  if (d.class === "fw" || d.class === "fwBitmap") return true;
  return d.class === "sysreg" && d.op0 === 3 && d.op1 === 0 && d.crn === 0;
}

describe("a CPU model learned from a Firecracker fingerprint", () => {
  it("takes Graviton2's identification and PMU from its 5.10 fingerprint", () => {
    const f = fixture("N1", "5.10");
    const { cpu, assumed } = cpuModelFromFirecracker(readFirecrackerEvidence(f.text, f.file), "mine", f.file);
    assert.deepEqual(
      [cpu.kind, cpu.midr, cpu.revidr, cpu.ctr, cpu.cache.clidr, cpu.pmuCounters, cpu.pmcr],
      ["learned", 0x413fd0c1n, 0xffn, 0xb444c004n, 0x82000023n, 6, 0x410c3000n],
    );
    assert.equal(
      cpu.source,
      "learned from Firecracker fingerprint fingerprint_ARM_NEOVERSE_N1_5.10host.json, kernel 5.10.255-253.1008.amzn2.aarch64",
    );
    assert.equal(assumed[0], "CCSIDR set counts of a FEAT_CCIDX CPU (a dump shows the low 32 bits)");
  });

  it("reads back every fingerprint's ID and firmware registers on its kernel", () => {
    for (const f of FINGERPRINT_FIXTURES) {
      const e = readFirecrackerEvidence(f.text, f.file);
      const learned = cpuModelFromFirecracker(e, `${f.cpu}-${f.kernel}`, f.file);
      const fp = new Map(e.regs.filter((r) => isIdOrFirmware(r.id)).map((r) => [r.id, r.value] as const));
      assert.deepEqual(idAndFirmware(GENERATION[f.kernel]!, learned), fp, f.file);
    }
  });

  it("ignores registers a template leaves partly unknown, and says what is missing", () => {
    const template = JSON.stringify({
      reg_modifiers: [
        { addr: "0x603000000013c000", bitmap: "0b0100_0001_0011_1111_1101_0000_1100_xxxx" }, // MIDR_EL1
        { addr: "0x603000000013d801", bitmap: "0b" + 0xb444c004n.toString(2) }, // CTR_EL0
        { addr: "0x603000000013c020", bitmap: "0b" + 0x11n.toString(2).padStart(64, "0") }, // ID_AA64PFR0_EL1
      ],
    });
    const e = readFirecrackerEvidence(template, "t.json");
    assert.throws(() => cpuModelFromFirecracker(e, "t", "t.json"), {
      name: "FirecrackerFileError",
      message: "t.json: cannot learn a CPU model without MIDR_EL1",
    });
  });
});
