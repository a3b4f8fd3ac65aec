/**
 * KVM's userspace ABI for arm64, as numbers: ioctl request codes, exit reasons, vCPU feature bits,
 * system-event types, firmware/core register ids, the SMCCC filter and the writable-mask range, and
 * the KVM_CAP_* table generated from 7.2's include/uapi/linux/kvm.h by scripts/gen-kvm-uapi.mjs.
 *
 * Sources: include/uapi/linux/kvm.h, arch/arm64/include/uapi/asm/kvm.h, include/uapi/asm-generic/ioctl.h
 * of the kernel trees in ~/.cache/guestabi/ksrc/<gen>/ (5.10, 6.1, 6.12, 7.2).
 */
import type { KernelGeneration } from "../regs/catalog-types.js";
import { COPROC, makeId } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import capsJson from "./generated/caps.json" with { type: "json" };

// ---- ioctl request numbers ---------------------------------------------------------------------

/**
 * The ioctl encoding rule of include/uapi/asm-generic/ioctl.h (used by arm64 and x86; not by powerpc,
 * mips, sparc or alpha, which override the direction/size bits):
 *
 *   request = dir << 30 | size << 16 | type << 8 | nr
 *
 * with dir 2 bits (_IOC_NONE 0, _IOC_WRITE 1: userspace writes/kernel reads, _IOC_READ 2: kernel
 * writes), size 14 bits (sizeof the argument type, so < 16 KiB), type 8 bits (KVMIO = 0xAE for KVM),
 * nr 8 bits. _IO(type, nr) has dir 0 and size 0; _IOR/_IOW/_IOWR set READ / WRITE / READ|WRITE.
 * The direction only documents the argument; KVM dispatches on the whole number.
 */
export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = 8;
const IOC_SIZESHIFT = 16;
const IOC_DIRSHIFT = 30;
const IOC_SIZEMASK = (1 << 14) - 1;

export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (dir < 0 || dir > 3 || type < 0 || type > 0xff || nr < 0 || nr > 0xff || size < 0 || size > IOC_SIZEMASK)
    throw new RangeError(`ioctl field out of range: dir=${dir} type=${type} nr=${nr} size=${size}`);
  // >>> 0 keeps the result an unsigned 32-bit number (dir 2/3 set bit 31).
  return (
    ((dir << IOC_DIRSHIFT) | (size << IOC_SIZESHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT)) >>> 0
  );
}
export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number): number =>
  ioc(IOC_READ | IOC_WRITE, type, nr, size);

export function decodeIoctl(request: number): { dir: number; type: number; nr: number; size: number } {
  return {
    dir: (request >>> IOC_DIRSHIFT) & 3,
    type: (request >>> IOC_TYPESHIFT) & 0xff,
    nr: (request >>> IOC_NRSHIFT) & 0xff,
    size: (request >>> IOC_SIZESHIFT) & IOC_SIZEMASK,
  };
}

export const KVMIO = 0xae;
export const KVM_API_VERSION = 12;

/** sizeof() of the ioctl argument types used here (layouts in linux/structs.ts). */
export const UAPI_STRUCT_SIZES = {
  int: 4,
  kvm_one_reg: 16, // { __u64 id; __u64 addr; }
  kvm_vcpu_init: 32, // { __u32 target; __u32 features[7]; }
  kvm_reg_list: 8, // { __u64 n; __u64 reg[]; } (flexible array: not counted)
  kvm_userspace_memory_region: 32, // { __u32 slot, flags; __u64 guest_phys_addr, memory_size, userspace_addr; }
  kvm_enable_cap: 104, // { __u32 cap, flags; __u64 args[4]; __u8 pad[64]; }
  kvm_device_attr: 24, // { __u32 flags, group; __u64 attr, addr; }
  reg_mask_range: 64, // { __u64 addr; __u32 range; __u32 reserved[13]; }
  kvm_mp_state: 4, // { __u32 mp_state; }
  kvm_create_device: 12, // { __u32 type; __u32 fd; __u32 flags; }
  kvm_arm_counter_offset: 16, // { __u64 counter_offset; __u64 reserved; }
} as const;
export type UapiStructName = keyof typeof UAPI_STRUCT_SIZES;

