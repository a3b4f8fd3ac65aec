/**
 * Host CPU models: the raw ID register values a host kernel reads on one CPU, its cache geometry, PMU
 * and SVE vector lengths, and what the host's firmware answers (which, with the MIDR, decides the
 * Spectre states of proton-pack.c: spectre.ts).
 *
 * QEMU models (the lab's hosts): generated/cpus.json, written by scripts/gen-sim-cpus.mjs from the source
 * of Debian bookworm's QEMU 7.2 by running QEMU's own initfns (target/arm/cpu64.c) and realize steps for
 * `-machine virt,virtualization=on,gic-version=3` (no EL3, EL2 present, GICv3, TCG). `--check` keeps the
 * committed file equal to what QEMU's source gives.
 *
 * Silicon models (neoverse-*-silicon): Graviton2 (N1), Graviton3 (V1) and Graviton4 (V2). Their MIDR,
 * REVIDR, CTR_EL0, CLIDR_EL1, CCSIDR (low 32 bits), PMCR_EL0 and every ID register field a guest sees are
 * measured: Firecracker's public host fingerprints (src/vmm/testdata/firecracker, "fingerprint" below is
 * fingerprint_ARM_NEOVERSE_<cpu>_<kernel>host.json), read back through three kernels' rules
 * (src/vmm/fingerprint-conformance.test.ts holds the models to all nine). What no fingerprint shows
 * (fields KVM hides from Firecracker's vCPUs: SVE, pointer authentication, PMU version, AMU, MTE; the SVE
 * lengths, DCZID_EL0, the CCSIDR set counts, the host firmware, the online CPUs) is the Arm TRMs' or
 * ASSUMED, as each value says. The lab has no such machine (`measured` stays false).
 */
import cpusJson from "./generated/cpus.json" with { type: "json" };

export type { SpectreState, SpectreStates } from "./spectre.js";

export interface CacheGeometry {
  clidr: bigint;
  /** CCSIDR_EL1 per CSSELR value (2*level + InD); missing selectors read as 0. */
  ccsidr: Record<number, bigint>;
}

/**
 * What the host's firmware answers the host kernel (drivers/firmware/psci/psci.c psci_init_smccc,
 * arch/arm64/kernel/proton-pack.c *_get_cpu_fw_mitigation_state). Return codes are SMCCC/PSCI int32
 * values: 0 SUCCESS, 1 ARCH_WORKAROUND_RET_UNAFFECTED, -1 NOT_SUPPORTED, -2 NOT_REQUIRED.
 */
export interface HostFirmware {
  /** The PSCI conduit (device tree psci "method"); SMCCC calls use it once the firmware is SMCCC >= 1.1. */
  conduit: "smc" | "hvc";
  /** PSCI_VERSION answer (major << 16 | minor). */
  psciVersion: number;
  /** PSCI_FEATURES(SMCCC_VERSION) answer; psci_init_smccc asks it first. */
  psciFeaturesSmcccVersion: number;
  /** SMCCC_VERSION answer (major << 16 | minor). */
  smcccVersion: number;
  /** SMCCC_ARCH_FEATURES(SMCCC_ARCH_WORKAROUND_1/2/3) answers. */
  archFeatures: { wa1: number; wa2: number; wa3: number };
  note: string;
}

export interface CpuModel {
  name: string;
  /** qemu: generated from QEMU's source; silicon: a server core; learned: from a register dump (learn-cpu.ts). */
  kind: "qemu" | "silicon" | "learned";
  source: string;
  /** The lab probes this model on real kernels (lab/profiles), and the conformance test holds it to them. */
  measured: boolean;
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
  /**
   * PMCR_EL0 as the host kernel reads it (reset_pmcr/reset_pmu_reg of 5.10/6.1 read it): IMP, IDCODE and N
   * are fixed; the low byte (E, P, C, D, X, DP, LC, LP) is whatever the host's perf driver last wrote,
   * and KVM masks it off (ARMV8_PMU_PMCR_MASK).
   */
  pmcr: bigint;
  /** CPUs the host brings online (num_online_cpus(): KVM_CAP_NR_VCPUS). */
  onlineCpus: number;
  /** Largest SVE vector length in quadwords (0: no SVE). */
  sveMaxVq: number;
  /** The SVE vector lengths the host implements: bit (vq - 1) per length, as KVM_REG_ARM64_SVE_VLS. */
  sveVqMap: bigint;
  /** Host GIC: v3 system-register interface (vgic_host_has_gicv3()). */
  gicv3: boolean;
  firmware: HostFirmware;
  /** How the CPU stores registers KVM round-trips through it (absent: stored as written). */
  hardwareStore: Readonly<Record<string, HardwareStore>>;
}

