/** The simulated VM fd: arm.c kvm_arch_vm_ioctl, hypercalls.c bitmaps and SMCCC filter, mmu.c memslots. */
import { bitmapAccepted } from "../rules/firmware.js";
import { formatId, malformedReason } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { KvmError } from "../errors.js";
import type { KvmDevice, KvmVm, MemoryRegion, VcpuInit } from "../types.js";
import { ARM_TARGETS, FW_REGS, KVM_DEVICE_TYPE, featureIdRangeIndex } from "../uapi.js";
import { regSizeBytes, regValueToBytes } from "../values.js";
import { CAPS_BY_NUMBER, FILTER, fail } from "./common.js";
import type { CpuModel } from "./cpus.js";
import type { GenerationModel, HypercallServiceModel } from "../kernels/model.js";
import { cpuHas32bitEl0 } from "./idregs.js";
import {
  REG_SCOPE_VM_FLAG,
  guestabiCapName,
  hasScopeFlag,
  identityRegId,
  identityService,
  stripScopeFlag,
} from "./proposals.js";
import type { ProposalState } from "./proposals.js";
import type { SimSystem } from "./system.js";
import { kvmTargetCpu } from "../rules/vcpu-init.js";
import { SimIts } from "./its.js";
import { SimVcpu } from "./vcpu.js";
import { SimVgic, finalizeGicIdRegs } from "./vgic.js";
import { writableMaskDescs } from "./visibility.js";

/**
 * kvm_vm_ioctl_get_reg_writable_masks: rd->val of every feature-ID-range ID register descriptor. The
 * generation's and host CPU's alone, so remembered for both (writableMasks).
 */
function readWritableMasks(model: GenerationModel, cpu: CpuModel): bigint[] {
  const masks = new Array<bigint>(192).fill(0n);
  for (const d of writableMaskDescs(model, cpuHas32bitEl0(cpu))) masks[featureIdRangeIndex(d)] = d.valBig;
  return masks;
}
const writableMasks = new WeakMap<GenerationModel, WeakMap<CpuModel, readonly bigint[]>>();

/** Registers whose writes change them for the whole VM, as proposal (b) flags them. */
export type Scope = "vm" | "vcpu";

export class SimVm implements KvmVm {
  readonly model: GenerationModel;
  readonly cpu: CpuModel;
  destroyed = false;
  ranOnce = false;
  vcpus: SimVcpu[] = [];
  private readonly vcpuIds = new Set<number>();
  /** kvm->arch.psci_version: 0 until userspace sets it (kvm_psci_version then reports KVM_ARM_PSCI_LATEST). */
  psciVersion = 0n;
  bitmaps = new Map<bigint, bigint>();
  /** Proposal (a): each service's revision (HYPERCALL_SERVICE number -> revision; 0 = absent). */
  identity = new Map<number, bigint>();
  readonly enabled: ProposalState = { identity: false, scopeFlags: false, vmRegs: false };
  /** VM-wide ID register values (6.7+: kvm->arch.id_regs), set at the first vCPU reset. */
  idRegs = new Map<string, bigint>();
  idRegsInitialized = false;
  /** Bumped on every write that can change a visibility function's answer: vCPUs look up their lists again. */
  listEpoch = 0;
  /** 5.10/6.1 kvm->arch.pfr0_csv2/csv3 written by userspace. */
  pfr0Csv = new Map<string, number>();
  features: number[] | undefined;
  writableImpId = false;
  mte = false;
  slots = new Map<number, { base: bigint; mem: Uint8Array; flags: number }>();
  /** The simulated physical counter (kvm_phys_timer_read), and the VM's counter offsets. */
  clock = 0x1000n;
  voffset = 0n;
  poffset = 0n;
  /** KVM_ARCH_FLAG_VM_COUNTER_OFFSET: KVM_ARM_SET_COUNTER_OFFSET was called. */
  counterOffsetSet = false;
  /** The in-kernel vGICv3 (irqchip_in_kernel) and the ITSs (vgic_has_its). */
  vgic: SimVgic | undefined;
  its: SimIts[] = [];
  /** kvm->arch.pmcr_n / nr_pmu_counters (6.7+): the vCPUs' PMCR_EL0.N, the host's counters until set. */
  pmuNrCounters: number;
  /** kvm->arch.smccc_filter: [start, end] ranges with their action. */
  filter: { start: number; end: number; action: number }[] = [];

