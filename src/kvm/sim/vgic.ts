/**
 * The simulated in-kernel vGICv3 (arch/arm64/kvm/vgic/): the device fd (vgic-kvm-device.c), its frames
 * (kvm_vgic_addr, vgic_v3_alloc_redist_region, vgic_register_redist_iodev), CTRL_INIT (vgic_init), the
 * userspace register accesses (vgic_v3_attr_regs_access) and the guest's MMIO to the distributor and
 * redistributor frames (vgic-mmio-v3.c). Values come from rules/vgic.ts and the generation's VgicModel.
 *
 * Interrupt state (enables, pending, active, priorities, groups, routing, LPIs) is not modelled: the
 * per-interrupt registers read 0 and ignore writes, from the guest and from userspace alike.
 */
import type { ErrnoName } from "../errors.js";
import { attrU32, attrU64, readAttrU32, readAttrU64 } from "../machine.js";
import type { KvmDevice } from "../types.js";
import { GIC_REG, KVM_DEVICE_TYPE, VGIC_ATTR, VGIC_V3_SIZES } from "../uapi.js";
import {
  GICR_IIDR,
  gicdCtlr,
  gicdIidr,
  gicdIidrWrite,
  gicdTyper,
  gicIdFieldWithV3,
  gicrCtlr,
  gicrTyper,
  nrIrqsValid,
  DEFAULT_NR_IRQS,
} from "../rules/vgic.js";
import { descByName } from "../kernels/descs.js";
import { M64, fail } from "./common.js";
import { hasField, setField } from "./descs.js";
import { cpuHas32bitEl0 } from "./idregs.js";
import type { SimVcpu } from "./vcpu.js";
import type { SimVm } from "./vm.js";

/** VGIC_ADDR_UNDEF: what an unset frame address reads back as. */
export const VGIC_ADDR_UNDEF = M64;
const SZ_64K = 0x1_0000n;
const DIST_SIZE = BigInt(VGIC_V3_SIZES.DIST);
const REDIST_SIZE = BigInt(VGIC_V3_SIZES.REDIST);
/** VGIC_NR_PRIVATE_IRQS: SGIs and PPIs. */
const NR_PRIVATE_IRQS = 32;
/** GICD_PIDR2 / GICR_PIDR2 (vgic_mmio_read_v3_idregs): ArchRev GICv3 | 0xb. */
const GIC_PIDR2 = 0xffe8;
const GIC_PIDR2_VALUE = 0x3b;
const GICR_TYPER_HI = GIC_REG.GICR_TYPER + 4;

