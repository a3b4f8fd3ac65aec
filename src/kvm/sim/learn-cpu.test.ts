/** learnCpuModel: a CPU model from what a vCPU's registers read, and the simulator run on it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { getRegList } from "../helpers.js";
import { FW_REGS } from "../uapi.js";
import { TF_A_FIRMWARE } from "./cpus.js";
import { SimSystem, learnCpuModel } from "./index.js";
import type { CpuModel, SimGeneration } from "./index.js";

const MIDR = sysregId(3, 0, 0, 0, 0);
const CTR = sysregId(3, 3, 0, 0, 1);
const PFR0 = sysregId(3, 0, 0, 4, 0);
const PMCR = sysregId(3, 3, 9, 12, 0);
const CLIDR = sysregId(3, 1, 0, 0, 1);
const CCSIDR0 = 0x6020000000110000n;

/** Every scalar register vCPU 0 (PSCI_0_2, plus `features`) reads on `gen`/`cpu`: a register dump. */
function dump(gen: SimGeneration, cpu: string | CpuModel, features: number[] = []): Map<RegId, bigint> {
  const sys = new SimSystem({ generation: gen, cpu });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: vm.preferredTarget().target, features: [2, ...features] });
  const out = new Map<RegId, bigint>();
  for (const id of getRegList(v)) {
    const x = v.getOneReg(id);
    if (typeof x === "bigint") out.set(id, x);
  }
  sys.close();
  return out;
}

describe("learnCpuModel", () => {
  it("takes the identification, cache, PMU and feature ID registers as they read", () => {
    const regs = new Map<RegId, bigint>([
      [MIDR, 0x413fd0c1n],
      [sysregId(3, 0, 0, 0, 6), 0xffn], // REVIDR_EL1
      [CTR, 0xb444c004n],
      [CLIDR, 0x82000023n],
      [CCSIDR0, 0x701fe01an],
      [PFR0, 0x1100000011111112n],
      [sysregId(3, 0, 0, 3, 3), 0n], // unallocated: no catalog name, not kept
      [PMCR, 0x410c30acn],
      [FW_REGS.SMCCC_ARCH_WORKAROUND_1, 1n], // AVAIL: the firmware mitigates
      [FW_REGS.SMCCC_ARCH_WORKAROUND_2, 3n], // NOT_REQUIRED
      [FW_REGS.SMCCC_ARCH_WORKAROUND_3, 0n], // NOT_AVAIL
    ]);
    const { cpu, assumed } = learnCpuModel("mine", "a test", regs);
    assert.deepEqual(
      [cpu.name, cpu.kind, cpu.source, cpu.measured, cpu.midr, cpu.revidr, cpu.aidr, cpu.ctr],
      ["mine", "learned", "a test", false, 0x413fd0c1n, 0xffn, 0n, 0xb444c004n],
    );
    assert.deepEqual(cpu.cache, { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an } });
    assert.deepEqual(cpu.id, { ID_AA64PFR0_EL1: 0x1100000011111112n });
    assert.deepEqual([cpu.pmuCounters, cpu.pmcr, cpu.gicv3], [6, 0x410c3000n, true]);
    // the firmware answers that lead KVM to those levels, over TF-A's conduit and versions
    assert.deepEqual(cpu.firmware.archFeatures, { wa1: 0, wa2: -2, wa3: -1 });
    assert.equal(cpu.firmware.smcccVersion, TF_A_FIRMWARE.smcccVersion);
    assert.deepEqual(assumed, [
      "CCSIDR set counts of a FEAT_CCIDX CPU (a dump shows the low 32 bits)",
      "fields KVM hid from the dump's vCPUs (SVE, pointer authentication, PMU version, ...) read as the guest saw them",
      "no SVE vector lengths, DCZID_EL0 64-byte blocks, 64 online CPUs",
    ]);
  });

  it("says what a 6.3+ dump without a PMU or workaround registers cannot tell", () => {
    const regs = new Map<RegId, bigint>([
      [MIDR, 0x410fd4f1n],
      [CTR, 0xb444c004n],
      [PFR0, 0x1101001021111111n],
      ...Array.from({ length: 14 }, (_, sel) => [CCSIDR0 + BigInt(sel), 2n] as const),
    ]);
    const { cpu, assumed } = learnCpuModel("v2", "a test", regs);
    assert.deepEqual([cpu.pmuCounters, cpu.firmware], [0, TF_A_FIRMWARE]);
    assert.deepEqual(assumed.slice(0, 3), [
      "cache geometry: the kernel fabricates CLIDR_EL1/CCSIDR (6.3+), so these are KVM's values",
      "PMU: PMCR_EL0 is not listed without a vCPU PMU, so none is modelled",
      "host firmware: TF-A's answers (no workaround registers)",
    ]);
  });

  it("needs MIDR_EL1, CTR_EL0 and ID_AA64PFR0_EL1", () => {
    const all: [RegId, bigint][] = [
      [MIDR, 0x410fd0c0n],
      [CTR, 0x8444c004n],
      [PFR0, 0x11n],
    ];
    for (const [missing, name] of [
      [MIDR, "MIDR_EL1"],
      [CTR, "CTR_EL0"],
      [PFR0, "ID_AA64PFR0_EL1"],
    ] as const)
      assert.throws(() => learnCpuModel("x", "t", new Map(all.filter(([id]) => id !== missing))), {
        name: "RangeError",
        message: `cannot learn a CPU model without ${name}`,
      });
  });

  it("a model learned from a simulated host's dump reproduces that dump on the same kernel", () => {
    for (const [gen, source] of [
      ["5.10", "cortex-a72"],
      ["6.1", "cortex-a57"],
      ["6.12", "neoverse-n1"],
      ["7.2", "max"],
      ["6.1-amzn", "neoverse-v1-silicon"],
    ] as const) {
      const original = dump(gen, source);
      const { cpu } = learnCpuModel(`learned-${source}`, "sim", original);
      const again = dump(gen, cpu);
      assert.deepEqual([...again.keys()], [...original.keys()], `${gen}/${source} ids`);
      for (const [id, x] of original) assert.equal(again.get(id), x, `${gen}/${source} 0x${id.toString(16)}`);
    }
  });
});