export interface IoctlDef {
  /** _IO, _IOR, _IOW or _IOWR as the header writes it. */
  macro: "_IO" | "_IOR" | "_IOW" | "_IOWR";
  nr: number;
  /** The argument type named in the header (absent for _IO). */
  arg?: UapiStructName;
  /** What the fd is: /dev/kvm (system), a VM or a vCPU. */
  fd: "system" | "vm" | "vcpu" | "vm+vcpu";
}

/** The ioctls guestabi uses, exactly as include/uapi/linux/kvm.h defines them. */
export const IOCTL_DEFS = {
  KVM_GET_API_VERSION: { macro: "_IO", nr: 0x00, fd: "system" },
  KVM_CREATE_VM: { macro: "_IO", nr: 0x01, fd: "system" },
  KVM_CHECK_EXTENSION: { macro: "_IO", nr: 0x03, fd: "system" }, // also on a VM fd (KVM_CAP_CHECK_EXTENSION_VM)
  KVM_GET_VCPU_MMAP_SIZE: { macro: "_IO", nr: 0x04, fd: "system" },
  KVM_CREATE_VCPU: { macro: "_IO", nr: 0x41, fd: "vm" },
  KVM_SET_USER_MEMORY_REGION: { macro: "_IOW", nr: 0x46, arg: "kvm_userspace_memory_region", fd: "vm" },
  KVM_RUN: { macro: "_IO", nr: 0x80, fd: "vcpu" },
  KVM_GET_MP_STATE: { macro: "_IOR", nr: 0x98, arg: "kvm_mp_state", fd: "vcpu" },
  KVM_SET_MP_STATE: { macro: "_IOW", nr: 0x99, arg: "kvm_mp_state", fd: "vcpu" },
  KVM_ENABLE_CAP: { macro: "_IOW", nr: 0xa3, arg: "kvm_enable_cap", fd: "vm+vcpu" },
  KVM_GET_ONE_REG: { macro: "_IOW", nr: 0xab, arg: "kvm_one_reg", fd: "vcpu" },
  KVM_SET_ONE_REG: { macro: "_IOW", nr: 0xac, arg: "kvm_one_reg", fd: "vcpu" },
  KVM_ARM_VCPU_INIT: { macro: "_IOW", nr: 0xae, arg: "kvm_vcpu_init", fd: "vcpu" },
  KVM_ARM_PREFERRED_TARGET: { macro: "_IOR", nr: 0xaf, arg: "kvm_vcpu_init", fd: "vm" },
  KVM_GET_REG_LIST: { macro: "_IOWR", nr: 0xb0, arg: "kvm_reg_list", fd: "vcpu" },
  KVM_ARM_SET_COUNTER_OFFSET: { macro: "_IOW", nr: 0xb5, arg: "kvm_arm_counter_offset", fd: "vm" },
  KVM_ARM_GET_REG_WRITABLE_MASKS: { macro: "_IOR", nr: 0xb6, arg: "reg_mask_range", fd: "vm" },
  KVM_ARM_VCPU_FINALIZE: { macro: "_IOW", nr: 0xc2, arg: "int", fd: "vcpu" },
  KVM_CREATE_DEVICE: { macro: "_IOWR", nr: 0xe0, arg: "kvm_create_device", fd: "vm" },
  // The device-attribute ioctls also act on a device fd from KVM_CREATE_DEVICE.
  KVM_SET_DEVICE_ATTR: { macro: "_IOW", nr: 0xe1, arg: "kvm_device_attr", fd: "vm+vcpu" },
  KVM_GET_DEVICE_ATTR: { macro: "_IOW", nr: 0xe2, arg: "kvm_device_attr", fd: "vm+vcpu" },
  KVM_HAS_DEVICE_ATTR: { macro: "_IOW", nr: 0xe3, arg: "kvm_device_attr", fd: "vm+vcpu" },
} as const satisfies Record<string, IoctlDef>;
export type IoctlName = keyof typeof IOCTL_DEFS;