/** A register region of vgic_v3_dist_registers / vgic_v3_rd_registers: offset, length, bits per IRQ. */
interface Region {
  offset: number;
  len: number;
  bitsPerIrq?: number;
  /** Accepts 64-bit accesses (VGIC_ACCESS_64bit) besides 32-bit ones. */
  wide?: boolean;
}
const perIrq = (offset: number, bitsPerIrq: number, wide = false): Region => ({
  offset,
  len: (bitsPerIrq * 1024) / 8,
  bitsPerIrq,
  wide,
});
/** vgic_v3_dist_registers (vgic-mmio-v3.c), the same in every generation here. */
const DIST_REGIONS: readonly Region[] = [
  { offset: 0x0000, len: 16 }, // GICD_CTLR, TYPER, IIDR, TYPER2 (vgic_mmio_read_v3_misc)
  { offset: 0x0010, len: 4 }, // GICD_STATUSR
  perIrq(0x0080, 1), // GICD_IGROUPR
  perIrq(0x0100, 1), // GICD_ISENABLER
  perIrq(0x0180, 1), // GICD_ICENABLER
  perIrq(0x0200, 1), // GICD_ISPENDR
  perIrq(0x0280, 1), // GICD_ICPENDR
  perIrq(0x0300, 1), // GICD_ISACTIVER
  perIrq(0x0380, 1), // GICD_ICACTIVER
  perIrq(0x0400, 8), // GICD_IPRIORITYR
  perIrq(0x0800, 8), // GICD_ITARGETSR
  perIrq(0x0c00, 2), // GICD_ICFGR
  perIrq(0x0d00, 1), // GICD_IGRPMODR
  perIrq(0x6000, 64, true), // GICD_IROUTER
  { offset: 0xffd0, len: 48 }, // GICD_IDREGS
];
/** vgic_v3_rd_registers: the RD_base frame, then the SGI_base frame 64 KiB above it. */
function rdRegions(invalidateRegs: boolean): Region[] {
  const sgi = 0x1_0000;
  return [
    { offset: 0x0000, len: 4 }, // GICR_CTLR
    { offset: 0x0010, len: 4 }, // GICR_STATUSR
    { offset: 0x0004, len: 4 }, // GICR_IIDR
    { offset: 0x0008, len: 8, wide: true }, // GICR_TYPER
    { offset: 0x0014, len: 4 }, // GICR_WAKER
    { offset: 0x0070, len: 8, wide: true }, // GICR_PROPBASER
    { offset: 0x0078, len: 8, wide: true }, // GICR_PENDBASER
    ...(invalidateRegs
      ? [
          { offset: 0x00a0, len: 8, wide: true }, // GICR_INVLPIR
          { offset: 0x00b0, len: 8, wide: true }, // GICR_INVALLR
          { offset: 0x00c0, len: 4 }, // GICR_SYNCR
        ]
      : []),
    { offset: 0xffd0, len: 48 }, // GICR_IDREGS
    { offset: sgi + 0x0080, len: 4 }, // GICR_IGROUPR0
    { offset: sgi + 0x0100, len: 4 }, // GICR_ISENABLER0
    { offset: sgi + 0x0180, len: 4 }, // GICR_ICENABLER0
    { offset: sgi + 0x0200, len: 4 }, // GICR_ISPENDR0
    { offset: sgi + 0x0280, len: 4 }, // GICR_ICPENDR0
    { offset: sgi + 0x0300, len: 4 }, // GICR_ISACTIVER0
    { offset: sgi + 0x0380, len: 4 }, // GICR_ICACTIVER0
    { offset: sgi + 0x0400, len: 32 }, // GICR_IPRIORITYR0
    { offset: sgi + 0x0c00, len: 8 }, // GICR_ICFGR0
    { offset: sgi + 0x0d00, len: 4 }, // GICR_IGRPMODR0
    { offset: sgi + 0x0e00, len: 4 }, // GICR_NSACR
  ];
}
const RD_REGIONS = rdRegions(true);
const RD_REGIONS_5_10 = rdRegions(false);

/**
 * vgic_get_mmio_region / check_region: the region an access of `len` bytes at `offset` hits, if the region
 * takes that size, the access is aligned, and a per-IRQ register's interrupt exists.
 */
function regionAt(
  regions: readonly Region[],
  offset: number,
  len: number,
  nrIrqs: number,
): Region | undefined {
  const r = regions.find((x) => offset >= x.offset && offset < x.offset + x.len);
  if (!r || offset % len !== 0 || !(len === 4 || (len === 8 && r.wide))) return undefined;
  if (r.bitsPerIrq && ((offset - r.offset) * 8) / r.bitsPerIrq >= nrIrqs) return undefined;
  return r;
}

/** vgic_v3_has_attr's GRP_ADDR attributes. */
const ADDR_TYPES: readonly bigint[] = [
  VGIC_ATTR.ADDR.DIST,
  VGIC_ATTR.ADDR.REDIST,
  VGIC_ATTR.ADDR.REDIST_REGION,
];

/** A redistributor region (struct vgic_redist_region): count 0 is the legacy region sized by the vCPUs. */
interface RedistRegion {
  index: number;
  base: bigint;
  count: number;
  freeIndex: number;
}

/** The device fd of a VM's vGICv3 (kvm_arm_vgic_v3_ops); the state is the VM's (kvm->arch.vgic). */
export class SimVgic implements KvmDevice {
  readonly type = KVM_DEVICE_TYPE.ARM_VGIC_V3;
  private closed = false;
  distBase: bigint | undefined;
  readonly regions: RedistRegion[] = [];
  /** Each vCPU's redistributor: its region and slot (vgic_cpu->rdreg, rdreg_index). */
  readonly redists = new Map<SimVcpu, { region: RedistRegion; slot: number }>();
  /** dist->nr_spis: 0 until NR_IRQS or CTRL_INIT sets it. */
  nrSpis = 0;
  initialized = false;
  /** The first run mapped the frames (kvm_vgic_map_resources): the guest's accesses reach them. */
  mapped = false;
  /** dist->implementation_rev: 0 until kvm_vgic_create (7.2) or vgic_init sets it. */
  revision = 0;
  /** GICD_CTLR.EnableGrp1NS (dist->enabled). */
  enabled = false;
  /** GICR_CTLR.EnableLPIs per vCPU. */
  readonly lpisEnabled = new Set<SimVcpu>();

