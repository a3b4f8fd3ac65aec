/**
 * The hypervisor interface: what a VMM does with KVM on arm64, shaped like KVM's own objects
 * (/dev/kvm -> VM -> vCPU). Implemented by the Linux ioctl backend (src/kvm/linux/) and by a pure-TS
 * simulator (src/kvm/sim/), so it holds nothing Linux-specific beyond KVM's semantics: no fds, no
 * pointers, no mmap. See src/kvm/README.md for the contract.
 *
 * Conventions:
 * - Every failing operation throws KvmError with the errno KVM would give (see the per-method notes,
 *   taken from Documentation/virt/kvm/api.rst and arch/arm64/kvm/arm.c). Arguments that are wrong in
 *   type or range on the caller's side (a bigint for a 128-bit register, a negative length) throw
 *   RangeError/TypeError before reaching KVM.
 * - Register ids are bigint (they exceed 2^53). Register values are bigint for sizes up to U64 and a
 *   little-endian Uint8Array of exactly the register's size for U128 and wider (see values.ts).
 * - Using an object after close()/destroy() throws KvmError EBADF.
 */
import type { RegId } from "../regs/id.js";
import type { ExitReasonName, SystemEventName } from "./uapi.js";

/** bigint for registers of 1..8 bytes, Uint8Array (little-endian, exact size) for 16 bytes and more. */
export type RegValue = bigint | Uint8Array;

/** struct kvm_vcpu_init, with the features[7] bitmap given as the list of set bit numbers. */
export interface VcpuInit {
  /** KVM_ARM_TARGET_*; use what preferredTarget() reports (GENERIC_V8 on current hosts). */
  target: number;
  /** Feature bit numbers (VCPU_FEATURES values), each < 224; order and duplicates do not matter. */
  features: readonly number[];
}

export interface CreateVmOptions {
  /**
   * Guest physical address size in bits (KVM_VM_TYPE_ARM_IPA_SIZE); 0 or absent asks for the default
   * (40 bits). Sizes above KVM_CHECK_EXTENSION(KVM_CAP_ARM_VM_IPA_SIZE) fail with EINVAL.
   */
  ipaBits?: number;
}

/** A KVM memory slot (KVM_SET_USER_MEMORY_REGION). The backend owns the host memory behind it. */
export interface MemoryRegion {
  slot: number;
  /** KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY. */
  flags?: number;
  guestPhysAddr: bigint;
  /** Bytes; a multiple of the host page size. 0 deletes the slot. */
  size: number;
}

/** /dev/kvm. */
export interface KvmSystem {
  /** "linux" or "sim" (or another backend's name); for reports only. */
  readonly backend: string;
  /** KVM_GET_API_VERSION: always 12 on any kernel guestabi supports. */
  apiVersion(): number;
  /** KVM_CHECK_EXTENSION on /dev/kvm: 0 when absent, else 1 or a cap-specific value (e.g. max IPA bits). */
  checkExtension(cap: number): number;
  /** The host kernel's release string (uname -r), e.g. "6.1.0-31-arm64". */
  kernelRelease(): string;
  /** KVM_CREATE_VM. */
  createVm(opts?: CreateVmOptions): KvmVm;
  /** Closes /dev/kvm and destroys every VM created from it that is still alive. Idempotent. */
  close(): void;
}

/** A VM fd. */
export interface KvmVm {
  /** KVM_CHECK_EXTENSION on the VM (KVM_CAP_CHECK_EXTENSION_VM): answers can differ per VM (e.g. IPA). */
  checkExtension(cap: number): number;
  /** KVM_ENABLE_CAP on the VM: struct kvm_enable_cap { cap, flags, args[4] }. args: at most 4. */
  enableCap(cap: number, args?: readonly bigint[], flags?: number): void;
  /**
   * KVM_HAS_DEVICE_ATTR on the VM: true if implemented, false on ENXIO (unknown group/attribute);
   * other errors throw (kernels before the SMCCC filter, 6.4, reject the ioctl with EINVAL).
   */
  hasDeviceAttr(group: number, attr: bigint): boolean;
  /** KVM_GET_DEVICE_ATTR on the VM, reading `size` bytes of attribute data. */
  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array;
  /** KVM_SET_DEVICE_ATTR on the VM, e.g. the SMCCC filter (uapi.packSmcccFilter). */
  setDeviceAttr(group: number, attr: bigint, data: Uint8Array): void;
  /**
   * KVM_ARM_GET_REG_WRITABLE_MASKS (6.7+, KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES): the writable mask of
   * every register of the range; for KVM_ARM_FEATURE_ID_RANGE (0) 192 masks indexed by
   * uapi.featureIdRangeIndex(). Older kernels: EINVAL.
   */
  getRegWritableMasks(range?: number): bigint[];
  /** KVM_SET_USER_MEMORY_REGION. The backend allocates (zeroed) host memory for a new slot. */
  setUserMemoryRegion(region: MemoryRegion): void;
  /** Copies bytes into a slot's memory at a byte offset. RangeError outside the slot or for no slot. */
  writeGuestMemory(slot: number, offset: number, data: Uint8Array): void;
  /** Copies bytes out of a slot's memory. */
  readGuestMemory(slot: number, offset: number, length: number): Uint8Array;
  /** KVM_ARM_PREFERRED_TARGET. */
  preferredTarget(): VcpuInit;
  /** KVM_CREATE_VCPU. Create every vCPU before the first KVM_ARM_VCPU_INIT (MPIDR depends on it). */
  createVcpu(id: number): KvmVcpu;
  /**
   * KVM_CREATE_DEVICE (uapi.KVM_DEVICE_TYPE): an in-kernel device such as the vGICv3 or its ITS. ENODEV for
   * a type the host does not offer (a vGICv2 on a GICv3-only host), EEXIST for a second vGIC, EBUSY once
   * a vCPU has run. The device lives as long as the VM (KVM frees devices with their VM).
   */
  createDevice(type: number): KvmDevice;
  /**
   * KVM_ARM_SET_COUNTER_OFFSET (KVM_CAP_COUNTER_OFFSET, 6.4+): the VM-wide offset subtracted from the
   * physical counter for the guest's virtual and physical counters. EBUSY once a vCPU has run; older
   * kernels reject the ioctl (ENOTTY or EINVAL).
   */
  setCounterOffset(offset: bigint): void;
  /** Destroys the vCPUs, the memory slots' host memory and the VM. Idempotent. */
  destroy(): void;
}

