/**
 * The hypervisor interface over real KVM: /dev/kvm ioctls through koffi (libc.ts). Runs only on an
 * arm64 Linux host with KVM; openLinuxKvm() (index.ts) checks that and loads koffi lazily.
 *
 * Resource ownership: the system object owns the /dev/kvm fd and a native scratch area for ioctl
 * arguments; a VM owns its fd and the anonymous mappings behind its memory slots; a vCPU owns its fd
 * and its mmap()ed struct kvm_run. close()/destroy() release them children first, and are idempotent.
 */
import os from "node:os";
import { REG_SIZES, formatId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { ERRNO, KvmError } from "../errors.js";
import { normalizeVcpuInit } from "../helpers.js";
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
} from "../types.js";
import {
  EXIT_REASONS,
  KVM_ARM_FEATURE_ID_RANGE,
  KVM_ARM_FEATURE_ID_RANGE_SIZE,
  KVM_IOCTL,
  vmTypeArmIpaSize,
} from "../uapi.js";
import { regSizeBytes, regValueFromBytes, regValueToBytes } from "../values.js";
import { decodeKvmRunExit, writeMmioReadData } from "./kvm-run.js";
import type { Libc } from "./libc.js";
import {
  MAP_ANONYMOUS,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  Scratch,
} from "./libc.js";
import {
  KVM_ARM_COUNTER_OFFSET,
  KVM_CREATE_DEVICE,
  KVM_DEVICE_ATTR,
  KVM_ENABLE_CAP,
  KVM_ONE_REG,
  KVM_USERSPACE_MEMORY_REGION,
  KVM_VCPU_INIT,
  packCounterOffset,
  packCreateDevice,
  packDeviceAttr,
  packEnableCap,
  packOneReg,
  packRegListHeader,
  packRegMaskRange,
  packUserMemoryRegion,
  packVcpuInit,
  regListBytes,
  regListCount,
  unpackRegListIds,
  unpackVcpuInit,
} from "./structs.js";

/** Where argument payloads go in the scratch area: the struct at 0, the data it points to at 256. */
const PAYLOAD = 256;

interface Ctx {
  libc: Libc;
  scratch: Scratch;
  vcpuMmapSize: number;
  /** The ONE_REG argument area, mapped on the first KVM_{GET,SET}_ONE_REG (oneRegArea). */
  oneReg?: OneRegArea;
}

/**
 * A struct kvm_one_reg with the value buffer its addr points at right behind it, in native memory of
 * its own (a Scratch nothing else grows, so the address never changes): a KVM_{GET,SET}_ONE_REG then
 * writes only the id and the value. One ioctl per register is the floor (KVM has no batched ONE_REG
 * call), so everything else a call does is kept out of that path.
 */
class OneRegArea {
  static readonly VALUE = KVM_ONE_REG.size;
  readonly view: DataView;
  readonly address: bigint;
  private readonly scratch: Scratch;

  constructor(libc: Libc) {
    this.scratch = new Scratch(libc);
    // Room for the widest register (KVM_REG_SIZE_U2048: 256 bytes).
    this.view = this.scratch.zeroed(OneRegArea.VALUE + 256);
    this.address = this.scratch.address;
    packOneReg(this.view, 0, 0n, this.address + BigInt(OneRegArea.VALUE));
  }

  release(): void {
    this.scratch.release();
  }
}

const oneRegArea = (ctx: Ctx): OneRegArea => (ctx.oneReg ??= new OneRegArea(ctx.libc));
const ONE_REG_VALUE = OneRegArea.VALUE;
const { KVM_GET_ONE_REG, KVM_SET_ONE_REG } = KVM_IOCTL;

/**
 * Writes `id` into the area's struct kvm_one_reg and returns KVM_REG_SIZE(id) in bytes, read back from
 * the id's byte 6 (bits 52..55, the size code) as a small integer instead of with bigint arithmetic.
 * setBigUint64 keeps the id's low 64 bits, the bits regSizeBytes reads; a size code that is no
 * KVM_REG_SIZE_* value goes through regSizeBytes for its RangeError.
 */
function oneRegSize(view: DataView, id: RegId): number {
  view.setBigUint64(KVM_ONE_REG.id, id, true);
  const code = view.getUint8(KVM_ONE_REG.id + 6) >> 4;
  return code < REG_SIZES.length ? 1 << code : regSizeBytes(id);
}

