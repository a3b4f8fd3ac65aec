/**
 * TEST DOUBLE: a tiny, hand-written KvmSystem for the probe's own tests. It is not the simulator
 * (src/kvm/sim/) and models no real kernel: a handful of registers with fixed, obvious errno rules,
 * just enough to exercise the probe's bookkeeping (phases, restores, time-varying marking, E2BIG,
 * cleanup). The guest program runs on the scripted guest CPU of src/kvm/testing/scripted-guest.ts.
 *
 * Rules (all invented for tests, loosely shaped like 6.x):
 * - KVM_GET_REG_LIST: E2BIG with the count when the buffer is short; `extraRegsAfterRun` appear
 *   after the first run.
 * - PSCI_VERSION: 0.1 only without PSCI_0_2, 0.2/1.0/1.1 only with it; else EINVAL.
 * - SMCCC_ARCH_WORKAROUND_1: a check, not a store: accepts values <= its level (1), reads the level.
 * - STD_BMAP: bit 0 only (others EINVAL); after a run, a different value is EBUSY.
 * - ID registers (MIDR, ID_AA64PFR0, ID_AA64ISAR0, an unallocated one, CTR): `lowerable` ones accept
 *   any value whose 4-bit fields are each at most the reset value's; others refuse any change
 *   (EINVAL); after a run any change is EBUSY.
 *   MIDR accepts another value only with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS enabled.
 * - KVM_REG_ARM_TIMER_CNT ticks by one on every read.
 * - `stickyId`: a register that accepts one change and then refuses any other (EPERM).
 * - `failOp`: the n-th call of an operation fails with an errno (fault injection).
 */
import { KvmError, CORE_PC, FW_REGS, KVM_CAP, VCPU_FEATURES, coreXReg } from "../../kvm/index.js";
import type {
  CreateVmOptions,
  KvmDevice,
  KvmExit,
  KvmSystem,
  KvmVcpu,
  KvmVm,
  MemoryRegion,
  RegValue,
  VcpuInit,
} from "../../kvm/index.js";
import { ScriptedGuest } from "../../kvm/sim/testing/scripted-guest.js";
import type { FirmwareAnswer } from "../../kvm/sim/testing/scripted-guest.js";
import { PSCI_FN } from "../../kvm/guest/smccc.js";
import { formatId, makeId, sysregId } from "../../regs/index.js";
import type { RegId } from "../../regs/index.js";

export const FAKE = {
  MIDR: sysregId(3, 0, 0, 0, 0),
  PFR0: sysregId(3, 0, 0, 4, 0),
  ISAR0: sysregId(3, 0, 0, 6, 0),
  UNALLOCATED: sysregId(3, 0, 0, 3, 3),
  CTR: sysregId(3, 3, 0, 0, 1),
  TIMER_CNT: 0x603000000013df1an,
  TIMER_CTL: 0x603000000013df19n,
  /** A register whose KVM_GET_ONE_REG fails (EINVAL). */
  BROKEN: sysregId(3, 0, 1, 0, 1),
  /** A 128-bit V register (bytes in memory). */
  V0: makeId("U128", 0x10, 0x48),
  /** A register with no rules of its own that changes between reads (for "observed"). */
  JITTERY: sysregId(3, 0, 13, 0, 4),
} as const;

const PSCI_0_1 = 1n;
const PSCI_ALLOWED_02 = [2n, 0x10000n, 0x10001n];

export interface FakeOptions {
  release?: string;
  caps?: Partial<Record<keyof typeof KVM_CAP, number>>;
  /** KVM_ARM_GET_REG_WRITABLE_MASKS fails EINVAL (a < 6.7 kernel). */
  noWritableMasks?: boolean;
  /** ID registers whose fields may be lowered before the first run. */
  lowerable?: RegId[];
  extraRegsAfterRun?: RegId[];
  stickyId?: RegId;
  /** ID register values replacing / adding to the defaults. */
  idRegs?: Map<RegId, bigint>;
  /** The `nth` call (1-based) of `op` fails with `errno`. */
  failOp?: { op: string; nth: number; errno: string };
  /** Registers the fake lists in addition to / instead of its default set. */
  regs?: Map<RegId, bigint | Uint8Array>;
  withJitter?: boolean;
}

export class FakeKvm implements KvmSystem {
  readonly backend = "fake";
  readonly vms = new Set<FakeVm>();
  vmsCreated = 0;
  private calls = new Map<string, number>();
  private closed = false;