  constructor(
    readonly system: SimSystem,
    readonly ipaBits: number,
  ) {
    this.model = system.model;
    this.cpu = system.cpu;
    this.pmuNrCounters = system.cpu.pmuCounters;
    this.resetHypercalls();
  }
  live(op: string) {
    if (this.destroyed) fail(op, "EBADF");
  }

  // ---- hypercall services: bitmaps and identities ------------------------------------------------

  private service(s: number): HypercallServiceModel | undefined {
    return this.model.services.find((x) => x.service === s);
  }

  /** The revision a service has when nothing set it (proposals (a) and (c) change the defaults). */
  private defaultRevision(svc: HypercallServiceModel): bigint {
    const newest = svc.revisions.at(-1)!;
    if (this.enabled.identity) return svc.mandatory ? svc.revisions[0]! : 0n; // opt-in: name it to get it
    if (!this.enabled.vmRegs) return newest;
    const n = this.model.newHere;
    if (n.services.includes(svc.service)) return svc.bits.length ? newest : 0n; // gated by its bitmap bits
    const older = svc.revisions.filter(
      (r) => !n.revisions.some((x) => x.service === svc.service && x.revision === r),
    );
    return older.at(-1) ?? 0n;
  }

  /** kvm_arm_init_hypercalls, with the proposals' defaults. */
  private resetHypercalls(): void {
    this.identity.clear();
    for (const svc of this.model.services) this.identity.set(svc.service, this.defaultRevision(svc));
    for (const b of this.model.bitmaps) {
      let reset = b.reset;
      for (const svc of this.model.services)
        for (const bit of svc.bits) {
          if (bit.id !== b.id) continue;
          const off =
            (this.enabled.identity && !this.bitAllowed(svc, bit.since)) ||
            (this.enabled.vmRegs &&
              !this.enabled.identity &&
              this.model.newHere.services.includes(svc.service));
          if (off) reset &= ~(1n << BigInt(bit.bit));
        }
      this.bitmaps.set(b.id, reset);
    }
  }

  private bitAllowed(svc: HypercallServiceModel, since: bigint): boolean {
    const rev = this.identity.get(svc.service) ?? 0n;
    return rev !== 0n && rev >= since;
  }

  /** The revision the guest sees (hypercalls.ts gates calls by it). */
  revision(service: number): bigint {
    const svc = this.service(service);
    if (!svc) return 0n;
    return this.identity.get(service) ?? 0n;
  }

  /** Bits of a bitmap register the services' identities allow (all of them without proposal (a)). */
  private identityMask(id: bigint): bigint {
    const b = this.model.bitmaps.find((x) => x.id === id);
    if (!b) return 0n;
    if (!this.enabled.identity) return b.features;
    let mask = 0n;
    for (const svc of this.model.services)
      for (const bit of svc.bits)
        if (bit.id === id && this.bitAllowed(svc, bit.since)) mask |= 1n << BigInt(bit.bit);
    return mask;
  }

  /** kvm_arm_set_fw_reg_bmap: EINVAL for a bit the kernel does not know, then EBUSY after the first run. */
  setBitmap(op: string, id: bigint, v: bigint, path: Scope): void {
    const b = this.model.bitmaps.find((x) => x.id === id)!;
    if (!bitmapAccepted(Number(v & 0xffffffffn), Number(v >> 32n), Number(b.features))) fail(op, "EINVAL");
    if (v & ~this.identityMask(id)) fail(op, "EINVAL"); // proposal (a): select within the identities
    const cur = this.bitmaps.get(id) ?? 0n;
    if (this.ranOnce && v !== cur) fail(op, "EBUSY");
    if (path === "vm" && this.vcpus.length && v !== cur) fail(op, "EBUSY"); // proposal (c)
    this.bitmaps.set(id, v);
  }

