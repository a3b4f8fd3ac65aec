/**
 * Byte layouts of the ioctl argument structs of include/uapi/linux/kvm.h and
 * arch/arm64/include/uapi/asm/kvm.h, as pure pack/unpack functions over a DataView (little-endian:
 * arm64 Linux hosts are little-endian). Offsets and sizes were checked by compiling the four
 * generations' headers (5.10, 6.1, 6.12, 7.2) with offsetof/sizeof; they are the same in all four.
 * Pointers (addr fields) are plain u64 addresses here; the backend owns the memory they point to.
 */
import { featureBitsOf, featureWords } from "../helpers.js";
import type { VcpuInit } from "../types.js";
import { KVM_VCPU_INIT_FEATURE_WORDS, UAPI_STRUCT_SIZES } from "../uapi.js";

const LE = true;

/** struct kvm_one_reg { __u64 id; __u64 addr; } */
export const KVM_ONE_REG = { size: UAPI_STRUCT_SIZES.kvm_one_reg, id: 0, addr: 8 } as const;
export function packOneReg(v: DataView, off: number, id: bigint, addr: bigint): void {
  v.setBigUint64(off + KVM_ONE_REG.id, id, LE);
  v.setBigUint64(off + KVM_ONE_REG.addr, addr, LE);
}

/** struct kvm_vcpu_init { __u32 target; __u32 features[7]; } */
export const KVM_VCPU_INIT = { size: UAPI_STRUCT_SIZES.kvm_vcpu_init, target: 0, features: 4 } as const;
export function packVcpuInit(v: DataView, off: number, init: VcpuInit): void {
  v.setUint32(off + KVM_VCPU_INIT.target, init.target >>> 0, LE);
  featureWords(init.features).forEach((w, i) => v.setUint32(off + KVM_VCPU_INIT.features + 4 * i, w, LE));
}
export function unpackVcpuInit(v: DataView, off: number): VcpuInit {
  const words: number[] = [];
  for (let i = 0; i < KVM_VCPU_INIT_FEATURE_WORDS; i++)
    words.push(v.getUint32(off + KVM_VCPU_INIT.features + 4 * i, LE));
  return { target: v.getUint32(off + KVM_VCPU_INIT.target, LE), features: featureBitsOf(words) };
}

/** struct kvm_reg_list { __u64 n; __u64 reg[]; }: 8 bytes of header, then n ids. */
export const KVM_REG_LIST = { headerSize: UAPI_STRUCT_SIZES.kvm_reg_list, n: 0, reg: 8 } as const;
export function regListBytes(capacity: number): number {
  return KVM_REG_LIST.headerSize + 8 * capacity;
}
export function packRegListHeader(v: DataView, off: number, capacity: number): void {
  v.setBigUint64(off + KVM_REG_LIST.n, BigInt(capacity), LE);
}
/** kvm_reg_list.n as KVM left it: the count on success, the required count on E2BIG. */
export function regListCount(v: DataView, off: number): number {
  return Number(v.getBigUint64(off + KVM_REG_LIST.n, LE));
}
export function unpackRegListIds(v: DataView, off: number, count: number): bigint[] {
  const ids: bigint[] = [];
  for (let i = 0; i < count; i++) ids.push(v.getBigUint64(off + KVM_REG_LIST.reg + 8 * i, LE));
  return ids;
}

/**
 * struct kvm_userspace_memory_region { __u32 slot; __u32 flags; __u64 guest_phys_addr;
 *   __u64 memory_size; __u64 userspace_addr; }
 */
export const KVM_USERSPACE_MEMORY_REGION = {
  size: UAPI_STRUCT_SIZES.kvm_userspace_memory_region,
  slot: 0,
  flags: 4,
  guestPhysAddr: 8,
  memorySize: 16,
  userspaceAddr: 24,
} as const;
export function packUserMemoryRegion(
  v: DataView,
  off: number,
  r: { slot: number; flags: number; guestPhysAddr: bigint; memorySize: bigint; userspaceAddr: bigint },
): void {
  const L = KVM_USERSPACE_MEMORY_REGION;
  v.setUint32(off + L.slot, r.slot >>> 0, LE);
  v.setUint32(off + L.flags, r.flags >>> 0, LE);
  v.setBigUint64(off + L.guestPhysAddr, r.guestPhysAddr, LE);
  v.setBigUint64(off + L.memorySize, r.memorySize, LE);
  v.setBigUint64(off + L.userspaceAddr, r.userspaceAddr, LE);
}