const hex = (n: number | bigint) => "0x" + n.toString(16);
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const U32_MAX = 0xffff_ffffn;

function closed(op: string): KvmError {
  return new KvmError(op, "EBADF", { detail: "already closed" });
}

// ---- KVM_{HAS,GET,SET}_DEVICE_ATTR, shared by VMs and vCPUs (same struct, same ioctls) ----------

type LiveFd = (op: string) => number;
const attrOp = (name: string, target: string, group: number, attr: bigint) =>
  `${name}${target} group=${group} attr=${hex(attr)}`;

function hasAttr(ctx: Ctx, live: LiveFd, target: string, group: number, attr: bigint): boolean {
  const op = attrOp("KVM_HAS_DEVICE_ATTR", target, group, attr);
  const fd = live(op);
  const v = ctx.scratch.zeroed(KVM_DEVICE_ATTR.size);
  packDeviceAttr(v, 0, { flags: 0, group, attr, addr: 0n });
  const r = ctx.libc.ioctlPtrRaw(fd, KVM_IOCTL.KVM_HAS_DEVICE_ATTR, ctx.scratch.address);
  if (r.result >= 0) return true;
  if (r.errno === ERRNO.ENXIO) return false;
  throw new KvmError(op, r.errno);
}

function getAttr(
  ctx: Ctx,
  live: LiveFd,
  target: string,
  group: number,
  attr: bigint,
  size: number,
): Uint8Array {
  const op = attrOp("KVM_GET_DEVICE_ATTR", target, group, attr);
  const fd = live(op);
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`bad attribute size ${size}`);
  const v = ctx.scratch.zeroed(PAYLOAD + size);
  packDeviceAttr(v, 0, { flags: 0, group, attr, addr: ctx.scratch.address + BigInt(PAYLOAD) });
  ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_GET_DEVICE_ATTR, ctx.scratch.address, op);
  return new Uint8Array(v.buffer.slice(v.byteOffset + PAYLOAD, v.byteOffset + PAYLOAD + size));
}

function setAttr(
  ctx: Ctx,
  live: LiveFd,
  target: string,
  group: number,
  attr: bigint,
  data: Uint8Array,
): void {
  const op = attrOp("KVM_SET_DEVICE_ATTR", target, group, attr);
  const fd = live(op);
  // Zero generously: KVM reads as many bytes as the attribute's type has, whatever we pass.
  const v = ctx.scratch.zeroed(PAYLOAD + Math.max(data.length, 256));
  new Uint8Array(v.buffer, v.byteOffset + PAYLOAD, data.length).set(data);
  packDeviceAttr(v, 0, { flags: 0, group, attr, addr: ctx.scratch.address + BigInt(PAYLOAD) });
  ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_SET_DEVICE_ATTR, ctx.scratch.address, op);
}

export class LinuxKvmSystem implements KvmSystem {
  readonly backend = "linux";
  private fd: number;
  private readonly vms = new Set<LinuxKvmVm>();

  constructor(
    private readonly ctx: Ctx,
    fd: number,
    private readonly device: string,
  ) {
    this.fd = fd;
  }

  private live(op: string): number {
    if (this.fd < 0) throw closed(op);
    return this.fd;
  }

  apiVersion(): number {
    return this.ctx.libc.ioctlValue(
      this.live("KVM_GET_API_VERSION"),
      KVM_IOCTL.KVM_GET_API_VERSION,
      0,
      "KVM_GET_API_VERSION",
    );
  }

  checkExtension(cap: number): number {
    const op = `KVM_CHECK_EXTENSION ${cap}`;
    return this.ctx.libc.ioctlValue(this.live(op), KVM_IOCTL.KVM_CHECK_EXTENSION, cap, op);
  }

  kernelRelease(): string {
    return os.release();
  }