/** A vCPU fd. */
export interface KvmVcpu {
  readonly id: number;
  /**
   * KVM_ARM_VCPU_INIT: EINVAL for an unknown target, a bad feature combination or a second call with
   * different features; ENOENT for an unknown feature bit.
   */
  init(init: VcpuInit): void;
  /** KVM_ARM_VCPU_FINALIZE(feature): EPERM if not enabled/already finalized; EINVAL if unknown. */
  finalize(feature: number): void;
  /**
   * KVM_GET_REG_LIST with room for `capacity` ids (the raw call): the ids when they fit; otherwise
   * KvmError E2BIG whose `required` is the count KVM wrote back. ENOEXEC before init; EPERM before
   * finalizing SVE. helpers.getRegList() does the usual two-call dance.
   */
  getRegListRaw(capacity: number): RegId[];
  /** KVM_GET_ONE_REG. ENOENT for an id KVM does not know; ENOEXEC before init. */
  getOneReg(id: RegId): RegValue;
  /** KVM_SET_ONE_REG. EINVAL for a value KVM refuses; EBUSY for some after the first run. */
  setOneReg(id: RegId, value: RegValue): void;
  /** KVM_RUN until the next exit to userspace. ENOEXEC before init. An EINTR comes back as an INTR exit. */
  run(): KvmExit;
  /**
   * KVM_HAS_DEVICE_ATTR on the vCPU (KVM_CAP_VCPU_ATTRIBUTES): true if implemented, false on ENXIO.
   * Groups: KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_TIMER_CTRL, KVM_ARM_VCPU_PVTIME_CTRL (uapi.VCPU_ATTR).
   */
  hasDeviceAttr(group: number, attr: bigint): boolean;
  /** KVM_GET_DEVICE_ATTR on the vCPU, reading `size` bytes (e.g. 4 for a timer's or the PMU's IRQ). */
  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array;
  /**
   * KVM_SET_DEVICE_ATTR on the vCPU. A vCPU with PMU_V3 needs PMU_V3_CTRL/INIT (no data) before its
   * first run: 6.x+ KVM_RUN fails with EINVAL otherwise (helpers.initPmu).
   */
  setDeviceAttr(group: number, attr: bigint, data?: Uint8Array): void;
  /**
   * Data for the MMIO read the last exit reported (1..8 bytes, little-endian as the guest loads it);
   * KVM completes the load on the next run(). Without a call the guest reads zeros.
   */
  setMmioReadData(data: Uint8Array): void;
  /** Closes the vCPU. Idempotent. (KVM itself frees vCPUs only with their VM.) */
  destroy(): void;
}

/** A device fd from KVM_CREATE_DEVICE. Attributes: uapi.VGIC_ATTR (vGIC), uapi.ITS_ATTR (ITS). */
export interface KvmDevice {
  /** The KVM_DEV_TYPE_* it was created with. */
  readonly type: number;
  /** KVM_HAS_DEVICE_ATTR: true if implemented, false on ENXIO. */
  hasDeviceAttr(group: number, attr: bigint): boolean;
  /** KVM_GET_DEVICE_ATTR, reading `size` bytes (4 for a vGIC register or NR_IRQS, 8 for an address). */
  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array;
  /** KVM_SET_DEVICE_ATTR; no data for the control attributes (CTRL_INIT, ITS_CTRL_RESET). */
  setDeviceAttr(group: number, attr: bigint, data?: Uint8Array): void;
  /** Closes the device fd. Idempotent; the device itself lives until its VM is destroyed. */
  destroy(): void;
}