  constructor(readonly vm: SimVm) {
    if (vm.model.vgic.iidrSetAt === "create") this.revision = vm.model.vgic.iidrRevision;
  }

  private live(op: string): void {
    if (this.closed) fail(op, "EBADF");
    this.vm.live(op);
  }
  private get hasIts(): boolean {
    return this.vm.its.length > 0; // vgic_has_its
  }
  get nrIrqs(): number {
    return this.nrSpis + NR_PRIVATE_IRQS;
  }

  // ---- frames ------------------------------------------------------------------------------------

  /** vgic_v3_rd_region_size: a legacy region covers the VM's vCPUs. */
  private regionSize(r: RedistRegion): bigint {
    return BigInt(r.count || this.vm.vcpus.length) * REDIST_SIZE;
  }
  /** vgic_v3_rdist_overlap. */
  private redistOverlaps(base: bigint, size: bigint): boolean {
    return this.regions.some((r) => base + size > r.base && base < r.base + this.regionSize(r));
  }
  /** vgic_v3_check_base: no frame wraps (6.1+: nor passes the IPA size), DIST overlaps no region. */
  private baseValid(): boolean {
    if (this.distBase !== undefined && this.distBase + DIST_SIZE > M64) return false;
    for (const r of this.regions) {
      const size = this.regionSize(r);
      if (
        this.vm.model.vgic.addrCheck === "ioaddr"
          ? r.base + size > M64
          : checkFrame(this.vm, undefined, r.base, size)
      )
        return false;
    }
    return this.distBase === undefined || !this.redistOverlaps(this.distBase, DIST_SIZE);
  }

  /** vgic_register_redist_iodev: the vCPU's redistributor in the first region with a free slot. */
  registerRedist(vcpu: SimVcpu): ErrnoName | undefined {
    if (this.redists.has(vcpu)) return undefined;
    const region = this.regions.find((r) => !r.count || r.freeIndex < r.count);
    if (!region) return undefined; // placed when a region is set
    if (!this.baseValid()) return "EINVAL";
    this.redists.set(vcpu, { region, slot: region.freeIndex++ });
    return undefined;
  }

  /** vgic_v3_set_redist_base: the region (5.10 vgic_v3_insert_redist_region, 6.1+ _alloc_), then every vCPU's. */
  private setRedistBase(op: string, index: number, base: bigint, count: number): void {
    const legacy = count === 0;
    const size = BigInt(count || this.vm.vcpus.length) * REDIST_SIZE;
    const last = this.regions.at(-1);
    const ioaddr = this.vm.model.vgic.addrCheck === "ioaddr";
    if (ioaddr && legacy && last) fail(op, "EINVAL"); // single region already set
    if (base + size > M64) fail(op, "EINVAL"); // crosses the end of memory
    if (!last) {
      if (index !== 0) fail(op, "EINVAL");
    } else {
      if (legacy && last.count) fail(op, "EINVAL"); // legacy after discrete regions
      if (legacy) fail(op, "EEXIST");
      // 5.10: nothing after the legacy region; 6.1+ only refuses a legacy region after discrete ones
      if (index !== last.index + 1 || (ioaddr && !last.count)) fail(op, "EINVAL");
    }
    if (
      legacy &&
      this.distBase !== undefined &&
      base < this.distBase + DIST_SIZE &&
      this.distBase < base + size
    )
      fail(op, "EINVAL"); // vgic_dist_overlap
    if (this.redistOverlaps(base, size)) fail(op, "EINVAL");
    const e = checkFrame(this.vm, undefined, base, ioaddr ? 0n : size);
    if (e) fail(op, e);
    const region: RedistRegion = { index, base, count, freeIndex: 0 };
    this.regions.push(region);
    // vgic_register_all_redist_iodevs; on failure the region goes again
    for (const v of this.vm.vcpus) {
      const err = this.registerRedist(v);
      if (!err) continue;
      for (const [c, rd] of this.redists) if (rd.region === region) this.redists.delete(c);
      this.regions.pop();
      fail(op, err);
    }
  }

