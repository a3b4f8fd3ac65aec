/**
 * The shape of a kernel generation's model: what differs between kernels in the parts of KVM/arm64 that
 * guestabi models (the simulator enforces it, the checker asks it). The data is generations.ts; the
 * delta format and its validation are resolve.ts.
 */
import type { FtrPolicy, KernelGeneration } from "../../regs/catalog-types.js";
import type { SysregDesc } from "./descs.js";

/**
 * The simulator's kernel generations, oldest first (fleet plans take the last of a fleet's kernels as its
 * newest): the four upstream ones whose tables are generated from their sources (KERNEL_GENERATIONS), two
 * vendor kernels (Amazon Linux's 5.10 and 6.1, upstream plus the backports their Firecracker fingerprints
 * show), upstream 6.18 on 7.2's tables, and the synthetic "next".
 */
export const SIM_GENERATIONS = [
  "5.10",
  "5.10-amzn",
  "6.1",
  "6.1-amzn",
  "6.12",
  "6.18",
  "7.2",
  "next",
] as const;
export type SimGeneration = (typeof SIM_GENERATIONS)[number];

export function isSimGeneration(s: string): s is SimGeneration {
  return (SIM_GENERATIONS as readonly string[]).includes(s);
}

/** Hypercall service numbers of proposal (a)'s identity registers (index - 0x8000; sim/proposals.ts). */
export const HYPERCALL_SERVICE = {
  /** SMCCC itself (SMCCC_VERSION): mandatory, never 0. */
  SMCCC: 0,
  /** TRNG (ARM DEN0098): TRNG_VERSION. */
  TRNG: 2,
  /** Paravirtualised time (ARM DEN0057A): no version call, present or absent. */
  PV_TIME: 3,
  /** KVM's vendor hypervisor service (CALL_UID, KVM_FEATURES, KVM_PTP, DISCOVER_IMPL_*): Call Revision 0xff03. */
  KVM_VENDOR: 4,
  /** The "next" generation's new service (vendor-hyp function 66, WIDGET). */
  WIDGET: 5,
} as const;
export type HypercallServiceName = keyof typeof HYPERCALL_SERVICE;

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

/**
 * The in-kernel vGICv3 and its ITS (arch/arm64/kvm/vgic/): the parts that differ by kernel. Values a guest
 * reads that no kernel here changes (GICD_TYPER, GITS_TYPER, GICR_IIDR...) are in rules/vgic.ts.
 */