function requestOf(def: IoctlDef): number {
  const size = def.arg ? UAPI_STRUCT_SIZES[def.arg] : 0;
  switch (def.macro) {
    case "_IO":
      return io(KVMIO, def.nr);
    case "_IOR":
      return ior(KVMIO, def.nr, size);
    case "_IOW":
      return iow(KVMIO, def.nr, size);
    case "_IOWR":
      return iowr(KVMIO, def.nr, size);
  }
}

/** Request numbers by name: KVM_IOCTL.KVM_GET_ONE_REG === 0x4010aeab. */
export const KVM_IOCTL = Object.fromEntries(
  Object.entries(IOCTL_DEFS).map(([name, def]) => [name, requestOf(def)]),
) as Record<IoctlName, number>;

// ---- VM creation and memory -------------------------------------------------------------------

/** KVM_VM_TYPE_ARM_IPA_SIZE(bits): the KVM_CREATE_VM type asking for a guest PA size; 0 = 40 bits. */
export const KVM_VM_TYPE_ARM_IPA_SIZE_MASK = 0xff;
export function vmTypeArmIpaSize(bits: number): number {
  return bits & KVM_VM_TYPE_ARM_IPA_SIZE_MASK;
}
export const KVM_ARM_DEFAULT_IPA_BITS = 40;

export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

// ---- exits ------------------------------------------------------------------------------------

/** KVM_EXIT_* numbers (7.2's list; numbers never change between kernels). */
export const EXIT_REASONS = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  S390_SIEIC: 13,
  S390_RESET: 14,
  DCR: 15,
  NMI: 16,
  INTERNAL_ERROR: 17,
  OSI: 18,
  PAPR_HCALL: 19,
  S390_UCONTROL: 20,
  WATCHDOG: 21,
  S390_TSCH: 22,
  EPR: 23,
  SYSTEM_EVENT: 24,
  S390_STSI: 25,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  ARM_NISV: 28,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  XEN: 34,
  RISCV_SBI: 35,
  RISCV_CSR: 36,
  NOTIFY: 37,
  LOONGARCH_IOCSR: 38,
  MEMORY_FAULT: 39,
  TDX: 40,
  ARM_SEA: 41,
  ARM_LDST64B: 42,
  SNP_REQ_CERTS: 43,
} as const;
export type ExitReasonName = keyof typeof EXIT_REASONS;
const EXIT_BY_NUMBER = new Map<number, ExitReasonName>(
  (Object.entries(EXIT_REASONS) as [ExitReasonName, number][]).map(([k, v]) => [v, k]),
);
export function exitReasonName(code: number): ExitReasonName | undefined {
  return EXIT_BY_NUMBER.get(code);
}

/** KVM_SYSTEM_EVENT_* (kvm_run.system_event.type). */
export const SYSTEM_EVENT_TYPES = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
  TDX_FATAL: 7,
} as const;
export type SystemEventName = keyof typeof SYSTEM_EVENT_TYPES;
const SYSTEM_EVENT_BY_NUMBER = new Map<number, SystemEventName>(
  (Object.entries(SYSTEM_EVENT_TYPES) as [SystemEventName, number][]).map(([k, v]) => [v, k]),
);
export function systemEventName(type: number): SystemEventName | undefined {
  return SYSTEM_EVENT_BY_NUMBER.get(type);
}
/** arm64 system_event flags (data[0]): RESET from PSCI SYSTEM_RESET2, SHUTDOWN from PSCI SYSTEM_OFF2. */
export const KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2 = 1n << 0n;
export const KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2 = 1n << 0n;

/** arm64 KVM_EXIT_HYPERCALL flags (6.4+, with the SMCCC filter's KVM_SMCCC_FILTER_FWD_TO_USER). */
export const KVM_HYPERCALL_EXIT_SMC = 1n << 0n;
export const KVM_HYPERCALL_EXIT_16BIT = 1n << 1n;

