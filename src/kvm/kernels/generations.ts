/**
 * Kernel generations as data: what differs between 5.10, 6.1, 6.12, 6.18 and 7.2 in the parts of KVM/arm64
 * guestabi models, and two vendor kernels. 5.10 is written in full; each later generation is its
 * predecessor plus named rows (resolve.ts applies and validates them when this module loads). Register
 * descriptor tables come generated (descs.ts, generated/sysreg-descs.json by scripts/gen-sim-sysregs.mjs)
 * for the four kernels whose sources guestabi has; the small tables here are hand-written, each naming its
 * source.
 *
 * - 5.10-amzn and 6.1-amzn are Amazon Linux's kernels: upstream plus the backports that Firecracker's public
 *   host fingerprints of 5.10.255-amzn2 and 6.1.172-amzn2023 show (src/vmm/testdata/firecracker), and for
 *   5.10 the ones Amazon's own tree shows. A backport no fingerprint or source shows (writable ID registers
 *   on 6.1, say) is left out: a fingerprint has no write experiments.
 * - 6.18 is upstream 6.18 on 7.2's tables (no 6.18 source package): its register list and firmware values
 *   are Firecracker's 6.18.30-amzn2023 fingerprints'; each rule row names the release that brought it.
 * - "next" is synthetic (7.2 + a new hypercall service, ID field and register) for the proposals of
 *   sim/proposals.ts; it models no real kernel.
 *
 * A new kernel generation is one more entry below (and its generated tables): see README.md, "Adding a
 * kernel generation".
 */
import { KERNEL_GENERATIONS } from "../../regs/catalog-types.js";
import type { KernelGeneration } from "../../regs/catalog-types.js";
import { sysregId } from "../../regs/id.js";
import { FW_REGS } from "../uapi.js";
import { SYSREG_DESCS_SOURCES } from "./descs.js";
import type { SysregDesc } from "./descs.js";
import { HYPERCALL_SERVICE, SIM_GENERATIONS } from "./model.js";
import type { GenerationModel, SimGeneration, VgicModel } from "./model.js";
import { resolveGenerations } from "./resolve.js";
import type { GenerationEntry } from "./resolve.js";

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

/**
 * The KVM vendor service before the firmware bitmaps (5.12..5.18 kvm_hvc_call_handler: CALL_UID, KVM_FEATURES
 * and KVM_PTP always on): no bitmap bits gate it.
 */
const SVC_VENDOR_UNGATED = { ...SVC_VENDOR_6, bits: [] };

const TIMER_CTL = 0x603000000013df19n;
const TIMER_CNT = 0x603000000013df1an;
const TIMER_CVAL = 0x603000000013df02n;
const PTIMER_CTL = 0x603000000013df11n;
const PTIMER_CNT = 0x603000000013df01n;
const PTIMER_CVAL = 0x603000000013df12n;
/**
 * copy_timer_indices from 6.4 ("KVM: arm64: timers: Allow save/restoring of the physical timer", part of the
 * counter-offset series): timer_reg_list adds the physical timer's registers.
 */
const TIMER_REGS_6_4 = [TIMER_CTL, TIMER_CNT, TIMER_CVAL, PTIMER_CTL, PTIMER_CNT, PTIMER_CVAL];

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
  USER_MEMORY2: 1,
  DIRTY_LOG_RING_ACQ_REL: 65536 * 16,
  DIRTY_LOG_RING_WITH_BITMAP: 1,
  COUNTER_OFFSET: 1,
  ARM_SUPPORTED_BLOCK_SIZES: 0x40201000,
  ARM_SUPPORTED_REG_MASK_RANGES: 1,
} as const;