  /** kvm_vgic_addr (write). */
  private setAddr(op: string, type: bigint, value: bigint): void {
    switch (type) {
      case VGIC_ATTR.ADDR.DIST: {
        const e = checkFrame(this.vm, this.distBase, value, DIST_SIZE);
        if (e) fail(op, e);
        this.distBase = value;
        return;
      }
      case VGIC_ATTR.ADDR.REDIST:
        return this.setRedistBase(op, 0, value, 0);
      case VGIC_ATTR.ADDR.REDIST_REGION: {
        const count = Number(value >> 52n);
        const flags = Number((value >> 12n) & 0xfn);
        if (!count || flags) fail(op, "EINVAL");
        return this.setRedistBase(op, Number(value & 0xfffn), value & 0x000f_ffff_ffff_0000n, count);
      }
      default:
        fail(op, "ENXIO"); // -ENODEV, reported as -ENXIO by vgic_set_common_attr
    }
  }

  // ---- CTRL_INIT and the first run -----------------------------------------------------------------

  /** vgic_init: idempotent; the default interrupt count; the revision (5.10: 2; 6.1/6.12: the latest if 0). */
  init(): void {
    if (this.initialized) return;
    if (!this.nrSpis) this.nrSpis = DEFAULT_NR_IRQS - NR_PRIVATE_IRQS;
    if (!this.revision) this.revision = this.vm.model.vgic.iidrRevision;
    this.initialized = true;
  }

  /**
   * vgic_v3_map_resources at the VM's first run, in the kernel's order: a vCPU without a redistributor
   * (ENXIO), the distributor unset (ENXIO), overlapping or wrapping frames (EINVAL), no CTRL_INIT (EBUSY).
   */
  mapResources(): ErrnoName | undefined {
    if (this.mapped) return undefined;
    if (this.vm.vcpus.some((v) => !this.redists.has(v))) return "ENXIO";
    if (this.distBase === undefined) return "ENXIO";
    if (!this.baseValid()) return "EINVAL";
    if (!this.initialized) return "EBUSY";
    this.mapped = true;
    return undefined;
  }

  // ---- the device fd -----------------------------------------------------------------------------

