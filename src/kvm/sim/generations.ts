/**
 * Kernel generations as data: what differs between 5.10, 6.1, 6.12 and 7.2 in the parts of KVM/arm64
 * the simulator models. Register descriptor tables come generated (generated/sysreg-descs.json, by
 * scripts/gen-sim-sysregs.mjs); the small tables here are hand-written, each naming its source.
 * "next" is synthetic (7.2 + a new hypercall service, ID field and register) for the proposals of
 * proposals.ts; it models no real kernel.
 */
import { KERNEL_GENERATIONS } from "../../regs/catalog-types.js";
import type { FtrPolicy, KernelGeneration } from "../../regs/catalog-types.js";
import { sysregId } from "../../regs/id.js";
import { FW_REGS } from "../uapi.js";
import { SYSREG_DESCS_SOURCES } from "./descs.js";
import type { SysregDesc } from "./descs.js";
import { HYPERCALL_SERVICE } from "./proposals.js";

/** The simulator's kernel generations: the four upstream ones and the synthetic "next". */
export const SIM_GENERATIONS = [...KERNEL_GENERATIONS, "next"] as const;
export type SimGeneration = (typeof SIM_GENERATIONS)[number];

export function isSimGeneration(s: string): s is SimGeneration {
  return (SIM_GENERATIONS as readonly string[]).includes(s);
}

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
  | { reg: string; field: string; op: "limit"; value: number; pmu?: "zeroWithoutPmu" }
  /**
   * 6.7+ sanitise_id_aa64dfr0_el1 / read_sanitised_id_dfr0_el1: with a vCPU PMU the field is set (not capped)
   * to kvm_arm_pmu_get_pmuver_limit() (the host's ID_AA64DFR0_EL1.PMUVer, IMP_DEF as 0, at most `value`),
   * as PerfMon through pmuver_to_perfmon() when `perfmon`; without a PMU it is 0.
   */
  | { reg: string; field: string; op: "pmuver"; value: number; perfmon?: boolean };

/** A hypercall service with a revision (proposal (a), proposals.ts), and the bitmap bits it owns. */
export interface HypercallServiceModel {
  service: number;
  name: string;
  /** Revisions the kernel implements, oldest first (SMCCC convention: major << 16 | minor). */
  revisions: readonly bigint[];
  /** Cannot be withdrawn (0 refused) and defaults to its oldest revision under (a). */
  mandatory?: boolean;
  /** Firmware bitmap bits of the service's functions, with the revision that introduced each. */
  bits: readonly { id: bigint; bit: number; since: bigint; defaultOn: boolean }[];
}

/** What a generation adds to the guest ABI: under GUESTABI_CAP.VM_SCOPED_REGS it all defaults to off. */
export interface NewItems {
  /** Hypercall services new here (identity defaults to 0: absent). */
  services: readonly number[];
  /** Revisions of existing services new here (identity defaults to the newest older one). */
  revisions: readonly { service: number; revision: bigint }[];
  /** ID register fields new here (the VM's value defaults to 0; the limit stays KVM's value). */
  idFields: readonly { reg: string; field: string }[];
  /** Registers new here, each hidden while its feature is off (documentation; the gate is its visibility). */
  regs: readonly string[];
}