// What 6.18 adds: generic GUEST_MEMFD on arm64 (KVM_GUEST_MEMFD, 6.18) and GUEST_MEMFD_FLAGS
// (kvm_gmem_get_supported_flags: MMAP | INIT_SHARED; "KVM: Rework KVM_CAP_GUEST_MEMFD_MMAP into
// KVM_CAP_GUEST_MEMFD_FLAGS", d2042d8f96dd, 6.18-rc); arm.c ARM_WRITABLE_IMP_ID_REGS (6.15),
// ARM_CACHEABLE_PFNMAP_SUPPORTED (6.17); ARM_EL2 / ARM_EL2_E2H0 (6.16) need ARM64_HAS_NESTED_VIRT /
// ARM64_HAS_HCR_NV1 (no NV host: 0).
const CAPS_6_18 = {
  GUEST_MEMFD: 1,
  GUEST_MEMFD_FLAGS: 3,
  ARM_WRITABLE_IMP_ID_REGS: 1,
  ARM_CACHEABLE_PFNMAP_SUPPORTED: "cacheablePfnmap",
  ARM_EL2: 0,
  ARM_EL2_E2H0: 0,
} as const;

// What 7.2 adds over 6.18: arm.c ARM_SEA_TO_USER ("KVM: arm64: VM exit to userspace to handle SEA", v4 still
// under review on kvm@vger on 2025-11-03, after 6.18-rc1).
const CAPS_7_2 = { ARM_SEA_TO_USER: 1 } as const;

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

/** 6.1's vGICv3 (vgic-init.c, vgic-mmio-v3.c, vgic-its.c), which 6.12 keeps. */
const VGIC_6_1: VgicModel = {
  iidrRevision: 3, // vgic_init: KVM_VGIC_IMP_REV_LATEST when 0
  iidrWritable: [2, 3], // vgic_mmio_uaccess_write_v3_misc: KVM_VGIC_IMP_REV_2, _3, other bits equal
  iidrSetAt: "init",
  rdCtlrRev3Bits: true, // vgic_mmio_read_v3r_ctlr: IR | CES from KVM_VGIC_IMP_REV_3
  uaccessTyperLast: true, // vgic_mmio_read_v3r_typer for both
  idFieldsWithV3: "kept",
  addrCheck: "iorange", // vgic_check_iorange, vgic_v3_alloc_redist_region
  rdInvalidateRegs: true, // vgic_v3_rd_registers: GICR_INVLPIR, GICR_INVALLR, GICR_SYNCR
  itsAbis: [0],
  itsUnknownCtrl: "ok",
};
/** "next"'s new hypercall: KVM vendor-hypervisor function 66 (the first number after DISCOVER_IMPL_CPUS). */
export const WIDGET_FUNCTION_NUMBER = 66;
const PFAR_MASK = 0xfn << 60n; // ID_AA64PFR1_EL1.PFAR, bits 63:60