  /**
   * Proposal (a) SET of an identity register: 0 (withdraw; not for a mandatory service) or an implemented
   * revision, else EINVAL; after the first run a change is EBUSY (as kvm_arm_set_fw_reg_bmap). Naming a
   * revision resets the service's bitmap bits to that revision's defaults. With the cap off, or for a
   * service the kernel does not know, the range is RAZ/WI: only 0 is meaningful, so only 0 is accepted
   * once the cap is on.
   */
  setIdentity(op: string, service: number, v: bigint, path: Scope): void {
    const svc = this.service(service);
    if (!this.enabled.identity) return; // WI
    if (!svc) {
      if (v !== 0n) fail(op, "EINVAL");
      return;
    }
    if (v === 0n ? svc.mandatory : !svc.revisions.includes(v)) fail(op, "EINVAL");
    const cur = this.identity.get(service) ?? 0n;
    if (v === cur) return;
    if (this.ranOnce) fail(op, "EBUSY");
    if (path === "vm" && this.vcpus.length) fail(op, "EBUSY");
    this.identity.set(service, v);
    for (const bit of svc.bits) {
      const cur = this.bitmaps.get(bit.id) ?? 0n;
      const m = 1n << BigInt(bit.bit);
      this.bitmaps.set(bit.id, bit.defaultOn && this.bitAllowed(svc, bit.since) ? cur | m : cur & ~m);
    }
  }

  getIdentity(service: number): bigint {
    if (!this.enabled.identity || !this.service(service)) return 0n; // RAZ
    return this.identity.get(service) ?? 0n;
  }

  /** The identity registers listed when proposal (a) is on: every service of the generation. */
  identityRegIds(): RegId[] {
    return this.enabled.identity ? this.model.services.map((s) => identityRegId(s.service)) : [];
  }

  /** kvm_smccc_filter_get_action: HANDLE (0) when no filter is configured or no range matches. */
  filterAction(fid: number): number {
    if (!this.filter.length) return FILTER.HANDLE;
    return this.filter.find((r) => fid >= r.start && fid <= r.end)?.action ?? FILTER.HANDLE;
  }

  // ---- VM ioctls -------------------------------------------------------------------------------