// ---- exits ------------------------------------------------------------------------------------

/** KVM_EXIT_MMIO: a guest load/store to guest-physical memory no slot backs. */
export interface MmioExit {
  reason: "MMIO";
  code: 6;
  address: bigint;
  isWrite: boolean;
  /** Access size in bytes: 1, 2, 4 or 8. */
  length: number;
  /** The stored bytes (little-endian, `length` of them) for a write; zeros for a read. */
  data: Uint8Array;
}

/**
 * KVM_EXIT_HYPERCALL on arm64 (6.4+): an SMCCC call the SMCCC filter forwards to userspace
 * (KVM_SMCCC_FILTER_FWD_TO_USER). PC is already past the hvc/smc; the call's arguments are in x1..x17
 * (read them with getOneReg) and userspace sets the results in x0..x3 before the next run. KVM does
 * not report the instruction's immediate (DEN0028 requires #0; KVM answers a nonzero SMC immediate
 * itself with -1).
 */
export interface HypercallExit {
  reason: "HYPERCALL";
  code: 3;
  /** kvm_run.hypercall.nr: the SMCCC function id (w0). */
  nr: bigint;
  /** nr as a 32-bit function id. */
  functionId: number;
  /** From KVM_HYPERCALL_EXIT_SMC. */
  conduit: "hvc" | "smc";
  /** KVM_HYPERCALL_EXIT_16BIT: a 16-bit (T32) instruction; always false for an AArch64 guest. */
  is16bit: boolean;
  flags: bigint;
  /** kvm_run.hypercall.args / ret: unused on arm64 (zero), kept for completeness. */
  args: bigint[];
  ret: bigint;
}

/** KVM_EXIT_SYSTEM_EVENT: PSCI SYSTEM_OFF(2)/SYSTEM_RESET(2)/SYSTEM_SUSPEND and friends. */
export interface SystemEventExit {
  reason: "SYSTEM_EVENT";
  code: 24;
  /** KVM_SYSTEM_EVENT_*. */
  type: number;
  event: SystemEventName | "UNRECOGNIZED";
  /**
   * system_event.data[0..ndata) (KVM_CAP_SYSTEM_EVENT_DATA, 5.18+). Kernels before that report only
   * `flags` at the same place and ndata 0; then data is [flags].
   */
  data: bigint[];
  /** data[0]: on arm64 KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2 / KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2. */
  flags: bigint;
}

/** KVM_EXIT_ARM_NISV (and 7.x's ARM_LDST64B): a data abort KVM cannot decode (no valid ISV). */
export interface ArmNisvExit {
  reason: "ARM_NISV" | "ARM_LDST64B";
  code: 28 | 42;
  esrIss: bigint;
  faultIpa: bigint;
}

export interface InternalErrorExit {
  reason: "INTERNAL_ERROR";
  code: 17;
  suberror: number;
  data: bigint[];
}

export interface FailEntryExit {
  reason: "FAIL_ENTRY";
  code: 9;
  /** arm64: KVM_EXIT_FAIL_ENTRY_CPU_UNSUPPORTED (bit 0) when run on a CPU the VM cannot use. */
  hardwareEntryFailureReason: bigint;
  cpu: number;
}

export interface UnknownExit {
  reason: "UNKNOWN";
  code: 0;
  hardwareExitReason: bigint;
}

export interface DebugExit {
  reason: "DEBUG";
  code: 4;
  /** ESR_EL2 bits 31:0 and 61:32 (struct kvm_debug_exit_arch). */
  hsr: number;
  hsrHigh: number;
  far: bigint;
}

export interface MemoryFaultExit {
  reason: "MEMORY_FAULT";
  code: 39;
  flags: bigint;
  gpa: bigint;
  size: bigint;
}

export interface ArmSeaExit {
  reason: "ARM_SEA";
  code: 41;
  flags: bigint;
  esr: bigint;
  gva: bigint;
  gpa: bigint;
}

type DetailedExitReason =
  | "MMIO"
  | "HYPERCALL"
  | "SYSTEM_EVENT"
  | "ARM_NISV"
  | "ARM_LDST64B"
  | "INTERNAL_ERROR"
  | "FAIL_ENTRY"
  | "UNKNOWN"
  | "DEBUG"
  | "MEMORY_FAULT"
  | "ARM_SEA";

/** Any other exit, by its KVM_EXIT_* name ("INTR" after a signal), or UNRECOGNIZED for a new number. */
export interface OtherExit {
  reason: Exclude<ExitReasonName, DetailedExitReason> | "UNRECOGNIZED";
  code: number;
}

export type KvmExit =
  | MmioExit
  | HypercallExit
  | SystemEventExit
  | ArmNisvExit
  | InternalErrorExit
  | FailEntryExit
  | UnknownExit
  | DebugExit
  | MemoryFaultExit
  | ArmSeaExit
  | OtherExit;
