/**
 * Host CPU models: the raw ID register values a host kernel reads on one CPU, its cache geometry, and
 * what the host's firmware answers (which decides the Spectre states of proton-pack.c).
 *
 * QEMU models: QEMU 7.2 (Debian bookworm) target/arm/cpu64.c / cpu.c initfns (aarch64_a57_initfn,
 * aarch64_a72_initfn, aarch64_a76_initfn, aarch64_neoverse_n1_initfn, aarch64_a64fx_initfn,
 * aarch64_max_tcg_initfn), run as -machine virt,virtualization=on (EL2 present, no EL3).
 * Real silicon: the Arm Technical Reference Manuals' register summaries (Neoverse N1 TRM r4p1
 * 100616_0401, Neoverse V1 TRM r1p2 101427_0102, Neoverse V2 TRM r0p2 102375_0002).
 *
 * NOT MEASURED: every value here is transcribed, none was read on the lab's machines yet; "max" is
 * reconstructed field by field from aarch64_max_tcg_initfn and is the least certain. The conformance
 * run (lab profiles) replaces these with measured values.
 */

export type SpectreState = "VULNERABLE" | "MITIGATED" | "UNAFFECTED";

export interface CacheGeometry {
  clidr: bigint;
  /** CCSIDR_EL1 per CSSELR value (2*level + InD); missing selectors read as 0. */
  ccsidr: Record<number, bigint>;
}

export interface HostFirmware {
  /** What the firmware answers (SMCCC 1.1 ARCH_FEATURES of the workarounds), from the host's view. */
  smccc11: boolean;
  wa1: boolean;
  wa2: boolean;
  wa3: boolean;
  note: string;
}

export interface CpuModel {
  name: string;
  kind: "qemu" | "silicon";
  source: string;
  measured: false;
  midr: bigint;
  revidr: bigint;
  aidr: bigint;
  ctr: bigint;
  dczid: bigint;
  cache: CacheGeometry;
  /** Raw ID register values by catalog name; absent registers read as 0. */
  id: Record<string, bigint>;
  /** PMCR_EL0.N. */
  pmuCounters: number;
  /** Largest SVE vector length in quadwords (0: no SVE). */
  sveMaxVq: number;
  /** Host GIC: v3 system-register interface (vgic_host_has_gicv3()). */
  gicv3: boolean;
  firmware: HostFirmware;
  /**
   * Spectre-v2/v4/BHB and Meltdown state the host kernel derives (proton-pack.c
   * spectre_v2_get_cpu_hw_mitigation_state / spectre_v4_... / spectre_bhb, cpufeature.c
   * unmap_kernel_at_el0): from MIDR lists, ID fields and the firmware above. Written out per model.
   */
  spectre: { v2: SpectreState; v4: SpectreState; bhb: SpectreState; meltdown: SpectreState };
}

const NO_EL3_FIRMWARE: HostFirmware = {
  smccc11: false,
  wa1: false,
  wa2: false,
  wa3: false,
  note:
    "QEMU virt without EL3: QEMU answers PSCI itself (target/arm/psci.c) and implements no SMCCC 1.1 " +
    "ARCH_FEATURES, so the host sees no firmware workaround (ASSUMED; lab: /sys/devices/system/cpu/vulnerabilities/*)",
};
const TF_A_FIRMWARE: HostFirmware = {
  smccc11: true,
  wa1: true,
  wa2: true,
  wa3: true,
  note: "TF-A with SMCCC 1.1+ and the workarounds (ASSUMED for silicon; not measured)",
};