export interface VgicModel {
  /** GICD_IIDR.Revision of a new vGICv3 (5.10 vgic_init hard-codes 2; 6.1+ KVM_VGIC_IMP_REV_LATEST, 3). */
  iidrRevision: number;
  /**
   * A userspace GICD_IIDR write (vgic_mmio_uaccess_write_v3_misc): "exact" (5.10: the value must equal the
   * current one), "ignored" (Debian's 6.18.15, measured: every write returns 0 and GICD_IIDR keeps its
   * revision) or the revisions it may set, every other bit unchanged (6.1+: KVM_VGIC_IMP_REV_2, _3).
   */
  iidrWritable: "exact" | "ignored" | readonly number[];
  /**
   * When the revision exists: "init" (vgic_init at CTRL_INIT; every register access before it is EBUSY) or
   * "create" (kvm_vgic_create sets it; reg_allowed_pre_init lets GICD_IIDR and GICD_TYPER2 through before).
   */
  iidrSetAt: "init" | "create";
  /** GICR_CTLR reads IR|CES (0x6) at revision 3 (vgic_mmio_read_v3r_ctlr, 6.1+; 5.10 has EnableLPIs only). */
  rdCtlrRev3Bits: boolean;
  /** GICR_TYPER read by userspace reports Last (6.1+: the guest's value; 5.10 vgic_uaccess_read_v3r_typer never). */
  uaccessTyperLast: boolean;
  /**
   * ID_AA64PFR0_EL1.GIC / ID_PFR1_EL1.GIC of a VM with a vGICv3: "kept" (the VM's register as reset or
   * written), "setAtCreate" (kvm_vgic_create sets both to GICv3 when the device is created, also without
   * 32-bit EL0; measured on Debian's 6.18.15) or "forced" (kvm_vgic_finalize_idregs at KVM_CREATE_DEVICE
   * and at the first run: GIC = 1, ID_PFR1_EL1.GIC = 1 only with 32-bit EL0).
   */
  idFieldsWithV3: "kept" | "setAtCreate" | "forced";
  /**
   * How a frame address is checked (GRP_ADDR, ITS ADDR): "ioaddr" (5.10 vgic_check_ioaddr: E2BIG for a base
   * beyond the IPA space, then EINVAL unaligned, then EEXIST; the base only, a legacy REDIST set twice EINVAL)
   * or "iorange" (6.1+ vgic_check_iorange: EEXIST, then EINVAL unaligned or wrapping, then E2BIG if the frame's
   * end passes the IPA size; a legacy REDIST set twice EEXIST, vgic_v3_alloc_redist_region).
   */
  addrCheck: "ioaddr" | "iorange";
  /** vgic_v3_rd_registers has GICR_INVLPIR, GICR_INVALLR and GICR_SYNCR (6.1+; 5.10 has no region there). */
  rdInvalidateRegs: boolean;
  /** ITS table ABI revisions (vgic-its.c its_table_abi_versions); a new ITS uses the newest. */
  itsAbis: readonly number[];
  /** A KVM_SET_DEVICE_ATTR of an unknown ITS GRP_CTRL attribute (vgic_its_ctrl): "ok" (no default case) or ENXIO. */
  itsUnknownCtrl: "ok" | "ENXIO";
}

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
  /** kvm_smccc_set_filter refuses nr_functions == 0 (7.2; 6.12 only checks end < start). */
  smcccFilterRejectsEmpty: boolean;
  /** set_id_aa64pfr0_el1 (6.16+): a write must keep AArch64 at EL0 and EL1 (EL0/EL1 fields nonzero), else EINVAL. */
  pfr0KeepsAArch64: boolean;
  /** set_id_aa64pfr1_el1 (6.16+): MTE_frac ASYNC (0) from userspace stands for the host's NI (0xf) with MTE2. */
  mteFracAsyncIsNi: boolean;
  /**
   * The highest KVM_ARM_VCPU_PMU_V3_CTRL attribute (kvm_arm_pmu_v3_has_attr): IRQ, INIT, FILTER (2), + SET_PMU
   * (3), + SET_NR_COUNTERS (4, kvm_arm_pmu_v3_set_nr_counters).
   */
  pmuCtrlMaxAttr: number;
  /** kvm_arm_pmu_v3_set_attr(FILTER) refuses with EBUSY once the VM has run (6.1+ kvm_vm_has_ran_once). */
  pmuFilterLockedAfterRun: boolean;
  /** KVM_ARM_SET_COUNTER_OFFSET (kvm_vm_ioctl_set_counter_offset, with KVM_CAP_COUNTER_OFFSET). */
  counterOffset: boolean;
  /** The in-kernel vGICv3 and ITS. */
  vgic: VgicModel;
  /** The highest KVM_ARM_VCPU_TIMER_CTRL attribute (kvm_arm_timer_has_attr): the two IRQs (1), + HPTIMER/HVTIMER (3). */
  timerCtrlMaxAttr: number;
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
  /** Changes to the data generation's descriptors (a generation on another one's tables, such as 6.18 or "next"). */
  descPatches?: (descs: SysregDesc[]) => SysregDesc[];
  /** ftr policies the data generation's cpufeature.c lacks (synthetic generations only). */
  extraPolicies?: Readonly<Record<string, readonly FtrPolicy[]>>;
  /** Notable rules, for `guestabi kernels`. */
  notable: readonly string[];
}

/**
 * A KVM_CHECK_EXTENSION answer: a number, or what the host decides it from (src/kvm/sim/system.ts SimSystem.capValue):
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