// ---- vCPU init --------------------------------------------------------------------------------

/** KVM_ARM_VCPU_* feature bit numbers of struct kvm_vcpu_init.features[] (bit n of the array). */
export const VCPU_FEATURES = {
  POWER_OFF: 0,
  EL1_32BIT: 1,
  PSCI_0_2: 2,
  PMU_V3: 3,
  SVE: 4,
  PTRAUTH_ADDRESS: 5,
  PTRAUTH_GENERIC: 6,
  HAS_EL2: 7, // 6.12 (5.10 and 6.1 headers stop at PTRAUTH_GENERIC)
  HAS_EL2_E2H0: 8, // 7.2
} as const;
export type VcpuFeatureName = keyof typeof VCPU_FEATURES;
/** struct kvm_vcpu_init has features[7]: 224 bits. */
export const KVM_VCPU_INIT_FEATURE_WORDS = 7;

/** KVM_ARM_TARGET_* (struct kvm_vcpu_init.target). Modern hosts report GENERIC_V8. */
export const ARM_TARGETS = {
  AEM_V8: 0,
  FOUNDATION_V8: 1,
  CORTEX_A57: 2,
  XGENE_POTENZA: 3,
  CORTEX_A53: 4,
  GENERIC_V8: 5,
} as const;

/** The argument of KVM_ARM_VCPU_FINALIZE: a feature bit number; only SVE is recognised. */
export const KVM_ARM_VCPU_FINALIZE_FEATURES = [VCPU_FEATURES.SVE] as const;

// ---- register ids -----------------------------------------------------------------------------

/**
 * Core register ids: KVM_REG_ARM_CORE_REG(name) = offsetof(struct kvm_regs, name) / 4, with
 * struct user_pt_regs { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; } at offset 0.
 */
export function coreXReg(n: number): RegId {
  if (!Number.isInteger(n) || n < 0 || n > 30)
    throw new RangeError(`x${n} is not a general register (x0..x30)`);
  return makeId("U64", COPROC.core, (n * 8) / 4);
}
export const CORE_SP: RegId = makeId("U64", COPROC.core, 248 / 4);
export const CORE_PC: RegId = makeId("U64", COPROC.core, 256 / 4);
export const CORE_PSTATE: RegId = makeId("U64", COPROC.core, 264 / 4);

/** KVM-as-firmware pseudo-registers (KVM_REG_ARM_FW_REG(n)) and the feature bitmaps (6.0+). */
export const FW_REGS = {
  PSCI_VERSION: makeId("U64", COPROC.fw, 0),
  SMCCC_ARCH_WORKAROUND_1: makeId("U64", COPROC.fw, 1),
  SMCCC_ARCH_WORKAROUND_2: makeId("U64", COPROC.fw, 2),
  SMCCC_ARCH_WORKAROUND_3: makeId("U64", COPROC.fw, 3),
  STD_BMAP: makeId("U64", COPROC.fwBitmap, 0),
  STD_HYP_BMAP: makeId("U64", COPROC.fwBitmap, 1),
  VENDOR_HYP_BMAP: makeId("U64", COPROC.fwBitmap, 2),
  VENDOR_HYP_BMAP_2: makeId("U64", COPROC.fwBitmap, 3),
} as const satisfies Record<string, RegId>;

// ---- VM device attributes: the SMCCC filter (6.4+) ---------------------------------------------

/** KVM_ARM_VM_SMCCC_CTRL group, KVM_ARM_VM_SMCCC_FILTER attribute (on the VM fd). */
export const KVM_ARM_VM_SMCCC_CTRL = 0;
export const KVM_ARM_VM_SMCCC_FILTER = 0n;
export const SMCCC_FILTER_ACTIONS = { HANDLE: 0, DENY: 1, FWD_TO_USER: 2 } as const;
export type SmcccFilterAction = keyof typeof SMCCC_FILTER_ACTIONS;