// --- QEMU models ------------------------------------------------------------------------------------

interface RawQemuModel {
  qemuCpu: string;
  initfn: string;
  midr: string;
  resetPmcrEl0: string;
  revidr: string;
  ctr: string;
  clidr: string;
  ccsidr: string[];
  dczid: string;
  pmuCounters: number;
  sveVqMap: string;
  sveMaxVq: number;
  gicv3: boolean;
  id: Record<string, string>;
}
/** How QEMU stores an EL1 register KVM moves through the hardware (gen-sim-cpus.mjs HW_STORE). */
export type HardwareStore =
  { store: "raw" } | { store: "const"; value: bigint } | { store: "mask"; mask: bigint };

interface RawCpus {
  generatedFrom: { qemu: string };
  machine: string;
  labMachine: { onlineCpus: number; source: string };
  hardwareStore: Record<string, { store: "raw" | "const" | "mask"; value?: string; mask?: string }>;
  firmware: Omit<HostFirmware, "note"> & { source: string };
  models: Record<string, RawQemuModel>;
}
const RAW = cpusJson as unknown as RawCpus;

/** The QEMU the lab runs and that cpus.json was generated from ("qemu <Debian version>"). */
export const QEMU_VERSION = RAW.generatedFrom.qemu;

/** The lab's QEMU machine: how it was started (lab/boot.mjs) and what that gives the L1 kernel. */
export const LAB_MACHINE = RAW.labMachine;

/**
 * How a QEMU CPU (every model alike: target/arm/helper.c) stores the EL1 registers KVM loads into the
 * hardware before a run and reads back after it: the value KVM gets back (generated, gen-sim-cpus.mjs).
 */
export const QEMU_HARDWARE_STORE: Readonly<Record<string, HardwareStore>> = Object.fromEntries(
  Object.entries(RAW.hardwareStore).map(([reg, h]): [string, HardwareStore] => [
    reg,
    h.store === "const"
      ? { store: "const", value: BigInt(h.value ?? "0") }
      : h.store === "mask"
        ? { store: "mask", mask: BigInt(h.mask ?? "0") }
        : { store: "raw" },
  ]),
);

/**
 * QEMU as the lab's host firmware: no EL3 firmware, QEMU answers PSCI itself over SMC and implements no
 * SMCCC call (SMCCC_VERSION, ARCH_FEATURES and PSCI_FEATURES(SMCCC_VERSION) are NOT_SUPPORTED), so the
 * host kernel stays at SMCCC 1.0 and never learns of a firmware workaround. Generated (gen-sim-cpus.mjs
 * qemuFirmware, from target/arm/psci.c and hw/arm/virt.c); the lab's consoles confirm it:
 * "psci: SMC Calling Convention v1.0" on every kernel.
 */
export const QEMU_FIRMWARE: HostFirmware = {
  conduit: RAW.firmware.conduit,
  psciVersion: RAW.firmware.psciVersion,
  psciFeaturesSmcccVersion: RAW.firmware.psciFeaturesSmcccVersion,
  smcccVersion: RAW.firmware.smcccVersion,
  archFeatures: { ...RAW.firmware.archFeatures },
  note: `${QEMU_VERSION}: ${RAW.firmware.source}`,
};

/** The CPU models of the lab's matrix (lab/run.mjs), each with a real-kernel profile per generation. */
export const LAB_MEASURED_CPUS: readonly string[] = [
  "max",
  "cortex-a57",
  "cortex-a72",
  "cortex-a76",
  "neoverse-n1",
  "a64fx",
];