  /** vgic_v3_has_attr. */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    this.live("KVM_HAS_DEVICE_ATTR");
    switch (group) {
      case VGIC_ATTR.ADDR.group:
        return ADDR_TYPES.includes(attr);
      case VGIC_ATTR.DIST_REGS.group:
      case VGIC_ATTR.REDIST_REGS.group: {
        // vgic_v3_has_attr_regs: aligned 32-bit accesses to a register region
        const { vcpu, offset } = this.parseAttr("KVM_HAS_DEVICE_ATTR", group, attr);
        const regions = group === VGIC_ATTR.DIST_REGS.group ? DIST_REGIONS : this.rdRegions();
        return vcpu !== undefined && regionAt(regions, offset, 4, this.nrIrqs) !== undefined;
      }
      case VGIC_ATTR.NR_IRQS.group:
        return true;
      case VGIC_ATTR.CTRL.group:
        return attr === VGIC_ATTR.CTRL.INIT || attr === VGIC_ATTR.CTRL.SAVE_PENDING_TABLES;
      default:
        return false; // CPU_SYSREGS and LEVEL_INFO are not modelled
    }
  }

  getDeviceAttr(group: number, attr: bigint, _size: number): Uint8Array {
    const op = "KVM_GET_DEVICE_ATTR";
    this.live(op);
    switch (group) {
      case VGIC_ATTR.ADDR.group:
        if (attr === VGIC_ATTR.ADDR.DIST) return attrU64(this.distBase ?? VGIC_ADDR_UNDEF);
        if (attr === VGIC_ATTR.ADDR.REDIST) return attrU64(this.regions[0]?.base ?? VGIC_ADDR_UNDEF);
        if (attr === VGIC_ATTR.ADDR.REDIST_REGION)
          // the kernel reads the region's index from the caller's buffer, which getDeviceAttr has no way to pass
          throw new RangeError("REDIST_REGION is read with its index in the buffer: not expressible here");
        return fail(op, "ENXIO");
      case VGIC_ATTR.NR_IRQS.group:
        return attrU32(this.nrIrqs); // vgic_get_common_attr: nr_spis + VGIC_NR_PRIVATE_IRQS
      case VGIC_ATTR.DIST_REGS.group:
      case VGIC_ATTR.REDIST_REGS.group:
        return attrU32(this.regsAccess(op, group, attr, undefined));
      default:
        return fail(
          op,
          "ENXIO",
          group === 6 || group === 7 ? "CPU_SYSREGS/LEVEL_INFO not modelled" : undefined,
        );
    }
  }

  setDeviceAttr(group: number, attr: bigint, data?: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    switch (group) {
      case VGIC_ATTR.ADDR.group:
        return this.setAddr(op, attr, readAttrU64(attrData(op, data, 8)));
      case VGIC_ATTR.NR_IRQS.group: {
        // vgic_set_common_attr: already set, or defaulted by vgic_init -> EBUSY
        const n = readAttrU32(attrData(op, data, 4));
        if (!nrIrqsValid(n)) fail(op, "EINVAL");
        if (this.nrSpis) fail(op, "EBUSY");
        this.nrSpis = n - NR_PRIVATE_IRQS;
        return;
      }
      case VGIC_ATTR.CTRL.group:
        if (attr === VGIC_ATTR.CTRL.INIT) return this.init();
        // vgic_v3_save_pending_tables: no LPI is ever pending in the simulator, so nothing to write
        if (attr === VGIC_ATTR.CTRL.SAVE_PENDING_TABLES) return;
        return fail(op, "ENXIO");
      case VGIC_ATTR.DIST_REGS.group:
      case VGIC_ATTR.REDIST_REGS.group:
        this.regsAccess(op, group, attr, readAttrU32(attrData(op, data, 4)));
        return;
      default:
        fail(op, "ENXIO", group === 6 || group === 7 ? "CPU_SYSREGS/LEVEL_INFO not modelled" : undefined);
    }
  }

  destroy(): void {
    this.closed = true;
  }

  // ---- register accesses -------------------------------------------------------------------------

  private rdRegions(): readonly Region[] {
    return this.vm.model.vgic.rdInvalidateRegs ? RD_REGIONS : RD_REGIONS_5_10;
  }

  /** vgic_v3_parse_attr: DIST_REGS go to vCPU 0, REDIST_REGS to the vCPU whose MPIDR is in bits 63:32. */
  private parseAttr(op: string, group: number, attr: bigint): { vcpu: SimVcpu; offset: number } {
    let vcpu: SimVcpu | undefined;
    if (group === VGIC_ATTR.DIST_REGS.group) vcpu = this.vm.vcpus[0];
    else {
      const aff = attr >> 32n;
      const mpidr = (((aff >> 24n) & 0xffn) << 32n) | (aff & 0xff_ffffn); // VGIC_TO_MPIDR
      vcpu = this.vm.vcpus.find((v) => (mpidrOf(v) & 0xff_00ff_ffffn) === mpidr); // kvm_mpidr_to_vcpu
    }
    if (!vcpu) fail(op, "EINVAL");
    return { vcpu: vcpu!, offset: Number(attr & 0xffff_ffffn) };
  }

  /**
   * vgic_v3_attr_regs_access: EBUSY before CTRL_INIT (7.2: GICD_IIDR and GICD_TYPER2 allowed, reg_allowed_pre_init),
   * then the access; `write` undefined reads. Offsets without a register read 0 and ignore writes (vgic_uaccess).
   */
  private regsAccess(op: string, group: number, attr: bigint, write: number | undefined): number {
    const { vcpu, offset } = this.parseAttr(op, group, attr);
    const dist = group === VGIC_ATTR.DIST_REGS.group;
    const preInit =
      this.vm.model.vgic.iidrSetAt === "create" &&
      dist &&
      (offset === GIC_REG.GICD_IIDR || offset === GIC_REG.GICD_TYPER2);
    if (!this.initialized && !preInit) fail(op, "EBUSY");
    const regions = dist ? DIST_REGIONS : this.rdRegions();
    if (!regionAt(regions, offset, 4, this.nrIrqs)) return 0;
    if (write === undefined) return dist ? this.distRead(offset) : this.redistRead(vcpu, offset, true);
    if (dist) this.distUserWrite(op, offset, write);
    else this.redistWrite(vcpu, offset, write);
    return 0;
  }

  /** vgic_mmio_read_v3_misc and the ID registers; per-interrupt state reads 0 (not modelled). */
  private distRead(offset: number): number {
    switch (offset) {
      case GIC_REG.GICD_CTLR:
        return gicdCtlr(this.enabled);
      case GIC_REG.GICD_TYPER:
        return gicdTyper(this.nrIrqs, this.hasIts);
      case GIC_REG.GICD_IIDR:
        return gicdIidr(this.revision);
      case GIC_REG.GICD_TYPER2:
        return 0; // nASSGIcap needs a GICv4.1 host with vSGIs; none is modelled
      case GIC_PIDR2:
        return GIC_PIDR2_VALUE;
      default:
        return 0;
    }
  }

  /**
   * vgic_mmio_uaccess_write_v3_misc: GICD_CTLR's enable; GICD_IIDR through gicdIidrWrite; GICD_TYPER2 must
   * equal its value (the simulator's hosts have no nASSGIcap); GICD_TYPER and the ID registers ignored.
   */
  private distUserWrite(op: string, offset: number, value: number): void {
    if (offset === GIC_REG.GICD_CTLR) this.enabled = (value & 0x2) !== 0;
    else if (offset === GIC_REG.GICD_IIDR) {
      const r = gicdIidrWrite(this.vm.model.vgic, this.revision, value);
      if ("errno" in r) fail(op, r.errno);
      else this.revision = r.revision;
    } else if (offset === GIC_REG.GICD_TYPER2 && value >>> 0 !== this.distRead(offset)) fail(op, "EINVAL");
  }

  /** vgic_mmio_read_v3r_ctlr / _iidr / _typer (uaccess: vgic_uaccess_read_v3r_typer on 5.10, no Last). */
  private redistRead(vcpu: SimVcpu, offset: number, uaccess: boolean): number {
    switch (offset) {
      case GIC_REG.GICR_CTLR:
        return gicrCtlr(this.vm.model.vgic, this.revision, this.lpisEnabled.has(vcpu));
      case GIC_REG.GICR_IIDR:
        return GICR_IIDR;
      case GIC_REG.GICR_TYPER:
      case GICR_TYPER_HI: {
        const last = (!uaccess || this.vm.model.vgic.uaccessTyperLast) && this.rdistIsLast(vcpu);
        const typer = gicrTyper(mpidrOf(vcpu), vcpu.id, this.hasIts, last);
        return Number(offset === GIC_REG.GICR_TYPER ? typer & 0xffff_ffffn : typer >> 32n);
      }
      case GIC_PIDR2:
        return GIC_PIDR2_VALUE;
      default:
        return 0;
    }
  }

  /** vgic_mmio_write_v3r_ctlr (userspace and guest alike): EnableLPIs, only with an ITS. Others ignored. */
  private redistWrite(vcpu: SimVcpu, offset: number, value: number): void {
    if (offset !== GIC_REG.GICR_CTLR || !this.hasIts) return;
    if (value & 1) this.lpisEnabled.add(vcpu);
    else this.lpisEnabled.delete(vcpu);
  }

  /**
   * vgic_mmio_vcpu_rdist_is_last: the last used slot of its region, unless the region is full and another
   * region with a redistributor in use starts right at its end.
   */
  private rdistIsLast(vcpu: SimVcpu): boolean {
    const rd = this.redists.get(vcpu);
    if (!rd) return false;
    const { region, slot } = rd;
    if (slot < region.freeIndex - 1) return false;
    if (region.count && slot === region.count - 1) {
      const end = region.base + BigInt(region.count) * REDIST_SIZE;
      if (this.regions.some((r) => r.base === end && r.freeIndex > 0)) return false;
    }
    return true;
  }

  // ---- the guest's MMIO ----------------------------------------------------------------------------

  /**
   * A guest access to the distributor or a redistributor frame, once the first run mapped them: the value a
   * load reads, 0n for a store, undefined when the address is in no frame. Stores change GICD_CTLR's enable
   * and GICR_CTLR.EnableLPIs; the other registers' stores are ignored (interrupt state is not modelled).
   * Sizes a register does not take read 0 and ignore stores (dispatch_mmio_read/write without a region).
   */
  guestAccess(address: bigint, len: number, store: bigint | undefined): bigint | undefined {
    if (!this.mapped) return undefined;
    if (this.distBase !== undefined && address >= this.distBase && address < this.distBase + DIST_SIZE) {
      const offset = Number(address - this.distBase);
      if (!regionAt(DIST_REGIONS, offset, len, this.nrIrqs)) return 0n;
      if (store === undefined) return BigInt(this.distRead(offset)); // no 64-bit register is modelled here
      if (offset === GIC_REG.GICD_CTLR) this.enabled = (store & 0x2n) !== 0n; // vgic_mmio_write_v3_misc
      return 0n;
    }
    for (const [vcpu, rd] of this.redists) {
      const base = rd.region.base + BigInt(rd.slot) * REDIST_SIZE;
      if (address < base || address >= base + REDIST_SIZE) continue;
      const offset = Number(address - base);
      if (!regionAt(this.rdRegions(), offset, len, this.nrIrqs)) return 0n;
      if (store !== undefined) {
        this.redistWrite(vcpu, offset, Number(store & 0xffff_ffffn));
        return 0n;
      }
      const lo = BigInt(this.redistRead(vcpu, offset, false));
      return len === 8 ? lo | (BigInt(this.redistRead(vcpu, offset + 4, false)) << 32n) : lo;
    }
    return undefined;
  }
}

