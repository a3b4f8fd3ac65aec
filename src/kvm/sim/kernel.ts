/**
 * The simulated kernel: KvmSystem/KvmVm/KvmVcpu for a (kernel generation, host CPU model) pair,
 * errno-exact for what it models (see README.md). Sources: arch/arm64/kvm/{arm.c,guest.c,sys_regs.c,
 * hypercalls.c,psci.c,reset.c} of each generation.
 */
import type { KernelGeneration } from "../../regs/catalog-types.js";
import { CORE_REGS } from "../../regs/core-regs.js";
import { COPROC, decodeId, makeId, malformedReason } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { KvmError } from "../errors.js";
import type { ErrnoName } from "../errors.js";
import type {
  CreateVmOptions,
  KvmExit,
  KvmSystem,
  KvmVcpu,
  KvmVm,
  MemoryRegion,
  RegValue,
  VcpuInit,
} from "../types.js";
import {
  CAPS,
  FW_REGS,
  KVM_API_VERSION,
  SYSTEM_EVENT_TYPES,
  VCPU_FEATURES,
  featureIdRangeIndex,
} from "../uapi.js";
import { regSizeBytes, regValueToBytes } from "../values.js";
import { cpuModel } from "./cpus.js";
import type { CpuModel } from "./cpus.js";
import { getField, setField, sysregDescs } from "./descs.js";
import type { SysregDesc } from "./descs.js";
import { GENERATIONS } from "./generations.js";
import type { GenerationModel } from "./generations.js";
import { smcccCall } from "./hypercalls.js";
import type { HypercallContext } from "./hypercalls.js";
import { checkFeatures, hostSanitised, kvmIdValue } from "./idregs.js";
import type { VcpuFeatureSet } from "./idregs.js";
import { step } from "./interp.js";

const RESET_UNKNOWN = 0x1de7ec7edbadc0den; // sys_regs.h reset_unknown
const fail = (op: string, errno: ErrnoName, detail?: string): never => {
  throw new KvmError(op, errno, detail ? { detail } : {});
};
const hex = (id: bigint) => "0x" + id.toString(16).padStart(16, "0");

export interface SimOptions {
  generation: KernelGeneration;
  cpu: string | CpuModel;
}

export class SimSystem implements KvmSystem {
  readonly backend = "sim";
  readonly model: GenerationModel;
  readonly cpu: CpuModel;
  private closed = false;
  private vms = new Set<SimVm>();

  constructor(opts: SimOptions) {
    this.model = GENERATIONS[opts.generation];
    if (!this.model) throw new RangeError(`unknown kernel generation ${opts.generation}`);
    this.cpu = typeof opts.cpu === "string" ? cpuModel(opts.cpu) : opts.cpu;
  }
  private live(op: string) {
    if (this.closed) fail(op, "EBADF");
  }
  apiVersion(): number {
    this.live("KVM_GET_API_VERSION");
    return KVM_API_VERSION;
  }
  /** get_kvm_ipa_limit: the host's PARange (ID_AA64MMFR0_EL1), capped by 48 bits with 4K pages. */
  ipaLimit(): number {
    const pa = [32, 36, 40, 42, 44, 48, 52][Number(this.cpu.id.ID_AA64MMFR0_EL1 ?? 0n) & 0xf] ?? 32;
    return Math.min(pa, 48);
  }
  checkExtension(cap: number): number {
    this.live(`KVM_CHECK_EXTENSION ${cap}`);
    const info = CAPS_BY_NUMBER.get(cap);
    if (!info) return 0;
    const v = this.model.caps[info.name.replace(/^KVM_CAP_/, "")];
    if (v === undefined) return 0;
    switch (v) {
      case "ipa":
        return this.ipaLimit();
      case "el1_32":
        return getField(this.cpu.id.ID_AA64PFR0_EL1 ?? 0n, "ID_AA64PFR0_EL1", "EL1") === 2 ? 1 : 0;
      case "sve":
        return this.cpu.sveMaxVq > 0 ? 1 : 0;
      case "ptrauth":
        return getField(this.cpu.id.ID_AA64ISAR1_EL1 ?? 0n, "ID_AA64ISAR1_EL1", "APA") ? 1 : 0;
      case "pmu":
        return this.cpu.pmuCounters > 0 ? 1 : 0;
      default:
        return v;
    }
  }
  kernelRelease(): string {
    return this.model.release;
  }
  createVm(opts: CreateVmOptions = {}): SimVm {
    this.live("KVM_CREATE_VM");
    const bits = opts.ipaBits ?? 0;
    // kvm_arm_setup_stage2: 0 = 40 bits; otherwise 32 <= bits <= limit
    if (bits !== 0 && (bits > this.ipaLimit() || bits < 32)) fail("KVM_CREATE_VM", "EINVAL");
    const vm = new SimVm(this, bits || 40);
    this.vms.add(vm);
    return vm;
  }
  close(): void {
    for (const vm of this.vms) vm.destroy();
    this.vms.clear();
    this.closed = true;
  }
}