const ENTRIES: readonly GenerationEntry[] = [
  {
    gen: "5.10",
    data: "5.10",
    synthetic: false,
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
    pfr0KeepsAArch64: false,
    mteFracAsyncIsNi: false,
    pmuCtrlMaxAttr: 2, // KVM_ARM_VCPU_PMU_V3_IRQ, _INIT, _FILTER (kvm_arm_pmu_v3_has_attr)
    pmuFilterLockedAfterRun: false, // kvm_arm_pmu_v3_set_attr(FILTER): only pmu.created
    counterOffset: false,
    vgic: {
      iidrRevision: 2, // vgic_init: dist->implementation_rev = 2
      iidrWritable: "exact", // vgic_mmio_uaccess_write_v3_misc: reg != current -> EINVAL
      iidrSetAt: "init",
      rdCtlrRev3Bits: false, // vgic_mmio_read_v3r_ctlr: EnableLPIs only
      uaccessTyperLast: false, // vgic_uaccess_read_v3r_typer
      idFieldsWithV3: "kept",
      addrCheck: "ioaddr", // vgic_check_ioaddr, vgic_v3_insert_redist_region
      rdInvalidateRegs: false, // vgic_v3_rd_registers ends at GICR_PENDBASER before the ID registers
      itsAbis: [0], // its_table_abi_versions: v0 only
      itsUnknownCtrl: "ok", // vgic_its_ctrl: no default case
    },
    timerCtrlMaxAttr: 1, // KVM_ARM_VCPU_TIMER_IRQ_VTIMER, _PTIMER
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
    psciLatest: PSCI_1_0,
    notable: [
      "ID registers immutable except ID_AA64PFR0_EL1.CSV2 (set_id_aa64pfr0_el1, backported to 5.10.y)",
      "no firmware feature bitmaps; TRNG and the KVM vendor service absent",
      "SMC from the guest returns -1 in x0 (handle_smc)",
      "KVM_ARM_PREFERRED_TARGET is CORTEX_A57/A53 on those parts (kvm_target_cpu)",
    ],
  },
  /**
   * Amazon Linux 2's 5.10 (Firecracker's fingerprints: 5.10.255-253.1008.amzn2 on Graviton2/3/4). What
   * differs from upstream 5.10, each row with its evidence:
   */
  {
    gen: "5.10-amzn",
    base: "5.10",
    data: "5.10",
    source: `${SYSREG_DESCS_SOURCES["5.10"] ?? "?"} + Amazon Linux 2's backports (5.10.255-amzn2)`,
    release: "5.10.255-sim.amzn2.aarch64",
    // The counter-offset series (upstream 6.4): fingerprint_ARM_NEOVERSE_*_5.10host.json list
    // KVM_REG_ARM_PTIMER_CTL (reading 0x4, read_timer_ctl) and PTIMER_CVAL; PTIMER_CNT is one of the dump's
    // exclusions, and Amazon's tree lists it (amazonlinux/linux 553b713a guest.c timer_reg_list: all six).
    timerRegs: TIMER_REGS_6_4,
    // amazonlinux/linux 0043c342 arm.c kvm_vm_ioctl_check_extension: KVM_CAP_PTP_KVM and
    // KVM_CAP_COUNTER_OFFSET answer 1 (not visible in a fingerprint, which records no capability)
    caps: { PTP_KVM: 1, COUNTER_OFFSET: 1 },
    counterOffset: true, // with its capability: Amazon's kvm_vm_ioctl_set_counter_offset
    // amazonlinux/linux 491a0ec4 hypercalls.c kvm_hvc_call_handler: CALL_UID, KVM_FEATURES (FEATURES | PTP)
    // and KVM_PTP (upstream 5.12), no TRNG, no bitmaps
    vendorHyp: true,
    services: [SVC_SMCCC, SVC_PV_TIME(false), SVC_VENDOR_UNGATED],
    notable: [
      "upstream 5.10 + the counter-offset series: PTIMER_CTL/CNT/CVAL listed (fingerprint; Amazon's guest.c)",
      "KVM vendor service (CALL_UID, KVM_FEATURES, KVM_PTP) without bitmaps; PTP_KVM and COUNTER_OFFSET caps (Amazon's arm.c, hypercalls.c)",
      "ID registers as 5.10's read_id_reg (SPE's PMSVer shown, PMUVer capped at 4 even without a vCPU PMU)",
      "not in any fingerprint, so not modelled: other backports (a fingerprint records no capability or write)",
    ],
  },
  {
    gen: "6.1",
    base: "5.10",
    release: "6.1.0-sim-arm64",
    caps: CAPS_6_1,
    psciVersions: [PSCI_0_2, PSCI_1_0, PSCI_1_1],
    psciLatest: PSCI_1_1,
    fwRegs: [...FW_BASE, ...BITMAPS_6.map((b) => b.id)],
    bitmaps: BITMAPS_6,
    trng: true,
    vendorHyp: true,
    pfr0CsvWritable: ["CSV2", "CSV3"],
    pmuCtrlMaxAttr: 3, // + KVM_ARM_VCPU_PMU_V3_SET_PMU
    pmuFilterLockedAfterRun: true, // kvm_arm_pmu_v3_set_attr(FILTER): kvm_vm_has_ran_once -> EBUSY
    vgic: VGIC_6_1,
    // sys_regs.c read_id_reg (6.1)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "CSV3", op: "force", value: 1, when: "meltdownUnaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "GIC", op: "set", value: 1, when: "gicv3" },
      { reg: "ID_AA64PFR1_EL1", field: "MTE", op: "clear", unless: "mte" },
      { reg: "ID_AA64PFR1_EL1", field: "SME", op: "clear" },
      {
        reg: "ID_AA64ISAR2_EL1",
        field: "APA3",
        op: "clear",
        unless: "ptrauth",
        before: "ID_AA64DFR0_EL1.PMUVer",
      },
      { reg: "ID_AA64ISAR2_EL1", field: "GPA3", op: "clear", unless: "ptrauth" },
      { reg: "ID_AA64ISAR2_EL1", field: "WFxT", op: "clear" }, // no ARM64_HAS_WFXT on the modelled CPUs
      { reg: "ID_AA64DFR0_EL1", field: "DebugVer", op: "force", value: 6, before: "ID_AA64DFR0_EL1.PMUVer" },
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "limit", value: 5, pmu: "zeroWithoutPmu" }, // V3P4
      { reg: "ID_AA64DFR0_EL1", field: "PMSVer", op: "clear" },
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "limit", value: 5, pmu: "zeroWithoutPmu" },
    ],
    pmuReloadClearsPmcrCP: true,
    pvTimeGated: true,
    services: [SVC_SMCCC, SVC_TRNG, SVC_PV_TIME(true), SVC_VENDOR_6],
    notable: [
      "ID registers immutable except ID_AA64PFR0_EL1.CSV2/CSV3 (set_id_aa64pfr0_el1)",
      "firmware bitmaps STD/STD_HYP/VENDOR_HYP, EBUSY after the first run (kvm_arm_set_fw_reg_bmap)",
      "TRNG 1.0, KVM_PTP; PSCI 1.1 with SYSTEM_RESET2",
      "SMC from the guest returns -1 in x0 (handle_smc)",
    ],
  },
  /**
   * Amazon Linux 2023's 6.1 (Firecracker's fingerprints: 6.1.172-216.329.amzn2023 on Graviton2/3/4). What
   * differs from upstream 6.1, each row with its evidence:
   */
  {
    gen: "6.1-amzn",
    base: "6.1",
    data: "6.1",
    source: `${SYSREG_DESCS_SOURCES["6.1"] ?? "?"} + Amazon Linux 2023's backports (6.1.172-amzn2023)`,
    release: "6.1.172-sim.amzn2023.aarch64",
    // fingerprint_ARM_NEOVERSE_*_6.1host.json list KVM_REG_ARM_PTIMER_CTL (0x4) and PTIMER_CVAL: the
    // counter-offset series' copy_timer_indices (upstream 6.4); PTIMER_CNT is a dump exclusion
    timerRegs: TIMER_REGS_6_4,
    // "KVM: arm64: Mask FEAT_CCIDX" (bf48040cd9b0, upstream 6.3; 6.12's read path has it too): the V1/V2
    // fingerprints read CCIDX 0 in ID_AA64MMFR2_EL1 and ID_MMFR4_EL1 on 6.1 where 5.10 shows the CPU's 1.
    // The rest of that series is not there: CLIDR_EL1 and the CCSIDR demux ids are the hardware's (cacheIds
    // stays "host").
    idRules: [
      { reg: "ID_AA64MMFR2_EL1", field: "CCIDX", op: "clear" },
      { reg: "ID_MMFR4_EL1", field: "CCIDX", op: "clear" },
    ],
    notable: [
      "upstream 6.1 + the counter-offset series' PTIMER_CTL/CNT/CVAL in the register list (fingerprint)",
      "FEAT_CCIDX hidden from the guest (ID_AA64MMFR2_EL1, ID_MMFR4_EL1; fingerprint); CLIDR/CCSIDR still the hardware's",
      "not in any fingerprint, so not modelled: writable ID registers, KVM_CAP_COUNTER_OFFSET (a fingerprint records no write or capability)",
    ],
  },
  {
    gen: "6.12",
    base: "6.1",
    release: "6.12.0-sim-arm64",
    caps: CAPS_6_12,
    ipaLpa2: true,
    ptrauthOneAlgorithm: true,
    validFeatures: [0, 1, 2, 3, 4, 5, 6, 7],
    timerRegs: [TIMER_CTL, TIMER_CNT, TIMER_CVAL, PTIMER_CTL, PTIMER_CNT, PTIMER_CVAL],
    idRegs: "writable",
    pfr0CsvWritable: [],
    writableMasks: true,
    smcccFilter: true,
    counterOffset: true, // kvm_vm_ioctl_set_counter_offset, KVM_CAP_COUNTER_OFFSET
    timerCtrlMaxAttr: 3, // + KVM_ARM_VCPU_TIMER_IRQ_HVTIMER, _HPTIMER
    // kvm_finalize_sys_regs (6.12)
    firstRunClearsWithoutVgic: [
      { reg: "ID_AA64PFR0_EL1", field: "GIC" },
      { reg: "ID_PFR1_EL1", field: "GIC" },
    ],
    // sys_regs.c __kvm_read_sanitised_id_reg, sanitise_id_aa64pfr0_el1, sanitise_id_aa64dfr0_el1 (6.12)
    idRules: [
      { reg: "ID_AA64PFR0_EL1", field: "CSV2", op: "set", value: 1, when: "v2Unaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "CSV3", op: "set", value: 1, when: "meltdownUnaffected" },
      { reg: "ID_AA64PFR0_EL1", field: "AMU", op: "clear", after: "ID_AA64PFR0_EL1.GIC" },
      { reg: "ID_AA64PFR0_EL1", field: "MPAM", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "RNDR_trap", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "NMI", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "MPAM_frac", op: "clear" },
      { reg: "ID_AA64PFR1_EL1", field: "RAS_frac", op: "clear" },
      { reg: "ID_AA64MMFR2_EL1", field: "CCIDX", op: "clear", before: "ID_AA64DFR0_EL1.DebugVer" },
      { reg: "ID_AA64MMFR2_EL1", field: "NV", op: "clear" },
      { reg: "ID_MMFR4_EL1", field: "CCIDX", op: "clear", after: "ID_AA64MMFR2_EL1.NV" },
      { reg: "ID_AA64DFR0_EL1", field: "DebugVer", op: "limit", value: 0xa }, // V8P8
      { reg: "ID_AA64DFR0_EL1", field: "PMUVer", op: "pmuver", value: 6 }, // kvm_arm_pmu_get_pmuver_limit: V3P5
      { reg: "ID_DFR0_EL1", field: "PerfMon", op: "pmuver", value: 6, perfmon: true }, // read_sanitised_id_dfr0_el1
      { reg: "ID_DFR0_EL1", field: "CopDbg", op: "limit", value: 0xa }, // Debugv8p8
    ],
    pmcrReset: "lc",
    pmevtyperMask: "vm",
    cacheIds: "kvm",
    ctrTrap: "tid4WithEvt",
    hwSysregs: HW_SYSREGS_6_3,
    wa2SsbsFromVm: true,
    powerOffEphemeral: true,
    vcpuTarget: "genericOrCpu",
    notable: [
      "writable ID registers, VM-wide (set_id_reg, arm64_check_features; EBUSY after the first run)",
      "KVM_ARM_GET_REG_WRITABLE_MASKS; CLIDR_EL1 per vCPU and writable any time (set_clidr)",
      "SMCCC filter (KVM_ARM_VM_SMCCC_CTRL); SMC #0 is an SMCCC call (handle_smc)",
      "vCPU features VM-wide (kvm_vcpu_init_changed)",
    ],
  },
  /**
   * Upstream 6.18 on 7.2's tables: no 6.18 source package is at hand, and Firecracker's fingerprints of
   * 6.18.30-amzn2023 list exactly 7.2's registers for their configuration (TCR2_EL1/PIR*_EL1 hidden by their
   * visibility functions, the timers through sys_reg_descs). Each row names the release that brought it;
   * 7.2 is this plus what came after 6.18.
   */
  {
    gen: "6.18",
    base: "6.12",
    data: "7.2",
    source: `${SYSREG_DESCS_SOURCES["7.2"] ?? "?"}'s tables with 6.18's rules (no 6.18 source package)`,
    release: "6.18.0-sim-arm64",
    caps: CAPS_6_18,
    validFeatures: [0, 1, 2, 3, 4, 5, 6, 7, 8], // KVM_ARM_VCPU_HAS_EL2_E2H0 (6.16, with the NV enablement)
    // PSCI 1.3 with SYSTEM_OFF2 (6.13): the 6.18 fingerprints' KVM_REG_ARM_PSCI_VERSION reads 0x10003
    psciVersions: [PSCI_0_2, PSCI_1_0, PSCI_1_1, PSCI_1_2, PSCI_1_3],
    psciLatest: PSCI_1_3,
    // kvm_arm_pmu_v3_set_nr_counters, KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS (6.16; the lab's 6.18.15 measures it)
    pmuCtrlMaxAttr: 4,
    vgic: {
      ...VGIC_6_1,
      // kvm_vgic_create sets implementation_rev; reg_allowed_pre_init (GICD_IIDR, GICD_TYPER2: 6.16)
      iidrSetAt: "create",
      // measured on Debian's 6.18.15 (every CPU model): GICD_IIDR writes of revisions 0..4, before and
      // after CTRL_INIT, all return 0 and the register keeps revision 3; 7.2 takes 2 and 3 again
      iidrWritable: "ignored",
      // measured on Debian's 6.18.15: ID_PFR1_EL1.GIC reads 1 on a64fx (no 32-bit EL0) once a vGICv3
      // exists, where 7.2's kvm_vgic_finalize_idregs leaves 0; a write of 0 before the run survives it
      idFieldsWithV3: "setAtCreate",
      itsUnknownCtrl: "ENXIO", // vgic_its_ctrl's default case (6.15)
    },
    // DISCOVER_IMPL_VER/CPUS and VENDOR_HYP_BMAP_2 (6.15): listed by the 6.18 fingerprints, reading 0
    fwRegs: [...FW_BASE, ...BITMAPS_6.map((b) => b.id), FW_REGS.VENDOR_HYP_BMAP_2],
    bitmaps: [...BITMAPS_6, { id: FW_REGS.VENDOR_HYP_BMAP_2, features: 0b11n, reset: 0n }],
    // "KVM: arm64: Move CNT*_CTL_EL0 userspace accessors to generic infrastructure" (09424d5d7d4e) and
    // "Kill leftovers of ad-hoc timer userspace access" (386aac77da11), in 6.18-rc: the 6.18 fingerprints
    // read TIMER_CTL/PTIMER_CTL 0 at reset (arch_timer_get_user's saved CTL), where read_timer_ctl gave 0x4
    timerRegs: [],
    vendorFeaturesX2: true, // KVM_FEATURES x2 = VENDOR_HYP_BMAP_2 (6.15)
    writableImpIdRegs: true, // set_imp_id_reg, KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (6.15)
    // "KVM: arm64: Prevent userspace from disabling AArch64 support at any virtualisable EL" (posted
    // 2025-04-29, 6.16)
    pfr0KeepsAArch64: true,
    mteFracAsyncIsNi: true, // set_id_aa64pfr1_el1's MTE_frac handling (Ben Horgan, 2025-04, 6.16)
    // kvm_vcpu_first_run_init -> !irqchip_in_kernel (7.2's; GCIE is 0 on every GICv3 host, so its release
    // changes no simulated value)
    firstRunClearsWithoutVgic: [
      { reg: "ID_AA64PFR0_EL1", field: "GIC" },
      { reg: "ID_AA64PFR2_EL1", field: "GCIE" },
      { reg: "ID_PFR1_EL1", field: "GIC" },
    ],
    // sys_regs.c __kvm_read_sanitised_id_reg, sanitise_id_aa64pfr{0,1}_el1, sanitise_id_aa64dfr0_el1 (7.2's
    // rows: MTE_frac with the 6.16 MTE_frac change, BRBE hidden since 6.13; the other fields are 0 on every
    // modelled CPU, so their exact release changes no simulated value)
    idRules: [
      { reg: "ID_AA64PFR1_EL1", field: "MTE_frac", op: "clear", unless: "mte", after: "ID_AA64PFR1_EL1.MTE" },
      { reg: "ID_AA64PFR1_EL1", field: "RAS_frac", op: "clear", after: "ID_AA64PFR1_EL1.MTE_frac" },
      { reg: "ID_AA64PFR1_EL1", field: "GCS", op: "clear", after: "ID_AA64PFR1_EL1.NMI" },
      { reg: "ID_AA64PFR1_EL1", field: "THE", op: "clear", after: "ID_AA64PFR1_EL1.GCS" },
      { reg: "ID_AA64PFR1_EL1", field: "MTEX", op: "clear", after: "ID_AA64PFR1_EL1.THE" },
      { reg: "ID_AA64PFR1_EL1", field: "PFAR", op: "clear", after: "ID_AA64PFR1_EL1.MTEX" },
      { reg: "ID_AA64DFR0_EL1", field: "BRBE", op: "clear" },
    ],
    // KVM_REQ_RELOAD_PMU runs kvm_vcpu_reload_pmu, which leaves PMCR_EL0 alone ("KVM: arm64: Use
    // KVM_REQ_RELOAD_PMU to handle PMCR_EL0.E change", adf8623b3f51, 6.13)
    pmuReloadClearsPmcrCP: false,
    // ID_WRITABLE masks where 6.18 differs from 7.2's tables, measured by the lab on Debian's 6.18.15
    // (lab/profiles/6.18-bpo-*.json, every CPU model): 7.2 made ID_AA64PFR2_EL1.GCIE (15:12),
    // ID_AA64FPFR0_EL1 bits 15 and 7:2 and ID_AA64ISAR3_EL1 bits 27:24 writable, and stopped allowing
    // ID_AA64ISAR0_EL1 bits 27:24 (TME)
    descPatches: (descs) =>
      descs.map((d) => {
        const mask = WRITABLE_6_18[d.name];
        return mask === undefined ? d : { ...d, valBig: mask, val: "0x" + mask.toString(16) };
      }),
    // 7.2's kvm_smccc_set_filter (nr_functions == 0 is EINVAL): ASSUMED for 6.18, the release of the check
    // is not pinned and no fingerprint shows it
    smcccFilterRejectsEmpty: true,
    services: [SVC_SMCCC, SVC_TRNG, SVC_PV_TIME(true), SVC_VENDOR_7],
    notable: [
      "upstream 6.18 on 7.2's tables; register list and firmware values as Firecracker's 6.18.30-amzn2023 fingerprints",
      "PSCI 1.2/1.3 (SYSTEM_OFF2, 6.13)",
      "MIDR/REVIDR/AIDR writable with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg, 6.15)",
      "VENDOR_HYP_BMAP_2 (DISCOVER_IMPL_VER/CPUS, KVM_FEATURES x2, 6.15)",
      "timer registers listed through sys_reg_descs, CTL read as saved (6.18-rc)",
    ],
  },
  {
    gen: "7.2",
    base: "6.18",
    release: "7.2.0-sim-arm64",
    caps: CAPS_7_2,
    // kvm_vgic_finalize_idregs at KVM_CREATE_DEVICE and kvm_finalize_sys_regs (with the GICv5 work, after 6.18)
    vgic: { ...VGIC_6_1, iidrSetAt: "create", itsUnknownCtrl: "ENXIO", idFieldsWithV3: "forced" },
    notable: [
      "6.18 + KVM_CAP_ARM_SEA_TO_USER (6.19)",
      "PSCI 1.2/1.3 (SYSTEM_OFF2)",
      "MIDR/REVIDR/AIDR writable with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg)",
      "VENDOR_HYP_BMAP_2 (DISCOVER_IMPL_VER/CPUS, KVM_FEATURES x2)",
      "timer registers listed through sys_reg_descs (kvm_one_reg_to_id keeps the uapi ids)",
    ],
  },
  /**
   * A synthetic kernel after 7.2, for showing what the proposals do on an upgrade and a rollback. It is 7.2
   * plus, each the kind of thing every release adds and each on by default as upstream does it:
   * - a hypercall service, WIDGET (vendor-hyp function 66, fast call 0x86000042), with bit 2 of
   *   VENDOR_HYP_BMAP_2 (KVM_FEATURES x2 bit 2), set in a new VM's bitmap;
   * - an ID field, ID_AA64PFR1_EL1.PFAR = 1 on every host (KVM emulating FEAT_PFAR), writable (lower-safe);
   * - a register, PFAR_EL1 (S3_0_C6_C0_5), listed while the VM's PFAR field is nonzero (a visibility
   *   function like tcr2_visibility).
   */
  {
    gen: "next",
    base: "7.2",
    data: "7.2",
    synthetic: true,
    source: `synthetic: ${SYSREG_DESCS_SOURCES["7.2"] ?? "?"} + guestabi's "next" additions`,
    release: "next-sim-arm64",
    bitmaps: [...BITMAPS_6, { id: FW_REGS.VENDOR_HYP_BMAP_2, features: 0b111n, reset: 0b100n }],
    services: [
      SVC_SMCCC,
      SVC_TRNG,
      SVC_PV_TIME(true),
      SVC_VENDOR_7,
      {
        service: HYPERCALL_SERVICE.WIDGET,
        name: "WIDGET",
        revisions: [REV_1_0],
        bits: [{ id: FW_REGS.VENDOR_HYP_BMAP_2, bit: 2, since: REV_1_0, defaultOn: true }],
      },
    ],
    idRules: [{ reg: "ID_AA64PFR1_EL1", field: "PFAR", op: "force", value: 1, after: "ID_DFR0_EL1.CopDbg" }],
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
  },
];

