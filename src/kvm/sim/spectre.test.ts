import assert from "node:assert/strict";
import { test } from "node:test";
import { KERNEL_GENERATIONS } from "../../regs/catalog-types.js";
import type { KernelGeneration } from "../../regs/catalog-types.js";
import { CPU_MODELS, QEMU_FIRMWARE, TF_A_FIRMWARE, cpuModel } from "./cpus.js";
import type { HostFirmware } from "./cpus.js";
import { midrInList, smcccConduit, spectreState } from "./spectre.js";
import type { SpectreState } from "./spectre.js";

type Row = [v2: SpectreState, v4: SpectreState, bhb: SpectreState, meltdown: SpectreState, bhbLoopK: number];
const U = "UNAFFECTED";
const M = "MITIGATED";
const V = "VULNERABLE";

/**
 * Expected states per CPU model and kernel generation, each with the rule that gives it. The QEMU
 * models run under QEMU's own PSCI (SMCCC 1.0: no firmware workaround can be asked for); the silicon
 * models under TF-A (WORKAROUND_1 UNAFFECTED, WORKAROUND_2 NOT_REQUIRED, WORKAROUND_3 SUCCESS).
 */
const EXPECTED: Record<string, Record<KernelGeneration, Row> & { rules: string }> = {
  "cortex-a57": {
    // v2: CSV2=0, not in spectre_v2_safe_list, no SMCCC 1.1 firmware -> VULNERABLE.
    // v4: not in spectre_v4_safe_list, no SSBS, no firmware -> VULNERABLE.
    // BHB: in spectre_bhb_k8_list (5.10 and later: affected) but spectre_bhb_enable_mitigation skips a CPU
    //      whose Spectre-v2 is VULNERABLE ("no point mitigating Spectre-BHB alone") -> VULNERABLE.
    // Meltdown: MIDR_CORTEX_A57 in kpti_safe_list -> UNAFFECTED.
    rules: "v2 no CSV2/no fw; v4 no SSBS/no fw; BHB k8 but v2 vulnerable; kpti_safe_list",
    "5.10": [V, V, V, U, 8],
    "6.1": [V, V, V, U, 8],
    "6.12": [V, V, V, U, 8],
    "7.2": [V, V, V, U, 8],
  },
  "cortex-a72": {
    // Same rules as the A57 (MIDR_CORTEX_A72 in the same lists).
    rules: "as cortex-a57",
    "5.10": [V, V, V, U, 8],
    "6.1": [V, V, V, U, 8],
    "6.12": [V, V, V, U, 8],
    "7.2": [V, V, V, U, 8],
  },
  "cortex-a76": {
    // v2: CSV2=1 -> UNAFFECTED. v4: SSBS=1 (ARM64_SSBS) -> MITIGATED.
    // BHB: spectre_bhb_k24_list -> branchy loop k=24 -> MITIGATED. Meltdown: CSV3=1 -> UNAFFECTED.
    rules: "CSV2; SSBS; k24 loop; CSV3",
    "5.10": [U, M, M, U, 24],
    "6.1": [U, M, M, U, 24],
    "6.12": [U, M, M, U, 24],
    "7.2": [U, M, M, U, 24],
  },
  "neoverse-n1": {
    // As the A76: CSV2, SSBS (SSBS2), MIDR_NEOVERSE_N1 in spectre_bhb_k24_list, CSV3.
    rules: "CSV2; SSBS; k24 loop; CSV3",
    "5.10": [U, M, M, U, 24],
    "6.1": [U, M, M, U, 24],
    "6.12": [U, M, M, U, 24],
    "7.2": [U, M, M, U, 24],
  },
  a64fx: {
    // v2/v4: no CSV2, no SSBS, in no safe list, no firmware -> VULNERABLE.
    // BHB 5.10: is_spectre_bhb_affected needs ClearBHB, a loop list or firmware -> UNAFFECTED.
    // BHB 6.1+: not in spectre_bhb_safe_list -> assumed affected; v2 VULNERABLE -> VULNERABLE.
    // Meltdown: MIDR_FUJITSU_A64FX not in kpti_safe_list, CSV3=0 -> KPTI -> MITIGATED.
    rules: "no CSV2/SSBS/fw; BHB 5.10 unlisted vs 6.1+ assumed affected; KPTI",
    "5.10": [V, V, U, M, 0],
    "6.1": [V, V, V, M, 0],
    "6.12": [V, V, V, M, 0],
    "7.2": [V, V, V, M, 0],
  },
  max: {
    // v2: CSV2=2 -> UNAFFECTED. v4: SSBS=2 -> MITIGATED. Meltdown: CSV3=1 -> UNAFFECTED.
    // BHB 5.10: implementer 0 is in no list, no firmware -> UNAFFECTED.
    // BHB 6.1+: not safe-listed -> affected; no ECBHB, no ClearBHB (ID_AA64ISAR2_EL1 is RAZ in QEMU 7.2),
    //           no loop count, no firmware WORKAROUND_3 -> VULNERABLE.
    rules: "CSV2_2; SSBS2; BHB 5.10 unlisted vs 6.1+ affected with nothing to mitigate it; CSV3",
    "5.10": [U, M, U, U, 0],
    "6.1": [U, M, V, U, 0],
    "6.12": [U, M, V, U, 0],
    "7.2": [U, M, V, U, 0],
  },
  "max-impdef": {
    // pauth-impdef changes only ID_AA64ISAR1_EL1's pointer-auth fields: same states as max.
    rules: "as max",
    "5.10": [U, M, U, U, 0],
    "6.1": [U, M, V, U, 0],
    "6.12": [U, M, V, U, 0],
    "7.2": [U, M, V, U, 0],
  },
  "neoverse-n1-silicon": {
    rules: "CSV2; SSBS; k24 loop (before the firmware); CSV3",
    "5.10": [U, M, M, U, 24],
    "6.1": [U, M, M, U, 24],
    "6.12": [U, M, M, U, 24],
    "7.2": [U, M, M, U, 24],
  },
  "neoverse-v1-silicon": {
    // MIDR_NEOVERSE_V1 in spectre_bhb_k32_list in every generation.
    rules: "CSV2; SSBS; k32 loop; CSV3",
    "5.10": [U, M, M, U, 32],
    "6.1": [U, M, M, U, 32],
    "6.12": [U, M, M, U, 32],
    "7.2": [U, M, M, U, 32],
  },
  "neoverse-v2-silicon": {
    // BHB 5.10: in no loop list; TF-A answers WORKAROUND_3 SUCCESS over SMCCC 1.2 -> is_spectre_bhb_fw_affected
    //           -> firmware mitigation (EL1_VECTOR_BHB_FW) -> MITIGATED, k = 0.
    // BHB 6.1+: MIDR_NEOVERSE_V2 in spectre_bhb_k132_list -> loop k=132 -> MITIGATED.
    rules: "CSV2; SSBS; BHB by firmware on 5.10, k132 loop later; CSV3",
    "5.10": [U, M, M, U, 0],
    "6.1": [U, M, M, U, 132],
    "6.12": [U, M, M, U, 132],
    "7.2": [U, M, M, U, 132],
  },
};