/** struct kvm_smccc_filter { __u32 base; __u32 nr_functions; __u8 action; __u8 pad[15]; } = 24 bytes. */
export const KVM_SMCCC_FILTER_SIZE = 24;
export function packSmcccFilter(f: {
  base: number;
  nrFunctions: number;
  action: SmcccFilterAction;
}): Uint8Array {
  const b = new Uint8Array(KVM_SMCCC_FILTER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, f.base >>> 0, true);
  v.setUint32(4, f.nrFunctions >>> 0, true);
  v.setUint8(8, SMCCC_FILTER_ACTIONS[f.action]);
  return b;
}

// ---- vCPU device attributes (KVM_CAP_VCPU_ATTRIBUTES) --------------------------------------------

/** Groups and attributes of KVM_{HAS,GET,SET}_DEVICE_ATTR on a vCPU fd (arch/arm64/include/uapi/asm/kvm.h). */
export const VCPU_ATTR = {
  PMU_V3_CTRL: { group: 0, IRQ: 0n, INIT: 1n, FILTER: 2n, SET_PMU: 3n, SET_NR_COUNTERS: 4n },
  TIMER_CTRL: { group: 1, IRQ_VTIMER: 0n, IRQ_PTIMER: 1n, IRQ_HVTIMER: 2n, IRQ_HPTIMER: 3n },
  PVTIME_CTRL: { group: 2, IPA: 0n },
} as const;

// ---- in-kernel devices: the vGICv3 and its ITS (KVM_CREATE_DEVICE) -----------------------------

/** enum kvm_device_type (include/uapi/linux/kvm.h). */
export const KVM_DEVICE_TYPE = { ARM_VGIC_V2: 5, ARM_VGIC_V3: 7, ARM_VGIC_ITS: 8 } as const;

/** Groups and attributes of the vGIC's device fd (arch/arm64/include/uapi/asm/kvm.h KVM_DEV_ARM_VGIC_*). */
export const VGIC_ATTR = {
  /** GRP_ADDR attributes: KVM_VGIC_V3_ADDR_TYPE_*; data is a u64 guest-physical address. */
  ADDR: { group: 0, DIST: 2n, REDIST: 3n, REDIST_REGION: 5n },
  /** attr = register offset (bits 31:0), and for the vGICv3 nothing else; data u32. */
  DIST_REGS: { group: 1 },
  /** attr = MPIDR affinity (bits 63:32, KVM_DEV_ARM_VGIC_V3_MPIDR_*) | register offset; data u32. */
  REDIST_REGS: { group: 5 },
  /** attr 0; data u32: the number of interrupts (SPIs + 32), 64..1024 in steps of 32. */
  NR_IRQS: { group: 3, attr: 0n },
  CTRL: {
    group: 4,
    INIT: 0n,
    ITS_SAVE_TABLES: 1n,
    ITS_RESTORE_TABLES: 2n,
    SAVE_PENDING_TABLES: 3n,
    ITS_CTRL_RESET: 4n,
  },
} as const;

/** Groups and attributes of the ITS's device fd (vgic-its.c vgic_its_set_attr / vgic_its_get_attr). */
export const ITS_ATTR = {
  /** KVM_VGIC_ITS_ADDR_TYPE: the 128 KiB ITS frame; data u64. */
  ADDR: { group: 0, ITS: 4n },
  /** KVM_DEV_ARM_VGIC_GRP_ITS_REGS: attr = register offset; data u64. */
  REGS: { group: 8 },
  CTRL: { group: 4, INIT: 0n, SAVE_TABLES: 1n, RESTORE_TABLES: 2n, RESET: 4n },
} as const;

/** Register offsets in the GICv3 distributor, redistributor (RD_base frame) and ITS frames (arm-gic-v3.h). */
export const GIC_REG = {
  GICD_CTLR: 0x0000,
  GICD_TYPER: 0x0004,
  GICD_IIDR: 0x0008,
  GICD_TYPER2: 0x000c,
  GICR_CTLR: 0x0000,
  GICR_IIDR: 0x0004,
  GICR_TYPER: 0x0008,
  GITS_CTLR: 0x0000,
  GITS_IIDR: 0x0004,
  GITS_TYPER: 0x0008,
  GITS_CBASER: 0x0080,
  GITS_BASER0: 0x0100,
} as const;