  createVm(opts: CreateVmOptions = {}): KvmVm {
    const type = vmTypeArmIpaSize(opts.ipaBits ?? 0);
    const op = `KVM_CREATE_VM type=${hex(type)}`;
    const fd = this.live(op);
    // KVM_CREATE_VM can fail with EINTR when a signal arrives while it allocates; retry like QEMU does.
    let r = this.ctx.libc.ioctlValueRaw(fd, KVM_IOCTL.KVM_CREATE_VM, type);
    for (let i = 0; r.result < 0 && r.errno === ERRNO.EINTR && i < 100; i++)
      r = this.ctx.libc.ioctlValueRaw(fd, KVM_IOCTL.KVM_CREATE_VM, type);
    if (r.result < 0) throw new KvmError(op, r.errno);
    const vmFd = r.result;
    const vm = new LinuxKvmVm(this.ctx, vmFd, () => this.vms.delete(vm));
    this.vms.add(vm);
    return vm;
  }

  close(): void {
    if (this.fd < 0) return;
    for (const vm of [...this.vms]) vm.destroy();
    this.ctx.libc.close(this.fd);
    this.fd = -1;
    this.ctx.scratch.release();
    this.ctx.oneReg?.release();
    this.ctx.oneReg = undefined;
  }

  toString(): string {
    return `LinuxKvmSystem(${this.device})`;
  }
}

interface Slot {
  region: Required<MemoryRegion>;
  address: bigint;
  length: number;
  bytes: Uint8Array;
}

export class LinuxKvmVm implements KvmVm {
  private fd: number;
  private readonly slots = new Map<number, Slot>();
  private readonly vcpus = new Set<LinuxKvmVcpu>();
  private readonly devices = new Set<LinuxKvmDevice>();

  constructor(
    private readonly ctx: Ctx,
    fd: number,
    private readonly onDestroy: () => void,
  ) {
    this.fd = fd;
  }

  private live(op: string): number {
    if (this.fd < 0) throw closed(op);
    return this.fd;
  }

  checkExtension(cap: number): number {
    const op = `KVM_CHECK_EXTENSION ${cap} (VM)`;
    return this.ctx.libc.ioctlValue(this.live(op), KVM_IOCTL.KVM_CHECK_EXTENSION, cap, op);
  }