  constructor(readonly opts: FakeOptions = {}) {}

  /** Counts an operation and applies fault injection. */
  op(name: string): void {
    if (this.closed) throw new KvmError(name, "EBADF");
    const n = (this.calls.get(name) ?? 0) + 1;
    this.calls.set(name, n);
    const f = this.opts.failOp;
    if (f && f.op === name && f.nth === n) throw new KvmError(name, f.errno as "EIO");
  }

  apiVersion(): number {
    this.op("KVM_GET_API_VERSION");
    return 12;
  }
  checkExtension(cap: number): number {
    this.op("KVM_CHECK_EXTENSION");
    for (const [name, value] of Object.entries(this.opts.caps ?? {}))
      if (KVM_CAP[name as keyof typeof KVM_CAP] === cap) return value;
    if (cap === KVM_CAP.ARM_VM_IPA_SIZE) return 40;
    if (cap === KVM_CAP.ARM_PMU_V3 || cap === KVM_CAP.ONE_REG) return 1;
    return 0;
  }
  kernelRelease(): string {
    return this.opts.release ?? "6.1.0-99-arm64";
  }
  createVm(_opts?: CreateVmOptions): KvmVm {
    this.op("KVM_CREATE_VM");
    this.vmsCreated++;
    const vm = new FakeVm(this);
    this.vms.add(vm);
    return vm;
  }
  close(): void {
    for (const vm of [...this.vms]) vm.destroy();
    this.closed = true;
  }
}

export class FakeVm implements KvmVm {
  vcpu: FakeVcpu | undefined;
  ranOnce = false;
  writableImpId = false;
  psciVersion: bigint | undefined;
  stdBmap = 1n;
  /** VM-wide ID register values (as in 6.7+). */
  idRegs: Map<RegId, bigint>;
  /** The reset values: the limits a lowerable register's fields may not exceed. */
  readonly idLimits: Map<RegId, bigint>;
  private destroyed = false;

  constructor(readonly sys: FakeKvm) {
    this.idRegs = new Map<RegId, bigint>([
      [FAKE.MIDR, 0x410fd083n],
      [FAKE.PFR0, 0x1100_0000_0001_1111n],
      [FAKE.ISAR0, 0x0000_1000_0001_0000n],
      [FAKE.UNALLOCATED, 0n],
      [FAKE.CTR, 0x8444c004n],
      ...(sys.opts.idRegs ?? []),
    ]);
    this.idLimits = new Map(this.idRegs);
  }

  live(op: string): void {
    if (this.destroyed) throw new KvmError(op, "EBADF");
    this.sys.op(op);
  }
  checkExtension(cap: number): number {
    this.live("KVM_CHECK_EXTENSION (VM)");
    return this.sys.checkExtension(cap);
  }
  enableCap(cap: number): void {
    this.live("KVM_ENABLE_CAP");
    if (cap !== KVM_CAP.ARM_WRITABLE_IMP_ID_REGS || !this.sys.checkExtension(cap) || this.vcpu)
      throw new KvmError("KVM_ENABLE_CAP", "EINVAL");
    this.writableImpId = true;
  }
  hasDeviceAttr(): boolean {
    return false;
  }
  getDeviceAttr(): Uint8Array {
    throw new KvmError("KVM_GET_DEVICE_ATTR", "ENXIO");
  }
  setDeviceAttr(): void {
    throw new KvmError("KVM_SET_DEVICE_ATTR", "ENXIO");
  }
  /** A host without an in-kernel irqchip (KVM_CAP_IRQCHIP 0): kvm_ioctl_create_device finds no ops. */
  createDevice(): KvmDevice {
    this.live("KVM_CREATE_DEVICE");
    throw new KvmError("KVM_CREATE_DEVICE", "ENODEV");
  }
  /** A kernel before KVM_CAP_COUNTER_OFFSET: kvm_arch_vm_ioctl's default case. */
  setCounterOffset(): void {
    this.live("KVM_ARM_SET_COUNTER_OFFSET");
    throw new KvmError("KVM_ARM_SET_COUNTER_OFFSET", "EINVAL");
  }
  getRegWritableMasks(): bigint[] {
    this.live("KVM_ARM_GET_REG_WRITABLE_MASKS");
    if (this.sys.opts.noWritableMasks) throw new KvmError("KVM_ARM_GET_REG_WRITABLE_MASKS", "EINVAL");
    const masks = new Array<bigint>(192).fill(0n);
    masks[4 * 8 + 0] = 0x0f00_0000_0000_0000n; // ID_AA64PFR0_EL1
    return masks;
  }
  setUserMemoryRegion(region: MemoryRegion): void {
    this.live("KVM_SET_USER_MEMORY_REGION");
    if (!this.vcpu) throw new KvmError("KVM_SET_USER_MEMORY_REGION", "EINVAL");
    this.vcpu.cpu.ram = { base: region.guestPhysAddr, bytes: new Uint8Array(region.size) };
  }
  writeGuestMemory(_slot: number, offset: number, data: Uint8Array): void {
    this.vcpu!.cpu.ram!.bytes.set(data, offset);
  }
  readGuestMemory(_slot: number, offset: number, length: number): Uint8Array {
    return this.vcpu!.cpu.ram!.bytes.slice(offset, offset + length);
  }
  preferredTarget(): VcpuInit {
    this.live("KVM_ARM_PREFERRED_TARGET");
    return { target: 5, features: [] };
  }
  createVcpu(id: number): KvmVcpu {
    this.live("KVM_CREATE_VCPU");
    this.vcpu = new FakeVcpu(this, id);
    return this.vcpu;
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sys.vms.delete(this);
  }
}