const CAPS_BY_NUMBER = new Map([...CAPS.values()].map((c) => [c.number, c]));

export class SimVm implements KvmVm {
  readonly model: GenerationModel;
  readonly cpu: CpuModel;
  destroyed = false;
  ranOnce = false;
  vcpus: SimVcpu[] = [];
  psciVersion: bigint | undefined;
  bitmaps = new Map<bigint, bigint>();
  /** VM-wide ID register values (6.7+: kvm->arch.id_regs), set at the first vCPU init. */
  idRegs = new Map<string, bigint>();
  /** 5.10/6.1 kvm->arch.pfr0_csv2/csv3 written by userspace. */
  pfr0Csv = new Map<string, number>();
  features: number[] | undefined;
  writableImpId = false;
  mte = false;
  slots = new Map<number, { base: bigint; mem: Uint8Array; flags: number }>();
  clock = 0x1000n;

  constructor(
    readonly system: SimSystem,
    readonly ipaBits: number,
  ) {
    this.model = system.model;
    this.cpu = system.cpu;
    for (const b of this.model.bitmaps) this.bitmaps.set(b.id, b.reset);
  }
  live(op: string) {
    if (this.destroyed) fail(op, "EBADF");
  }
  checkExtension(cap: number): number {
    this.live(`KVM_CHECK_EXTENSION ${cap}`);
    if (CAPS_BY_NUMBER.get(cap)?.name === "KVM_CAP_ARM_VM_IPA_SIZE") return this.system.ipaLimit();
    return this.system.checkExtension(cap);
  }
  enableCap(cap: number, args: readonly bigint[] = [], flags = 0): void {
    const op = `KVM_ENABLE_CAP ${cap}`;
    this.live(op);
    if (args.length > 4) throw new RangeError("at most 4 args");
    if (flags !== 0) fail(op, "EINVAL");
    const name = CAPS_BY_NUMBER.get(cap)?.name;
    // kvm_vm_ioctl_enable_cap (arm.c)
    if (name === "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS" && this.model.writableImpIdRegs) {
      if (this.vcpus.some((v) => v.initialized)) fail(op, "EINVAL"); // kvm_vm_has_ran_once || vcpus initialised
      this.writableImpId = true;
      return;
    }
    if (name === "KVM_CAP_ARM_NISV_TO_USER" || name === "KVM_CAP_ARM_SYSTEM_SUSPEND") {
      if (this.system.checkExtension(cap)) return;
    }
    if (name === "KVM_CAP_ARM_MTE" && this.system.checkExtension(cap)) {
      if (this.vcpus.length) fail(op, "EINVAL");
      this.mte = true;
      return;
    }
    fail(op, "EINVAL");
  }
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    if (!this.model.smcccFilter) fail(op, "EINVAL");
    return group === 0 && attr === 0n;
  }
  getDeviceAttr(_group: number, _attr: bigint, _size: number): Uint8Array {
    this.live("KVM_GET_DEVICE_ATTR");
    return fail("KVM_GET_DEVICE_ATTR", this.model.smcccFilter ? "ENXIO" : "EINVAL");
  }
  setDeviceAttr(group: number, attr: bigint, data: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    if (!this.model.smcccFilter) fail(op, "EINVAL");
    if (group !== 0 || attr !== 0n) fail(op, "ENXIO");
    if (data.length < 24 || data.subarray(9, 24).some((b) => b !== 0)) fail(op, "EINVAL");
    if (this.ranOnce) fail(op, "EBUSY");
    // The filter itself is not modelled beyond its errors (ASSUMED: HANDLE for everything).
  }
  getRegWritableMasks(range = 0): bigint[] {
    const op = "KVM_ARM_GET_REG_WRITABLE_MASKS";
    this.live(op);
    if (!this.model.writableMasks || range !== 0) fail(op, "EINVAL");
    // kvm_vm_ioctl_get_reg_writable_masks: rd->val of every feature-ID-range ID register descriptor.
    const masks = new Array<bigint>(192).fill(0n);
    for (const d of sysregDescs(this.model.gen)) {
      if (d.op0 !== 3 || d.crn !== 0 || ![0, 1, 3].includes(d.op1) || d.crm > 7) continue;
      if (!isIdDesc(d)) continue;
      masks[featureIdRangeIndex(d)] = d.valBig;
    }
    return masks;
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
  preferredTarget(): VcpuInit {
    this.live("KVM_ARM_PREFERRED_TARGET");
    return { target: 5, features: [] }; // KVM_ARM_TARGET_GENERIC_V8
  }
  createVcpu(id: number): SimVcpu {
    const op = "KVM_CREATE_VCPU";
    this.live(op);
    if (this.vcpus.some((v) => v.id === id)) fail(op, "EEXIST");
    if (id < 0 || id >= 512) fail(op, "EINVAL");
    if (this.vcpus.some((v) => v.initialized) && this.model.gen !== "5.10") fail(op, "EBUSY");
    const v = new SimVcpu(this, id);
    this.vcpus.push(v);
    return v;
  }
  destroy(): void {
    for (const v of this.vcpus) v.destroy();
    this.slots.clear();
    this.destroyed = true;
  }
}