export interface GenerationModel {
  gen: SimGeneration;
  /** The upstream generation whose generated tables (sys_reg_descs, ftr policies) this one uses. */
  data: KernelGeneration;
  synthetic: boolean;
  /** The kernel source package the tables come from. */
  source: string;
  release: string;
  /** KVM_CHECK_EXTENSION answers by cap name (without KVM_CAP_); absent = 0. */
  caps: Readonly<Record<string, CapValue>>;
  /**
   * kvm_set_ipa_limit (6.9+): no 48-bit cap on the IPA size when kvm_lpa2_is_enabled() (system_supports_lpa2:
   * ID_AA64MMFR0_EL1.TGRAN4 and TGRAN4_2 both say LPA2, has_lpa2); before, 4K pages cap it at 48 bits.
   */
  ipaLpa2: boolean;
  /** KVM_CAP_ARM_PTRAUTH_*: system_has_full_ptr_auth() (address and generic auth, any algorithms) before 6.7,
   * kvm_has_full_ptr_auth() after (both for one algorithm, and a single algorithm: QARMA5, IMPDEF or QARMA3). */
  ptrauthOneAlgorithm: boolean;
  /** vCPU feature bits KVM_ARM_VCPU_INIT accepts (KVM_VCPU_VALID_FEATURES). */
  validFeatures: readonly number[];
  /**
   * kvm_vcpu_set_target: "exact" (<= 6.1: target must equal kvm_target_cpu(), which is CORTEX_A57/A53/...
   * for those parts, and KVM_ARM_PREFERRED_TARGET reports it) or "genericOrCpu" (6.12+: GENERIC_V8 or
   * kvm_target_cpu(); KVM_ARM_PREFERRED_TARGET always reports GENERIC_V8).
   */
  vcpuTarget: "exact" | "genericOrCpu";
  /** kvm_arch_vcpu_ioctl_vcpu_init (6.7+): KVM_ARM_VCPU_POWER_OFF is cleared from the request ("ephemeral")
   * before the feature set is checked against the VM's and recorded; before, it is a vCPU feature like any. */
  powerOffEphemeral: boolean;
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
  /** kvm_smccc_set_filter refuses nr_functions == 0 (7.x; 6.12 only checks end < start). */
  smcccFilterRejectsEmpty: boolean;
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
  /** reset_pmcr: "host" (5.10/6.1: the host's PMCR_EL0 outside ARMV8_PMU_PMCR_MASK (0xff), the mask's bits
   * from 0xdecafbad, E clear, LC without 32-bit EL0) or "lc" (6.7+: LC without 32-bit EL0; PMCR.N added from
   * kvm->arch.pmcr_n when read, kvm_vcpu_read_pmcr). */
  pmcrReset: "host" | "lc";
  /** reset_pmevtyper's mask: "evtype" (6.1: ARMV8_PMU_EVTYPE_MASK 0xc800ffff) or "vm" (6.7+: kvm_pmu_evtyper_mask,
   * from the VM's PMUVer, EL2 and EL3 fields); 5.10 resets the event registers with reset_unknown. */
  pmevtyperMask: "evtype" | "vm";
  /** The first KVM_RUN of a vCPU with a PMU runs KVM_REQ_RELOAD_PMU (kvm_arm_pmu_v3_enable), whose
   * kvm_pmu_handle_pmcr (6.1-6.12) stores PMCR_EL0 without C and P ("the reset bits ... shouldn't be saved"). */
  pmuReloadClearsPmcrCP: boolean;
  /** CLIDR_EL1 / CCSIDR: "host" (before 6.3: the hardware's, invariant; demux ids for the caches CLIDR lists)
   * or "kvm" (6.3+: reset_clidr and get_ccsidr fabricate them from the sanitised CTR_EL0; CSSELR_MAX = 14
   * demux ids; set_ccsidr). */
  cacheIds: "host" | "kvm";
  /**
   * When a guest's CTR_EL0 read traps to KVM (HCR_EL2.TID2) instead of reading the CPU's own: "tid2" (<= 6.2
   * kvm_emulate.h vcpu_reset_hcr: ARM64_MISMATCHED_CACHE_TYPE, never on a one-CPU host, or a 32-bit EL1 vCPU)
   * or "tid4WithEvt" (6.3+: TID2 unless the host has FEAT_EVT and the VM's CTR_EL0 is the sanitised one,
   * when TID4 traps only CCSIDR/CLIDR/CSSELR).
   */
  ctrTrap: "tid2" | "tid4WithEvt";
  /** The EL1/EL0 registers the world switch loads into the CPU and reads back on every run
   * (hyp/include/hyp/sysreg-sr.h __sysreg_save_el1_state, __sysreg_save_user_state, __sysreg_save_common_state). */
  hwSysregs: readonly string[];
  /** Hypercall services and their revisions (proposal (a)'s identity registers; also gates the calls). */
  services: readonly HypercallServiceModel[];
  /** What this generation adds over the previous one, for proposal (c). */
  newHere: NewItems;
  /** Changes to the data generation's descriptors (synthetic generations only). */
  descPatches?: (descs: SysregDesc[]) => SysregDesc[];
  /** ftr policies the data generation's cpufeature.c lacks (synthetic generations only). */
  extraPolicies?: Readonly<Record<string, readonly FtrPolicy[]>>;
  /** Notable rules, for `guestabi kernels`. */
  notable: readonly string[];
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

// Proposal (a): the services and their revisions. Upstream has no revision registers; the revisions are
// what each service's version call returns (SMCCC_VERSION: hypercalls.c ARM_SMCCC_VERSION_1_1; TRNG_VERSION:
// trng.c TRNG_VERSION_1_0) or, for services without one, guestabi's numbering of KVM's function sets:
// KVM vendor 1.0 = CALL_UID + KVM_FEATURES + KVM_PTP (5.12), 1.1 = + DISCOVER_IMPL_VER/CPUS and
// VENDOR_HYP_BMAP_2 (6.15); PV time 1.0 = DEN0057A (5.10).
const REV_1_0 = 0x10000n;
const REV_1_1 = 0x10001n;
const SVC_SMCCC = {
  service: HYPERCALL_SERVICE.SMCCC,
  name: "SMCCC",
  revisions: [REV_1_1],
  mandatory: true,
  bits: [],
};
const SVC_PV_TIME = (bitmaps: boolean) => ({
  service: HYPERCALL_SERVICE.PV_TIME,
  name: "PV_TIME",
  revisions: [REV_1_0],
  bits: bitmaps ? [{ id: FW_REGS.STD_HYP_BMAP, bit: 0, since: REV_1_0, defaultOn: true }] : [],
});
const SVC_TRNG = {
  service: HYPERCALL_SERVICE.TRNG,
  name: "TRNG",
  revisions: [REV_1_0],
  bits: [{ id: FW_REGS.STD_BMAP, bit: 0, since: REV_1_0, defaultOn: true }],
};
const VENDOR_BITS_1_0 = [
  { id: FW_REGS.VENDOR_HYP_BMAP, bit: 0, since: REV_1_0, defaultOn: true }, // KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT
  { id: FW_REGS.VENDOR_HYP_BMAP, bit: 1, since: REV_1_0, defaultOn: true }, // KVM_REG_ARM_VENDOR_HYP_BIT_PTP
];
const SVC_VENDOR_6 = {
  service: HYPERCALL_SERVICE.KVM_VENDOR,
  name: "KVM_VENDOR",
  revisions: [REV_1_0],
  bits: VENDOR_BITS_1_0,
};
const SVC_VENDOR_7 = {
  ...SVC_VENDOR_6,
  revisions: [REV_1_0, REV_1_1],
  bits: [
    ...VENDOR_BITS_1_0,
    // KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER / _CPUS: off by default (kvm_arm_init_hypercalls)
    { id: FW_REGS.VENDOR_HYP_BMAP_2, bit: 0, since: REV_1_1, defaultOn: false },
    { id: FW_REGS.VENDOR_HYP_BMAP_2, bit: 1, since: REV_1_1, defaultOn: false },
  ],
};
const NOTHING_NEW: NewItems = { services: [], revisions: [], idFields: [], regs: [] };

const TIMER_CTL = 0x603000000013df19n;
const TIMER_CNT = 0x603000000013df1an;
const TIMER_CVAL = 0x603000000013df02n;
const PTIMER_CTL = 0x603000000013df11n;
const PTIMER_CNT = 0x603000000013df01n;
const PTIMER_CVAL = 0x603000000013df12n;

/**
 * A KVM_CHECK_EXTENSION answer: a number, or what the host decides it from (kernel.ts SimSystem.capValue):
 * "ipa" get_kvm_ipa_limit(); "el1_32" ARM64_HAS_32BIT_EL1; "sve" system_supports_sve(); "ptrauth" full
 * address + generic pointer auth; "pmu" kvm_arm_support_pmu_v3(); "mte" system_supports_mte(); "ras"
 * ARM64_HAS_RAS_EXTN; "onlineCpus" min(num_online_cpus(), kvm_arm_default_max_vcpus()); "brps"/"wrps"
 * get_num_brps()/get_num_wrps() (ID_AA64DFR0_EL1.BRPs/WRPs + 1); "vmOnly0" -EINVAL on /dev/kvm (`if (!kvm)`),
 * 0 on a VM (KVM_CAP_MSI_DEVID: kvm->arch.vgic.msis_require_devid, set only by an ITS); "cacheablePfnmap"
 * -EINVAL on /dev/kvm, kvm_supports_cacheable_pfnmap() (ARM64_HAS_STAGE2_FWB && ARM64_HAS_CACHE_DIC) on a VM.
 */
export type CapValue =
  | number
  | "ipa"
  | "el1_32"
  | "sve"
  | "ptrauth"
  | "pmu"
  | "mte"
  | "ras"
  | "onlineCpus"
  | "brps"
  | "wrps"
  | "vmOnly0"
  | "cacheablePfnmap";

// virt/kvm/kvm_main.c kvm_vm_ioctl_check_extension_generic with arm64's Kconfig (HAVE_KVM_MSI, HAVE_KVM_IRQFD,
// HAVE_KVM_IRQ_ROUTING, KVM_MMIO, KVM_GENERIC_DIRTYLOG_READ_PROTECT), every generation: KVM_COALESCED_MMIO_PAGE_OFFSET
// is 1 on arm64, KVM_MAX_IRQ_ROUTES 4096, KVM_DIRTY_LOG_MANUAL_CAPS = MANUAL_PROTECT_ENABLE | INITIALLY_SET (3).
// (5.10/6.1 answer IRQFD_RESAMPLE here under HAVE_KVM_IRQFD; 6.4+ from arm.c: 1 either way.)
const CAPS_GENERIC = {
  USER_MEMORY: 1,
  DESTROY_MEMORY_REGION_WORKS: 1,
  JOIN_MEMORY_REGIONS_WORKS: 1,
  INTERNAL_ERROR_DATA: 1,
  SIGNAL_MSI: 1,
  IRQFD: 1,
  IRQFD_RESAMPLE: 1,
  IOEVENTFD_ANY_LENGTH: 1,
  CHECK_EXTENSION_VM: 1,
  ENABLE_CAP_VM: 1,
  HALT_POLL: 1,
  COALESCED_MMIO: 1,
  COALESCED_PIO: 1,
  MANUAL_DIRTY_LOG_PROTECT2: 3,
  IRQ_ROUTING: 4096,
} as const;

// arm.c kvm_vm_ioctl_check_extension (5.10: + reset.c kvm_arch_vm_ioctl_check_extension), every generation.
const CAPS_COMMON = {
  ...CAPS_GENERIC,
  IRQCHIP: 1, // vgic_present: the host has a GICv3
  IOEVENTFD: 1,
  DEVICE_CTRL: 1,
  SYNC_MMU: 1,
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
  ARM_SET_DEVICE_ADDR: 1,
  SET_GUEST_DEBUG: 1,
  VCPU_ATTRIBUTES: 1,
  ARM_USER_IRQ: 1,
  STEAL_TIME: 1, // kvm_arm_pvtime_supported(): !!sched_info_on(), CONFIG_SCHED_INFO=y on Debian
  NR_VCPUS: "onlineCpus",
  MAX_VCPUS: 512, // kvm_arm_default_max_vcpus() with a GICv3 host
  MAX_VCPU_ID: 512,
  MSI_DEVID: "vmOnly0",
  ARM_VM_IPA_SIZE: "ipa",
  ARM_EL1_32BIT: "el1_32",
  GUEST_DEBUG_HW_BPS: "brps",
  GUEST_DEBUG_HW_WPS: "wrps",
  ARM_PMU_V3: "pmu",
  ARM_INJECT_SERROR_ESR: "ras",
  ARM_SVE: "sve",
  ARM_PTRAUTH_ADDRESS: "ptrauth",
  ARM_PTRAUTH_GENERIC: "ptrauth",
} as const;

// What 6.1 adds: generic BINARY_STATS_FD (5.14) and SYSTEM_EVENT_DATA (5.18); arm.c PTP_KVM,
// ARM_SYSTEM_SUSPEND, ARM_MTE, SET_GUEST_DEBUG2 = KVM_GUESTDBG_VALID_MASK (ENABLE | SINGLESTEP | USE_SW_BP |
// USE_HW = 0x30003); KVM_USER_MEM_SLOTS = KVM_MEM_SLOTS_NUM (SHRT_MAX) - 0 internal slots on arm64.
const CAPS_6_1 = {
  ...CAPS_COMMON,
  NR_MEMSLOTS: 32767,
  BINARY_STATS_FD: 1,
  SYSTEM_EVENT_DATA: 1,
  PTP_KVM: 1,
  ARM_SYSTEM_SUSPEND: 1,
  ARM_MTE: "mte",
  SET_GUEST_DEBUG2: 0x30003,
} as const;

// What 6.12 adds: generic USER_MEMORY2 (6.8) and the dirty ring with acquire/release ordering
// (HAVE_KVM_DIRTY_RING_ACQ_REL, NEED_KVM_DIRTY_RING_WITH_BITMAP: KVM_DIRTY_RING_MAX_ENTRIES 65536 * 16-byte
// struct kvm_dirty_gfn); arm.c COUNTER_OFFSET, ARM_SUPPORTED_BLOCK_SIZES (kvm_supported_block_sizes(): 4K
// pages, levels 1..3 = 1G | 2M | 4K) and ARM_SUPPORTED_REG_MASK_RANGES (BIT(KVM_ARM_FEATURE_ID_RANGE)).
// KVM_CAP_VM_ATTRIBUTES is not answered on arm64 (x86/s390 only): 0.
const CAPS_6_12 = {
  ...CAPS_6_1,
  USER_MEMORY2: 1,
  DIRTY_LOG_RING_ACQ_REL: 65536 * 16,
  DIRTY_LOG_RING_WITH_BITMAP: 1,
  COUNTER_OFFSET: 1,
  ARM_SUPPORTED_BLOCK_SIZES: 0x40201000,
  ARM_SUPPORTED_REG_MASK_RANGES: 1,
} as const;

// What 7.2 adds: generic GUEST_MEMFD (KVM_GUEST_MEMFD) and GUEST_MEMFD_FLAGS (kvm_gmem_get_supported_flags:
// MMAP | INIT_SHARED); arm.c ARM_WRITABLE_IMP_ID_REGS, ARM_SEA_TO_USER, ARM_CACHEABLE_PFNMAP_SUPPORTED;
// ARM_EL2 / ARM_EL2_E2H0 need ARM64_HAS_NESTED_VIRT / ARM64_HAS_HCR_NV1 (no NV host: 0).
const CAPS_7_2 = {
  ...CAPS_6_12,
  GUEST_MEMFD: 1,
  GUEST_MEMFD_FLAGS: 3,
  ARM_WRITABLE_IMP_ID_REGS: 1,
  ARM_SEA_TO_USER: 1,
  ARM_CACHEABLE_PFNMAP_SUPPORTED: "cacheablePfnmap",
  ARM_EL2: 0,
  ARM_EL2_E2H0: 0,
} as const;

// hyp/include/hyp/sysreg-sr.h: the registers saved and restored on every world switch (conditional ones,
// MTE's TFSR, TCR2/PIR/POR/SCTLR2 with their features and DISR with RAS, left out: no modelled CPU needs them).
const HW_SYSREGS_5 = [
  "MDSCR_EL1",
  "TPIDR_EL0",
  "TPIDRRO_EL0",
  "CSSELR_EL1", // until 6.2: 6.3+ traps CSSELR (HCR_EL2.TID4) and keeps it in memory
  "SCTLR_EL1",
  "CPACR_EL1",
  "TTBR0_EL1",
  "TTBR1_EL1",
  "TCR_EL1",
  "ESR_EL1",
  "AFSR0_EL1",
  "AFSR1_EL1",
  "FAR_EL1",
  "MAIR_EL1",
  "VBAR_EL1",
  "CONTEXTIDR_EL1",
  "AMAIR_EL1",
  "CNTKCTL_EL1",
  "PAR_EL1",
  "TPIDR_EL1",
];
const HW_SYSREGS_6_3 = HW_SYSREGS_5.filter((r) => r !== "CSSELR_EL1");

export const GENERATIONS: Readonly<Record<KernelGeneration, GenerationModel>> = {
  "5.10": {
    gen: "5.10",
    data: "5.10",
    synthetic: false,
    source: SYSREG_DESCS_SOURCES["5.10"] ?? "?",
    release: "5.10.0-sim-arm64",
    caps: { ...CAPS_COMMON, NR_MEMSLOTS: 512 }, // KVM_USER_MEM_SLOTS 512 (5.10 arm64 kvm_host.h)
    ipaLpa2: false,
    ptrauthOneAlgorithm: false,
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
    pmcrReset: "host",
    pmevtyperMask: "evtype", // unused: 5.10's PMEVTYPER<n>_EL0 reset with reset_unknown
    pmuReloadClearsPmcrCP: false,
    cacheIds: "host",
    ctrTrap: "tid2",
    hwSysregs: HW_SYSREGS_5,
    wa2SsbsFromVm: false,
    pvTimeGated: false,
    powerOffEphemeral: false,
    vcpuTarget: "exact",
    smcccFilterRejectsEmpty: false,
    services: [SVC_SMCCC, SVC_PV_TIME(false)],
    newHere: NOTHING_NEW,
    notable: [
      "ID registers immutable except ID_AA64PFR0_EL1.CSV2 (set_id_aa64pfr0_el1, backported to 5.10.y)",
      "no firmware feature bitmaps; TRNG and the KVM vendor service absent",
      "SMC from the guest returns -1 in x0 (handle_smc)",
      "KVM_ARM_PREFERRED_TARGET is CORTEX_A57/A53 on those parts (kvm_target_cpu)",
    ],
    psciLatest: PSCI_1_0,
  },
  "6.1": {
    gen: "6.1",
    data: "6.1",
    synthetic: false,
    source: SYSREG_DESCS_SOURCES["6.1"] ?? "?",
    release: "6.1.0-sim-arm64",
    caps: CAPS_6_1,
    ipaLpa2: false,
    ptrauthOneAlgorithm: false,
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
    pmcrReset: "host",
    pmevtyperMask: "evtype",
    pmuReloadClearsPmcrCP: true,
    cacheIds: "host",
    ctrTrap: "tid2",
    hwSysregs: HW_SYSREGS_5,
    wa2SsbsFromVm: false,
    pvTimeGated: true,
    powerOffEphemeral: false,
    vcpuTarget: "exact",
    smcccFilterRejectsEmpty: false,
    services: [SVC_SMCCC, SVC_TRNG, SVC_PV_TIME(true), SVC_VENDOR_6],
    newHere: NOTHING_NEW,
    notable: [
      "ID registers immutable except ID_AA64PFR0_EL1.CSV2/CSV3 (set_id_aa64pfr0_el1)",
      "firmware bitmaps STD/STD_HYP/VENDOR_HYP, EBUSY after the first run (kvm_arm_set_fw_reg_bmap)",
      "TRNG 1.0, KVM_PTP; PSCI 1.1 with SYSTEM_RESET2",
      "SMC from the guest returns -1 in x0 (handle_smc)",
    ],
    psciLatest: PSCI_1_1,
  },
  "6.12": {
    gen: "6.12",
    data: "6.12",
    synthetic: false,
    source: SYSREG_DESCS_SOURCES["6.12"] ?? "?",
    release: "6.12.0-sim-arm64",
    caps: CAPS_6_12,
    ipaLpa2: true,
    ptrauthOneAlgorithm: true,
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
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "pmuver", value: 6 }, // kvm_arm_pmu_get_pmuver_limit: V3P5
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "pmuver", value: 6, perfmon: true }, // read_sanitised_id_dfr0_el1
      { reg: "ID_DFR0_EL1", field: "CopDbg", op: "limit", value: 0xa }, // Debugv8p8
    ],
    pmcrReset: "lc",
    pmevtyperMask: "vm",
    pmuReloadClearsPmcrCP: true,
    cacheIds: "kvm",
    ctrTrap: "tid4WithEvt",
    hwSysregs: HW_SYSREGS_6_3,
    wa2SsbsFromVm: true,
    pvTimeGated: true,
    powerOffEphemeral: true,
    vcpuTarget: "genericOrCpu",
    smcccFilterRejectsEmpty: false,
    services: [SVC_SMCCC, SVC_TRNG, SVC_PV_TIME(true), SVC_VENDOR_6],
    newHere: NOTHING_NEW,
    notable: [
      "writable ID registers, VM-wide (set_id_reg, arm64_check_features; EBUSY after the first run)",
      "KVM_ARM_GET_REG_WRITABLE_MASKS; CLIDR_EL1 per vCPU and writable any time (set_clidr)",
      "SMCCC filter (KVM_ARM_VM_SMCCC_CTRL); SMC #0 is an SMCCC call (handle_smc)",
      "vCPU features VM-wide (kvm_vcpu_init_changed)",
    ],
    psciLatest: PSCI_1_1,
  },
  "7.2": {
    gen: "7.2",
    data: "7.2",
    synthetic: false,
    source: SYSREG_DESCS_SOURCES["7.2"] ?? "?",
    release: "7.2.0-sim-arm64",
    caps: CAPS_7_2,
    ipaLpa2: true,
    ptrauthOneAlgorithm: true,
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
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "pmuver", value: 6 }, // kvm_arm_pmu_get_pmuver_limit: V3P5
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_AA64DFR0_EL1", field: "BRBE", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "pmuver", value: 6, perfmon: true }, // read_sanitised_id_dfr0_el1
      { reg: "ID_DFR0_EL1", field: "CopDbg", op: "limit", value: 0xa }, // Debugv8p8
    ],
    pmcrReset: "lc",
    pmevtyperMask: "vm",
    pmuReloadClearsPmcrCP: false, // KVM_REQ_RELOAD_PMU runs kvm_vcpu_reload_pmu, which leaves PMCR_EL0 alone
    cacheIds: "kvm",
    ctrTrap: "tid4WithEvt",
    hwSysregs: HW_SYSREGS_6_3,
    wa2SsbsFromVm: true,
    pvTimeGated: true,
    powerOffEphemeral: true,
    vcpuTarget: "genericOrCpu",
    smcccFilterRejectsEmpty: true,
    services: [SVC_SMCCC, SVC_TRNG, SVC_PV_TIME(true), SVC_VENDOR_7],
    newHere: NOTHING_NEW,
    notable: [
      "PSCI 1.2/1.3 (SYSTEM_OFF2)",
      "MIDR/REVIDR/AIDR writable with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg)",
      "VENDOR_HYP_BMAP_2 (DISCOVER_IMPL_VER/CPUS, KVM_FEATURES x2)",
      "timer registers listed through sys_reg_descs (kvm_one_reg_to_id keeps the uapi ids)",
    ],
    psciLatest: PSCI_1_3,
  },
};

