/**
 * Kernel generations as data: what differs between 5.10, 6.1, 6.12 and 7.2 in the parts of KVM/arm64
 * the simulator models. Register descriptor tables come generated (generated/sysreg-descs.json, by
 * scripts/gen-sim-sysregs.mjs); the small tables here are hand-written, each naming its source.
 */
import type { KernelGeneration } from "../../regs/catalog-types.js";
import { FW_REGS } from "../uapi.js";

/** A KVM rule changing an ID register field for the guest (read_id_reg / __kvm_read_sanitised_id_reg). */
export type IdRule =
  | { reg: string; field: string; op: "clear"; unless?: "sve" | "ptrauth" | "mte" | "pmu" }
  /** Field := value when the condition holds (e.g. CSV2 := 1 when Spectre-v2 UNAFFECTED). */
  | {
      reg: string;
      field: string;
      op: "set";
      value: number;
      when: "v2Unaffected" | "meltdownUnaffected" | "gicv3";
    }
  /** Field := value unconditionally (5.10/6.1 pfr0_csv2/csv3 are 0 or 1 by the same condition). */
  | { reg: string; field: string; op: "force"; value: number; when?: "v2Unaffected" | "meltdownUnaffected" }
  /** Unsigned field capped at value (ID_REG_LIMIT_FIELD_ENUM, cpuid_feature_cap_perfmon_field). */
  | { reg: string; field: string; op: "limit"; value: number; pmu?: "zeroWithoutPmu" };

export interface GenerationModel {
  gen: KernelGeneration;
  release: string;
  /** KVM_CHECK_EXTENSION answers by cap name; "ipa" = the host's IPA limit, "el1_32" = 32-bit EL1 support. */
  caps: Readonly<Record<string, number | "ipa" | "el1_32" | "sve" | "ptrauth" | "pmu">>;
  /** vCPU feature bits KVM_ARM_VCPU_INIT accepts (KVM_VCPU_VALID_FEATURES). */
  validFeatures: readonly number[];
  /** PSCI versions KVM_SET_ONE_REG(PSCI_VERSION) accepts with PSCI_0_2 (kvm_arm_set_fw_reg), newest last. */
  psciVersions: readonly bigint[];
  /** The firmware registers KVM_GET_REG_LIST lists (kvm_arm_fw_reg_ids / kvm_arm_copy_fw_reg_indices). */
  fwRegs: readonly bigint[];
  /** Feature bitmap registers: id, the bits the kernel knows, the value a new VM gets (kvm_arm_init_hypercalls). */
  bitmaps: readonly { id: bigint; features: bigint; reset: bigint }[];
  /** Timer registers guest.c lists itself (copy_timer_indices); 7.2 lists them through sys_reg_descs. */
  timerRegs: readonly bigint[];
  /** TRNG 1.0 (trng.c, 5.13+). */
  trng: boolean;
  /** Vendor hypervisor service (CALL_UID, KVM_FEATURES, PTP: 5.12+). */
  vendorHyp: boolean;
  /** KVM_FEATURES also returns VENDOR_HYP_BMAP_2 in x2 (6.15+). */
  vendorFeaturesX2: boolean;
  /** ID registers: "immutable" (a write must equal the current value, before 6.7) or "writable". */
  idRegs: "immutable" | "writable";
  /** Before 6.7: ID_AA64PFR0_EL1 CSV2 (and CSV3 from 6.1) writable up to the host value (set_id_aa64pfr0_el1). */
  pfr0CsvWritable: readonly string[];
  /** MIDR/REVIDR/AIDR writable with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (6.15+). */
  writableImpIdRegs: boolean;
  /** KVM_ARM_GET_REG_WRITABLE_MASKS (6.7+). */
  writableMasks: boolean;
  /** The SMCCC filter (KVM_ARM_VM_SMCCC_CTRL, 6.4+). */
  smcccFilter: boolean;
  /** ID fields the first KVM_RUN clears when the VM has no vGIC (kvm_finalize_sys_regs / kvm_vcpu_first_run_init). */
  firstRunClearsWithoutVgic: readonly { reg: string; field: string }[];
  /** KVM's ID register rules, applied in order to the host-sanitised value. */
  idRules: readonly IdRule[];
  /** WORKAROUND_2 NOT_AVAIL when MITIGATED with SSBS: host cap (5.10/6.1 cpus_have_final_cap) or VM's PFR1.SSBS. */
  wa2SsbsFromVm: boolean;
  /** 5.10: PV_TIME_FEATURES is answered SUCCESS unconditionally by ARCH_FEATURES (no bitmap). */
  pvTimeGated: boolean;
  /** Default PSCI version of a PSCI_0_2 vCPU (KVM_ARM_PSCI_LATEST). */
  psciLatest: bigint;
}