/**
 * A frame of `size` bytes at `addr` (GRP_ADDR, the ITS's ADDR): 5.10 vgic_check_ioaddr looks at the base only
 * (E2BIG beyond the IPA space, EINVAL unaligned, EEXIST set); 6.1+ vgic_check_iorange (EEXIST set, EINVAL
 * unaligned or wrapping, E2BIG if the frame ends beyond the IPA size).
 */
export function checkFrame(
  vm: SimVm,
  current: bigint | undefined,
  addr: bigint,
  size: bigint,
): ErrnoName | undefined {
  const ipaSize = 1n << BigInt(vm.ipaBits);
  if (vm.model.vgic.addrCheck === "ioaddr") {
    if (addr >= ipaSize) return "E2BIG";
    if (addr % SZ_64K) return "EINVAL";
    return current === undefined ? undefined : "EEXIST";
  }
  if (current !== undefined) return "EEXIST";
  if (addr % SZ_64K || size % SZ_64K || addr + size > M64) return "EINVAL";
  return addr >= ipaSize || addr + size > ipaSize ? "E2BIG" : undefined;
}

/** The vCPU's MPIDR_EL1 (reset_mpidr at KVM_ARM_VCPU_INIT; 0 before). */
function mpidrOf(vcpu: SimVcpu): bigint {
  const d = descByName(vcpu.vm.model, "MPIDR_EL1");
  return d ? ((vcpu.state.get(d.id) as bigint | undefined) ?? 0n) : 0n;
}