  checkExtension(cap: number): number {
    this.live(`KVM_CHECK_EXTENSION ${cap}`);
    return this.system.capValue(cap, "vm", this.its.length > 0);
  }
  enableCap(cap: number, args: readonly bigint[] = [], flags = 0): void {
    const op = `KVM_ENABLE_CAP ${cap}`;
    this.live(op);
    if (args.length > 4) throw new RangeError("at most 4 args");
    // kvm_vm_ioctl_enable_cap (arm.c)
    if (flags !== 0) fail(op, "EINVAL");
    const own = guestabiCapName(cap);
    if (own) {
      // guestabi's proposals: offered by a kernel built with them, enabled before any vCPU exists
      if (!this.system.proposals || this.vcpus.length || args.some((a) => a !== 0n)) fail(op, "EINVAL");
      if (own === "HYPERCALL_IDENTITY") this.enabled.identity = true;
      if (own === "REG_SCOPE_FLAGS") this.enabled.scopeFlags = true;
      if (own === "VM_SCOPED_REGS") this.enabled.vmRegs = true;
      if (own !== "REG_SCOPE_FLAGS") this.resetHypercalls();
      return;
    }
    const name = CAPS_BY_NUMBER.get(cap)?.name;
    if (!name || !this.system.capValue(cap, "vm")) fail(op, "EINVAL");
    switch (name) {
      case "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS":
        if (!this.model.writableImpIdRegs || this.vcpus.length) fail(op, "EINVAL"); // !kvm->created_vcpus
        this.writableImpId = true;
        return;
      case "KVM_CAP_ARM_MTE":
        if (this.vcpus.length) fail(op, "EINVAL");
        this.mte = true;
        return;
      case "KVM_CAP_ARM_NISV_TO_USER":
      case "KVM_CAP_ARM_SYSTEM_SUSPEND":
      case "KVM_CAP_ARM_SEA_TO_USER":
        return; // set_bit of a VM flag (the exits they change are not modelled)
      default:
        fail(op, "EINVAL");
    }
  }
  /** kvm_vm_has_attr (6.4+): KVM_ARM_VM_SMCCC_CTRL / KVM_ARM_VM_SMCCC_FILTER only; earlier kernels EINVAL. */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    if (!this.model.smcccFilter) fail(op, "EINVAL");
    return group === 0 && attr === 0n;
  }
  /** kvm_arch_vm_ioctl has no KVM_GET_DEVICE_ATTR case: EINVAL on every generation. */
  getDeviceAttr(_group: number, _attr: bigint, _size: number): Uint8Array {
    this.live("KVM_GET_DEVICE_ATTR");
    return fail("KVM_GET_DEVICE_ATTR", "EINVAL");
  }
  /** kvm_vm_set_attr -> kvm_smccc_set_filter (6.4+). */
  setDeviceAttr(group: number, attr: bigint, data: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    if (!this.model.smcccFilter) fail(op, "EINVAL");
    if (group !== 0 || attr !== 0n) fail(op, "ENXIO");
    if (data.length !== 24) throw new RangeError("struct kvm_smccc_filter is 24 bytes");
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const start = v.getUint32(0, true);
    const nr = v.getUint32(4, true);
    const action = v.getUint8(8);
    if (data.subarray(9, 24).some((b) => b !== 0)) fail(op, "EINVAL"); // pad must be zero
    const end = (start + nr - 1) >>> 0;
    if ((this.model.smcccFilterRejectsEmpty && nr === 0) || end < start || action > FILTER.FWD_TO_USER)
      fail(op, "EINVAL");
    if (this.ranOnce) fail(op, "EBUSY");
    if (!this.filter.length)
      // kvm_smccc_filter_insert_reserved: the SMC32 and SMC64 Arm architecture ranges stay with KVM
      this.filter.push(
        { start: 0x80000000, end: 0x8000ffff, action: FILTER.HANDLE },
        { start: 0xc0000000, end: 0xc000ffff, action: FILTER.HANDLE },
      );
    if (this.filter.some((r) => start <= r.end && r.start <= end)) fail(op, "EEXIST"); // mtree_insert_range
    this.filter.push({ start, end, action });
  }
  getRegWritableMasks(range = 0): bigint[] {
    const op = "KVM_ARM_GET_REG_WRITABLE_MASKS";
    this.live(op);
    if (!this.model.writableMasks || range !== 0) fail(op, "EINVAL");
    let byCpu = writableMasks.get(this.model);
    if (!byCpu) writableMasks.set(this.model, (byCpu = new WeakMap()));
    let masks = byCpu.get(this.cpu);
    if (!masks) byCpu.set(this.cpu, (masks = readWritableMasks(this.model, this.cpu)));
    return masks.slice();
  }
  setUserMemoryRegion(r: MemoryRegion): void {
    const op = "KVM_SET_USER_MEMORY_REGION";
    this.live(op);
    if (r.size === 0) {
      this.slots.delete(r.slot);
      return;
    }
    if (r.size % 4096 !== 0 || r.guestPhysAddr % 4096n !== 0n) fail(op, "EINVAL");
    if (r.guestPhysAddr + BigInt(r.size) > 1n << BigInt(this.ipaBits)) fail(op, "EINVAL");
    for (const [n, s] of this.slots)
      if (
        n !== r.slot &&
        r.guestPhysAddr < s.base + BigInt(s.mem.length) &&
        s.base < r.guestPhysAddr + BigInt(r.size)
      )
        fail(op, "EEXIST");
    this.slots.set(r.slot, { base: r.guestPhysAddr, mem: new Uint8Array(r.size), flags: r.flags ?? 0 });
  }
  private slot(n: number) {
    const s = this.slots.get(n);
    if (!s) throw new RangeError(`no memory slot ${n}`);
    return s;
  }
  writeGuestMemory(slot: number, offset: number, data: Uint8Array): void {
    const s = this.slot(slot);
    if (offset < 0 || offset + data.length > s.mem.length) throw new RangeError("outside the slot");
    s.mem.set(data, offset);
  }
  readGuestMemory(slot: number, offset: number, length: number): Uint8Array {
    const s = this.slot(slot);
    if (offset < 0 || offset + length > s.mem.length) throw new RangeError("outside the slot");
    return s.mem.slice(offset, offset + length);
  }
  /** The memory at a guest-physical address, or undefined (MMIO). */
  ram(gpa: bigint, len: number): { mem: Uint8Array; off: number } | undefined {
    for (const s of this.slots.values())
      if (gpa >= s.base && gpa + BigInt(len) <= s.base + BigInt(s.mem.length))
        return { mem: s.mem, off: Number(gpa - s.base) };
    return undefined;
  }
  /** KVM_ARM_PREFERRED_TARGET: kvm_target_cpu() up to 6.1, GENERIC_V8 from 6.12 (arm.c). */
  preferredTarget(): VcpuInit {
    this.live("KVM_ARM_PREFERRED_TARGET");
    const target = this.model.vcpuTarget === "exact" ? kvmTargetCpu(this.cpu.midr) : ARM_TARGETS.GENERIC_V8;
    return { target, features: [] };
  }
  /**
   * KVM_CREATE_DEVICE: the vGICv3 (kvm_vgic_create: EEXIST for a second one, EBUSY once a vCPU ran; 7.2
   * kvm_vgic_finalize_idregs) and ITSs (vgic_its_create: no check; they make KVM_CAP_MSI_DEVID 1). Other
   * types are not registered (kvm_ioctl_create_device: ENODEV), the vGICv2 included: vgic_v3_probe does not
   * offer GICv2 emulation on the GICv3 hosts modelled here.
   */
  createDevice(type: number): KvmDevice {
    const op = "KVM_CREATE_DEVICE";
    this.live(op);
    if (type === KVM_DEVICE_TYPE.ARM_VGIC_V3) {
      if (this.vgic) fail(op, "EEXIST");
      if (this.vcpus.some((v) => v.ranOnce)) fail(op, "EBUSY");
      this.vgic = new SimVgic(this);
      finalizeGicIdRegs(this, "create");
      return this.vgic;
    }
    if (type === KVM_DEVICE_TYPE.ARM_VGIC_ITS) {
      const its = new SimIts(this);
      this.its.push(its);
      return its;
    }
    return fail(op, "ENODEV");
  }

  /**
   * KVM_ARM_SET_COUNTER_OFFSET (kvm_vm_ioctl_set_counter_offset): the VM-wide offset of both counters, at any
   * time; from then on ONE_REG writes of the counters are ignored. Kernels without it: EINVAL
   * (kvm_arch_vm_ioctl's default). The reserved field the interface cannot pass is 0.
   */
  setCounterOffset(offset: bigint): void {
    const op = "KVM_ARM_SET_COUNTER_OFFSET";
    this.live(op);
    if (!this.model.counterOffset) fail(op, "EINVAL");
    this.counterOffsetSet = true;
    this.voffset = this.poffset = BigInt.asUintN(64, offset);
  }

  /**
   * KVM_CREATE_VCPU: kvm_vm_ioctl_create_vcpu checks the id range (EINVAL), kvm_arch_vcpu_precreate the
   * VM's max_vcpus (EINVAL) and an initialised vGIC (EBUSY), then EEXIST; kvm_vgic_vcpu_init places the
   * vCPU's redistributor (vgic_register_redist_iodev).
   */
  createVcpu(id: number): SimVcpu {
    const op = "KVM_CREATE_VCPU";
    this.live(op);
    if (!Number.isInteger(id) || id < 0 || id >= 512) fail(op, "EINVAL");
    if (this.vgic?.initialized) fail(op, "EBUSY");
    if (this.vcpuIds.has(id)) fail(op, "EEXIST");
    const v = new SimVcpu(this, id);
    this.vcpus.push(v);
    const err = this.vgic?.registerRedist(v);
    if (err) {
      this.vcpus.pop();
      fail(op, err);
    }
    this.vcpuIds.add(id);
    return v;
  }
  destroy(): void {
    for (const v of this.vcpus) v.destroy();
    this.slots.clear();
    this.destroyed = true;
  }

  // ---- proposal (c): VM-scoped register ioctls (sim-only methods) --------------------------------

  /** The VM-scoped registers: PSCI_VERSION, the identity registers (with (a)), the feature bitmaps. */
  private vmRegIds(): RegId[] {
    const flag = this.enabled.scopeFlags ? REG_SCOPE_VM_FLAG : 0n;
    return [FW_REGS.PSCI_VERSION, ...this.identityRegIds(), ...this.model.bitmaps.map((b) => b.id)].map(
      (id) => id | flag,
    );
  }

  private vmRegOp(op: string, id: RegId): RegId {
    this.live(op);
    if (!this.enabled.vmRegs) fail(op, "EINVAL"); // an ioctl the VM does not have: kvm_arch_vm_ioctl's default
    let base = id;
    if (hasScopeFlag(id)) {
      if (!this.enabled.scopeFlags) fail(op, "ENOENT");
      base = stripScopeFlag(id);
    }
    if (malformedReason(base)) fail(op, "ENOENT");
    return base;
  }

  /** KVM_GET_REG_LIST on the VM fd (proposal (c)): E2BIG with the required count, like the vCPU's. */
  getRegListVmRaw(capacity: number): RegId[] {
    const op = "KVM_GET_REG_LIST (vm)";
    this.live(op);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError("capacity must be a non-negative integer");
    if (!this.enabled.vmRegs) fail(op, "EINVAL");
    const ids = this.vmRegIds();
    if (capacity < ids.length) throw KvmError.withoutStack(op, "E2BIG", { required: ids.length });
    return ids;
  }

  /** KVM_GET_ONE_REG on the VM fd (proposal (c)). */
  getOneRegVm(id: RegId): bigint {
    const op = `KVM_GET_ONE_REG (vm) ${formatId(id)}`;
    const base = this.vmRegOp(op, id);
    if (base === FW_REGS.PSCI_VERSION) return this.psciVersion || this.model.psciLatest;
    if (this.model.bitmaps.some((b) => b.id === base)) return this.bitmaps.get(base) ?? 0n;
    const s = identityService(base);
    if (s !== undefined && this.system.proposals && regSizeBytes(base) === 8) return this.getIdentity(s);
    return fail(op, "ENOENT");
  }

  /**
   * KVM_SET_ONE_REG on the VM fd (proposal (c)): the vCPU path's value checks, and immutable (EBUSY for
   * a change) once any vCPU exists. The vCPU path keeps upstream's rules.
   */
  setOneRegVm(id: RegId, value: bigint): void {
    const op = `KVM_SET_ONE_REG (vm) ${formatId(id)}`;
    const base = this.vmRegOp(op, id);
    regValueToBytes(base, value);
    if (base === FW_REGS.PSCI_VERSION) {
      // kvm_arm_set_fw_reg's versions; 0.1 and 0.2+ alike (the VM has no PSCI_0_2 feature of its own)
      if (value !== 1n && !this.model.psciVersions.includes(value)) fail(op, "EINVAL");
      const cur = this.psciVersion || this.model.psciLatest;
      if (this.vcpus.length && value !== cur) fail(op, "EBUSY");
      this.psciVersion = value;
      return;
    }
    if (this.model.bitmaps.some((b) => b.id === base)) return this.setBitmap(op, base, value, "vm");
    const s = identityService(base);
    if (s !== undefined && this.system.proposals && regSizeBytes(base) === 8)
      return this.setIdentity(op, s, value, "vm");
    fail(op, "ENOENT");
  }
}