export class FakeVcpu implements KvmVcpu {
  features: number[] | undefined;
  cpu: ScriptedGuest;
  counter = 1000n;
  jitter = 0n;
  private stickyWritten = false;
  private core = new Map<RegId, bigint | Uint8Array>([[FAKE.V0, new Uint8Array(16).fill(0xab)]]);

  constructor(
    readonly vm: FakeVm,
    readonly id: number,
  ) {
    this.cpu = new ScriptedGuest({
      firmware: (fid) => this.firmware(fid),
      smc: "minus1",
      sysregs: new Map([...vm.idRegs].map(([rid, v]) => [sysregKey(rid), v])),
    });
  }

  private firmware(fid: number): FirmwareAnswer {
    if (fid === PSCI_FN.PSCI_VERSION) return [this.psciVersion()];
    if (fid === PSCI_FN.SYSTEM_OFF) return { systemEvent: 1 };
    return [(1n << 64n) - 1n];
  }

  private psciVersion(): bigint {
    return this.vm.psciVersion ?? (this.features?.includes(VCPU_FEATURES.PSCI_0_2) ? 0x10001n : PSCI_0_1);
  }

  private live(op: string): void {
    this.vm.live(op);
    if (!this.features && op !== "KVM_ARM_VCPU_INIT") throw new KvmError(op, "ENOEXEC");
  }

  regList(): RegId[] {
    const base: RegId[] = [
      coreXReg(0),
      coreXReg(1),
      coreXReg(2),
      coreXReg(3),
      CORE_PC,
      FAKE.V0,
      ...this.vm.idRegs.keys(),
      FAKE.BROKEN,
      FAKE.TIMER_CTL,
      FAKE.TIMER_CNT,
      FW_REGS.PSCI_VERSION,
      FW_REGS.SMCCC_ARCH_WORKAROUND_1,
      FW_REGS.STD_BMAP,
      ...(this.vm.sys.opts.withJitter ? [FAKE.JITTERY] : []),
      ...(this.vm.sys.opts.regs?.keys() ?? []),
    ];
    return this.vm.ranOnce ? [...base, ...(this.vm.sys.opts.extraRegsAfterRun ?? [])] : base;
  }