// ---- "next": synthetic ---------------------------------------------------------------------------

/** "next"'s new hypercall: KVM vendor-hypervisor function 66 (the first number after DISCOVER_IMPL_CPUS). */
export const WIDGET_FUNCTION_NUMBER = 66;
const PFAR_MASK = 0xfn << 60n; // ID_AA64PFR1_EL1.PFAR, bits 63:60
const M72 = GENERATIONS["7.2"];

/**
 * A synthetic kernel after 7.2, for showing what the proposals do on an upgrade and a rollback. It is 7.2
 * plus, each the kind of thing every release adds and each on by default as upstream does it:
 * - a hypercall service, WIDGET (vendor-hyp function 66, fast call 0x86000042), with bit 2 of
 *   VENDOR_HYP_BMAP_2 (KVM_FEATURES x2 bit 2), set in a new VM's bitmap;
 * - an ID field, ID_AA64PFR1_EL1.PFAR = 1 on every host (KVM emulating FEAT_PFAR), writable (lower-safe);
 * - a register, PFAR_EL1 (S3_0_C6_C0_5), listed while the VM's PFAR field is nonzero (a visibility
 *   function like tcr2_visibility).
 */
export const NEXT_GENERATION: GenerationModel = {
  ...M72,
  gen: "next",
  synthetic: true,
  source: `synthetic: ${M72.source} + guestabi's "next" additions`,
  release: "next-sim-arm64",
  bitmaps: M72.bitmaps.map((b) =>
    b.id === FW_REGS.VENDOR_HYP_BMAP_2 ? { ...b, features: b.features | 0b100n, reset: b.reset | 0b100n } : b,
  ),
  services: [
    ...M72.services,
    {
      service: HYPERCALL_SERVICE.WIDGET,
      name: "WIDGET",
      revisions: [REV_1_0],
      bits: [{ id: FW_REGS.VENDOR_HYP_BMAP_2, bit: 2, since: REV_1_0, defaultOn: true }],
    },
  ],
  idRules: [
    ...M72.idRules.filter((r) => !(r.reg === "ID_AA64PFR1_EL1" && r.field === "PFAR")),
    { reg: "ID_AA64PFR1_EL1", field: "PFAR", op: "force", value: 1 },
  ],
  descPatches: (descs) => {
    const out = descs.map((d) =>
      d.name === "ID_AA64PFR1_EL1"
        ? { ...d, valBig: d.valBig | PFAR_MASK, val: "0x" + (d.valBig | PFAR_MASK).toString(16) }
        : d,
    );
    const pfar: SysregDesc = {
      name: "PFAR_EL1",
      op0: 3,
      op1: 0,
      crn: 6,
      crm: 0,
      op2: 5,
      outer: "SYS_DESC",
      access: "access_rw",
      reset: "reset_val",
      reg: "PFAR_EL1",
      val: "0x0",
      visibility: "pfar_visibility",
      listed: true,
      id: sysregId(3, 0, 6, 0, 5),
      valBig: 0n,
      invariant: false,
    };
    const at = out.findIndex((d) => !d.invariant && d.id > pfar.id);
    out.splice(at < 0 ? out.length : at, 0, pfar);
    return out;
  },
  extraPolicies: {
    ID_AA64PFR1_EL1: [
      {
        field: "PFAR",
        shift: 60,
        width: 4,
        signed: false,
        type: "lowerSafe",
        safe: 0n,
        visible: true,
        strict: false,
      },
    ],
  },
  newHere: {
    services: [HYPERCALL_SERVICE.WIDGET],
    revisions: [],
    idFields: [{ reg: "ID_AA64PFR1_EL1", field: "PFAR" }],
    regs: ["PFAR_EL1"],
  },
  notable: [
    "SYNTHETIC: 7.2 plus a hypercall service (WIDGET, VENDOR_HYP_BMAP_2 bit 2, on by default)",
    "SYNTHETIC: ID_AA64PFR1_EL1.PFAR = 1 on every host, writable; PFAR_EL1 listed while it is nonzero",
  ],
};

export const SIM_GENERATION_MODELS: Readonly<Record<SimGeneration, GenerationModel>> = {
  ...GENERATIONS,
  next: NEXT_GENERATION,
};

export function generationModel(gen: SimGeneration): GenerationModel {
  const m = SIM_GENERATION_MODELS[gen];
  if (!m) throw new RangeError(`unknown kernel generation '${gen}' (known: ${SIM_GENERATIONS.join(", ")})`);
  return m;
}