function qemuModel(name: string, r: RawQemuModel): CpuModel {
  return {
    name,
    kind: "qemu",
    source: `${QEMU_VERSION} -cpu ${r.qemuCpu} (target/arm/cpu64.c ${r.initfn}), ${RAW.machine}`,
    measured: LAB_MEASURED_CPUS.includes(name),
    midr: BigInt(r.midr),
    revidr: BigInt(r.revidr),
    aidr: 0n, // helper.c "AIDR": ARM_CP_CONST 0
    ctr: BigInt(r.ctr),
    dczid: BigInt(r.dczid),
    cache: {
      clidr: BigInt(r.clidr),
      ccsidr: Object.fromEntries(r.ccsidr.map((v, i) => [i, BigInt(v)])),
    },
    id: Object.fromEntries(Object.entries(r.id).map(([k, v]) => [k, BigInt(v)])),
    pmuCounters: r.pmuCounters,
    // helper.c PMCR_EL0: resetvalue cpu->isar.reset_pmcr_el0, pmcr_write changes PMCR_WRITABLE_MASK bits only
    pmcr: BigInt(r.resetPmcrEl0),
    onlineCpus: RAW.labMachine.onlineCpus,
    sveMaxVq: r.sveMaxVq,
    sveVqMap: BigInt(r.sveVqMap),
    gicv3: r.gicv3,
    firmware: QEMU_FIRMWARE,
    hardwareStore: QEMU_HARDWARE_STORE,
  };
}

// --- Silicon models ---------------------------------------------------------------------------------

/**
 * TF-A (Trusted Firmware-A) as the host firmware of a silicon server: SMCCC 1.2 over SMC with the
 * Arm-architecture workaround calls (services/arm_arch_svc/arm_arch_svc_setup.c): WORKAROUND_1 answers
 * UNAFFECTED on CPUs TF-A finds unaffected by CVE-2017-5715 (all three Neoverse cores here), WORKAROUND_2
 * NOT_REQUIRED (static CVE-2018-3639 build), WORKAROUND_3 SUCCESS (the CVE-2022-23960 workaround of
 * these cores). ASSUMED: the answers themselves are not measured, but the KVM firmware registers they lead
 * to (WORKAROUND_1 2, _2 0, _3 1) are what all nine Firecracker fingerprints read.
 */
export const TF_A_FIRMWARE: HostFirmware = {
  conduit: "smc",
  psciVersion: 0x10001,
  psciFeaturesSmcccVersion: 0,
  smcccVersion: 0x10002,
  archFeatures: { wa1: 1, wa2: -2, wa3: 0 },
  note: "TF-A with SMCCC 1.2 and ARCH_WORKAROUND_1/2/3 (ASSUMED; the guest's workaround registers match the Firecracker fingerprints)",
};

/** A silicon server's online CPUs (KVM_CAP_NR_VCPUS): ASSUMED, there is no measured machine. */
const SILICON_ONLINE_CPUS = 64;