// AArch32 ID registers shared by the Cortex-A57/A72 QEMU models (cpu64.c).
const A57_AA32: Record<string, bigint> = {
  ID_PFR0_EL1: 0x131n,
  ID_PFR1_EL1: 0x11011n,
  ID_DFR0_EL1: 0x03010066n,
  ID_MMFR0_EL1: 0x10101105n,
  ID_MMFR1_EL1: 0x40000000n,
  ID_MMFR2_EL1: 0x01260000n,
  ID_MMFR3_EL1: 0x02102211n,
  ID_ISAR0_EL1: 0x02101110n,
  ID_ISAR1_EL1: 0x13112111n,
  ID_ISAR2_EL1: 0x21232042n,
  ID_ISAR3_EL1: 0x01112131n,
  ID_ISAR4_EL1: 0x00011142n,
  ID_ISAR5_EL1: 0x00011121n,
  MVFR0_EL1: 0x10110222n,
  MVFR1_EL1: 0x12111111n,
  MVFR2_EL1: 0x43n,
};
// AArch32 ID registers of the Cortex-A76 / Neoverse-N1 QEMU models.
const A76_AA32: Record<string, bigint> = {
  ID_PFR0_EL1: 0x10010131n,
  ID_PFR1_EL1: 0x00010000n,
  ID_PFR2_EL1: 0x11n,
  ID_DFR0_EL1: 0x04010088n,
  ID_MMFR0_EL1: 0x10201105n,
  ID_MMFR1_EL1: 0x40000000n,
  ID_MMFR2_EL1: 0x01260000n,
  ID_MMFR3_EL1: 0x02122211n,
  ID_MMFR4_EL1: 0x00021110n,
  ID_ISAR0_EL1: 0x02101110n,
  ID_ISAR1_EL1: 0x13112111n,
  ID_ISAR2_EL1: 0x21232042n,
  ID_ISAR3_EL1: 0x01112131n,
  ID_ISAR4_EL1: 0x00010142n,
  ID_ISAR5_EL1: 0x01011121n,
  ID_ISAR6_EL1: 0x10n,
  MVFR0_EL1: 0x10110222n,
  MVFR1_EL1: 0x13211111n,
  MVFR2_EL1: 0x43n,
};