test("every CPU model has expected Spectre states", () => {
  assert.deepEqual(Object.keys(EXPECTED).sort(), Object.keys(CPU_MODELS).sort());
});

for (const [name, exp] of Object.entries(EXPECTED)) {
  test(`Spectre states of ${name} per kernel generation (${exp.rules})`, () => {
    const cpu = cpuModel(name);
    for (const gen of KERNEL_GENERATIONS) {
      const s = spectreState(gen, cpu);
      assert.deepEqual(
        [s.v2, s.v4, s.bhb, s.meltdown, s.bhbLoopK],
        exp[gen],
        `${name} on ${gen}: ${JSON.stringify(s.why)}`,
      );
    }
  });
}

test("QEMU's firmware leaves the kernel at SMCCC 1.0; TF-A gives the SMC conduit", () => {
  assert.equal(smcccConduit(QEMU_FIRMWARE), "none"); // psci_init_smccc: PSCI_FEATURES(SMCCC_VERSION) NOT_SUPPORTED
  assert.equal(smcccConduit(TF_A_FIRMWARE), "smc");
  // PSCI 0.2 firmware: psci_0_2_init does not call psci_init_smccc
  assert.equal(smcccConduit({ ...TF_A_FIRMWARE, psciVersion: 2 }), "none");
  // SMCCC_VERSION is compared as u32: a (bogus) -1 after a positive PSCI_FEATURES passes the >= 1.1 test
  assert.equal(smcccConduit({ ...TF_A_FIRMWARE, smcccVersion: -1 }), "smc");
  assert.equal(smcccConduit({ ...TF_A_FIRMWARE, smcccVersion: 0x10000 }), "none");
  const s = spectreState("7.2", cpuModel("cortex-a72"));
  assert.equal(s.smcccConduit, "none");
  assert.match(s.why.v2, /SMCCC 1\.1/);
  assert.match(s.why.bhb, /no point mitigating Spectre-BHB alone/);
});