function isIdDesc(d: SysregDesc): boolean {
  if (d.invariant || /^(ID_|AA32_ID_|IMPLEMENTATION_ID)/.test(d.outer)) return true;
  if (d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm >= 1 && d.crm <= 7) return true; // the ID space
  return ["CTR_EL0", "CLIDR_EL1", "MIDR_EL1", "REVIDR_EL1", "AIDR_EL1"].includes(d.name);
}

type RegKind =
  | { k: "core" }
  | { k: "fw" }
  | { k: "bitmap" }
  | { k: "timer" }
  | { k: "demux"; sel: number }
  | { k: "sve" }
  | { k: "vls" }
  | { k: "id"; d: SysregDesc; name: string }
  | { k: "sys"; d: SysregDesc };

const ZERO16 = new Uint8Array(16);

export class SimVcpu implements KvmVcpu {
  initialized = false;
  finalized = false;
  features: number[] = [];
  fset: VcpuFeatureSet = { sve: false, ptrauth: false, pmu: false, mte: false };
  private destroyed = false;
  private regList: RegId[] = [];
  private kinds = new Map<RegId, RegKind>();
  /** Saved register state: core and system registers by id. */
  state = new Map<RegId, RegValue>();
  mmioPending: { rt: number; len: number } | undefined;
  sveVqs = 0n;

  constructor(
    readonly vm: SimVm,
    readonly id: number,
  ) {}

  private live(op: string) {
    if (this.destroyed || this.vm.destroyed) fail(op, "EBADF");
  }

  init(init: VcpuInit): void {
    const op = "KVM_ARM_VCPU_INIT";
    this.live(op);
    const m = this.vm.model;
    if (init.target !== 5 && init.target !== 0) fail(op, "EINVAL"); // kvm_vcpu_set_target: preferred target only
    if (init.target === 0) fail(op, "EINVAL");
    const feats = [...new Set(init.features)].sort((a, b) => a - b);
    for (const f of feats)
      if (f >= 7 * 32 || !m.validFeatures.includes(f)) fail(op, f < 7 * 32 ? "ENOENT" : "EINVAL");
    const has = (f: number) => feats.includes(f);
    const sys = this.vm.system;
    // kvm_vcpu_init_check_features / kvm_reset_vcpu
    if (has(VCPU_FEATURES.EL1_32BIT) && !sys.checkExtension(CAPS.get("KVM_CAP_ARM_EL1_32BIT")!.number))
      fail(op, "EINVAL");
    if (has(VCPU_FEATURES.SVE) && this.vm.cpu.sveMaxVq === 0) fail(op, "EINVAL");
    if (has(VCPU_FEATURES.PMU_V3) && this.vm.cpu.pmuCounters === 0) fail(op, "ENODEV");
    const pa = has(VCPU_FEATURES.PTRAUTH_ADDRESS);
    const pg = has(VCPU_FEATURES.PTRAUTH_GENERIC);
    if (pa !== pg) fail(op, "EINVAL"); // vcpu_has_ptrauth needs both (kvm_vcpu_enable_ptrauth)
    if (pa && !sys.checkExtension(CAPS.get("KVM_CAP_ARM_PTRAUTH_ADDRESS")!.number)) fail(op, "EINVAL");
    if (has(VCPU_FEATURES.EL1_32BIT) && (pa || has(VCPU_FEATURES.SVE))) fail(op, "EINVAL");
    if (has(VCPU_FEATURES.HAS_EL2) || has(VCPU_FEATURES.HAS_EL2_E2H0)) fail(op, "EINVAL"); // no NV host (ASSUMED)
    if (this.initialized && feats.join() !== this.features.join()) fail(op, "EINVAL");
    // 6.7+: features are VM-wide (kvm_vcpu_init_changed / KVM_ARCH_FLAG_VCPU_FEATURES_CONFIGURED)
    if (m.idRegs === "writable" && this.vm.features && feats.join() !== this.vm.features.join())
      fail(op, "EINVAL");
    this.vm.features ??= feats;
    this.features = feats;
    this.fset = {
      sve: has(VCPU_FEATURES.SVE),
      ptrauth: pa,
      pmu: has(VCPU_FEATURES.PMU_V3),
      mte: this.vm.mte,
    };
    if (this.vm.psciVersion === undefined || !this.initialized)
      this.vm.psciVersion = has(VCPU_FEATURES.PSCI_0_2) ? m.psciLatest : 1n;
    this.sveVqs = this.fset.sve ? (1n << BigInt(this.vm.cpu.sveMaxVq)) - 1n : 0n;
    this.finalized = !this.fset.sve;
    this.reset(has(VCPU_FEATURES.POWER_OFF));
    this.initialized = true;
  }

