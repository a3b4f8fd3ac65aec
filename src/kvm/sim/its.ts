/**
 * The simulated ITS (arch/arm64/kvm/vgic/vgic-its.c): its device fd (vgic_its_set_attr / _get_attr /
 * _has_attr, vgic_its_ctrl, vgic_its_attr_regs_access) and the guest's MMIO to its frame. The ITS's tables
 * (devices, collections, translations) are not modelled: no MSI is ever translated, so SAVE_TABLES and
 * RESTORE_TABLES have nothing to write or read.
 */
import type { KvmDevice } from "../types.js";
import { attrU64, readAttrU64 } from "../machine.js";
import { GIC_REG, ITS_ATTR, KVM_DEVICE_TYPE, VGIC_V3_SIZES } from "../uapi.js";
import { GITS_CTLR_RESET, GITS_TYPER, gitsIidr, gitsIidrWrite } from "../rules/vgic.js";
import { fail } from "./common.js";
import { VGIC_ADDR_UNDEF, attrData, checkFrame } from "./vgic.js";
import type { SimVm } from "./vm.js";

const ITS_SIZE = BigInt(VGIC_V3_SIZES.ITS);
const GITS_CWRITER = 0x88;
const GITS_CREADR = 0x90;
const GITS_PIDR4 = 0xffd0;
/** vgic_mmio_read_its_idregs: GITS_PIDR0..2, PIDR4, CIDR0..3 (the others read 0). */
const GITS_IDREGS: ReadonlyMap<number, number> = new Map([
  [0xffe0, 0x92],
  [0xffe4, 0xb4],
  [0xffe8, 0x3b],
  [0xffd0, 0x40],
  [0xfff0, 0x0d],
  [0xfff4, 0xf0],
  [0xfff8, 0x05],
  [0xfffc, 0xb1],
]);
/** its_registers: offset, length, and whether it is 64 bits wide (VGIC_ACCESS_64bit). */
const ITS_REGIONS = [
  { offset: GIC_REG.GITS_CTLR, len: 4, wide: false },
  { offset: GIC_REG.GITS_IIDR, len: 4, wide: false },
  { offset: GIC_REG.GITS_TYPER, len: 8, wide: true },
  { offset: GIC_REG.GITS_CBASER, len: 8, wide: true },
  { offset: GITS_CWRITER, len: 8, wide: true },
  { offset: GITS_CREADR, len: 8, wide: true },
  { offset: GIC_REG.GITS_BASER0, len: 0x40, wide: true },
  { offset: GITS_PIDR4, len: 0x30, wide: false },
] as const;
const regionOf = (offset: number) => ITS_REGIONS.find((r) => offset >= r.offset && offset < r.offset + r.len);

/**
 * vgic_its_create: INITIAL_BASER_VALUE with the v0 ABI's entry sizes (vgic_its_commit_v0): the device table
 * (Type 1) in BASER0, the collection table (Type 4) in BASER1; BASER2..7 are RAZ/WI.
 */
const BASER_RESET = [0x1907_0000_0000_0600n, 0x1c07_0000_0000_0600n];
/** GITS_BASER_RO_MASK: Type (58:56) and Entry_Size (52:48). */
const BASER_RO_MASK = (0x7n << 56n) | (0x1fn << 48n);
const BASER_VALID = 1n << 63n;
const BASER_INDIRECT = 1n << 62n;
const BASER_PAGE_SIZE = 0x3n << 8n;
const BASER_PAGE_64K = 0x2n << 8n;
const M32 = 0xffff_ffffn;

/** vgic_its_has_attr's GRP_CTRL attributes. */
const ITS_CTRLS: readonly bigint[] = [
  ITS_ATTR.CTRL.INIT,
  ITS_ATTR.CTRL.RESET,
  ITS_ATTR.CTRL.SAVE_TABLES,
  ITS_ATTR.CTRL.RESTORE_TABLES,
];

/** An ITS device fd and its state (struct vgic_its). */
export class SimIts implements KvmDevice {
  readonly type = KVM_DEVICE_TYPE.ARM_VGIC_ITS;
  private closed = false;
  base: bigint | undefined;
  /** The table ABI revision GITS_IIDR reports (vgic_its_create: the newest). */
  abi: number;
  enabled = false;
  baser = [...BASER_RESET];
  cbaser = 0n;
  creadr = 0n;
  cwriter = 0n;