/** KVM_VGIC_V3_DIST_SIZE, KVM_VGIC_V3_REDIST_SIZE (per vCPU: RD_base + SGI_base), KVM_VGIC_V3_ITS_SIZE. */
export const VGIC_V3_SIZES = { DIST: 0x1_0000, REDIST: 0x2_0000, ITS: 0x2_0000 } as const;

/** A REDIST_REGION attribute value: index 11:0, flags 15:12 (0), base 51:16 (64 KiB aligned), count 63:52. */
export function redistRegion(r: { index: number; base: bigint; count: number }): bigint {
  return (BigInt(r.count) << 52n) | (r.base & 0x000f_ffff_ffff_0000n) | BigInt(r.index & 0xfff);
}

/** A REDIST_REGS attribute: the vCPU's MPIDR affinity (Aff3..Aff0) in bits 63:32 and the offset. */
export function redistRegAttr(mpidr: bigint, offset: number): bigint {
  const aff = (((mpidr >> 32n) & 0xffn) << 24n) | (mpidr & 0xff_ffffn);
  return (aff << 32n) | BigInt(offset >>> 0);
}

// ---- KVM_ARM_GET_REG_WRITABLE_MASKS (6.7+) ------------------------------------------------------

/** KVM_ARM_FEATURE_ID_RANGE: op0 3, op1 {0,1,3}, CRn 0, CRm 0..7, op2 0..7; 3*8*8 masks. */
export const KVM_ARM_FEATURE_ID_RANGE = 0;
export const KVM_ARM_FEATURE_ID_RANGE_SIZE = 3 * 8 * 8;

/** KVM_ARM_FEATURE_ID_RANGE_IDX: op1 3 maps to slot 2; (op1' << 6) | (crm << 3) | op2. */
export function featureIdRangeIndex(e: {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}): number {
  if (
    e.op0 !== 3 ||
    e.crn !== 0 ||
    ![0, 1, 3].includes(e.op1) ||
    e.crm > 7 ||
    e.op2 > 7 ||
    e.crm < 0 ||
    e.op2 < 0
  )
    throw new RangeError(`S${e.op0}_${e.op1}_C${e.crn}_C${e.crm}_${e.op2} is outside the feature ID range`);
  const op1 = e.op1 === 3 ? 2 : e.op1;
  return (op1 << 6) | (e.crm << 3) | e.op2;
}

/** Inverse of featureIdRangeIndex. */
export function featureIdRangeEncoding(index: number): {
  op0: 3;
  op1: number;
  crn: 0;
  crm: number;
  op2: number;
} {
  if (!Number.isInteger(index) || index < 0 || index >= KVM_ARM_FEATURE_ID_RANGE_SIZE)
    throw new RangeError(`feature ID range index ${index} out of range`);
  const slot = index >> 6;
  return { op0: 3, op1: slot === 2 ? 3 : slot, crn: 0, crm: (index >> 3) & 7, op2: index & 7 };
}

// ---- capabilities (generated) -------------------------------------------------------------------

export interface CapInfo {
  name: string;
  number: number;
  /** The #ifdef condition around the definition in 7.2's header, if any (e.g. "__KVM_HAVE_PIT"). */
  guard: string | null;
  /** Whether each generation's linux/kvm.h defines it at all. */
  defined: Record<KernelGeneration, boolean>;
  /** Whether an arm64 userspace build of that generation sees the definition (guard holds). */
  arm64: Record<KernelGeneration, boolean>;
}

interface CapsFile {
  source: string;
  generations: Record<string, string>;
  caps: Record<string, Omit<CapInfo, "name">>;
}
const capsFile = capsJson as CapsFile;