  finalize(feature: number): void {
    const op = "KVM_ARM_VCPU_FINALIZE";
    this.live(op);
    if (feature !== VCPU_FEATURES.SVE) fail(op, "EINVAL");
    if (!this.fset.sve || this.finalized) fail(op, "EPERM");
    this.finalized = true;
    this.buildRegList();
  }

  private idName(d: SysregDesc): string {
    return d.name;
  }

  /** The guest-visible ID value KVM would give now (per VM on 6.7+, per vCPU before). */
  idValue(d: SysregDesc): bigint {
    const vm = this.vm;
    const name = this.idName(d);
    if (vm.model.idRegs === "writable") {
      const v = vm.idRegs.get(name);
      if (v !== undefined) return v;
    }
    return this.idReset(d);
  }

  /** KVM's reset value of an ID-class register (the limit of arm64_check_features). */
  idReset(d: SysregDesc): bigint {
    const vm = this.vm;
    const cpu = vm.cpu;
    const name = d.name;
    if (d.visibility === "raz_visibility" || d.outer === "ID_UNALLOCATED" || d.outer === "ID_HIDDEN")
      return 0n;
    if (
      d.visibility === "aa32_id_visibility" &&
      getField(cpu.id.ID_AA64PFR0_EL1 ?? 0n, "ID_AA64PFR0_EL1", "EL0") !== 2
    )
      return 0n; // aa32_id_visibility: RAZ without AArch32 EL0
    if (name === "MIDR_EL1") return cpu.midr;
    if (name === "REVIDR_EL1") return cpu.revidr;
    if (name === "AIDR_EL1") return cpu.aidr;
    if (name === "CLIDR_EL1") return cpu.cache.clidr;
    let v = kvmIdValue(vm.model, cpu, name, this.fset);
    if (name === "ID_AA64PFR0_EL1" && vm.model.pfr0CsvWritable.length)
      for (const [f, x] of vm.pfr0Csv) v = setField(v, name, f, x);
    return v;
  }

  private reset(_powerOff: boolean): void {
    const vm = this.vm;
    const st = this.state;
    st.clear();
    for (const c of CORE_REGS) {
      const id = makeId(c.size, COPROC.core, c.offset);
      st.set(id, regSizeBytes(id) > 8 ? ZERO16.slice(0, regSizeBytes(id)) : 0n);
    }
    // reset.c kvm_reset_vcpu: PSTATE = EL1h with DAIF masked (or SVC32 for EL1_32BIT)
    st.set(
      makeId("U64", COPROC.core, 264 / 4),
      this.features.includes(VCPU_FEATURES.EL1_32BIT) ? 0x1d3n : 0x3c5n,
    );
    for (const d of sysregDescs(vm.model.gen)) {
      if (isIdDesc(d) || d.invariant) continue;
      st.set(d.id, this.resetValue(d));
    }
    if (vm.model.idRegs === "writable" && vm.idRegs.size === 0) {
      for (const d of sysregDescs(vm.model.gen)) if (isIdDesc(d)) vm.idRegs.set(d.name, this.idReset(d));
    }
    this.buildRegList();
  }

  private resetValue(d: SysregDesc): bigint {
    switch (d.reset) {
      case "reset_unknown":
        return RESET_UNKNOWN;
      case "reset_mpidr": {
        const i = BigInt(this.id);
        return (1n << 31n) | (i & 0xfn) | (((i >> 4n) & 0xffn) << 8n) | (((i >> 12n) & 0xffn) << 16n);
      }
      case "reset_pmcr":
        // reset_pmcr: PMCR_EL0.N from the host, LC when no 32-bit EL0 (ASSUMED otherwise 0)
        return BigInt(this.vm.cpu.pmuCounters) << 11n;
      case "reset_clidr":
        return this.vm.cpu.cache.clidr;
      case "reset_val":
      case "reset_bvr":
      case "reset_bcr":
      case "reset_wvr":
      case "reset_wcr":
      case "reset_dbg_wb_reg":
        return d.valBig;
      default:
        return d.valBig; // reset_actlr/amair (host value ASSUMED 0), PMU resets: ASSUMED val
    }
  }