// Shared AArch32 ID values of the Neoverse N1 TRM (r4p1, 100616_0401), B2.4 "AArch64 registers by
// functional group" (the AArch32 views ID_*_EL1), as transcribed in QEMU's aarch64_neoverse_n1_initfn.
const N1_AA32: Record<string, bigint> = {
  ID_PFR0_EL1: 0x10010131n, // N1 TRM B2.4 ID_PFR0_EL1
  ID_PFR1_EL1: 0x10010000n, // N1 TRM B2.4 ID_PFR1_EL1 (GIC = 1: GICv3 CPU interface enabled)
  ID_PFR2_EL1: 0x00000011n, // N1 TRM B2.4 ID_PFR2_EL1
  ID_DFR0_EL1: 0x04010088n, // N1 TRM B2.4 ID_DFR0_EL1
  ID_AFR0_EL1: 0n, // N1 TRM B2.4 ID_AFR0_EL1
  ID_MMFR0_EL1: 0x10201105n, // N1 TRM B2.4 ID_MMFR0_EL1
  ID_MMFR1_EL1: 0x40000000n, // N1 TRM B2.4 ID_MMFR1_EL1
  ID_MMFR2_EL1: 0x01260000n, // N1 TRM B2.4 ID_MMFR2_EL1
  ID_MMFR3_EL1: 0x02122211n, // N1 TRM B2.4 ID_MMFR3_EL1
  ID_MMFR4_EL1: 0x00021110n, // N1 TRM B2.4 ID_MMFR4_EL1
  ID_ISAR0_EL1: 0x02101110n, // N1 TRM B2.4 ID_ISAR0_EL1
  ID_ISAR1_EL1: 0x13112111n, // N1 TRM B2.4 ID_ISAR1_EL1
  ID_ISAR2_EL1: 0x21232042n, // N1 TRM B2.4 ID_ISAR2_EL1
  ID_ISAR3_EL1: 0x01112131n, // N1 TRM B2.4 ID_ISAR3_EL1
  ID_ISAR4_EL1: 0x00010142n, // N1 TRM B2.4 ID_ISAR4_EL1
  ID_ISAR5_EL1: 0x01011121n, // N1 TRM B2.4 ID_ISAR5_EL1
  ID_ISAR6_EL1: 0x00000010n, // N1 TRM B2.4 ID_ISAR6_EL1
  MVFR0_EL1: 0x10110222n, // N1 TRM B5.1 AdvSIMD AArch64 register summary
  MVFR1_EL1: 0x13211111n, // N1 TRM B5.1
  MVFR2_EL1: 0x00000043n, // N1 TRM B5.1
};