  constructor(readonly vm: SimVm) {
    this.abi = vm.model.vgic.itsAbis.at(-1)!;
  }

  private live(op: string): void {
    if (this.closed) fail(op, "EBADF");
    this.vm.live(op);
  }

  /** vgic_its_has_attr. */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    if (group === ITS_ATTR.ADDR.group) return attr === ITS_ATTR.ADDR.ITS;
    if (group === ITS_ATTR.CTRL.group) return ITS_CTRLS.includes(attr);
    if (group === ITS_ATTR.REGS.group) return this.regOffset(op, attr) !== undefined; // vgic_its_has_attr_regs
    return false;
  }

  getDeviceAttr(group: number, attr: bigint, _size: number): Uint8Array {
    const op = "KVM_GET_DEVICE_ATTR";
    this.live(op);
    if (group === ITS_ATTR.ADDR.group) {
      if (attr !== ITS_ATTR.ADDR.ITS) fail(op, "ENODEV");
      return attrU64(this.base ?? VGIC_ADDR_UNDEF);
    }
    if (group === ITS_ATTR.REGS.group) return attrU64(this.read(this.accessibleOffset(op, attr)));
    return fail(op, "ENXIO");
  }

  setDeviceAttr(group: number, attr: bigint, data?: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    if (group === ITS_ATTR.ADDR.group) {
      if (attr !== ITS_ATTR.ADDR.ITS) fail(op, "ENODEV");
      const addr = readAttrU64(attrData(op, data, 8));
      // vgic_check_ioaddr / vgic_check_iorange(SZ_64K, KVM_VGIC_V3_ITS_SIZE)
      const e = checkFrame(this.vm, this.base, addr, ITS_SIZE);
      if (e) fail(op, e);
      this.base = addr;
      return;
    }
    if (group === ITS_ATTR.CTRL.group) return this.ctrl(op, attr);
    if (group === ITS_ATTR.REGS.group) {
      const offset = this.accessibleOffset(op, attr);
      return this.write(op, offset, readAttrU64(attrData(op, data, 8)), true);
    }
    fail(op, "ENXIO");
  }

  destroy(): void {
    this.closed = true;
  }

  /** vgic_its_ctrl: INIT does nothing, RESET is vgic_its_reset, unknown attributes per the generation. */
  private ctrl(op: string, attr: bigint): void {
    switch (attr) {
      case ITS_ATTR.CTRL.INIT:
      case ITS_ATTR.CTRL.SAVE_TABLES: // no table entries to write (not modelled)
      case ITS_ATTR.CTRL.RESTORE_TABLES:
        return;
      case ITS_ATTR.CTRL.RESET:
        // vgic_its_reset: BASERn and CBASER lose Valid, the queue pointers go to 0, the ITS is disabled
        this.baser = this.baser.map((b) => b & ~BASER_VALID);
        this.cbaser &= ~BASER_VALID;
        this.creadr = 0n;
        this.cwriter = 0n;
        this.enabled = false;
        return;
      default:
        if (this.vm.model.vgic.itsUnknownCtrl === "ENXIO") fail(op, "ENXIO");
    }
  }

  /** The access width's alignment (32-bit below GITS_TYPER and from GITS_PIDR4, else 64-bit): EINVAL. */
  private regOffset(op: string, attr: bigint): number | undefined {
    const offset = Number(attr & 0xffff_ffffn);
    const align = offset < GIC_REG.GITS_TYPER || offset >= GITS_PIDR4 ? 3 : 7;
    if (attr > 0xffff_ffffn || offset & align) fail(op, "EINVAL");
    return regionOf(offset) ? offset : undefined;
  }

  /** vgic_its_attr_regs_access: alignment (EINVAL), the ITS frame unset (ENXIO), no register (ENXIO). */
  private accessibleOffset(op: string, attr: bigint): number {
    const offset = this.regOffset(op, attr);
    if (this.base === undefined || offset === undefined) fail(op, "ENXIO");
    return offset!;
  }

  /** The register at a register's offset (a 64-bit one read whole). */
  private read(offset: number): bigint {
    if (offset === GIC_REG.GITS_CTLR)
      // vgic_mmio_read_its_ctlr: Quiescent (GITS_CTLR_RESET) while the queue is empty, Enabled
      return BigInt(((this.creadr === this.cwriter ? GITS_CTLR_RESET : 0) | (this.enabled ? 1 : 0)) >>> 0);
    if (offset === GIC_REG.GITS_IIDR) return BigInt(gitsIidr(this.abi));
    if (offset === GIC_REG.GITS_TYPER) return GITS_TYPER;
    if (offset === GIC_REG.GITS_CBASER) return this.cbaser;
    if (offset === GITS_CWRITER) return this.cwriter;
    if (offset === GITS_CREADR) return this.creadr;
    if (offset >= GIC_REG.GITS_BASER0 && offset < GIC_REG.GITS_BASER0 + 0x40)
      return this.baser[(offset - GIC_REG.GITS_BASER0) / 8] ?? 0n; // BASER2..7 RAZ
    return BigInt(GITS_IDREGS.get(offset) ?? 0);
  }

  /**
   * A register write from userspace (uaccess) or the guest: GITS_IIDR selects the table ABI
   * (vgic_mmio_uaccess_write_its_iidr; the guest's writes are ignored), GITS_CTLR enables only with valid
   * device and collection tables and command queue (vgic_mmio_write_its_ctlr), BASERn keep Type and
   * Entry_Size, use 64 KiB pages and the collection table is never indirect (vgic_mmio_write_its_baser; the
   * shareability and cacheability fields are kept as written), userspace's CREADR: EBUSY while enabled,
   * EINVAL beyond the queue (vgic_mmio_uaccess_write_its_creadr). GITS_TYPER and the ID registers ignore writes.
   */
  private write(op: string, offset: number, value: bigint, uaccess: boolean): void {
    if (offset === GIC_REG.GITS_IIDR) {
      if (!uaccess) return;
      const r = gitsIidrWrite(this.vm.model.vgic, Number(value & M32));
      if ("errno" in r) fail(op, r.errno);
      else this.abi = r.abi;
    } else if (offset === GIC_REG.GITS_CTLR) {
      const tablesValid = [this.baser[0]!, this.baser[1]!, this.cbaser].every((b) => b & BASER_VALID);
      if (!(value & 1n) || tablesValid) this.enabled = (value & 1n) !== 0n;
    } else if (offset === GIC_REG.GITS_CBASER) {
      if (!this.enabled) this.cbaser = value;
    } else if (offset === GITS_CWRITER) this.cwriter = value & 0xf_ffe0n;
    else if (offset === GITS_CREADR) {
      if (!uaccess) return; // read-only for the guest
      if (this.enabled) fail(op, "EBUSY");
      const queueBytes = ((this.cbaser & 0xffn) + 1n) * 4096n;
      if ((value & 0xf_ffe0n) >= queueBytes) fail(op, "EINVAL");
      this.creadr = value & 0xf_ffe0n;
    } else if (offset >= GIC_REG.GITS_BASER0 && offset < GIC_REG.GITS_BASER0 + 0x10 && !this.enabled) {
      const n = (offset - GIC_REG.GITS_BASER0) / 8;
      let v = (value & ~BASER_RO_MASK) | (this.baser[n]! & BASER_RO_MASK);
      v = (v & ~BASER_PAGE_SIZE) | BASER_PAGE_64K;
      if (n === 1) v &= ~BASER_INDIRECT;
      this.baser[n] = v;
    }
  }

  /** A guest access to the ITS frame, or undefined outside it; see SimVgic.guestAccess. */
  guestAccess(address: bigint, len: number, store: bigint | undefined): bigint | undefined {
    if (this.base === undefined || address < this.base || address >= this.base + ITS_SIZE) return undefined;
    const offset = Number(address - this.base);
    const r = regionOf(offset);
    // its_registers take 32-bit accesses everywhere and 64-bit ones on the 64-bit registers
    if (!r || offset % len !== 0 || (len === 8 && !r.wide)) return 0n;
    const whole = offset - (offset % (r.wide ? 8 : 4));
    if (store !== undefined) {
      if (len === 8 || !r.wide) this.write("guest MMIO", whole, store, false);
      return 0n; // a 32-bit half of a 64-bit register: ignored (not needed by any guest here)
    }
    const v = this.read(whole);
    return len === 8 || !r.wide ? v : (v >> (offset === whole ? 0n : 32n)) & M32;
  }
}