  init(init: VcpuInit): void {
    this.live("KVM_ARM_VCPU_INIT");
    if (init.features.some((f) => f > VCPU_FEATURES.PTRAUTH_GENERIC))
      throw new KvmError("KVM_ARM_VCPU_INIT", "ENOENT");
    if (init.features.includes(VCPU_FEATURES.SVE)) throw new KvmError("KVM_ARM_VCPU_INIT", "EINVAL");
    this.features = [...init.features];
  }
  finalize(): void {
    throw new KvmError("KVM_ARM_VCPU_FINALIZE", "EINVAL");
  }
  getRegListRaw(capacity: number): RegId[] {
    this.live("KVM_GET_REG_LIST");
    const list = this.regList();
    if (capacity < list.length) throw new KvmError("KVM_GET_REG_LIST", "E2BIG", { required: list.length });
    return list;
  }
  getOneReg(id: RegId): RegValue {
    const op = `KVM_GET_ONE_REG ${formatId(id)}`;
    this.live("KVM_GET_ONE_REG");
    if (!this.regList().includes(id)) throw new KvmError(op, "ENOENT");
    if (id === CORE_PC) return this.cpu.pc;
    for (let i = 0; i < 4; i++) if (id === coreXReg(i)) return this.cpu.x[i]!;
    if (id === FAKE.BROKEN) throw new KvmError(op, "EINVAL");
    if (id === FAKE.TIMER_CNT) return this.counter++;
    if (id === FAKE.TIMER_CTL) return 0n;
    if (id === FAKE.JITTERY) return this.jitter++ & 1n;
    if (id === FW_REGS.PSCI_VERSION) return this.psciVersion();
    if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_1) return 1n;
    if (id === FW_REGS.STD_BMAP) return this.vm.stdBmap;
    const idv = this.vm.idRegs.get(id);
    if (idv !== undefined) return idv;
    const v = this.core.get(id) ?? this.vm.sys.opts.regs?.get(id);
    if (v !== undefined) return v;
    throw new KvmError(op, "ENOENT");
  }
  setOneReg(id: RegId, value: RegValue): void {
    const op = `KVM_SET_ONE_REG ${formatId(id)}`;
    this.live("KVM_SET_ONE_REG");
    if (!this.regList().includes(id)) throw new KvmError(op, "ENOENT");
    const sticky = id === this.vm.sys.opts.stickyId && value !== this.getOneReg(id);
    if (sticky && this.stickyWritten) throw new KvmError(op, "EPERM");
    this.set(op, id, value);
    if (sticky) this.stickyWritten = true;
  }
  private set(op: string, id: RegId, value: RegValue): void {
    const fail = (errno: "EINVAL" | "EBUSY") => {
      throw new KvmError(op, errno);
    };
    if (typeof value !== "bigint") {
      this.core.set(id, value);
      return;
    }
    if (id === CORE_PC) this.cpu.pc = value;
    else if (id === FW_REGS.PSCI_VERSION) {
      const has02 = this.features!.includes(VCPU_FEATURES.PSCI_0_2);
      if (has02 ? !PSCI_ALLOWED_02.includes(value) : value !== PSCI_0_1) fail("EINVAL");
      this.vm.psciVersion = value;
    } else if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_1) {
      if (value > 1n) fail("EINVAL");
    } else if (id === FW_REGS.STD_BMAP) {
      if (value & ~1n) fail("EINVAL");
      if (this.vm.ranOnce && value !== this.vm.stdBmap) fail("EBUSY");
      this.vm.stdBmap = value;
    } else if (this.vm.idRegs.has(id)) {
      const cur = this.vm.idRegs.get(id)!;
      if (value === cur) return;
      if (this.vm.ranOnce) fail("EBUSY");
      if (id === FAKE.MIDR) {
        if (!this.vm.writableImpId) fail("EINVAL");
      } else if (
        !(this.vm.sys.opts.lowerable ?? []).includes(id) ||
        !fieldsAtMost(value, this.vm.idLimits.get(id)!)
      )
        fail("EINVAL");
      this.vm.idRegs.set(id, value);
    } else if (id === FAKE.TIMER_CNT) this.counter = value;
    else if (id !== FAKE.TIMER_CTL && id !== FAKE.JITTERY) {
      for (let i = 0; i < 4; i++) if (id === coreXReg(i)) this.cpu.x[i] = value;
      if (this.vm.sys.opts.regs?.has(id)) this.vm.sys.opts.regs.set(id, value);
    }
  }
  run(): KvmExit {
    this.live("KVM_RUN");
    this.vm.ranOnce = true;
    return this.cpu.run();
  }
  hasDeviceAttr(): boolean {
    return false;
  }
  getDeviceAttr(): Uint8Array {
    throw new KvmError("KVM_GET_DEVICE_ATTR", "ENXIO");
  }
  setDeviceAttr(): void {
    this.live("KVM_SET_DEVICE_ATTR");
  }
  setMmioReadData(): void {}
  destroy(): void {}
}

function sysregKey(id: RegId): string {
  const low = Number(id & 0xffffn);
  return [(low >> 14) & 3, (low >> 11) & 7, (low >> 7) & 15, (low >> 3) & 15, low & 7].join(".");
}

/** True when every 4-bit field of `value` is at most the same field of `limit` (unsigned). */
function fieldsAtMost(value: bigint, limit: bigint): boolean {
  for (let shift = 0n; shift < 64n; shift += 4n)
    if (((value >> shift) & 0xfn) > ((limit >> shift) & 0xfn)) return false;
  return true;
}