const SILICON: CpuModel[] = [
  {
    name: "neoverse-n1-silicon",
    kind: "silicon",
    source:
      "AWS Graviton2 (Neoverse N1 r3p1): ID registers, caches and PMCR measured by Firecracker's fingerprints " +
      "(5.10/6.1/6.18 hosts); hidden fields from the Arm Neoverse N1 TRM (100616_0401) via QEMU " +
      "aarch64_neoverse_n1_initfn's transcription; not measured by the lab",
    measured: false,
    midr: 0x413fd0c1n, // measured: fingerprint N1 (r3p1; the TRM's r4p1 was 0x414fd0c1)
    revidr: 0xffn, // measured: fingerprint N1
    aidr: 0n, // measured: fingerprint N1
    ctr: 0xb444c004n, // measured: fingerprint N1 (DIC and IDC set; the TRM's reset value has neither)
    dczid: 4n, // N1 TRM B2.4 DCZID_EL0: 64-byte blocks
    cache: {
      clidr: 0x82000023n, // N1 TRM B2.4 CLIDR_EL1 (L1 I+D, L2 unified; no L3 configured)
      ccsidr: {
        0: 0x701fe01an, // N1 TRM B2.23 CCSIDR_EL1: 64KB L1 dcache
        1: 0x201fe01an, // N1 TRM B2.23: 64KB L1 icache
        2: 0x70ffe03an, // N1 TRM B2.23: 1MB L2
      },
    },
    id: {
      ...N1_AA32,
      ID_AA64PFR0_EL1: 0x1100000011111112n, // N1 TRM B2.4 ID_AA64PFR0_EL1 (CSV3, CSV2, RAS, GIC=1, FP16, EL0-3 AArch64)
      ID_AA64PFR1_EL1: 0x20n, // N1 TRM B2.4 ID_AA64PFR1_EL1: SSBS2
      ID_AA64DFR0_EL1: 0x0000000110305408n, // N1 TRM B2.4 ID_AA64DFR0_EL1 (PMSVer 1: SPE)
      ID_AA64ISAR0_EL1: 0x0000100010211120n, // N1 TRM B2.4 ID_AA64ISAR0_EL1
      ID_AA64ISAR1_EL1: 0x0000000000100001n, // N1 TRM B2.4 ID_AA64ISAR1_EL1
      ID_AA64MMFR0_EL1: 0x0000000000101125n, // N1 TRM B2.4 ID_AA64MMFR0_EL1: 48-bit PA
      ID_AA64MMFR1_EL1: 0x0000000010212122n, // N1 TRM B2.4 ID_AA64MMFR1_EL1
      ID_AA64MMFR2_EL1: 0x0100000000000011n, // measured: fingerprint N1 (EVT 1, IESB 0; the TRM had IESB 1, no EVT)
    },
    pmuCounters: 6, // N1 TRM D5.1 PMCR_EL0 0x410c3000: N = 6
    pmcr: 0x410c3000n, // N1 TRM D5.1 PMCR_EL0
    onlineCpus: SILICON_ONLINE_CPUS,
    sveMaxVq: 0,
    sveVqMap: 0n,
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    hardwareStore: {}, // silicon keeps every bit of these registers (AFSR0/1 IMPLEMENTATION DEFINED; UNVERIFIED)
  },
  {
    name: "neoverse-v1-silicon",
    kind: "silicon",
    source:
      "AWS Graviton3 (Neoverse V1 r1p1): ID registers, caches and PMCR measured by Firecracker's fingerprints " +
      "(5.10/6.1/6.18 hosts); hidden fields from the Arm Neoverse V1 TRM (101427_0102) §3.2 via upstream QEMU " +
      "aarch64_neoverse_v1_initfn's transcription (ID_AA64ISAR1_EL1 per TRM §3.2.74, QEMU commit 8676007e); " +
      "not measured by the lab",
    measured: false,
    midr: 0x411fd401n, // measured: fingerprint V1 (r1p1; the TRM's r1p2 was 0x411fd402)
    revidr: 0x1n, // measured: fingerprint V1
    aidr: 0n, // measured: fingerprint V1
    ctr: 0xb444c004n, // measured: fingerprint V1 (DIC and IDC set)
    dczid: 4n, // V1 TRM §3.2 DCZID_EL0
    cache: {
      clidr: 0x82000023n, // measured: fingerprint V1 (5.10, 6.1)
      // V1 implements FEAT_CCIDX (ID_AA64MMFR2_EL1.CCIDX = 1): 64-bit CCSIDR_EL1 format (NumSets [55:32],
      // Associativity [23:3], LineSize [2:0]). The low 32 bits are measured (fingerprint V1 5.10/6.1: 0x1a,
      // 0x1a, 0x3a); NumSets from the TRM's chapter 2 sizes (64KB 4-way L1, 1MB 8-way L2), as QEMU derives it.
      ccsidr: {
        0: 0x000000ff0000001an, // 64KB L1 dcache
        1: 0x000000ff0000001an, // 64KB L1 icache
        2: 0x000007ff0000003an, // 1MB L2
      },
    },
    id: {
      ID_PFR0_EL1: 0x21110131n, // V1 TRM §3.2 ID_PFR0_EL1
      ID_PFR1_EL1: 0x30010000n, // measured: fingerprint V1 (GIC 3: GICv4.1 system registers; the TRM had 1)
      ID_PFR2_EL1: 0x00000011n, // V1 TRM §3.2 ID_PFR2_EL1
      ID_DFR0_EL1: 0x15011099n, // V1 TRM §3.2 ID_DFR0_EL1
      ID_AFR0_EL1: 0n, // V1 TRM §3.2 ID_AFR0_EL1
      ID_MMFR0_EL1: 0x10201105n, // V1 TRM §3.2 ID_MMFR0_EL1
      ID_MMFR1_EL1: 0x40000000n, // V1 TRM §3.2 ID_MMFR1_EL1
      ID_MMFR2_EL1: 0x01260000n, // V1 TRM §3.2 ID_MMFR2_EL1
      ID_MMFR3_EL1: 0x02122211n, // V1 TRM §3.2 ID_MMFR3_EL1
      ID_MMFR4_EL1: 0x01021110n, // V1 TRM §3.2 ID_MMFR4_EL1
      ID_ISAR0_EL1: 0x02101110n, // V1 TRM §3.2 ID_ISAR0_EL1
      ID_ISAR1_EL1: 0x13112111n, // V1 TRM §3.2 ID_ISAR1_EL1
      ID_ISAR2_EL1: 0x21232042n, // V1 TRM §3.2 ID_ISAR2_EL1
      ID_ISAR3_EL1: 0x01112131n, // V1 TRM §3.2 ID_ISAR3_EL1
      ID_ISAR4_EL1: 0x00010142n, // V1 TRM §3.2 ID_ISAR4_EL1
      ID_ISAR5_EL1: 0x11011121n, // V1 TRM §3.2 ID_ISAR5_EL1
      ID_ISAR6_EL1: 0x01100111n, // V1 TRM §3.2 ID_ISAR6_EL1
      MVFR0_EL1: 0x10110222n, // V1 TRM §3.5.1 AdvSIMD AArch64 register summary
      MVFR1_EL1: 0x13211111n, // V1 TRM §3.5.1
      MVFR2_EL1: 0x00000043n, // V1 TRM §3.5.1
      // measured: fingerprint V1 5.10 (GIC 3, which 6.1+ KVM shows as 1); SVE, AMU from the TRM (hidden)
      ID_AA64PFR0_EL1: 0x1101110123111112n,
      ID_AA64PFR1_EL1: 0x20n, // V1 TRM §3.2 ID_AA64PFR1_EL1: SSBS2
      ID_AA64DFR0_EL1: 0x000001f210305519n, // V1 TRM §3.2 ID_AA64DFR0_EL1
      ID_AA64ISAR0_EL1: 0x1011111110212120n, // V1 TRM §3.2 ID_AA64ISAR0_EL1 (with FEAT_RNG)
      // V1 TRM §3.2.74 ID_AA64ISAR1_EL1 field list (its table 3-6 is wrong): QEMU commit 8676007e's value,
      // BF16 set, XS clear (QEMU's later SET_IDREG conversion has 0x0011000001211032, dropping BF16)
      ID_AA64ISAR1_EL1: 0x0011100001211032n,
      ID_AA64MMFR0_EL1: 0x0000000000101125n, // V1 TRM §3.2 ID_AA64MMFR0_EL1
      ID_AA64MMFR1_EL1: 0x0000000010212122n, // V1 TRM §3.2 ID_AA64MMFR1_EL1
      ID_AA64MMFR2_EL1: 0x0220011102101011n, // V1 TRM §3.2 ID_AA64MMFR2_EL1
      ID_AA64ZFR0_EL1: 0x0000100000100000n, // V1 TRM §3.7.5 ID_AA64ZFR0_EL1
    },
    pmuCounters: 6, // measured: fingerprint V1 5.10 PMCR_EL0 0x412030ac: N = 6
    pmcr: 0x41203000n, // measured: fingerprint V1 5.10 (IDCODE 0x20; the TRM had 0x21), low byte KVM's
    onlineCpus: SILICON_ONLINE_CPUS,
    sveMaxVq: 2, // V1 TRM: 256-bit SVE
    sveVqMap: 0b11n, // 128 and 256 bits
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    hardwareStore: {}, // silicon keeps every bit of these registers (AFSR0/1 IMPLEMENTATION DEFINED; UNVERIFIED)
  },
  {
    name: "neoverse-v2-silicon",
    kind: "silicon",
    source:
      "AWS Graviton4 (Neoverse V2 r0p1): ID registers, caches and PMCR measured by Firecracker's fingerprints " +
      "(5.10/6.1/6.18 hosts); hidden fields (SVE, pointer authentication, PMU version, MTE) from the Arm " +
      "Neoverse V2 TRM r0p2 (102375_0002) by hand, without a second source; not measured by the lab",
    measured: false,
    midr: 0x410fd4f1n, // measured: fingerprint V2 (r0p1; the TRM's r0p2 was 0x410fd4f2)
    revidr: 0x17n, // measured: fingerprint V2
    aidr: 0n, // measured: fingerprint V2
    ctr: 0xb444c004n, // measured: fingerprint V2 (DIC and IDC set)
    dczid: 4n, // V2 TRM DCZID_EL0
    cache: {
      clidr: 0x82000023n, // measured: fingerprint V2 (5.10, 6.1)
      // V2 implements FEAT_CCIDX: 64-bit CCSIDR_EL1 format. The low 32 bits are measured (fingerprint V2
      // 5.10/6.1: 0x1a, 0x1a, 0x3a: 4-way L1s, 8-way L2, 64-byte lines); NumSets from the sizes (64KB L1s,
      // 2MB L2: V2 TRM).
      ccsidr: {
        0: 0x000000ff0000001an, // 64KB L1 dcache
        1: 0x000000ff0000001an, // 64KB L1 icache
        2: 0x00000fff0000003an, // 2MB L2
      },
    },
    id: {
      // No AArch32 at any EL (ID_AA64PFR0_EL1.EL0 = 1): the AArch32 ID registers read 0 (fingerprint V2).
      // measured: fingerprint V2 5.10 (RAS 2, GIC 3, EL0 AArch64 only); SVE from the TRM (hidden)
      ID_AA64PFR0_EL1: 0x1101011123111111n,
      ID_AA64PFR1_EL1: 0x0000000000000121n, // SSBS 2, BT 1 measured: fingerprint V2; MTE from the V2 TRM (hidden)
      ID_AA64DFR0_EL1: 0x000000f210305409n, // measured: fingerprint V2 5.10 (PMUVer 4 is 5.10's cap: the TRM's)
      ID_AA64ISAR0_EL1: 0x1221100110212120n, // measured: fingerprint V2
      // SB, FRINTTS measured: fingerprint V2; APA, GPA from the V2 TRM (hidden without vCPU pointer auth)
      ID_AA64ISAR1_EL1: 0x0011111101211032n,
      ID_AA64ISAR2_EL1: 0n, // measured: fingerprint V2
      ID_AA64MMFR0_EL1: 0x0000022200101125n, // measured: fingerprint V2 (TGRAN*_2 2)
      ID_AA64MMFR1_EL1: 0x1000000010312122n, // measured: fingerprint V2 6.1/6.18 (ECBHB 1, unknown to 5.10)
      ID_AA64MMFR2_EL1: 0x1221011112101011n, // measured: fingerprint V2 5.10 (CCIDX 1, NV 2: later KVMs hide them)
      ID_AA64ZFR0_EL1: 0x0110110000000011n, // V2 TRM ID_AA64ZFR0_EL1 (hidden without vCPU SVE)
    },
    pmuCounters: 6, // measured: fingerprint V2 5.10 PMCR_EL0 0x30ec: N = 6
    pmcr: 0x00003000n, // measured: fingerprint V2 5.10 (IMP and IDCODE 0), low byte KVM's
    onlineCpus: SILICON_ONLINE_CPUS,
    sveMaxVq: 1, // V2 TRM: 128-bit SVE
    sveVqMap: 0b1n,
    gicv3: true,
    firmware: TF_A_FIRMWARE,
    hardwareStore: {}, // silicon keeps every bit of these registers (AFSR0/1 IMPLEMENTATION DEFINED; UNVERIFIED)
  },
];

export const CPU_MODELS: Readonly<Record<string, CpuModel>> = {
  ...Object.fromEntries(Object.entries(RAW.models).map(([name, r]) => [name, qemuModel(name, r)])),
  ...Object.fromEntries(SILICON.map((m) => [m.name, m])),
};

/** The QEMU CPU models of the lab (lab/boot.mjs CPUS): the six QEMU types, plus max with pauth-impdef=on. */
export const LAB_CPU_MODELS = [
  "max",
  "max-impdef",
  "cortex-a57",
  "cortex-a72",
  "cortex-a76",
  "neoverse-n1",
  "a64fx",
] as const;

export function cpuModel(name: string): CpuModel {
  // Own properties only: user text like "toString" or "__proto__" is a name, never Object.prototype's.
  const m = Object.hasOwn(CPU_MODELS, name) ? CPU_MODELS[name] : undefined;
  if (!m) throw new RangeError(`unknown CPU model '${name}' (known: ${Object.keys(CPU_MODELS).join(", ")})`);
  return m;
}