const PSCI_0_2 = 0x2n;
const PSCI_1_0 = 0x10000n;
const PSCI_1_1 = 0x10001n;
const PSCI_1_2 = 0x10002n;
const PSCI_1_3 = 0x10003n;

const FW_BASE = [
  FW_REGS.PSCI_VERSION,
  FW_REGS.SMCCC_ARCH_WORKAROUND_1,
  FW_REGS.SMCCC_ARCH_WORKAROUND_2,
  FW_REGS.SMCCC_ARCH_WORKAROUND_3,
];
// uapi asm/kvm.h KVM_REG_ARM_*_BMAP_BIT_COUNT; hypercalls.c kvm_arm_init_hypercalls.
const BITMAPS_6 = [
  { id: FW_REGS.STD_BMAP, features: 0b1n, reset: 0b1n },
  { id: FW_REGS.STD_HYP_BMAP, features: 0b1n, reset: 0b1n },
  { id: FW_REGS.VENDOR_HYP_BMAP, features: 0b11n, reset: 0b11n },
];

const TIMER_CTL = 0x603000000013df19n;
const TIMER_CNT = 0x603000000013df1an;
const TIMER_CVAL = 0x603000000013df02n;
const PTIMER_CTL = 0x603000000013df11n;
const PTIMER_CNT = 0x603000000013df01n;
const PTIMER_CVAL = 0x603000000013df12n;

// arm.c kvm_vm_ioctl_check_extension + virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic.
const CAPS_COMMON = {
  IRQCHIP: 1,
  IOEVENTFD: 1,
  DEVICE_CTRL: 1,
  USER_MEMORY: 1,
  SYNC_MMU: 1,
  DESTROY_MEMORY_REGION_WORKS: 1,
  ONE_REG: 1,
  ARM_PSCI: 1,
  ARM_PSCI_0_2: 1,
  READONLY_MEM: 1,
  MP_STATE: 1,
  IMMEDIATE_EXIT: 1,
  VCPU_EVENTS: 1,
  ARM_IRQ_LINE_LAYOUT_2: 1,
  ARM_NISV_TO_USER: 1,
  ARM_INJECT_EXT_DABT: 1,
  SET_GUEST_DEBUG: 1,
  VCPU_ATTRIBUTES: 1,
  CHECK_EXTENSION_VM: 1,
  ENABLE_CAP_VM: 1,
  ARM_USER_IRQ: 1,
  MSI_DEVID: 1,
  NR_VCPUS: 2, // min(num_online_cpus(), max): the lab guests have 2 CPUs (ASSUMED)
  MAX_VCPUS: 512, // kvm_arm_default_max_vcpus() with a GICv3 host
  MAX_VCPU_ID: 512,
  ARM_VM_IPA_SIZE: "ipa",
  ARM_EL1_32BIT: "el1_32",
  ARM_PMU_V3: "pmu",
  ARM_SVE: "sve",
  ARM_PTRAUTH_ADDRESS: "ptrauth",
  ARM_PTRAUTH_GENERIC: "ptrauth",
} as const;