  /** sysreg_hidden: the visibility functions, in terms of the vCPU's features and the VM's ID values. */
  private hidden(d: SysregDesc): boolean {
    const f = this.fset;
    switch (d.visibility) {
      case undefined:
      case "id_visibility":
      case "aa32_id_visibility":
      case "raz_visibility":
        return false;
      case "sve_visibility":
        return !f.sve;
      case "ptrauth_visibility":
        return !f.ptrauth;
      case "pmu_visibility":
        return !f.pmu;
      case "mte_visibility":
        return !f.mte;
      case "tcr2_visibility":
        return !this.feat("ID_AA64MMFR3_EL1", "TCRX");
      case "sctlr2_visibility":
        return !this.feat("ID_AA64MMFR3_EL1", "SCTLRX");
      case "s1pie_visibility":
        return !this.feat("ID_AA64MMFR3_EL1", "S1PIE");
      case "s1poe_visibility":
        return !this.feat("ID_AA64MMFR3_EL1", "S1POE");
      case "fp8_visibility":
        return !this.feat("ID_AA64PFR2_EL1", "FPMR");
      default:
        return true; // el2_*, sme_visibility, hidden_visibility, ...: no EL2/SME guests modelled
    }
  }

  private feat(reg: string, field: string): boolean {
    const d = sysregDescs(this.vm.model.gen).find((x) => x.name === reg);
    return d ? getField(this.idValue(d), reg, field) > 0 : false;
  }

  private buildRegList(): void {
    const m = this.vm.model;
    const ids: RegId[] = [];
    const kinds = this.kinds;
    kinds.clear();
    const add = (id: RegId, k: RegKind) => {
      ids.push(id);
      kinds.set(id, k);
    };
    // copy_core_reg_indices: vregs only without SVE
    for (const c of CORE_REGS) {
      const cid = makeId(c.size, COPROC.core, c.offset);
      if (this.fset.sve && regSizeBytes(cid) === 16) continue;
      add(cid, { k: "core" });
    }
    if (this.fset.sve) {
      // copy_sve_reg_indices: VLS, then Z0..31, P0..15, FFR (slice 0)
      add(makeId("U512", COPROC.sve, 0xffff), { k: "vls" });
      for (let n = 0; n < 32; n++) add(makeId("U2048", COPROC.sve, n << 5), { k: "sve" });
      for (let n = 0; n < 16; n++) add(makeId("U256", COPROC.sve, 0x400 | (n << 5)), { k: "sve" });
      add(makeId("U256", COPROC.sve, 0x600), { k: "sve" });
    }
    for (const id of m.fwRegs)
      add(id, {
        k: (id >> 16n) & 0xfffn ? (((id >> 16n) & 0xfffn) === 0x16n ? "bitmap" : "fw") : "fw",
      } as RegKind);
    for (const id of m.timerRegs) add(id, { k: "timer" });
    for (const d of sysregDescs(m.gen)) {
      if (!d.listed || this.hidden(d)) continue;
      add(d.id, isIdDesc(d) || d.invariant ? { k: "id", d, name: d.name } : { k: "sys", d });
    }
    // write_demux_regids: one CCSIDR per valid CSSELR of the host CLIDR
    const clidr = this.vm.cpu.cache.clidr;
    for (let lvl = 0; lvl < 7; lvl++) {
      const ctype = Number((clidr >> BigInt(3 * lvl)) & 7n);
      if (ctype === 0) break;
      if (ctype !== 1) add(makeId("U32", COPROC.demux, lvl * 2), { k: "demux", sel: lvl * 2 });
      if (ctype === 1 || ctype === 3)
        add(makeId("U32", COPROC.demux, lvl * 2 + 1), { k: "demux", sel: lvl * 2 + 1 });
    }
    this.regList = ids;
  }

  getRegListRaw(capacity: number): RegId[] {
    const op = "KVM_GET_REG_LIST";
    this.live(op);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError("capacity must be a non-negative integer");
    if (!this.initialized) fail(op, "ENOEXEC");
    if (!this.finalized) fail(op, "EPERM");
    if (capacity < this.regList.length) throw new KvmError(op, "E2BIG", { required: this.regList.length });
    return this.regList.slice();
  }

  private kindOf(op: string, id: RegId): RegKind {
    if (!this.initialized) fail(op, "ENOEXEC");
    if (malformedReason(id)) fail(op, "ENOENT");
    const k = this.kinds.get(id);
    if (k) {
      if ((k.k === "sve" || k.k === "vls") && k.k === "sve" && !this.finalized) fail(op, "EPERM");
      return k;
    }
    // Ids KVM knows but does not list: none modelled.
    return fail(op, "ENOENT");
  }