  enableCap(cap: number, args: readonly bigint[] = [], flags = 0): void {
    const op = `KVM_ENABLE_CAP ${cap}`;
    const fd = this.live(op);
    const v = this.ctx.scratch.zeroed(KVM_ENABLE_CAP.size);
    packEnableCap(v, 0, { cap, flags, args });
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ENABLE_CAP, this.ctx.scratch.address, op);
  }

  hasDeviceAttr(group: number, attr: bigint): boolean {
    return hasAttr(this.ctx, (op) => this.live(op), "", group, attr);
  }

  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array {
    return getAttr(this.ctx, (op) => this.live(op), "", group, attr, size);
  }

  setDeviceAttr(group: number, attr: bigint, data: Uint8Array): void {
    setAttr(this.ctx, (op) => this.live(op), "", group, attr, data);
  }

  createDevice(type: number): KvmDevice {
    const op = `KVM_CREATE_DEVICE type=${type}`;
    const fd = this.live(op);
    const v = this.ctx.scratch.zeroed(KVM_CREATE_DEVICE.size);
    packCreateDevice(v, 0, { type, flags: 0 });
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_CREATE_DEVICE, this.ctx.scratch.address, op);
    const dev = new LinuxKvmDevice(this.ctx, type, v.getUint32(KVM_CREATE_DEVICE.fd, true), () =>
      this.devices.delete(dev),
    );
    this.devices.add(dev);
    return dev;
  }

  setCounterOffset(offset: bigint): void {
    const op = `KVM_ARM_SET_COUNTER_OFFSET ${hex(offset)}`;
    const fd = this.live(op);
    const v = this.ctx.scratch.zeroed(KVM_ARM_COUNTER_OFFSET.size);
    packCounterOffset(v, 0, offset);
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ARM_SET_COUNTER_OFFSET, this.ctx.scratch.address, op);
  }

  getRegWritableMasks(range = KVM_ARM_FEATURE_ID_RANGE): bigint[] {
    const op = `KVM_ARM_GET_REG_WRITABLE_MASKS range=${range}`;
    const fd = this.live(op);
    // Only KVM_ARM_FEATURE_ID_RANGE is defined; its 192 masks are the buffer size KVM writes.
    const count = KVM_ARM_FEATURE_ID_RANGE_SIZE;
    const v = this.ctx.scratch.zeroed(PAYLOAD + 8 * count);
    packRegMaskRange(v, 0, { addr: this.ctx.scratch.address + BigInt(PAYLOAD), range });
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ARM_GET_REG_WRITABLE_MASKS, this.ctx.scratch.address, op);
    const masks: bigint[] = [];
    for (let i = 0; i < count; i++) masks.push(v.getBigUint64(PAYLOAD + 8 * i, true));
    return masks;
  }

  setUserMemoryRegion(region: MemoryRegion): void {
    const r: Required<MemoryRegion> = { flags: 0, ...region };
    const op = `KVM_SET_USER_MEMORY_REGION slot=${r.slot} gpa=${hex(r.guestPhysAddr)} size=${hex(r.size)}`;
    const fd = this.live(op);
    if (!Number.isInteger(r.size) || r.size < 0) throw new RangeError(`bad memory size ${r.size}`);
    const { libc, scratch } = this.ctx;
    const old = this.slots.get(r.slot);
    let fresh: { address: bigint; length: number } | undefined;
    let address = 0n;
    if (r.size > 0) {
      if (old && old.region.size === r.size) address = old.address;
      else {
        const page = libc.pageSize();
        const length = Math.ceil(r.size / page) * page;
        const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        fresh = {
          address: libc.mmap(
            length,
            PROT_READ | PROT_WRITE,
            flags,
            -1,
            0,
            `mmap guest memory of slot ${r.slot}`,
          ),
          length,
        };
        address = fresh.address;
      }
    }
    const v = scratch.zeroed(KVM_USERSPACE_MEMORY_REGION.size);
    packUserMemoryRegion(v, 0, {
      slot: r.slot,
      flags: r.flags,
      guestPhysAddr: r.guestPhysAddr,
      memorySize: BigInt(r.size),
      userspaceAddr: address,
    });
    try {
      libc.ioctlPtr(fd, KVM_IOCTL.KVM_SET_USER_MEMORY_REGION, scratch.address, op);
    } catch (e) {
      if (fresh) libc.munmap(fresh.address, fresh.length);
      throw e;
    }
    if (r.size === 0) {
      if (old) this.unmapSlot(old);
      this.slots.delete(r.slot);
      return;
    }
    if (fresh) {
      if (old) this.unmapSlot(old);
      const bytes = new Uint8Array(libc.view(fresh.address, fresh.length), 0, r.size);
      this.slots.set(r.slot, { region: r, address: fresh.address, length: fresh.length, bytes });
    } else if (old) {
      old.region = r;
    }
  }

  private unmapSlot(s: Slot): void {
    this.ctx.libc.munmap(s.address, s.length);
  }

  private slotBytes(slot: number, offset: number, length: number): Uint8Array {
    const s = this.slots.get(slot);
    if (!s) throw new RangeError(`no memory slot ${slot}`);
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > s.region.size
    )
      throw new RangeError(
        `bytes ${offset}..${offset + length} are outside slot ${slot} (${s.region.size} bytes)`,
      );
    return s.bytes.subarray(offset, offset + length);
  }

  writeGuestMemory(slot: number, offset: number, data: Uint8Array): void {
    this.live("write guest memory");
    this.slotBytes(slot, offset, data.length).set(data);
  }

  readGuestMemory(slot: number, offset: number, length: number): Uint8Array {
    this.live("read guest memory");
    return Uint8Array.from(this.slotBytes(slot, offset, length));
  }

  preferredTarget(): VcpuInit {
    const op = "KVM_ARM_PREFERRED_TARGET";
    const fd = this.live(op);
    const v = this.ctx.scratch.zeroed(KVM_VCPU_INIT.size);
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ARM_PREFERRED_TARGET, this.ctx.scratch.address, op);
    return unpackVcpuInit(v, 0);
  }

  createVcpu(id: number): KvmVcpu {
    const op = `KVM_CREATE_VCPU ${id}`;
    const { libc, vcpuMmapSize } = this.ctx;
    const vcpuFd = libc.ioctlValue(this.live(op), KVM_IOCTL.KVM_CREATE_VCPU, id, op);
    let run: bigint;
    try {
      run = libc.mmap(
        vcpuMmapSize,
        PROT_READ | PROT_WRITE,
        MAP_SHARED,
        vcpuFd,
        0,
        `mmap kvm_run of vCPU ${id}`,
      );
    } catch (e) {
      libc.close(vcpuFd);
      throw e;
    }
    const vcpu = new LinuxKvmVcpu(this.ctx, id, vcpuFd, run, () => this.vcpus.delete(vcpu));
    this.vcpus.add(vcpu);
    return vcpu;
  }

  destroy(): void {
    if (this.fd < 0) return;
    for (const vcpu of [...this.vcpus]) vcpu.destroy();
    for (const dev of [...this.devices]) dev.destroy();
    this.ctx.libc.close(this.fd);
    this.fd = -1;
    // KVM dropped its references to the slots' pages with the VM; the mappings can go now.
    for (const s of this.slots.values()) this.unmapSlot(s);
    this.slots.clear();
    this.onDestroy();
  }
}