export const GENERATIONS: Readonly<Record<KernelGeneration, GenerationModel>> = {
  "5.10": {
    gen: "5.10",
    release: "5.10.0-sim-arm64",
    caps: { ...CAPS_COMMON, NR_MEMSLOTS: 512 },
    validFeatures: [0, 1, 2, 3, 4, 5, 6],
    psciVersions: [PSCI_0_2, PSCI_1_0],
    fwRegs: FW_BASE, // 5.10.223's psci.c lists WORKAROUND_3 (BHB backport); its selftest does not
    bitmaps: [],
    timerRegs: [TIMER_CTL, TIMER_CNT, TIMER_CVAL],
    trng: false,
    vendorHyp: false,
    vendorFeaturesX2: false,
    idRegs: "immutable",
    pfr0CsvWritable: ["CSV2"],
    writableImpIdRegs: false,
    writableMasks: false,
    smcccFilter: false,
    firstRunClearsWithoutVgic: [],
    // sys_regs.c read_id_reg (5.10)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "SVE", op: "clear", unless: "sve" },
      { reg: "ID_AA64PFR0_EL1", field: "AMU", op: "clear" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV2", op: "force", value: 1, when: "v2Unaffected" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE", op: "clear" },
      { reg: "ID_AA64ISAR1_EL1", field: "APA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "API", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPI", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "limit", value: 4 }, // PMUVER_8_1
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "limit", value: 4 },
    ],
    wa2SsbsFromVm: false,
    pvTimeGated: false,
    psciLatest: PSCI_1_0,
  },
  "6.1": {
    gen: "6.1",
    release: "6.1.0-sim-arm64",
    caps: {
      ...CAPS_COMMON,
      NR_MEMSLOTS: 32764,
      PTP_KVM: 1,
      STEAL_TIME: 1,
      SYSTEM_EVENT_DATA: 1,
      ARM_SYSTEM_SUSPEND: 1,
    },
    validFeatures: [0, 1, 2, 3, 4, 5, 6],
    psciVersions: [PSCI_0_2, PSCI_1_0, PSCI_1_1],
    fwRegs: [...FW_BASE, ...BITMAPS_6.map((b) => b.id)],
    bitmaps: BITMAPS_6,
    timerRegs: [TIMER_CTL, TIMER_CNT, TIMER_CVAL],
    trng: true,
    vendorHyp: true,
    vendorFeaturesX2: false,
    idRegs: "immutable",
    pfr0CsvWritable: ["CSV2", "CSV3"],
    writableImpIdRegs: false,
    writableMasks: false,
    smcccFilter: false,
    firstRunClearsWithoutVgic: [],
    // sys_regs.c read_id_reg (6.1)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "SVE", op: "clear", unless: "sve" },
      { reg: "ID_AA64PFR0_EL1", field: "AMU", op: "clear" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV2", op: "force", value: 1, when: "v2Unaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV3", op: "force", value: 1, when: "meltdownUnaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "GIC", op: "set", value: 1, when: "gicv3" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE", op: "clear", unless: "mte" },
      { reg: "ID_AA64PFR1_EL1", field: "SME", op: "clear" },
      { reg: "ID_AA64ISAR1_EL1", field: "APA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "API", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPI", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "APA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "GPA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "WFxT", op: "clear" }, // no ARM64_HAS_WFXT on the modelled CPUs
      { reg: "ID_AA64DFR0_EL1", field: "DebugVer", op: "force", value: 6 },
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "limit", value: 5, pmu: "zeroWithoutPmu" }, // V3P4
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "limit", value: 5, pmu: "zeroWithoutPmu" },
    ],
    wa2SsbsFromVm: false,
    pvTimeGated: true,
    psciLatest: PSCI_1_1,
  },
  "6.12": {
    gen: "6.12",
    release: "6.12.0-sim-arm64",
    caps: {
      ...CAPS_COMMON,
      NR_MEMSLOTS: 32764,
      PTP_KVM: 1,
      STEAL_TIME: 1,
      SYSTEM_EVENT_DATA: 1,
      ARM_SYSTEM_SUSPEND: 1,
      VM_ATTRIBUTES: 1,
      COUNTER_OFFSET: 1,
      ARM_SUPPORTED_REG_MASK_RANGES: 1, // BIT(KVM_ARM_FEATURE_ID_RANGE)
      ARM_EL2: 0, // needs FEAT_NV2 hosts booted with kvm-arm.mode=nested (ASSUMED absent)
    },
    validFeatures: [0, 1, 2, 3, 4, 5, 6, 7],
    psciVersions: [PSCI_0_2, PSCI_1_0, PSCI_1_1],
    fwRegs: [...FW_BASE, ...BITMAPS_6.map((b) => b.id)],
    bitmaps: BITMAPS_6,
    timerRegs: [TIMER_CTL, TIMER_CNT, TIMER_CVAL, PTIMER_CTL, PTIMER_CNT, PTIMER_CVAL],
    trng: true,
    vendorHyp: true,
    vendorFeaturesX2: false,
    idRegs: "writable",
    pfr0CsvWritable: [],
    writableImpIdRegs: false,
    writableMasks: true,
    smcccFilter: true,
    // kvm_finalize_sys_regs (6.12)
    firstRunClearsWithoutVgic: [
      { reg: "ID_AA64PFR0_EL1", field: "GIC" },
      { reg: "ID_PFR1_EL1", field: "GIC" },
    ],
    // sys_regs.c __kvm_read_sanitised_id_reg, sanitise_id_aa64pfr0_el1, sanitise_id_aa64dfr0_el1 (6.12)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "SVE", op: "clear", unless: "sve" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV2", op: "set", value: 1, when: "v2Unaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV3", op: "set", value: 1, when: "meltdownUnaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "GIC", op: "set", value: 1, when: "gicv3" },
      { reg: "ID_AA64PFR0_EL1", field: "AMU", op: "clear" },
      { reg: "ID_AA64PFR0_EL1", field: "MPAM", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE", op: "clear", unless: "mte" },
      { reg: "ID_AA64PFR1_EL1", field: "SME", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "RNDR_trap", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "NMI", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MPAM_frac", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "RAS_frac", op: "clear" },
      { reg: "ID_AA64ISAR1_EL1", field: "APA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "API", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPI", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "APA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "GPA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "WFxT", op: "clear" },
      { reg: "ID_AA64MMFR2_EL1", field: "CCIDX", op: "clear" },
      { reg: "ID_AA64MMFR2_EL1", field: "NV", op: "clear" },
      { reg: "ID_MMFR4_EL1", field: "CCIDX", op: "clear" },
      { reg: "ID_AA64DFR0_EL1", field: "DebugVer", op: "limit", value: 0xa }, // V8P8
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "limit", value: 8, pmu: "zeroWithoutPmu" }, // V3P8 ASSUMED limit
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "limit", value: 8, pmu: "zeroWithoutPmu" },
    ],
    wa2SsbsFromVm: true,
    pvTimeGated: true,
    psciLatest: PSCI_1_1,
  },
  "7.2": {
    gen: "7.2",
    release: "7.2.0-sim-arm64",
    caps: {
      ...CAPS_COMMON,
      NR_MEMSLOTS: 32764,
      PTP_KVM: 1,
      STEAL_TIME: 1,
      SYSTEM_EVENT_DATA: 1,
      ARM_SYSTEM_SUSPEND: 1,
      VM_ATTRIBUTES: 1,
      COUNTER_OFFSET: 1,
      ARM_SUPPORTED_REG_MASK_RANGES: 1,
      ARM_WRITABLE_IMP_ID_REGS: 1,
      ARM_EL2: 0,
      ARM_EL2_E2H0: 0,
      ARM_SEA_TO_USER: 1,
    },
    validFeatures: [0, 1, 2, 3, 4, 5, 6, 7, 8],
    psciVersions: [PSCI_0_2, PSCI_1_0, PSCI_1_1, PSCI_1_2, PSCI_1_3],
    fwRegs: [...FW_BASE, ...BITMAPS_6.map((b) => b.id), FW_REGS.VENDOR_HYP_BMAP_2],
    bitmaps: [...BITMAPS_6, { id: FW_REGS.VENDOR_HYP_BMAP_2, features: 0b11n, reset: 0n }],
    timerRegs: [],
    trng: true,
    vendorHyp: true,
    vendorFeaturesX2: true,
    idRegs: "writable",
    pfr0CsvWritable: [],
    writableImpIdRegs: true,
    writableMasks: true,
    smcccFilter: true,
    // kvm_vcpu_first_run_init -> !irqchip_in_kernel (7.2 sys_regs.c)
    firstRunClearsWithoutVgic: [
      { reg: "ID_AA64PFR0_EL1", field: "GIC" },
      { reg: "ID_AA64PFR2_EL1", field: "GCIE" },
      { reg: "ID_PFR1_EL1", field: "GIC" },
    ],
    // sys_regs.c __kvm_read_sanitised_id_reg, sanitise_id_aa64pfr{0,1}_el1, sanitise_id_aa64dfr0_el1 (7.2)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "SVE", op: "clear", unless: "sve" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV2", op: "set", value: 1, when: "v2Unaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV3", op: "set", value: 1, when: "meltdownUnaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "GIC", op: "set", value: 1, when: "gicv3" },
      { reg: "ID_AA64PFR0_EL1", field: "AMU", op: "clear" },
      { reg: "ID_AA64PFR0_EL1", field: "MPAM", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE", op: "clear", unless: "mte" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE_frac", op: "clear", unless: "mte" },
      { reg: "ID_AA64PFR1_EL1", field: "RAS_frac", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "SME", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "RNDR_trap", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "NMI", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "GCS", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "THE", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MTEX", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "PFAR", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MPAM_frac", op: "clear" },
      { reg: "ID_AA64ISAR1_EL1", field: "APA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "API", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPA", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR1_EL1", field: "GPI", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "APA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "GPA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "WFxT", op: "clear" },
      { reg: "ID_AA64MMFR2_EL1", field: "CCIDX", op: "clear" },
      { reg: "ID_AA64MMFR2_EL1", field: "NV", op: "clear" },
      { reg: "ID_MMFR4_EL1", field: "CCIDX", op: "clear" },
      { reg: "ID_AA64DFR0_EL1", field: "DebugVer", op: "limit", value: 0xa }, // V8P8
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "limit", value: 8, pmu: "zeroWithoutPmu" }, // kvm_arm_pmu_get_pmuver_limit (ASSUMED V3P8)
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_AA64DFR0_EL1", field: "BRBE", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "limit", value: 8, pmu: "zeroWithoutPmu" },
    ],
    wa2SsbsFromVm: true,
    pvTimeGated: true,
    psciLatest: PSCI_1_3,
  },
};

export function generationModel(gen: KernelGeneration): GenerationModel {
  return GENERATIONS[gen];
}