  getOneReg(id: RegId): RegValue {
    const op = `KVM_GET_ONE_REG ${hex(id)}`;
    this.live(op);
    const k = this.kindOf(op, id);
    const vm = this.vm;
    switch (k.k) {
      case "core":
      case "sys":
        return this.state.get(id) ?? 0n;
      case "id":
        return this.idValue(k.d);
      case "fw":
        return this.getFw(id);
      case "bitmap":
        return vm.bitmaps.get(id) ?? 0n;
      case "timer":
        return id === 0x603000000013df1an || id === 0x603000000013df01n
          ? vm.clock
          : (this.state.get(id) ?? 0n);
      case "demux":
        return vm.cpu.cache.ccsidr[k.sel] ?? 0n;
      case "vls": {
        const b = new Uint8Array(64);
        for (let i = 0; i < 8; i++) b[i] = Number((this.sveVqs >> BigInt(8 * i)) & 0xffn);
        return b;
      }
      case "sve":
        return (this.state.get(id) as Uint8Array | undefined) ?? new Uint8Array(regSizeBytes(id));
    }
  }

  private waLevel(id: RegId): bigint {
    const s = this.vm.cpu.spectre;
    if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_1)
      return s.v2 === "VULNERABLE" ? 0n : s.v2 === "MITIGATED" ? 1n : 2n;
    if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_3)
      return s.bhb === "VULNERABLE" ? 0n : s.bhb === "MITIGATED" ? 1n : 2n;
    // WORKAROUND_2 (get_kernel_wa_level)
    if (s.v4 === "VULNERABLE") return 0n;
    if (s.v4 === "MITIGATED" && this.ssbs()) return 0n;
    return 3n;
  }

  ssbs(): boolean {
    const vm = this.vm;
    if (vm.model.wa2SsbsFromVm) {
      const d = sysregDescs(vm.model.gen).find((x) => x.name === "ID_AA64PFR1_EL1")!;
      return getField(this.idValue(d), "ID_AA64PFR1_EL1", "SSBS") > 0;
    }
    return getField(vm.cpu.id.ID_AA64PFR1_EL1 ?? 0n, "ID_AA64PFR1_EL1", "SSBS") > 0;
  }

  private getFw(id: RegId): bigint {
    if (id === FW_REGS.PSCI_VERSION) return this.vm.psciVersion ?? 0n;
    return this.waLevel(id);
  }

  setOneReg(id: RegId, value: RegValue): void {
    const op = `KVM_SET_ONE_REG ${hex(id)}`;
    this.live(op);
    const k = this.kindOf(op, id);
    regValueToBytes(id, value); // representation check (RangeError)
    const vm = this.vm;
    const m = vm.model;
    switch (k.k) {
      case "core":
        if (id === makeId("U64", COPROC.core, 264 / 4)) {
          // validate_core_offset / set_core_reg: only valid AArch64/AArch32 modes
          const mode = Number((value as bigint) & 0x1fn);
          if (
            ![0x0, 0x4, 0x5].includes(mode) &&
            !(this.features.includes(VCPU_FEATURES.EL1_32BIT) && mode & 0x10)
          )
            fail(op, "EINVAL");
        }
        this.state.set(id, value);
        return;
      case "sys":
        if (k.d.name === "CLIDR_EL1") {
          /* set_clidr handled as id below */
        }
        this.state.set(id, value);
        return;
      case "timer":
        this.state.set(id, value);
        return;
      case "demux":
        // set_demux_reg: must equal the host's value (invariant CCSIDR) before 6.3; later writable. ASSUMED equal-only.
        if (value !== (vm.cpu.cache.ccsidr[k.sel] ?? 0n)) fail(op, "EINVAL");
        return;
      case "vls":
        if (this.finalized) fail(op, "EPERM");
        return;
      case "sve":
        this.state.set(id, value);
        return;
      case "fw":
        return this.setFw(op, id, value as bigint);
      case "bitmap": {
        const b = m.bitmaps.find((x) => x.id === id)!;
        const v = value as bigint;
        if (v & ~b.features) fail(op, "EINVAL");
        if (vm.ranOnce && v !== vm.bitmaps.get(id)) fail(op, "EBUSY");
        vm.bitmaps.set(id, v);
        return;
      }
      case "id":
        return this.setId(op, k.d, value as bigint);
    }
  }

  private setFw(op: string, id: RegId, v: bigint): void {
    const vm = this.vm;
    if (id === FW_REGS.PSCI_VERSION) {
      const wants02 = this.features.includes(VCPU_FEATURES.PSCI_0_2);
      if (v === 1n) {
        if (wants02) fail(op, "EINVAL");
        vm.psciVersion = v;
        return;
      }
      if (vm.model.psciVersions.includes(v)) {
        if (!wants02) fail(op, "EINVAL");
        vm.psciVersion = v;
        return;
      }
      fail(op, "EINVAL");
    }
    // kvm_arm_set_fw_reg: levels are checked, not stored
    if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_2) {
      if (v & ~0x1fn) fail(op, "EINVAL");
      if (v & 0x10n && (v & 0xfn) !== 2n) fail(op, "EINVAL");
      const lvl = v & 0xfn;
      let want: bigint;
      if (lvl === 0n || lvl === 1n) want = 0n;
      else if (lvl === 2n || lvl === 3n) want = 3n;
      else return fail(op, "EINVAL");
      if (this.waLevel(id) < want) fail(op, "EINVAL");
      return;
    }
    if (v & ~0xfn) fail(op, "EINVAL");
    if (this.waLevel(id) < v) fail(op, "EINVAL");
  }

  private setId(op: string, d: SysregDesc, v: bigint): void {
    const vm = this.vm;
    const m = vm.model;
    const cur = this.idValue(d);
    const name = d.name;
    if (name === "CLIDR_EL1" && m.gen !== "5.10" && m.gen !== "6.1") {
      // set_clidr (6.3+)
      const ctr = hostSanitised(m.gen, vm.cpu, "CTR_EL0");
      const loc = (v >> 24n) & 7n;
      const louis = (v >> 21n) & 7n;
      const louu = (v >> 27n) & 7n;
      const idc = loc === 0n || (louis === 0n && louu === 0n);
      if (v >> 47n || (!((ctr >> 28n) & 1n) && idc)) fail(op, "EINVAL");
      vm.idRegs.set(name, v);
      return;
    }
    if (m.idRegs === "immutable") {
      if (name === "ID_AA64PFR0_EL1" && m.pfr0CsvWritable.length) {
        // set_id_aa64pfr0_el1 (5.10, 6.1): CSV2 (and CSV3) may be lowered, or raised to 1 when unaffected
        for (const f of m.pfr0CsvWritable) {
          const x = getField(v, name, f);
          const unaffected =
            f === "CSV2" ? vm.cpu.spectre.v2 === "UNAFFECTED" : vm.cpu.spectre.meltdown === "UNAFFECTED";
          if (x > 1 || (x && !unaffected)) fail(op, "EINVAL");
        }
        let masked = v;
        let base = cur;
        for (const f of m.pfr0CsvWritable) {
          masked = setField(masked, name, f, 0);
          base = setField(base, name, f, 0);
        }
        if (masked !== base) fail(op, "EINVAL");
        for (const f of m.pfr0CsvWritable) vm.pfr0Csv.set(f, getField(v, name, f));
        return;
      }
      if (v !== cur) fail(op, "EINVAL"); // set_id_reg / set_invariant_sys_reg: "you can't change it"
      return;
    }
    if (d.outer === "IMPLEMENTATION_ID") {
      // set_imp_id_reg (6.15+)
      if (v === cur) return;
      if (!vm.writableImpId) fail(op, "EINVAL");
      if (vm.ranOnce) fail(op, "EBUSY");
      if ((v & d.valBig) !== v) fail(op, "EINVAL");
      vm.idRegs.set(name, v);
      return;
    }
    if (["MIDR_EL1", "REVIDR_EL1", "AIDR_EL1"].includes(name) && d.invariant) {
      if (v !== cur) fail(op, "EINVAL"); // set_invariant_sys_reg
      return;
    }
    // set_id_reg (6.7+)
    if (vm.ranOnce) {
      if (v !== cur) fail(op, "EBUSY");
      return;
    }
    const raz = d.visibility === "raz_visibility" || d.outer === "ID_UNALLOCATED" || d.outer === "ID_HIDDEN";
    const r = checkFeatures(m.gen, name, v, this.idReset(d), d.valBig, raz);
    if (r !== "ok") fail(op, "EINVAL"); // E2BIG is reported as EINVAL
    vm.idRegs.set(name, v);
  }

  run(): KvmExit {
    const op = "KVM_RUN";
    this.live(op);
    if (!this.initialized) fail(op, "ENOEXEC");
    if (!this.finalized) fail(op, "EPERM");
    if (this.fset.pmu && !this.pmuInit) fail(op, "EINVAL"); // kvm_arm_pmu_v3_enable: PMU not created
    const vm = this.vm;
    if (!vm.ranOnce) {
      vm.ranOnce = true;
      // no vGIC device in the simulator
      for (const c of vm.model.firstRunClearsWithoutVgic) {
        const v = vm.idRegs.get(c.reg);
        if (v !== undefined) vm.idRegs.set(c.reg, setField(v, c.reg, c.field, 0));
      }
    }
    return step(this, 1_000_000);
  }

  /** Context for the SMCCC handler. */
  hypercallContext(): HypercallContext {
    const vm = this.vm;
    return {
      model: vm.model,
      cpu: vm.cpu,
      psciVersion: vm.psciVersion ?? 0n,
      bitmap: (id) => vm.bitmaps.get(id) ?? 0n,
      ssbs: this.ssbs(),
      now: () => (vm.clock += 0x100n),
    };
  }

  smccc(x: readonly bigint[]) {
    return smcccCall(this.hypercallContext(), x);
  }

  systemEvent(type: keyof typeof SYSTEM_EVENT_TYPES): KvmExit {
    return {
      reason: "SYSTEM_EVENT",
      code: 24,
      type: SYSTEM_EVENT_TYPES[type],
      event: type,
      data: [0n],
      flags: 0n,
    };
  }

  /** vCPU device attributes: PMU_V3_CTRL (0: IRQ 0, INIT 1, FILTER 2, SET_PMU 3), TIMER_CTRL (1), PVTIME_CTRL (2). */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    const a = Number(attr);
    if (group === 0) return this.fset.pmu && a <= (this.vm.model.gen === "5.10" ? 1 : 3);
    if (group === 1) return a <= (this.vm.model.gen === "5.10" || this.vm.model.gen === "6.1" ? 1 : 3);
    if (group === 2) return a === 0;
    return false;
  }
  getDeviceAttr(group: number, attr: bigint, _size: number): Uint8Array {
    const op = "KVM_GET_DEVICE_ATTR";
    this.live(op);
    if (!this.hasDeviceAttr(group, attr)) fail(op, "ENXIO");
    return fail(op, "ENXIO", "attribute values are not modelled");
  }
  setDeviceAttr(group: number, attr: bigint, _data?: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    if (!this.hasDeviceAttr(group, attr)) fail(op, "ENXIO");
    if (group === 0 && attr === 1n) {
      if (this.pmuInit) fail(op, "EBUSY");
      this.pmuInit = true; // kvm_arm_pmu_v3_init without an in-kernel irqchip
    }
  }

  pmuInit = false;

  setMmioReadData(data: Uint8Array): void {
    this.live("KVM_RUN");
    const p = this.mmioPending;
    if (!p) return;
    let v = 0n;
    for (let i = Math.min(data.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]!);
    if (p.rt !== 31) this.state.set(makeId("U64", COPROC.core, p.rt * 2), v);
    this.mmioPending = undefined;
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/** A guest's MRS view of a system register, or "undef". */
export function guestSysreg(
  vcpu: SimVcpu,
  e: { op0: number; op1: number; crn: number; crm: number; op2: number },
): bigint | "undef" {
  const vm = vcpu.vm;
  const cpu = vm.cpu;
  const key = (e.op0 << 14) | (e.op1 << 11) | (e.crn << 7) | (e.crm << 3) | e.op2;
  const id = makeId("U64", COPROC.sysreg, key);
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 0 && e.crm === 0) {
    // not trapped: VPIDR_EL2 / VMPIDR_EL2 / hardware REVIDR
    if (e.op2 === 0) return idOf(vcpu, "MIDR_EL1") ?? cpu.midr;
    if (e.op2 === 5) return (vcpu.state.get(id) as bigint | undefined) ?? 0n;
    if (e.op2 === 6) return cpu.revidr;
    return "undef";
  }
  if (e.op0 === 3 && e.op1 === 3 && e.crn === 0 && e.crm === 0 && e.op2 === 7) return cpu.dczid;
  const d = sysregDescs(vm.model.gen).find((x) => x.id === id);
  if (!d) {
    if (e.op0 === 3 && e.op1 === 0 && e.crn === 0) return 0n; // reserved ID space: RAZ
    return "undef";
  }
  if (d.access === "undef_access") return "undef";
  if (isIdDesc(d) || d.invariant) return vcpu.idValue(d);
  return (vcpu.state.get(id) as bigint | undefined) ?? 0n;
}

function idOf(vcpu: SimVcpu, name: string): bigint | undefined {
  const d = sysregDescs(vcpu.vm.model.gen).find((x) => x.name === name);
  return d ? vcpu.idValue(d) : undefined;
}

export function decodeForTests(id: RegId) {
  return decodeId(id);
}

/** Opens a simulated /dev/kvm. */
export function openSimKvm(opts: SimOptions): SimSystem {
  return new SimSystem(opts);
}