/** Every KVM_CAP_* of 7.2's uapi header, by name (with its KVM_CAP_ prefix). */
export const CAPS: ReadonlyMap<string, CapInfo> = new Map(
  Object.entries(capsFile.caps).map(([name, c]) => [name, { name, ...c }]),
);
const CAP_BY_NUMBER = new Map<number, CapInfo>([...CAPS.values()].map((c) => [c.number, c]));
/** Which kernel package each generation's table came from ("linux-source-6.1 6.1.176-1"). */
export const CAPS_SOURCES: Readonly<Record<string, string>> = capsFile.generations;

/** The number of a capability, by name with or without the KVM_CAP_ prefix. Throws if unknown. */
export function capNumber(name: string): number {
  const c = CAPS.get(name.startsWith("KVM_CAP_") ? name : `KVM_CAP_${name}`);
  if (!c) throw new RangeError(`unknown capability '${name}'`);
  return c.number;
}
export function capInfo(nameOrNumber: string | number): CapInfo | undefined {
  if (typeof nameOrNumber === "number") return CAP_BY_NUMBER.get(nameOrNumber);
  return CAPS.get(nameOrNumber.startsWith("KVM_CAP_") ? nameOrNumber : `KVM_CAP_${nameOrNumber}`);
}

/** The capabilities guestabi itself relies on, for readable call sites: KVM_CAP.ARM_VM_IPA_SIZE. */
export const KVM_CAP = {
  NR_VCPUS: capNumber("NR_VCPUS"),
  NR_MEMSLOTS: capNumber("NR_MEMSLOTS"),
  MAX_VCPUS: capNumber("MAX_VCPUS"),
  ONE_REG: capNumber("ONE_REG"),
  ARM_PSCI: capNumber("ARM_PSCI"),
  ARM_PSCI_0_2: capNumber("ARM_PSCI_0_2"),
  ARM_EL1_32BIT: capNumber("ARM_EL1_32BIT"),
  ARM_PMU_V3: capNumber("ARM_PMU_V3"),
  ARM_SVE: capNumber("ARM_SVE"),
  ARM_PTRAUTH_ADDRESS: capNumber("ARM_PTRAUTH_ADDRESS"),
  ARM_PTRAUTH_GENERIC: capNumber("ARM_PTRAUTH_GENERIC"),
  ARM_VM_IPA_SIZE: capNumber("ARM_VM_IPA_SIZE"),
  ARM_MTE: capNumber("ARM_MTE"),
  CHECK_EXTENSION_VM: capNumber("CHECK_EXTENSION_VM"),
  ENABLE_CAP_VM: capNumber("ENABLE_CAP_VM"),
  VM_ATTRIBUTES: capNumber("VM_ATTRIBUTES"),
  VCPU_ATTRIBUTES: capNumber("VCPU_ATTRIBUTES"),
  DEVICE_CTRL: capNumber("DEVICE_CTRL"),
  SYSTEM_EVENT_DATA: capNumber("SYSTEM_EVENT_DATA"),
  ARM_SYSTEM_SUSPEND: capNumber("ARM_SYSTEM_SUSPEND"),
  PTP_KVM: capNumber("PTP_KVM"),
  STEAL_TIME: capNumber("STEAL_TIME"),
  COUNTER_OFFSET: capNumber("COUNTER_OFFSET"),
  ARM_SUPPORTED_REG_MASK_RANGES: capNumber("ARM_SUPPORTED_REG_MASK_RANGES"),
  ARM_WRITABLE_IMP_ID_REGS: capNumber("ARM_WRITABLE_IMP_ID_REGS"),
  ARM_EL2: capNumber("ARM_EL2"),
  ARM_EL2_E2H0: capNumber("ARM_EL2_E2H0"),
  ARM_NISV_TO_USER: capNumber("ARM_NISV_TO_USER"),
  ARM_INJECT_EXT_DABT: capNumber("ARM_INJECT_EXT_DABT"),
  ARM_SEA_TO_USER: capNumber("ARM_SEA_TO_USER"),
  IMMEDIATE_EXIT: capNumber("IMMEDIATE_EXIT"),
  READONLY_MEM: capNumber("READONLY_MEM"),
} as const;