/** struct kvm_enable_cap { __u32 cap; __u32 flags; __u64 args[4]; __u8 pad[64]; } */
export const KVM_ENABLE_CAP = {
  size: UAPI_STRUCT_SIZES.kvm_enable_cap,
  cap: 0,
  flags: 4,
  args: 8,
  pad: 40,
} as const;
export function packEnableCap(
  v: DataView,
  off: number,
  c: { cap: number; flags: number; args: readonly bigint[] },
): void {
  if (c.args.length > 4) throw new RangeError(`KVM_ENABLE_CAP takes at most 4 args, got ${c.args.length}`);
  for (let i = 0; i < KVM_ENABLE_CAP.size; i++) v.setUint8(off + i, 0);
  v.setUint32(off + KVM_ENABLE_CAP.cap, c.cap >>> 0, LE);
  v.setUint32(off + KVM_ENABLE_CAP.flags, c.flags >>> 0, LE);
  c.args.forEach((a, i) => v.setBigUint64(off + KVM_ENABLE_CAP.args + 8 * i, BigInt.asUintN(64, a), LE));
}

/** struct kvm_device_attr { __u32 flags; __u32 group; __u64 attr; __u64 addr; } */
export const KVM_DEVICE_ATTR = {
  size: UAPI_STRUCT_SIZES.kvm_device_attr,
  flags: 0,
  group: 4,
  attr: 8,
  addr: 16,
} as const;
export function packDeviceAttr(
  v: DataView,
  off: number,
  a: { flags: number; group: number; attr: bigint; addr: bigint },
): void {
  v.setUint32(off + KVM_DEVICE_ATTR.flags, a.flags >>> 0, LE);
  v.setUint32(off + KVM_DEVICE_ATTR.group, a.group >>> 0, LE);
  v.setBigUint64(off + KVM_DEVICE_ATTR.attr, BigInt.asUintN(64, a.attr), LE);
  v.setBigUint64(off + KVM_DEVICE_ATTR.addr, a.addr, LE);
}

/** struct kvm_create_device { __u32 type; __u32 fd (out); __u32 flags; } */
export const KVM_CREATE_DEVICE = {
  size: UAPI_STRUCT_SIZES.kvm_create_device,
  type: 0,
  fd: 4,
  flags: 8,
} as const;
export function packCreateDevice(v: DataView, off: number, d: { type: number; flags: number }): void {
  v.setUint32(off + KVM_CREATE_DEVICE.type, d.type >>> 0, LE);
  v.setUint32(off + KVM_CREATE_DEVICE.fd, 0, LE);
  v.setUint32(off + KVM_CREATE_DEVICE.flags, d.flags >>> 0, LE);
}

/** struct kvm_arm_counter_offset { __u64 counter_offset; __u64 reserved; } (reserved must be 0). */
export const KVM_ARM_COUNTER_OFFSET = {
  size: UAPI_STRUCT_SIZES.kvm_arm_counter_offset,
  offset: 0,
  reserved: 8,
} as const;
export function packCounterOffset(v: DataView, off: number, offset: bigint): void {
  v.setBigUint64(off + KVM_ARM_COUNTER_OFFSET.offset, BigInt.asUintN(64, offset), LE);
  v.setBigUint64(off + KVM_ARM_COUNTER_OFFSET.reserved, 0n, LE);
}

/** struct reg_mask_range { __u64 addr; __u32 range; __u32 reserved[13]; } (reserved must be 0). */
export const REG_MASK_RANGE = {
  size: UAPI_STRUCT_SIZES.reg_mask_range,
  addr: 0,
  range: 8,
  reserved: 12,
} as const;
export function packRegMaskRange(v: DataView, off: number, r: { addr: bigint; range: number }): void {
  for (let i = 0; i < REG_MASK_RANGE.size; i++) v.setUint8(off + i, 0);
  v.setBigUint64(off + REG_MASK_RANGE.addr, r.addr, LE);
  v.setUint32(off + REG_MASK_RANGE.range, r.range >>> 0, LE);
}