/** A device fd (vGIC, ITS): the same attribute ioctls as VMs and vCPUs. */
export class LinuxKvmDevice implements KvmDevice {
  private fd: number;

  constructor(
    private readonly ctx: Ctx,
    readonly type: number,
    fd: number,
    private readonly onDestroy: () => void,
  ) {
    this.fd = fd;
  }

  private live(op: string): number {
    if (this.fd < 0) throw closed(op);
    return this.fd;
  }

  hasDeviceAttr(group: number, attr: bigint): boolean {
    return hasAttr(this.ctx, (op) => this.live(op), ` (device ${this.type})`, group, attr);
  }

  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array {
    return getAttr(this.ctx, (op) => this.live(op), ` (device ${this.type})`, group, attr, size);
  }

  setDeviceAttr(group: number, attr: bigint, data: Uint8Array = new Uint8Array(0)): void {
    setAttr(this.ctx, (op) => this.live(op), ` (device ${this.type})`, group, attr, data);
  }

  destroy(): void {
    if (this.fd < 0) return;
    this.ctx.libc.close(this.fd);
    this.fd = -1;
    this.onDestroy();
  }
}

export class LinuxKvmVcpu implements KvmVcpu {
  private fd: number;
  private runView: DataView | undefined;
  private readonly oneReg: OneRegArea;

  constructor(
    private readonly ctx: Ctx,
    readonly id: number,
    fd: number,
    private readonly runAddress: bigint,
    private readonly onDestroy: () => void,
  ) {
    this.fd = fd;
    this.runView = new DataView(ctx.libc.view(runAddress, ctx.vcpuMmapSize));
    this.oneReg = oneRegArea(ctx);
  }

  private live(op: string): number {
    if (this.fd < 0) throw closed(op);
    return this.fd;
  }