/**
 * kvm_vgic_finalize_idregs (7.2, "forced", at KVM_CREATE_DEVICE and the first run): ID_AA64PFR0_EL1.GIC = 1,
 * ID_PFR1_EL1.GIC = 1 with 32-bit EL0, ID_AA64PFR2_EL1.GCIE = 0, in the VM's ID registers once they exist;
 * 6.18 ("setAtCreate") sets both GIC fields at KVM_CREATE_DEVICE only; earlier kernels keep them.
 */
export function finalizeGicIdRegs(vm: SimVm, at: "create" | "first-run"): void {
  const when = vm.model.vgic.idFieldsWithV3;
  if (when === "kept" || (when === "setAtCreate" && at === "first-run")) return;
  const has32 = cpuHas32bitEl0(vm.cpu);
  const forced = [
    {
      reg: "ID_AA64PFR0_EL1",
      field: "GIC",
      value: gicIdFieldWithV3(vm.model.vgic, "ID_AA64PFR0_EL1.GIC", 0, has32),
    },
    { reg: "ID_PFR1_EL1", field: "GIC", value: gicIdFieldWithV3(vm.model.vgic, "ID_PFR1_EL1.GIC", 0, has32) },
    { reg: "ID_AA64PFR2_EL1", field: "GCIE", value: 0 },
  ];
  for (const { reg, field, value } of forced) {
    const v = vm.idRegs.get(reg);
    if (v !== undefined && hasField(reg, field)) vm.idRegs.set(reg, setField(v, reg, field, value));
  }
  vm.listEpoch++;
}

/** The attribute's buffer, which must hold `size` bytes (get_user/put_user: EFAULT). */
export function attrData(op: string, data: Uint8Array | undefined, size: number): Uint8Array {
  return data && data.length >= size ? data : fail(op, "EFAULT");
}