/** 6.18's writable masks that differ from 7.2's tables (the 6.18 entry's descPatches). */
const WRITABLE_6_18: Readonly<Record<string, bigint>> = {
  ID_AA64PFR2_EL1: 0xf00000ff0n,
  ID_AA64FPFR0_EL1: 0xfc000003n,
  ID_AA64ISAR0_EL1: 0xfffffffffffffff0n,
  ID_AA64ISAR3_EL1: 0xf00f00f0n,
};

const RESOLVED = resolveGenerations(ENTRIES, (data) => SYSREG_DESCS_SOURCES[data] ?? "?");
for (const g of SIM_GENERATIONS)
  if (!RESOLVED.has(g)) throw new TypeError(`kernel generation ${g}: no entry in generations.ts`);

export const SIM_GENERATION_MODELS: Readonly<Record<SimGeneration, GenerationModel>> = Object.fromEntries(
  SIM_GENERATIONS.map((g) => [g, RESOLVED.get(g)!]),
) as Record<SimGeneration, GenerationModel>;

/** The four upstream generations' models. */
export const GENERATIONS: Readonly<Record<KernelGeneration, GenerationModel>> = Object.fromEntries(
  KERNEL_GENERATIONS.map((g) => [g, SIM_GENERATION_MODELS[g]]),
) as Record<KernelGeneration, GenerationModel>;
export const NEXT_GENERATION: GenerationModel = SIM_GENERATION_MODELS.next;

export function generationModel(gen: SimGeneration): GenerationModel {
  const m = SIM_GENERATION_MODELS[gen];
  if (!m) throw new RangeError(`unknown kernel generation '${gen}' (known: ${SIM_GENERATIONS.join(", ")})`);
  return m;
}