  init(init: VcpuInit): void {
    const n = normalizeVcpuInit(init);
    const op = `KVM_ARM_VCPU_INIT target=${n.target} features=[${n.features.join(",")}]`;
    const fd = this.live(op);
    const v = this.ctx.scratch.zeroed(KVM_VCPU_INIT.size);
    packVcpuInit(v, 0, n);
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ARM_VCPU_INIT, this.ctx.scratch.address, op);
  }

  finalize(feature: number): void {
    const op = `KVM_ARM_VCPU_FINALIZE ${feature}`;
    const fd = this.live(op);
    // The argument is a pointer to an int (arm.c: get_user(what, (const int __user *)argp)).
    const v = this.ctx.scratch.zeroed(4);
    v.setInt32(0, feature, true);
    this.ctx.libc.ioctlPtr(fd, KVM_IOCTL.KVM_ARM_VCPU_FINALIZE, this.ctx.scratch.address, op);
  }

  getRegListRaw(capacity: number): RegId[] {
    const op = `KVM_GET_REG_LIST n=${capacity}`;
    const fd = this.live(op);
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`bad capacity ${capacity}`);
    const { libc, scratch } = this.ctx;
    const v = scratch.zeroed(regListBytes(capacity));
    packRegListHeader(v, 0, capacity);
    const r = libc.ioctlPtrRaw(fd, KVM_IOCTL.KVM_GET_REG_LIST, scratch.address);
    if (r.result < 0) {
      if (r.errno === ERRNO.E2BIG) throw new KvmError(op, r.errno, { required: regListCount(v, 0) });
      throw new KvmError(op, r.errno);
    }
    return unpackRegListIds(v, 0, regListCount(v, 0));
  }

  getOneReg(id: RegId): RegValue {
    const fd = this.fd;
    if (fd < 0) throw closed(`KVM_GET_ONE_REG ${formatId(id)}`);
    const { view, address } = this.oneReg;
    const size = oneRegSize(view, id);
    // Zeroed: KVM writes only KVM_REG_SIZE(id) bytes.
    if (size <= 8) view.setBigUint64(ONE_REG_VALUE, 0n, true);
    else new Uint8Array(view.buffer, view.byteOffset + ONE_REG_VALUE, size).fill(0);
    const r = this.ctx.libc.ioctlPtrErrno(fd, KVM_GET_ONE_REG, address);
    if (r < 0) throw new KvmError(`KVM_GET_ONE_REG ${formatId(id)}`, -r);
    // regValueFromBytes's values, read straight from the buffer for the usual sizes.
    if (size === 8) return view.getBigUint64(ONE_REG_VALUE, true);
    if (size === 4) return BigInt(view.getUint32(ONE_REG_VALUE, true));
    return regValueFromBytes(id, new Uint8Array(view.buffer, view.byteOffset + ONE_REG_VALUE, size));
  }

  setOneReg(id: RegId, value: RegValue): void {
    const fd = this.fd;
    if (fd < 0) throw closed(`KVM_SET_ONE_REG ${formatId(id)}`);
    const { view, address } = this.oneReg;
    const size = oneRegSize(view, id);
    // regValueToBytes's bytes, written straight into the buffer for in-range values of the usual
    // sizes; anything else goes through it (and its RangeError).
    if (size === 8 && typeof value === "bigint" && value >= 0n && value <= U64_MAX)
      view.setBigUint64(ONE_REG_VALUE, value, true);
    else if (size === 4 && typeof value === "bigint" && value >= 0n && value <= U32_MAX)
      view.setUint32(ONE_REG_VALUE, Number(value), true);
    else new Uint8Array(view.buffer, view.byteOffset + ONE_REG_VALUE, size).set(regValueToBytes(id, value));
    const r = this.ctx.libc.ioctlPtrErrno(fd, KVM_SET_ONE_REG, address);
    if (r < 0) throw new KvmError(`KVM_SET_ONE_REG ${formatId(id)}`, -r);
  }

  run(): KvmExit {
    const fd = this.live("KVM_RUN");
    const r = this.ctx.libc.ioctlValueRaw(fd, KVM_IOCTL.KVM_RUN, 0);
    if (r.result < 0) {
      if (r.errno === ERRNO.EINTR) return { reason: "INTR", code: EXIT_REASONS.INTR };
      throw new KvmError("KVM_RUN", r.errno);
    }
    const view = this.runView!;
    const exit = decodeKvmRunExit(view);
    // A read the caller does not answer must see zeros, not the bytes of an earlier write.
    if (exit.reason === "MMIO" && !exit.isWrite) writeMmioReadData(view, new Uint8Array(0));
    return exit;
  }

  hasDeviceAttr(group: number, attr: bigint): boolean {
    return hasAttr(this.ctx, (op) => this.live(op), ` (vCPU ${this.id})`, group, attr);
  }

  getDeviceAttr(group: number, attr: bigint, size: number): Uint8Array {
    return getAttr(this.ctx, (op) => this.live(op), ` (vCPU ${this.id})`, group, attr, size);
  }

  setDeviceAttr(group: number, attr: bigint, data: Uint8Array = new Uint8Array(0)): void {
    setAttr(this.ctx, (op) => this.live(op), ` (vCPU ${this.id})`, group, attr, data);
  }

  setMmioReadData(data: Uint8Array): void {
    this.live("set MMIO read data");
    writeMmioReadData(this.runView!, data);
  }

  destroy(): void {
    if (this.fd < 0) return;
    this.runView = undefined;
    this.ctx.libc.munmap(this.runAddress, this.ctx.vcpuMmapSize);
    this.ctx.libc.close(this.fd);
    this.fd = -1;
    this.onDestroy();
  }
}

export type { Ctx as LinuxKvmContext };