export const CPU_MODELS: Readonly<Record<string, CpuModel>> = {
  "cortex-a57": {
    name: "cortex-a57",
    kind: "qemu",
    source: "QEMU 7.2 target/arm/cpu64.c aarch64_a57_initfn",
    measured: false,
    midr: 0x411fd070n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x8444c004n,
    dczid: 4n,
    cache: { clidr: 0x0a200023n, ccsidr: { 0: 0x701fe00an, 1: 0x201fe012n, 2: 0x70ffe07an } },
    id: {
      ...A57_AA32,
      ID_AA64PFR0_EL1: 0x00002222n,
      ID_AA64DFR0_EL1: 0x10305106n,
      ID_AA64ISAR0_EL1: 0x00011120n,
      ID_AA64MMFR0_EL1: 0x00001124n,
    },
    pmuCounters: 6,
    sveMaxVq: 0,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    // A57: not in spectre_v2_safe_list, no CSV2, no firmware -> VULNERABLE; no SSBS, not v4-safe ->
    // VULNERABLE; BHB loop k=8 (spectre_bhb_loop_affected) -> MITIGATED; kpti_safe_list -> UNAFFECTED.
    spectre: { v2: "VULNERABLE", v4: "VULNERABLE", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  "cortex-a72": {
    name: "cortex-a72",
    kind: "qemu",
    source: "QEMU 7.2 target/arm/cpu64.c aarch64_a72_initfn",
    measured: false,
    midr: 0x410fd083n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x8444c004n,
    dczid: 4n,
    cache: { clidr: 0x0a200023n, ccsidr: { 0: 0x701fe00an, 1: 0x201fe012n, 2: 0x707fe07an } },
    id: {
      ...A57_AA32,
      ID_MMFR0_EL1: 0x10201105n,
      ID_AA64PFR0_EL1: 0x00002222n,
      ID_AA64DFR0_EL1: 0x10305106n,
      ID_AA64ISAR0_EL1: 0x00011120n,
      ID_AA64MMFR0_EL1: 0x00001124n,
    },
    pmuCounters: 6,
    sveMaxVq: 0,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    spectre: { v2: "VULNERABLE", v4: "VULNERABLE", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  "cortex-a76": {
    name: "cortex-a76",
    kind: "qemu",
    source: "QEMU 7.2 target/arm/cpu64.c aarch64_a76_initfn",
    measured: false,
    midr: 0x414fd0b1n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x8444c004n,
    dczid: 4n,
    cache: { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an, 1: 0x201fe01an, 2: 0x707fe03an } },
    id: {
      ...A76_AA32,
      ID_AA64PFR0_EL1: 0x1100000010111112n,
      ID_AA64PFR1_EL1: 0x10n,
      ID_AA64DFR0_EL1: 0x10305408n,
      ID_AA64ISAR0_EL1: 0x0000100010211120n,
      ID_AA64ISAR1_EL1: 0x0000000000100001n,
      ID_AA64MMFR0_EL1: 0x0000000000101122n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000000001011n,
    },
    pmuCounters: 6,
    sveMaxVq: 0,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    // CSV2=1 -> v2 UNAFFECTED; SSBS -> v4 MITIGATED; BHB loop k=24 -> MITIGATED; CSV3=1.
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  "neoverse-n1": {
    name: "neoverse-n1",
    kind: "qemu",
    source: "QEMU 7.2 target/arm/cpu64.c aarch64_neoverse_n1_initfn",
    measured: false,
    midr: 0x414fd0c1n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x8444c004n,
    dczid: 4n,
    cache: { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an, 1: 0x201fe01an, 2: 0x70ffe03an } },
    id: {
      ...A76_AA32,
      ID_AA64PFR0_EL1: 0x1100000010111112n,
      ID_AA64PFR1_EL1: 0x20n,
      ID_AA64DFR0_EL1: 0x0000000110305408n,
      ID_AA64ISAR0_EL1: 0x0000100010211120n,
      ID_AA64ISAR1_EL1: 0x0000000000100001n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000000001011n,
    },
    pmuCounters: 6,
    sveMaxVq: 0,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  a64fx: {
    name: "a64fx",
    kind: "qemu",
    source: "QEMU 7.2 target/arm/cpu64.c aarch64_a64fx_initfn",
    measured: false,
    midr: 0x461f0010n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x86668006n,
    dczid: 6n,
    cache: { clidr: 0x80000023n, ccsidr: { 0: 0x7007e01cn, 1: 0x2007e01cn, 2: 0x70ffe07cn } },
    id: {
      ID_AA64PFR0_EL1: 0x0000000101111111n,
      ID_AA64DFR0_EL1: 0x0000000010305408n,
      ID_AA64ISAR0_EL1: 0x0000000010211120n,
      ID_AA64ISAR1_EL1: 0x0000000000010001n,
      ID_AA64MMFR0_EL1: 0x0000000000001122n,
      ID_AA64MMFR1_EL1: 0x0000000011212100n,
      ID_AA64MMFR2_EL1: 0x0000000000001011n,
    },
    pmuCounters: 8,
    sveMaxVq: 4,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    // Not in any safe list, no CSV2/SSBS, no firmware: v2/v4 VULNERABLE; BHB: not in the loop lists
    // (ASSUMED UNAFFECTED; newer stables assume unknown CPUs vulnerable); kpti_safe_list has A64FX.
    spectre: { v2: "VULNERABLE", v4: "VULNERABLE", bhb: "UNAFFECTED", meltdown: "UNAFFECTED" },
  },
  max: {
    name: "max",
    kind: "qemu",
    source:
      "QEMU 7.2 target/arm/cpu64.c aarch64_max_tcg_initfn (reconstructed field by field; least certain)",
    measured: false,
    midr: 0x000f0510n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x80038003n,
    dczid: 7n,
    cache: { clidr: 0x0a200023n, ccsidr: { 0: 0x701fe00an, 1: 0x201fe012n, 2: 0x70ffe07an } },
    id: {
      ...A57_AA32,
      ID_AA64PFR0_EL1: 0x1201111120111112n,
      ID_AA64PFR1_EL1: 0x0000000001000021n,
      ID_AA64DFR0_EL1: 0x000000001030a109n,
      ID_AA64ISAR0_EL1: 0x1221111110212120n,
      ID_AA64ISAR1_EL1: 0x0011111101211052n,
      ID_AA64ISAR2_EL1: 0x0000000000000000n,
      ID_AA64MMFR0_EL1: 0x0000000000101126n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x1011001000011011n,
      ID_AA64ZFR0_EL1: 0x0110110100110021n,
      ID_AA64SMFR0_EL1: 0x80f1000000000000n,
    },
    pmuCounters: 4,
    sveMaxVq: 16,
    gicv3: true,
    firmware: NO_EL3_FIRMWARE,
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "UNAFFECTED", meltdown: "UNAFFECTED" },
  },
  "neoverse-n1-silicon": {
    name: "neoverse-n1-silicon",
    kind: "silicon",
    source: "Arm Neoverse N1 TRM r4p1 (100616_0401), B2 AArch64 system registers; NOT measured",
    measured: false,
    midr: 0x414fd0c1n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x9444c004n,
    dczid: 4n,
    cache: { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an, 1: 0x201fe01an, 2: 0x70ffe03an } },
    id: {
      ...A76_AA32,
      ID_AA64PFR0_EL1: 0x1100000010111112n,
      ID_AA64PFR1_EL1: 0x20n,
      ID_AA64DFR0_EL1: 0x0000000110305408n,
      ID_AA64ISAR0_EL1: 0x0000100010211120n,
      ID_AA64ISAR1_EL1: 0x0000000000100001n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000000001011n,
    },
    pmuCounters: 6,
    sveMaxVq: 0,
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  "neoverse-v1-silicon": {
    name: "neoverse-v1-silicon",
    kind: "silicon",
    source: "Arm Neoverse V1 TRM r1p2 (101427_0102), B2 AArch64 system registers; NOT measured",
    measured: false,
    midr: 0x411fd402n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x9444c004n,
    dczid: 4n,
    cache: { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an, 1: 0x201fe01an, 2: 0x70ffe03an } },
    id: {
      ...A76_AA32,
      ID_AA64PFR0_EL1: 0x1101011120111112n,
      ID_AA64PFR1_EL1: 0x20n,
      ID_AA64DFR0_EL1: 0x0000000110305408n,
      ID_AA64ISAR0_EL1: 0x0221100110212120n,
      ID_AA64ISAR1_EL1: 0x0011100001211032n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000100001011n,
      ID_AA64ZFR0_EL1: 0x0000110000000000n,
    },
    pmuCounters: 6,
    sveMaxVq: 2,
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
  "neoverse-v2-silicon": {
    name: "neoverse-v2-silicon",
    kind: "silicon",
    source: "Arm Neoverse V2 TRM r0p2 (102375_0002), B2 AArch64 system registers; NOT measured",
    measured: false,
    midr: 0x410fd4f2n,
    revidr: 0n,
    aidr: 0n,
    ctr: 0x9444c004n,
    dczid: 4n,
    cache: { clidr: 0x82000023n, ccsidr: { 0: 0x701fe01an, 1: 0x201fe01an, 2: 0x71ffe07an } },
    id: {
      ...A76_AA32,
      ID_AA64PFR0_EL1: 0x1101011131111112n,
      ID_AA64PFR1_EL1: 0x0000000000000121n,
      ID_AA64DFR0_EL1: 0x0000000110305419n,
      ID_AA64ISAR0_EL1: 0x1221100110212120n,
      ID_AA64ISAR1_EL1: 0x0011110001211032n,
      ID_AA64ISAR2_EL1: 0x0000000000000000n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n,
      ID_AA64MMFR1_EL1: 0x0000000010212122n,
      ID_AA64MMFR2_EL1: 0x0000000100001011n,
      ID_AA64ZFR0_EL1: 0x0110110000000011n,
    },
    pmuCounters: 6,
    sveMaxVq: 1,
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    spectre: { v2: "UNAFFECTED", v4: "MITIGATED", bhb: "MITIGATED", meltdown: "UNAFFECTED" },
  },
};

/** The six QEMU CPU models of the lab. */
export const LAB_CPU_MODELS = [
  "max",
  "cortex-a57",
  "cortex-a72",
  "cortex-a76",
  "neoverse-n1",
  "a64fx",
] as const;

export function cpuModel(name: string): CpuModel {
  const m = CPU_MODELS[name];
  if (!m) throw new RangeError(`unknown CPU model '${name}' (known: ${Object.keys(CPU_MODELS).join(", ")})`);
  return m;
}
