/**
 * The machine a VMM builds around its vCPUs on arm64: an in-kernel vGICv3 with an ITS, and each PMU wired
 * to its interrupt. Every VMM does it in the same order, which KVM enforces:
 *   vCPUs created and initialised -> KVM_CREATE_DEVICE(VGIC_V3) -> frame addresses, interrupt count ->
 *   KVM_CREATE_DEVICE(ITS) and its frame -> each PMU's IRQ -> CTRL_INIT -> each PMU's INIT -> KVM_RUN.
 * (Firecracker src/vmm/src/arch/aarch64/gic/gicv3/mod.rs GICv3::create / init_its / finalize_device;
 * QEMU hw/arm/virt.c create_gic, virt_cpu_post_init.) KVM refuses vCPUs created after CTRL_INIT
 * (kvm_arch_vcpu_precreate: EBUSY) and a PMU INIT before it (kvm_arm_pmu_v3_init: ENODEV).
 */
import { KvmError } from "./errors.js";
import type { KvmDevice, KvmVcpu, KvmVm } from "./types.js";
import { ITS_ATTR, KVM_DEVICE_TYPE, VCPU_ATTR, VGIC_ATTR, redistRegAttr } from "./uapi.js";

/** Guest-physical frames of the GIC: QEMU virt's base_memmap (VIRT_GIC_DIST, VIRT_GIC_ITS, VIRT_GIC_REDIST). */
export interface GicLayout {
  dist: bigint;
  its: bigint;
  redist: bigint;
}
export const VIRT_GIC_LAYOUT: GicLayout = { dist: 0x0800_0000n, its: 0x0808_0000n, redist: 0x080a_0000n };

/** The PMU's overflow interrupt: PPI 23 (QEMU virt VIRTUAL_PMU_IRQ 7 + 16, as the KVM selftests use). */
export const PMU_PPI = 23;

export interface IrqchipSpec {
  /** GRP_NR_IRQS: SPIs + 32 (Firecracker 128, QEMU virt 288). */
  nrIrqs: number;
  /** An ITS (every VMM here creates one: KVM's ITS is emulated, no host ITS needed). */
  its: boolean;
  layout?: GicLayout;
}

/**
 * The interrupt controller guestabi gives a VM, as Firecracker builds it: a vGICv3 with 96 SPIs (128
 * interrupts) and an ITS (src/vmm/src/arch/aarch64/gic/gicv3/mod.rs). No VMM runs an arm64 guest without
 * one, and KVM shows a VM without it other ID registers (kvm_finalize_sys_regs clears the GIC fields).
 */
export const DEFAULT_IRQCHIP: IrqchipSpec = { nrIrqs: 128, its: true };

/** The devices of a VM's interrupt controller. */
export interface Irqchip {
  gic: KvmDevice;
  its: KvmDevice | null;
  layout: GicLayout;
  nrIrqs: number;
}

/** Attribute data: a u32 or u64 as KVM copies it from userspace (little-endian), and back. */
export const attrU32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
export const attrU64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
};
export const readAttrU32 = (b: Uint8Array): number =>
  new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
export const readAttrU64 = (b: Uint8Array): bigint =>
  new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);

/**
 * The vGICv3 (and ITS) of a VM whose vCPUs all exist: created and placed, not yet initialised. Throws the
 * KvmError of the first step KVM refuses; the devices die with the VM.
 */
export function createIrqchip(vm: KvmVm, spec: IrqchipSpec): Irqchip {
  const layout = spec.layout ?? VIRT_GIC_LAYOUT;
  const gic = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
  gic.setDeviceAttr(VGIC_ATTR.ADDR.group, VGIC_ATTR.ADDR.DIST, attrU64(layout.dist));
  // The legacy single redistributor region, sized by the vCPU count (Firecracker's choice).
  gic.setDeviceAttr(VGIC_ATTR.ADDR.group, VGIC_ATTR.ADDR.REDIST, attrU64(layout.redist));
  gic.setDeviceAttr(VGIC_ATTR.NR_IRQS.group, VGIC_ATTR.NR_IRQS.attr, attrU32(spec.nrIrqs));
  let its: KvmDevice | null = null;
  if (spec.its) {
    its = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_ITS);
    its.setDeviceAttr(ITS_ATTR.ADDR.group, ITS_ATTR.ADDR.ITS, attrU64(layout.its));
    its.setDeviceAttr(ITS_ATTR.CTRL.group, ITS_ATTR.CTRL.INIT);
  }
  return { gic, its, layout, nrIrqs: spec.nrIrqs };
}

/**
 * createIrqchip where the host offers a vGICv3, undefined where it offers none (kvm_ioctl_create_device:
 * ENODEV, no device ops for the type); any other failure is thrown.
 */
export function createIrqchipIfOffered(vm: KvmVm, spec: IrqchipSpec): Irqchip | undefined {
  try {
    return createIrqchip(vm, spec);
  } catch (e) {
    if (e instanceof KvmError && e.errno === "ENODEV") return undefined;
    throw e;
  }
}

/** Each PMU's interrupt (before CTRL_INIT or after), then CTRL_INIT, then each PMU's INIT. */
export function initIrqchip(chip: Irqchip, pmuVcpus: readonly KvmVcpu[] = []): void {
  const pmu = VCPU_ATTR.PMU_V3_CTRL;
  for (const vcpu of pmuVcpus) vcpu.setDeviceAttr(pmu.group, pmu.IRQ, attrU32(PMU_PPI));
  chip.gic.setDeviceAttr(VGIC_ATTR.CTRL.group, VGIC_ATTR.CTRL.INIT);
  for (const vcpu of pmuVcpus) vcpu.setDeviceAttr(pmu.group, pmu.INIT);
}

/** KVM_DEV_ARM_VGIC_GRP_DIST_REGS: a distributor register as userspace sees it (u32). */
export function readDistReg(gic: KvmDevice, offset: number): number {
  return readAttrU32(gic.getDeviceAttr(VGIC_ATTR.DIST_REGS.group, BigInt(offset), 4));
}
export function writeDistReg(gic: KvmDevice, offset: number, value: number): void {
  gic.setDeviceAttr(VGIC_ATTR.DIST_REGS.group, BigInt(offset), attrU32(value));
}

/** KVM_DEV_ARM_VGIC_GRP_REDIST_REGS of the vCPU with this MPIDR; 64-bit registers read as two halves. */
export function readRedistReg(gic: KvmDevice, mpidr: bigint, offset: number, size: 4 | 8 = 4): bigint {
  const half = (o: number) =>
    BigInt(readAttrU32(gic.getDeviceAttr(VGIC_ATTR.REDIST_REGS.group, redistRegAttr(mpidr, o), 4)));
  return size === 4 ? half(offset) : half(offset) | (half(offset + 4) << 32n);
}

/** KVM_DEV_ARM_VGIC_GRP_ITS_REGS: userspace passes a u64 whatever the register's width (vgic_its_attr_regs_access). */
export function readItsReg(its: KvmDevice, offset: number): bigint {
  return readAttrU64(its.getDeviceAttr(ITS_ATTR.REGS.group, BigInt(offset), 8));
}
export function writeItsReg(its: KvmDevice, offset: number, value: bigint): void {
  its.setDeviceAttr(ITS_ATTR.REGS.group, BigInt(offset), attrU64(value));
}

/** The byte images of u32/u64 attribute values, for the simulated kernel's device fds too. */