test("the firmware decides a vulnerable CPU's states (spectre_v2_enable_fw_mitigation, WORKAROUND_2/3)", () => {
  const a72 = cpuModel("cortex-a72");
  const fw = (wa1: number, wa2: number, wa3: number): HostFirmware => ({
    ...TF_A_FIRMWARE,
    archFeatures: { wa1, wa2, wa3 },
  });
  // WORKAROUND_1 SUCCESS: v2 MITIGATED; then BHB gets its k8 loop.
  let s = spectreState("6.1", a72, fw(0, -1, -1));
  assert.deepEqual([s.v2, s.v4, s.bhb], [M, V, M]);
  assert.match(s.why.bhb, /k=8/);
  // WORKAROUND_1 UNAFFECTED: has_spectre_v2() is false. WORKAROUND_2 NOT_REQUIRED: v4 UNAFFECTED.
  s = spectreState("6.1", a72, fw(1, -2, -1));
  assert.deepEqual([s.v2, s.v4, s.bhb], [U, U, M]);
  // WORKAROUND_2 SUCCESS: firmware mitigation of v4.
  s = spectreState("7.2", a72, fw(0, 0, 0));
  assert.equal(s.v4, M);
  // A64FX has no loop count: with WORKAROUND_1 and WORKAROUND_3, BHB goes to the firmware (6.1+ only
  // after "assumed affected"; 5.10 because the firmware says so).
  const a64fx = cpuModel("a64fx");
  for (const gen of KERNEL_GENERATIONS) {
    s = spectreState(gen, a64fx, fw(0, -1, 0));
    assert.deepEqual([s.v2, s.bhb], [M, M], gen);
    assert.match(s.why.bhb, /firmware WORKAROUND_3/, gen);
  }
  // 5.10 with WORKAROUND_1 but no WORKAROUND_3: A64FX is not affected at all under the old rule.
  assert.equal(spectreState("5.10", a64fx, fw(0, -1, -1)).bhb, U);
  assert.equal(spectreState("6.1", a64fx, fw(0, -1, -1)).bhb, V);
});

test("MIDR lists: ranges compare variant/revision, lists differ by generation", () => {
  // MIDR_ALL_VERSIONS(MIDR_CORTEX_A72): any variant and revision of part 0xd08
  assert.ok(midrInList("5.10", "spectre_bhb_k8_list", 0x410fd083n));
  assert.ok(midrInList("5.10", "spectre_bhb_k8_list", 0x413fd080n));
  assert.ok(!midrInList("5.10", "spectre_bhb_k8_list", 0x410fd0b1n));
  // Neoverse V2 joined the loop lists (k=132) after 5.10
  assert.ok(!midrInList("5.10", "spectre_bhb_k132_list", 0x410fd4f2n));
  assert.ok(midrInList("6.1", "spectre_bhb_k132_list", 0x410fd4f2n));
  // Cortex-A720AE (0xd89) is in 7.2's k38 list but not 6.12's
  assert.ok(midrInList("7.2", "spectre_bhb_k38_list", 0x410fd890n));
  assert.ok(!midrInList("6.12", "spectre_bhb_k38_list", 0x410fd890n));
  assert.ok(midrInList("7.2", "kpti_safe_list", 0x411fd070n));
});

test("results are cached per model and generation, not across firmware", () => {
  const cpu = cpuModel("neoverse-n1");
  assert.equal(spectreState("6.12", cpu), spectreState("6.12", cpu));
  assert.notEqual(spectreState("6.12", cpu, { ...cpu.firmware }), spectreState("6.12", cpu));
});
