/**
 * The simulated kernel: KvmSystem/KvmVm/KvmVcpu for a (kernel generation, host CPU model) pair,
 * errno-exact for what it models (see README.md). Sources: arch/arm64/kvm/{arm.c,guest.c,sys_regs.c,
 * hypercalls.c,psci.c,reset.c,handle_exit.c,mmio.c,mmu.c,arch_timer.c} of each generation. The
 * proposals of proposals.ts are modelled only when SimOptions.proposals is set.
 */
import { CORE_REGS } from "../../regs/core-regs.js";
import { COPROC, decodeId, makeId, malformedReason, sysregId } from "../../regs/id.js";
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
  ARM_TARGETS,
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
import { descById, descByName, descsOf, getField, hasField, setField } from "./descs.js";
import type { SysregDesc } from "./descs.js";
import { generationModel } from "./generations.js";
import type { GenerationModel, HypercallServiceModel, SimGeneration } from "./generations.js";
import { smcccCall } from "./hypercalls.js";
import { spectreState } from "./spectre.js";
import type { HypercallContext } from "./hypercalls.js";
import { checkFeatures, cpuHas32bitEl0, hostSanitised, kvmIdValue } from "./idregs.js";
import type { VcpuFeatureSet } from "./idregs.js";
import { ESR_EC_IABT_CUR, ESR_IL, run as runInterp, takeException } from "./interp.js";
import type { A64Machine, A64StateReg, SysregEnc, TrapOutcome } from "./interp.js";
import {
  REG_SCOPE_VM_FLAG,
  guestabiCapName,
  hasScopeFlag,
  identityRegId,
  identityService,
  stripScopeFlag,
} from "./proposals.js";
import type { ProposalState } from "./proposals.js";

const RESET_UNKNOWN = 0x1de7ec7edbadc0den; // sys_regs.h reset_unknown
const M64 = (1n << 64n) - 1n;
const NOT_SUPPORTED = M64; // SMCCC_RET_NOT_SUPPORTED
const fail = (op: string, errno: ErrnoName, detail?: string): never => {
  throw new KvmError(op, errno, detail ? { detail } : {});
};
const hex = (id: bigint) => "0x" + id.toString(16).padStart(16, "0");

// uapi asm/kvm.h: KVM_REG_ARM_TIMER_* keep their historical ids (TIMER_CNT and TIMER_CVAL are swapped
// against the architectural encodings of CNTVCT_EL0 and CNTV_CVAL_EL0).
const TIMER_CTL = 0x603000000013df19n;
const TIMER_CNT = 0x603000000013df1an;
const TIMER_CVAL = 0x603000000013df02n;
const PTIMER_CNT = 0x603000000013df01n;
const ARCH_TIMER_CTRL_IT_STAT = 1n << 2n;

const CORE = (offsetBytes: number) => makeId("U64", COPROC.core, offsetBytes / 4);
const X = Array.from({ length: 31 }, (_, n) => CORE(n * 8));
const CORE_SP_EL0 = CORE(248); // user_pt_regs.sp
const CORE_PC = CORE(256);
const CORE_PSTATE = CORE(264);
const CORE_SP_EL1 = CORE(272);
const CORE_ELR_EL1 = CORE(280);
const CORE_SPSR_EL1 = CORE(288); // spsr[KVM_SPSR_EL1]
const SYS_ESR_EL1 = sysregId(3, 0, 5, 2, 0);
const SYS_FAR_EL1 = sysregId(3, 0, 6, 0, 0);
const SYS_VBAR_EL1 = sysregId(3, 0, 12, 0, 0);

/** Instructions a KVM_RUN may execute before the simulator treats the vCPU as interrupted (INTR exit). */
const RUN_BUDGET = 1_000_000;

export interface SimOptions {
  generation: SimGeneration;
  cpu: string | CpuModel;
  /**
   * The kernel carries guestabi's proposals (proposals.ts): KVM_CHECK_EXTENSION reports GUESTABI_CAP.*,
   * KVM_ENABLE_CAP accepts them, and the hypercall identity range is RAZ/WI until enabled. Default false:
   * the upstream kernel, which knows none of it.
   */
  proposals?: boolean;
  /**
   * The host has no EL3 and predates FEAT_NV, and its HCR_EL2.TSC does not trap SMC (IMPLEMENTATION
   * DEFINED then; see the comment in handle_smc): a guest SMC is UNDEFINED at EL1 and never reaches KVM.
   * Default false (QEMU's virt machine traps it; every server part has EL3).
   */
  hostSmcUndefined?: boolean;
  /** CPUs online on the host (default: the CPU model's machine; the lab's QEMU has 1). */
  onlineCpus?: number;
}

/**
 * kvm_target_cpu (guest.c): the KVM_ARM_TARGET_* of the host's MIDR part; GENERIC_V8 for anything but
 * the Arm AEM/Foundation models, Cortex-A53/A57 and APM X-Gene.
 */
export function kvmTargetCpu(midr: bigint): number {
  const implementer = Number((midr >> 24n) & 0xffn);
  const part = Number((midr >> 4n) & 0xfffn);
  if (implementer === 0x41) {
    if (part === 0xd0f) return ARM_TARGETS.AEM_V8;
    if (part === 0xd00) return ARM_TARGETS.FOUNDATION_V8;
    if (part === 0xd03) return ARM_TARGETS.CORTEX_A53;
    if (part === 0xd07) return ARM_TARGETS.CORTEX_A57;
  }
  if (implementer === 0x50 && part === 0x000) return ARM_TARGETS.XGENE_POTENZA;
  return ARM_TARGETS.GENERIC_V8;
}

export class SimSystem implements KvmSystem {
  readonly backend = "sim";
  readonly model: GenerationModel;
  readonly cpu: CpuModel;
  readonly proposals: boolean;
  readonly hostSmcUndefined: boolean;
  /** num_online_cpus() of the host. */
  readonly onlineCpus: number;
  private closed = false;
  private vms = new Set<SimVm>();

  constructor(opts: SimOptions) {
    this.model = generationModel(opts.generation);
    this.cpu = typeof opts.cpu === "string" ? cpuModel(opts.cpu) : opts.cpu;
    this.proposals = opts.proposals ?? false;
    this.hostSmcUndefined = opts.hostSmcUndefined ?? false;
    this.onlineCpus = opts.onlineCpus ?? this.cpu.onlineCpus;
  }
  private live(op: string) {
    if (this.closed) fail(op, "EBADF");
  }
  apiVersion(): number {
    this.live("KVM_GET_API_VERSION");
    return KVM_API_VERSION;
  }
  /**
   * get_kvm_ipa_limit (kvm_set_ipa_limit): the host's sanitised PARange; with 4K pages capped at 48 bits,
   * unless (6.9+) kvm_lpa2_is_enabled(): has_lpa2, ID_AA64MMFR0_EL1.TGRAN4 = LPA2 (1) and TGRAN4_2 = LPA2 (3).
   */
  ipaLimit(): number {
    const mmfr0 = hostSanitised(this.model, this.cpu, "ID_AA64MMFR0_EL1");
    const pa = [32, 36, 40, 42, 44, 48, 52][getField(mmfr0, "ID_AA64MMFR0_EL1", "PARANGE")] ?? 32;
    const lpa2 =
      getField(mmfr0, "ID_AA64MMFR0_EL1", "TGRAN4") === 1 &&
      getField(mmfr0, "ID_AA64MMFR0_EL1", "TGRAN4_2") === 3;
    return this.model.ipaLpa2 && lpa2 ? pa : Math.min(pa, 48);
  }
  /** KVM_CHECK_EXTENSION on /dev/kvm (kvm_dev_ioctl: kvm_vm_ioctl_check_extension_generic(NULL, cap)). */
  checkExtension(cap: number): number {
    this.live(`KVM_CHECK_EXTENSION ${cap}`);
    return this.capValue(cap, "dev");
  }
  /** The answer of kvm_vm_ioctl_check_extension(_generic) with kvm = NULL ("dev") or a VM; a negative one throws. */
  capValue(cap: number, on: "dev" | "vm"): number {
    if (guestabiCapName(cap)) return this.proposals ? 1 : 0;
    const info = CAPS_BY_NUMBER.get(cap);
    if (!info) return 0;
    const v = this.model.caps[info.name.replace(/^KVM_CAP_/, "")];
    const id = (reg: string) => hostSanitised(this.model, this.cpu, reg);
    switch (v) {
      case undefined:
        return 0;
      case "ipa":
        return this.ipaLimit();
      case "el1_32":
        return getField(id("ID_AA64PFR0_EL1"), "ID_AA64PFR0_EL1", "EL1") === 2 ? 1 : 0;
      case "sve":
        return this.cpu.sveMaxVq > 0 ? 1 : 0;
      case "ptrauth": {
        // system_has_full_ptr_auth(): address (ARM64_HAS_ADDRESS_AUTH: QARMA5 APA, IMP_DEF API or QARMA3 APA3)
        // and generic (GPA, GPI or GPA3) authentication; 6.7+ kvm_has_full_ptr_auth() also wants both for the
        // same algorithm, and only one algorithm
        const isar1 = id("ID_AA64ISAR1_EL1");
        const isar2 = id("ID_AA64ISAR2_EL1");
        const f = (v: bigint, reg: string, field: string) =>
          hasField(reg, field) ? getField(v, reg, field) : 0;
        const [apa, api, apa3] = [
          f(isar1, "ID_AA64ISAR1_EL1", "APA"),
          f(isar1, "ID_AA64ISAR1_EL1", "API"),
          f(isar2, "ID_AA64ISAR2_EL1", "APA3"),
        ];
        const [gpa, gpi, gpa3] = [
          f(isar1, "ID_AA64ISAR1_EL1", "GPA"),
          f(isar1, "ID_AA64ISAR1_EL1", "GPI"),
          f(isar2, "ID_AA64ISAR2_EL1", "GPA3"),
        ];
        if (!(apa || api || apa3) || !(gpa || gpi || gpa3)) return 0;
        if (!this.model.ptrauthOneAlgorithm) return 1;
        const one = [apa, api, apa3].filter((x) => x > 0).length === 1;
        return one && !!apa === (gpa === 1) && !!api === (gpi === 1) && !!apa3 === (gpa3 === 1) ? 1 : 0;
      }
      case "pmu":
        return this.cpu.pmuCounters > 0 ? 1 : 0;
      case "mte": // system_supports_mte(): ARM64_MTE, ID_AA64PFR1_EL1.MTE >= MTE2
        return getField(id("ID_AA64PFR1_EL1"), "ID_AA64PFR1_EL1", "MTE") >= 2 ? 1 : 0;
      case "ras": // ARM64_HAS_RAS_EXTN: ID_AA64PFR0_EL1.RAS >= IMP
        return getField(id("ID_AA64PFR0_EL1"), "ID_AA64PFR0_EL1", "RAS") >= 1 ? 1 : 0;
      case "onlineCpus": // min(num_online_cpus(), kvm_arm_default_max_vcpus())
        return Math.min(this.onlineCpus, 512);
      case "brps": // get_num_brps() (hw_breakpoint.h)
        return 1 + getField(id("ID_AA64DFR0_EL1"), "ID_AA64DFR0_EL1", "BRPs");
      case "wrps": // get_num_wrps()
        return 1 + getField(id("ID_AA64DFR0_EL1"), "ID_AA64DFR0_EL1", "WRPs");
      case "vmOnly0":
        if (on === "dev") fail(`KVM_CHECK_EXTENSION ${info.name}`, "EINVAL");
        return 0;
      case "cacheablePfnmap": {
        if (on === "dev") fail(`KVM_CHECK_EXTENSION ${info.name}`, "EINVAL");
        // kvm_supports_cacheable_pfnmap(): ARM64_HAS_STAGE2_FWB and ARM64_HAS_CACHE_DIC
        const fwb = getField(id("ID_AA64MMFR2_EL1"), "ID_AA64MMFR2_EL1", "FWB") >= 1;
        const dic = getField(id("CTR_EL0"), "CTR_EL0", "DIC") === 1;
        return fwb && dic ? 1 : 0;
      }
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

/** KVM_SMCCC_FILTER_* actions. */
const FILTER = { HANDLE: 0, DENY: 1, FWD_TO_USER: 2 } as const;

/** Registers whose writes change them for the whole VM, as proposal (b) flags them. */
export type Scope = "vm" | "vcpu";

export class SimVm implements KvmVm {
  readonly model: GenerationModel;
  readonly cpu: CpuModel;
  destroyed = false;
  ranOnce = false;
  vcpus: SimVcpu[] = [];
  /** kvm->arch.psci_version: 0 until userspace sets it (kvm_psci_version then reports KVM_ARM_PSCI_LATEST). */
  psciVersion = 0n;
  bitmaps = new Map<bigint, bigint>();
  /** Proposal (a): each service's revision (HYPERCALL_SERVICE number -> revision; 0 = absent). */
  identity = new Map<number, bigint>();
  readonly enabled: ProposalState = { identity: false, scopeFlags: false, vmRegs: false };
  /** VM-wide ID register values (6.7+: kvm->arch.id_regs), set at the first vCPU reset. */
  idRegs = new Map<string, bigint>();
  idRegsInitialized = false;
  /** Bumped on every write that can change a visibility function's answer: vCPUs rebuild their lists. */
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
  /** kvm->arch.smccc_filter: [start, end] ranges with their action. */
  filter: { start: number; end: number; action: number }[] = [];

  constructor(
    readonly system: SimSystem,
    readonly ipaBits: number,
  ) {
    this.model = system.model;
    this.cpu = system.cpu;
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
    if (v & ~b.features) fail(op, "EINVAL");
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
    return this.system.capValue(cap, "vm");
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
    // kvm_vm_ioctl_get_reg_writable_masks: rd->val of every feature-ID-range ID register descriptor.
    const masks = new Array<bigint>(192).fill(0n);
    for (const d of descsOf(this.model)) {
      if (d.op0 !== 3 || d.crn !== 0 || ![0, 1, 3].includes(d.op1) || d.crm > 7) continue;
      if (!isIdDesc(d) || !d.setUser) continue;
      // is_aa32_id_reg (CRm 1..3) without kvm_supports_32bit_el0(): left at 0
      if (d.op1 === 0 && d.crm >= 1 && d.crm <= 3 && !cpuHas32bitEl0(this.cpu)) continue;
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
  /** KVM_ARM_PREFERRED_TARGET: kvm_target_cpu() up to 6.1, GENERIC_V8 from 6.12 (arm.c). */
  preferredTarget(): VcpuInit {
    this.live("KVM_ARM_PREFERRED_TARGET");
    const target = this.model.vcpuTarget === "exact" ? kvmTargetCpu(this.cpu.midr) : ARM_TARGETS.GENERIC_V8;
    return { target, features: [] };
  }
  /**
   * KVM_CREATE_VCPU: kvm_vm_ioctl_create_vcpu checks the id range (EINVAL), kvm_arch_vcpu_precreate the
   * VM's max_vcpus (EINVAL; its EBUSY needs an initialised vGIC, which the simulator has not), then EEXIST.
   */
  createVcpu(id: number): SimVcpu {
    const op = "KVM_CREATE_VCPU";
    this.live(op);
    if (!Number.isInteger(id) || id < 0 || id >= 512) fail(op, "EINVAL");
    if (this.vcpus.some((v) => v.id === id)) fail(op, "EEXIST");
    const v = new SimVcpu(this, id);
    this.vcpus.push(v);
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
    if (capacity < ids.length) throw new KvmError(op, "E2BIG", { required: ids.length });
    return ids;
  }

  /** KVM_GET_ONE_REG on the VM fd (proposal (c)). */
  getOneRegVm(id: RegId): bigint {
    const op = `KVM_GET_ONE_REG (vm) ${hex(id)}`;
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
    const op = `KVM_SET_ONE_REG (vm) ${hex(id)}`;
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

/** ID-class descriptors: ID_SANITISED/ID_WRITABLE/..., the feature ID space, CTR/CLIDR/MIDR/REVIDR/AIDR. */
function isIdDesc(d: SysregDesc): boolean {
  if (d.invariant || /^(ID_|AA32_ID_|IMPLEMENTATION_ID)/.test(d.outer)) return true;
  if (d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm >= 1 && d.crm <= 7) return true; // the ID space
  return ["CTR_EL0", "CLIDR_EL1", "MIDR_EL1", "REVIDR_EL1", "AIDR_EL1"].includes(d.name);
}

/**
 * is_vm_ftr_id_reg (6.7+): the feature ID space (op0 3, op1 0, CRn 0, CRm 1..7) and CTR_EL0; 7.x adds
 * MIDR/REVIDR/AIDR (IMPLEMENTATION_ID). CLIDR_EL1 is per vCPU (is_vcpu_ftr_id_reg).
 */
function isVmFtrIdReg(d: SysregDesc): boolean {
  if (d.invariant) return false;
  if (d.name === "CTR_EL0" || d.outer === "IMPLEMENTATION_ID") return true;
  return d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm >= 1 && d.crm < 8;
}

const razDesc = (d: SysregDesc) =>
  d.visibility === "raz_visibility" || d.outer === "ID_UNALLOCATED" || d.outer === "ID_HIDDEN";

type RegKind =
  | { k: "core" }
  | { k: "fw" }
  | { k: "bitmap" }
  | { k: "identity"; service: number }
  | { k: "timer" }
  | { k: "cnt"; which: "v" | "p" }
  | { k: "demux"; sel: number }
  | { k: "sve" }
  | { k: "vls" }
  | { k: "id"; d: SysregDesc }
  | { k: "sys"; d: SysregDesc };

const ZERO16 = new Uint8Array(16);

export class SimVcpu implements KvmVcpu, A64Machine {
  initialized = false;
  finalized = false;
  features: number[] = [];
  fset: VcpuFeatureSet = { sve: false, ptrauth: false, pmu: false, mte: false };
  target: number | undefined;
  poweredOff = false;
  private destroyed = false;
  private regList: RegId[] = [];
  private kinds = new Map<RegId, RegKind>();
  private listEpoch = -1;
  /** Saved register state: core registers by id, system registers by their descriptor's encoding. */
  state = new Map<RegId, RegValue>();
  /** Per-vCPU ID registers (6.7+ CLIDR_EL1: is_vcpu_ftr_id_reg). */
  vcpuIdRegs = new Map<string, bigint>();
  /** An MMIO access waiting for the next KVM_RUN (kvm_handle_mmio_return completes it and moves PC on). */
  mmioPending: { rt: number; isWrite: boolean; len: number; data: Uint8Array } | undefined;
  sveVqs = 0n;
  pmuInit = false;
  /** The vCPU has entered the guest (kvm_vcpu_initialized + first run: vcpu->arch.has_run_once). */
  ranOnce = false;
  /** vcpu->arch.ccsidr (6.3+): allocated by the first KVM_SET_ONE_REG of a CCSIDR that differs. */
  ccsidrs: bigint[] | undefined;

  constructor(
    readonly vm: SimVm,
    readonly id: number,
  ) {}

  private live(op: string) {
    if (this.destroyed || this.vm.destroyed) fail(op, "EBADF");
  }

  /** kvm_vcpu_set_target + kvm_vcpu_init_check_features + kvm_reset_vcpu (arm.c, reset.c). */
  init(init: VcpuInit): void {
    const op = "KVM_ARM_VCPU_INIT";
    this.live(op);
    const m = this.vm.model;
    const cpuTarget = kvmTargetCpu(this.vm.cpu.midr);
    if (m.vcpuTarget === "exact") {
      if (init.target !== cpuTarget) fail(op, "EINVAL");
      if (this.target !== undefined && this.target !== init.target) fail(op, "EINVAL");
    } else if (init.target !== ARM_TARGETS.GENERIC_V8 && init.target !== cpuTarget) fail(op, "EINVAL");
    const requested = [...new Set(init.features)].sort((a, b) => a - b);
    // 6.7+ kvm_arch_vcpu_ioctl_vcpu_init: POWER_OFF is ephemeral, cleared from the request before
    // kvm_vcpu_set_target compares or records the feature set; before, it is one of the vCPU's features
    const feats = m.powerOffEphemeral ? requested.filter((f) => f !== VCPU_FEATURES.POWER_OFF) : requested;
    for (const f of feats)
      if (f >= 7 * 32 || !m.validFeatures.includes(f)) fail(op, f < 7 * 32 ? "ENOENT" : "EINVAL");
    const has = (f: number) => feats.includes(f);
    const sys = this.vm.system;
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
    this.target = init.target;
    this.fset = {
      sve: has(VCPU_FEATURES.SVE),
      ptrauth: pa,
      pmu: has(VCPU_FEATURES.PMU_V3),
      mte: this.vm.mte,
    };
    // kvm_vcpu_enable_sve / get_sve_vls: the vector lengths up to kvm_sve_max_vl the host implements (sve_vq_map)
    this.sveVqs = this.fset.sve ? this.vm.cpu.sveVqMap & ((1n << BigInt(this.vm.cpu.sveMaxVq)) - 1n) : 0n;
    this.finalized = !this.fset.sve;
    this.poweredOff = requested.includes(VCPU_FEATURES.POWER_OFF);
    this.reset();
    this.initialized = true;
  }

  finalize(feature: number): void {
    const op = "KVM_ARM_VCPU_FINALIZE";
    this.live(op);
    if (feature !== VCPU_FEATURES.SVE) fail(op, "EINVAL");
    if (!this.fset.sve || this.finalized) fail(op, "EPERM");
    this.finalized = true;
    this.listEpoch = -1;
  }

  /** kvm_psci_version: the VM's version for a PSCI_0_2 vCPU (KVM_ARM_PSCI_LATEST until set), else 0.1. */
  psciVersion(): bigint {
    if (!this.features.includes(VCPU_FEATURES.PSCI_0_2)) return 1n;
    return this.vm.psciVersion || this.vm.model.psciLatest;
  }

  /** The guest-visible ID value KVM would give now (per VM on 6.7+, per vCPU before). */
  idValue(d: SysregDesc): bigint {
    const vm = this.vm;
    if (vm.model.idRegs === "writable") {
      const v = isVmFtrIdReg(d) ? vm.idRegs.get(d.name) : this.vcpuIdRegs.get(d.name);
      if (v !== undefined) return v;
    }
    return this.idReset(d);
  }

  /**
   * sysreg_visible_as_raz: raz_visibility (ID_UNALLOCATED, ID_HIDDEN); id_visibility's ID_AA64ZFR0_EL1 without
   * SVE; aa32_id_visibility (6.0+) without AArch32 at EL0 (kvm_supports_32bit_el0), which also makes the
   * register REG_USER_WI (see userWriteIgnored).
   */
  visibleAsRaz(d: SysregDesc): boolean {
    if (razDesc(d)) return true;
    if (d.visibility === "aa32_id_visibility" && !cpuHas32bitEl0(this.vm.cpu)) return true;
    const idVisibility = d.visibility === "id_visibility" || d.visibility === "aa32_id_visibility";
    return idVisibility && d.name === "ID_AA64ZFR0_EL1" && !this.fset.sve;
  }

  /** sysreg_user_write_ignore: REG_USER_WI (aa32_id_visibility without AArch32 EL0): KVM_SET_ONE_REG does nothing. */
  userWriteIgnored(d: SysregDesc): boolean {
    return d.visibility === "aa32_id_visibility" && !cpuHas32bitEl0(this.vm.cpu);
  }

  /** KVM's reset value of an ID-class register (the limit of arm64_check_features). */
  idReset(d: SysregDesc): bigint {
    const vm = this.vm;
    const cpu = vm.cpu;
    const name = d.name;
    // <= 6.1 read_id_reg returns 0 for a register visible as RAZ; 6.7+ __kvm_read_sanitised_id_reg (the reset
    // of most ID registers) does, while the registers with their own reset function (read_sanitised_id_dfr0_el1,
    // read_sanitised_id_aa64pfr0_el1, ...) keep their value and read_id_reg returns the VM's value as it is.
    const razChecked = vm.model.idRegs === "immutable" || !d.reset || d.reset === "kvm_read_sanitised_id_reg";
    if (razChecked && this.visibleAsRaz(d)) return 0n;
    if (name === "MIDR_EL1") return cpu.midr;
    if (name === "REVIDR_EL1") return cpu.revidr;
    if (name === "AIDR_EL1") return cpu.aidr;
    if (name === "CLIDR_EL1") return d.reset === "reset_clidr" ? this.resetClidr() : cpu.cache.clidr;
    let v = kvmIdValue(vm.model, cpu, name, this.fset);
    if (name === "ID_AA64PFR0_EL1" && vm.model.pfr0CsvWritable.length)
      for (const [f, x] of vm.pfr0Csv) v = setField(v, name, f, x);
    return v;
  }

  /**
   * reset_clidr (6.3+): a CLIDR_EL1 fabricated from the sanitised CTR_EL0. IDC: no clean to the PoU needed, so
   * one unified cache at LoC = 1 (DIC) or 2 (no DIC, leaving L1 for an instruction cache); no IDC: an L1 data
   * cache that is LoUU, LoUIS and LoC. No DIC: an L1 instruction cache as well. MTE: a unified tag cache at LoC.
   */
  private resetClidr(): bigint {
    const ctr = hostSanitised(this.vm.model, this.vm.cpu, "CTR_EL0");
    const idc = ((ctr >> 28n) & 1n) === 1n;
    const dic = ((ctr >> 29n) & 1n) === 1n;
    const ctype = (level: bigint) => 3n * (level - 1n); // CLIDR_CTYPE_SHIFT
    const CACHE_TYPE_INST = 1n;
    const CACHE_TYPE_DATA = 2n;
    const CACHE_TYPE_UNIFIED = 4n;
    let loc: bigint;
    let clidr: bigint;
    if (idc) {
      loc = dic ? 1n : 2n;
      clidr = CACHE_TYPE_UNIFIED << ctype(loc);
    } else {
      loc = 1n;
      clidr = (1n << 27n) | (1n << 21n) | (CACHE_TYPE_DATA << ctype(1n)); // LoUU, LoUIS
    }
    if (!dic) clidr |= CACHE_TYPE_INST << ctype(1n);
    clidr |= loc << 24n;
    if (this.vm.mte) clidr |= 2n << (33n + 2n * (loc - 1n)); // CLIDR_TTYPE_SHIFT(loc)
    return clidr;
  }

  /** CSSELR_MAX (6.3+): the demux CCSIDR ids KVM lists and accepts. */
  static readonly CSSELR_MAX = 14;

  /**
   * get_ccsidr (6.3+): vcpu->arch.ccsidr once userspace set one, else a fabricated CCSIDR_EL1 of one set and one
   * way with the minimum line size of CTR_EL0 (get_min_cache_line_size: IminLine / DminLine + 2 = log2 bytes).
   */
  private ccsidr(sel: number): bigint {
    if (this.ccsidrs) return this.ccsidrs[sel] ?? 0n;
    return BigInt(this.minLineSize(sel) - 4); // CCSIDR_EL1.LineSize = log2(bytes) - 4
  }

  /** CSSELR_EL1's Level and InD (the selector access_ccsidr uses). */
  csselr(): number {
    const d = descByName(this.vm.model, "CSSELR_EL1");
    return d ? Number(((this.state.get(d.id) as bigint | undefined) ?? 0n) & 0xfn) : 0;
  }

  /**
   * The guest's CCSIDR_EL1 for a CSSELR selector (access_ccsidr): before 6.3 get_ccsidr reads the hardware's
   * (the CPU model's geometry, 0 for a cache it lacks); 6.3+ get_ccsidr for a selector below CSSELR_MAX.
   */
  ccsidrFor(sel: number): bigint {
    if (this.vm.model.cacheIds === "host") return this.vm.cpu.cache.ccsidr[sel] ?? 0n;
    return sel < SimVcpu.CSSELR_MAX ? this.ccsidr(sel) : 0n;
  }

  private minLineSize(sel: number): number {
    const ctr = hostSanitised(this.vm.model, this.vm.cpu, "CTR_EL0");
    const field = sel & 1 ? Number(ctr & 0xfn) : Number((ctr >> 16n) & 0xfn); // IminLine : DminLine
    return field + 2;
  }

  /** The first value of a VM-wide ID register: KVM's reset value, with proposal (c)'s new fields at 0. */
  private idInitial(d: SysregDesc): bigint {
    let v = this.idReset(d);
    if (this.vm.enabled.vmRegs)
      for (const f of this.vm.model.newHere.idFields)
        if (f.reg === d.name) v = setField(v, f.reg, f.field, 0);
    return v;
  }

  /**
   * kvm_reset_vcpu -> kvm_reset_sys_regs: VM-wide ID registers first, once (KVM_ARCH_FLAG_ID_REGS_INITIALIZED),
   * then every other register's reset function (some read the VM's ID registers: reset_pmevtyper).
   */
  private reset(): void {
    const vm = this.vm;
    const st = this.state;
    st.clear();
    if (vm.model.idRegs === "writable") {
      if (!vm.idRegsInitialized) {
        for (const d of descsOf(vm.model))
          if (isIdDesc(d) && isVmFtrIdReg(d)) vm.idRegs.set(d.name, this.idInitial(d));
        vm.idRegsInitialized = true;
        vm.listEpoch++;
      }
      const clidr = descByName(vm.model, "CLIDR_EL1");
      if (clidr && !clidr.invariant) this.vcpuIdRegs.set("CLIDR_EL1", this.idReset(clidr));
    }
    for (const c of CORE_REGS) {
      const id = makeId(c.size, COPROC.core, c.offset);
      st.set(id, regSizeBytes(id) > 8 ? ZERO16.slice(0, regSizeBytes(id)) : 0n);
    }
    // reset.c kvm_reset_vcpu: PSTATE = EL1h with DAIF masked (or SVC32 for EL1_32BIT)
    st.set(CORE_PSTATE, this.features.includes(VCPU_FEATURES.EL1_32BIT) ? 0x1d3n : 0x3c5n);
    for (const d of descsOf(vm.model)) {
      if (isIdDesc(d) || d.invariant) continue;
      st.set(d.id, this.resetValue(d));
    }
    for (const id of vm.model.timerRegs) if (id !== TIMER_CNT && id !== PTIMER_CNT) st.set(id, 0n);
    this.mmioPending = undefined;
    this.listEpoch = -1;
  }

  /** The VM's value of an ID register field (kvm_has_feat / kvm_read_vm_id_reg). */
  private vmIdField(reg: string, field: string): number {
    const d = descByName(this.vm.model, reg);
    return d ? getField(this.idValue(d), reg, field) : 0;
  }

  /** The PMU's counter mask: the cycle counter (bit 31) and PMCR_EL0.N event counters. */
  private pmuCounterMask(): bigint {
    const n = BigInt(this.vm.cpu.pmuCounters); // 6.1: the host's PMCR_EL0.N; 6.7+: kvm->arch.pmcr_n, the same
    return (1n << 31n) | ((1n << n) - 1n);
  }

  private resetValue(d: SysregDesc): bigint {
    const vm = this.vm;
    const cpu = vm.cpu;
    const m = vm.model;
    const hasPmuV3 = cpu.pmuCounters > 0; // kvm_arm_support_pmu_v3()
    switch (d.reset) {
      case "reset_unknown":
        return RESET_UNKNOWN;
      case "reset_mpidr": {
        const i = BigInt(this.id);
        return (1n << 31n) | (i & 0xfn) | (((i >> 4n) & 0xffn) << 8n) | (((i >> 12n) & 0xffn) << 16n);
      }
      case "reset_pmcr": {
        const lc = cpuHas32bitEl0(cpu) ? 0n : 1n << 6n; // ARMV8_PMU_PMCR_LC without 32-bit EL0
        if (m.pmcrReset === "lc") return (BigInt(cpu.pmuCounters) << 11n) | lc; // + N in kvm_vcpu_read_pmcr
        // 5.10/6.1: "No PMU available, PMCR_EL0 may UNDEF..." (left at 0); else the host's PMCR_EL0 with the
        // writable bits (ARMV8_PMU_PMCR_MASK 0xff) from 0xdecafbad, PMCR.E clear
        if (!hasPmuV3) return 0n;
        return (cpu.pmcr & ~0xffn) | (0xadn & ~1n) | lc;
      }
      case "reset_pmu_reg": // PMCNTEN{SET,CLR}, PMINTEN{SET,CLR}, PMOVS{SET,CLR}: reset_unknown & counter mask
        if (m.pmcrReset === "host" && !hasPmuV3) return 0n;
        return RESET_UNKNOWN & this.pmuCounterMask();
      case "reset_pmevcntr":
        return RESET_UNKNOWN & 0xffffffffn;
      case "reset_pmselr":
        return RESET_UNKNOWN & 0x1fn; // ARMV8_PMU_COUNTER_MASK / PMSELR_EL0_SEL_MASK
      case "reset_pmevtyper": {
        if (m.pmevtyperMask === "evtype") return RESET_UNKNOWN & 0xc800ffffn; // ARMV8_PMU_EVTYPE_MASK
        // kvm_pmu_evtyper_mask: EXCLUDE_EL1 | EXCLUDE_EL0 | kvm_pmu_event_mask (PMUVer IMP: 10 bits, later: 16),
        // INCLUDE_EL2 when the VM has EL2, EXCLUDE_NS_EL0/NS_EL1/EL3 when it has EL3; 0 without a vCPU PMU
        if (!this.fset.pmu) return 0n;
        const pmuver = this.vmIdField("ID_AA64DFR0_EL1", "PMUVer");
        let mask = (3n << 30n) | (pmuver === 1 ? 0x3ffn : pmuver >= 4 && pmuver <= 7 ? 0xffffn : 0n);
        if (this.vmIdField("ID_AA64PFR0_EL1", "EL2")) mask |= 1n << 27n;
        if (this.vmIdField("ID_AA64PFR0_EL1", "EL3")) mask |= (1n << 29n) | (1n << 28n) | (1n << 26n);
        return RESET_UNKNOWN & mask;
      }
      default:
        // reset_val, reset_bvr/bcr/wvr/wcr, reset_dbg_wb_reg; reset_actlr/reset_amair copy the host's ACTLR_EL1 and
        // AMAIR_EL1, ARM_CP_CONST 0 on QEMU's CPUs (helper.c: reset_auxcr unset, AMAIR0) and 0 in the lab
        return d.valBig;
    }
  }

  /** sysreg_hidden: the visibility functions, in terms of the vCPU's features and the VM's ID values. */
  hidden(d: SysregDesc): boolean {
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
      case "pfar_visibility":
        return !this.feat("ID_AA64PFR1_EL1", "PFAR"); // "next" (synthetic), like tcr2_visibility
      default:
        return true; // el2_*, sme_visibility, hidden_visibility, ...: no EL2/SME guests modelled
    }
  }

  private feat(reg: string, field: string): boolean {
    const d = descByName(this.vm.model, reg);
    return d && hasField(reg, field) ? getField(this.idValue(d), reg, field) > 0 : false;
  }

  /**
   * Proposal (b): whether a write to a listed register changes it for the whole VM ("vm") or for this
   * vCPU only; undefined for an id the vCPU does not list.
   */
  scopeOfId(id: RegId): Scope | undefined {
    this.currentList();
    const k = this.kinds.get(stripScopeFlag(id));
    return k ? this.scopeOf(k) : undefined;
  }

  private scopeOf(k: RegKind): Scope {
    const m = this.vm.model;
    switch (k.k) {
      case "fw":
      case "bitmap":
      case "identity":
      case "cnt":
        return "vm"; // kvm->arch.psci_version, smccc_feat; WA levels are host-wide; counter offsets are VM-wide
      case "demux":
        return m.data === "5.10" || m.data === "6.1" ? "vm" : "vcpu"; // invariant before 6.3, vcpu->arch.ccsidr after
      case "id":
        if (m.idRegs === "writable") return k.d.invariant || isVmFtrIdReg(k.d) ? "vm" : "vcpu";
        return k.d.invariant || k.d.name === "ID_AA64PFR0_EL1" ? "vm" : "vcpu"; // kvm->arch.pfr0_csv2/3
      default:
        return "vcpu";
    }
  }

  /**
   * kvm_arm_copy_reg_indices: core (copy_core_reg_indices), SVE, firmware (kvm_arm_copy_fw_reg_indices),
   * timer (copy_timer_indices, before 7.x), sys_reg_descs (walk_one_sys_reg: listed and not hidden),
   * demux CCSIDR (write_demux_regids). Visibility is evaluated at each call.
   */
  private buildRegList(): void {
    const vm = this.vm;
    const m = vm.model;
    const ids: RegId[] = [];
    const kinds = this.kinds;
    kinds.clear();
    const add = (id: RegId, k: RegKind) => {
      ids.push(id);
      kinds.set(id, k);
    };
    for (const c of CORE_REGS) {
      const cid = makeId(c.size, COPROC.core, c.offset);
      if (this.fset.sve && regSizeBytes(cid) === 16) continue; // vregs only without SVE
      add(cid, { k: "core" });
    }
    if (this.fset.sve) {
      // copy_sve_reg_indices: VLS, then Z0..31, P0..15, FFR (slice 0)
      add(makeId("U512", COPROC.sve, 0xffff), { k: "vls" });
      for (let n = 0; n < 32; n++) add(makeId("U2048", COPROC.sve, n << 5), { k: "sve" });
      for (let n = 0; n < 16; n++) add(makeId("U256", COPROC.sve, 0x400 | (n << 5)), { k: "sve" });
      add(makeId("U256", COPROC.sve, 0x600), { k: "sve" });
    }
    const fw = m.fwRegs.filter((id) => ((id >> 16n) & 0xfffn) === BigInt(COPROC.fw));
    for (const id of fw) add(id, { k: "fw" });
    for (const s of m.services)
      if (vm.enabled.identity) add(identityRegId(s.service), { k: "identity", service: s.service });
    for (const id of m.fwRegs) if (!fw.includes(id)) add(id, { k: "bitmap" });
    for (const id of m.timerRegs)
      add(
        id,
        id === TIMER_CNT
          ? { k: "cnt", which: "v" }
          : id === PTIMER_CNT
            ? { k: "cnt", which: "p" }
            : { k: "timer" },
      );
    for (const d of descsOf(m)) {
      if (!d.listed || this.hidden(d)) continue;
      // copy_reg_to_user (7.x): CNTVCT_EL0 and CNTV_CVAL_EL0 keep the uapi ids KVM_REG_ARM_TIMER_CNT/_CVAL
      if (d.name === "CNTVCT_EL0") add(TIMER_CNT, { k: "cnt", which: "v" });
      else if (d.name === "CNTPCT_EL0") add(PTIMER_CNT, { k: "cnt", which: "p" });
      else if (d.name === "CNTV_CVAL_EL0") add(TIMER_CVAL, { k: "sys", d });
      else add(d.id, isIdDesc(d) || d.invariant ? { k: "id", d } : { k: "sys", d });
    }
    if (m.cacheIds === "kvm") {
      // write_demux_regids (6.3+): CCSIDR[0 .. CSSELR_MAX - 1], whatever the cache hierarchy
      for (let sel = 0; sel < SimVcpu.CSSELR_MAX; sel++)
        add(makeId("U32", COPROC.demux, sel), { k: "demux", sel });
    } else {
      // write_demux_regids (before 6.3): the caches the hardware's CLIDR_EL1 lists (is_valid_cache)
      const clidr = vm.cpu.cache.clidr;
      for (let lvl = 0; lvl < 7; lvl++) {
        const ctype = Number((clidr >> BigInt(3 * lvl)) & 7n);
        if (ctype === 0) break;
        if (ctype !== 1) add(makeId("U32", COPROC.demux, lvl * 2), { k: "demux", sel: lvl * 2 });
        if (ctype === 1 || ctype === 3)
          add(makeId("U32", COPROC.demux, lvl * 2 + 1), { k: "demux", sel: lvl * 2 + 1 });
      }
    }
    this.regList = ids;
    this.listEpoch = vm.listEpoch;
  }

  private currentList(): void {
    if (this.listEpoch !== this.vm.listEpoch) this.buildRegList();
  }

  getRegListRaw(capacity: number): RegId[] {
    const op = "KVM_GET_REG_LIST";
    this.live(op);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new RangeError("capacity must be a non-negative integer");
    if (!this.initialized) fail(op, "ENOEXEC");
    if (!this.finalized) fail(op, "EPERM"); // kvm_arm_vcpu_is_finalized
    this.currentList();
    if (capacity < this.regList.length) throw new KvmError(op, "E2BIG", { required: this.regList.length });
    if (!this.vm.enabled.scopeFlags) return this.regList.slice();
    return this.regList.map((id) =>
      this.scopeOf(this.kinds.get(id)!) === "vm" ? id | REG_SCOPE_VM_FLAG : id,
    );
  }

  private kindOf(op: string, id: RegId): RegKind {
    if (!this.initialized) fail(op, "ENOEXEC");
    let base = id;
    if (hasScopeFlag(id)) {
      if (!this.vm.enabled.scopeFlags) fail(op, "ENOENT"); // bits 28..51 set: no such register upstream
      base = stripScopeFlag(id);
    }
    if (malformedReason(base)) fail(op, "ENOENT");
    this.currentList();
    const k = this.kinds.get(base);
    if (k) {
      if (base !== id && this.scopeOf(k) !== "vm") fail(op, "ENOENT"); // the flag is only on VM-scoped ids
      // get_sve_reg/set_sve_reg: the Z/P/FFR slices need a finalized vCPU; KVM_REG_ARM64_SVE_VLS does not
      if (k.k === "sve" && !this.finalized) fail(op, "EPERM");
      return k;
    }
    // The identity range of a kernel carrying proposal (a): RAZ/WI while the cap is off (and for unknown
    // services once it is on).
    const s = identityService(base);
    if (s !== undefined && this.vm.system.proposals && regSizeBytes(base) === 8 && base === id)
      return { k: "identity", service: s };
    return fail(op, "ENOENT");
  }

  /** The guest's view of a counter: the physical count minus the VM's offset (timer_get_offset). */
  private counter(which: "v" | "p"): bigint {
    return (this.vm.clock - (which === "v" ? this.vm.voffset : this.vm.poffset)) & M64;
  }

  getOneReg(id: RegId): RegValue {
    const op = `KVM_GET_ONE_REG ${hex(id)}`;
    this.live(op);
    const k = this.kindOf(op, id);
    const vm = this.vm;
    const base = stripScopeFlag(id);
    switch (k.k) {
      case "core":
      case "timer":
        return this.state.get(base) ?? 0n;
      case "sys":
        return this.state.get(k.d.id) ?? 0n;
      case "id":
        return this.idValue(k.d);
      case "fw":
        return this.getFw(base);
      case "bitmap":
        return vm.bitmaps.get(base) ?? 0n;
      case "identity":
        return vm.getIdentity(k.service);
      case "cnt":
        return this.counter(k.which);
      case "demux":
        return vm.model.cacheIds === "kvm" ? this.ccsidr(k.sel) : (vm.cpu.cache.ccsidr[k.sel] ?? 0n);
      case "vls": {
        const b = new Uint8Array(64);
        for (let i = 0; i < 8; i++) b[i] = Number((this.sveVqs >> BigInt(8 * i)) & 0xffn);
        return b;
      }
      case "sve":
        return (this.state.get(base) as Uint8Array | undefined) ?? new Uint8Array(regSizeBytes(base));
    }
  }

  /** get_kernel_wa_level: from the host kernel's proton-pack.c states (spectre.ts). */
  private waLevel(id: RegId): bigint {
    const s = spectreState(this.vm.model.data, this.vm.cpu);
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
      const d = descByName(vm.model, "ID_AA64PFR1_EL1")!;
      return getField(this.idValue(d), "ID_AA64PFR1_EL1", "SSBS") > 0;
    }
    return getField(vm.cpu.id.ID_AA64PFR1_EL1 ?? 0n, "ID_AA64PFR1_EL1", "SSBS") > 0;
  }

  private getFw(id: RegId): bigint {
    if (id === FW_REGS.PSCI_VERSION) return this.psciVersion();
    return this.waLevel(id);
  }

  setOneReg(id: RegId, value: RegValue): void {
    const op = `KVM_SET_ONE_REG ${hex(id)}`;
    this.live(op);
    const k = this.kindOf(op, id);
    const base = stripScopeFlag(id);
    regValueToBytes(base, value); // representation check (RangeError)
    const vm = this.vm;
    switch (k.k) {
      case "core":
        if (base === CORE_PSTATE) {
          // validate_core_offset / set_core_reg: only valid AArch64/AArch32 modes
          const mode = Number((value as bigint) & 0x1fn);
          if (
            ![0x0, 0x4, 0x5].includes(mode) &&
            !(this.features.includes(VCPU_FEATURES.EL1_32BIT) && mode & 0x10)
          )
            fail(op, "EINVAL");
        }
        this.state.set(base, value);
        return;
      case "sys":
        // arch_timer_set_user / kvm_arm_timer_write: the CTL registers' ISTATUS is read-only
        this.state.set(
          k.d.id,
          /^CNT[VP]_CTL_EL0$/.test(k.d.name) ? (value as bigint) & ~ARCH_TIMER_CTRL_IT_STAT : value,
        );
        return;
      case "timer":
        this.state.set(
          base,
          base === TIMER_CTL || base === 0x603000000013df11n
            ? (value as bigint) & ~ARCH_TIMER_CTRL_IT_STAT
            : value,
        );
        return;
      case "cnt": {
        // kvm_arm_timer_set_reg / arch_timer_set_user: the VM's offset (update_vtimer_cntvoff / timer_set_offset)
        const off = (vm.clock - (value as bigint)) & M64;
        if (k.which === "v") vm.voffset = off;
        else vm.poffset = off;
        return;
      }
      case "demux": {
        const v = value as bigint;
        if (vm.model.cacheIds === "host") {
          // demux_c15_set (before 6.3): the CCSIDR is invariant, only the hardware's value is accepted
          if (v !== (vm.cpu.cache.ccsidr[k.sel] ?? 0n)) fail(op, "EINVAL");
          return;
        }
        // set_ccsidr (6.3+): RES0 bits (63:32, none in a u32) or a line size below the CTR_EL0 minimum are
        // EINVAL; the first value that differs from get_ccsidr's allocates vcpu->arch.ccsidr
        if (Number(v & 7n) + 4 < this.minLineSize(k.sel)) fail(op, "EINVAL");
        if (!this.ccsidrs) {
          if (v === this.ccsidr(k.sel)) return;
          this.ccsidrs = Array.from({ length: SimVcpu.CSSELR_MAX }, (_, i) => this.ccsidr(i));
        }
        this.ccsidrs[k.sel] = v;
        return;
      }
      case "vls": {
        // set_sve_vls: EPERM once finalized; the set must be exactly the host's lengths up to its maximum,
        // which may not exceed kvm_sve_max_vl; the maximum becomes vcpu->arch.sve_max_vl
        if (this.finalized) fail(op, "EPERM");
        const bytes = value as Uint8Array;
        let want = 0n;
        for (let i = bytes.length - 1; i >= 0; i--) want = (want << 8n) | BigInt(bytes[i]!);
        const maxVq = want === 0n ? 0 : want.toString(2).length;
        if (maxVq === 0 || maxVq > vm.cpu.sveMaxVq) fail(op, "EINVAL");
        const upTo = (1n << BigInt(maxVq)) - 1n;
        if (want !== (vm.cpu.sveVqMap & upTo)) fail(op, "EINVAL");
        this.sveVqs = want;
        return;
      }
      case "sve":
        this.state.set(base, value);
        return;
      case "fw":
        return this.setFw(op, base, value as bigint);
      case "bitmap":
        return vm.setBitmap(op, base, value as bigint, "vcpu");
      case "identity":
        return vm.setIdentity(op, k.service, value as bigint, "vcpu");
      case "id":
        if (this.userWriteIgnored(k.d)) return; // kvm_sys_reg_set_user: sysreg_user_write_ignore
        return this.setId(op, k.d, value as bigint);
    }
  }

  /** kvm_arm_set_fw_reg: PSCI_VERSION (VM-wide, never EBUSY), workaround levels checked, not stored. */
  private setFw(op: string, id: RegId, v: bigint): void {
    const vm = this.vm;
    if (id === FW_REGS.PSCI_VERSION) {
      const wants02 = this.features.includes(VCPU_FEATURES.PSCI_0_2);
      if (v === 1n) {
        if (wants02) fail(op, "EINVAL");
      } else if (!vm.model.psciVersions.includes(v) || !wants02) fail(op, "EINVAL");
      vm.psciVersion = v;
      return;
    }
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

  /** The set_user functions in front of set_id_reg (6.7+), by descriptor. */
  private idPrefilter(op: string, d: SysregDesc, v: bigint): bigint {
    const m = this.vm.model;
    const cpu = this.vm.cpu;
    const is72 = m.data === "7.2";
    const name = d.name;
    const f = (field: string) => getField(v, name, field);
    const hw = () => hostSanitised(m, cpu, name);
    switch (d.setUser) {
      case "set_id_aa64pfr0_el1": {
        // MPAM: the host's value is accepted and ignored
        if (hasField(name, "MPAM") && getField(hw(), name, "MPAM") === f("MPAM"))
          v = setField(v, name, "MPAM", 0);
        if (is72 && (!getField(v, name, "EL0") || !getField(v, name, "EL1"))) fail(op, "EINVAL"); // keep AArch64
        return v;
      }
      case "set_id_aa64pfr1_el1": {
        if (getField(hw(), name, "MPAM_frac") === f("MPAM_frac")) v = setField(v, name, "MPAM_frac", 0);
        // 7.x: MTE_frac ASYNC (0) from userspace stands for the host's NI (0xf) when MTE is MTE2
        if (
          is72 &&
          getField(hw(), name, "MTE") === 2 &&
          getField(hw(), name, "MTE_frac") === 0xf &&
          f("MTE_frac") === 0
        )
          v = setField(v, name, "MTE_frac", 0xf);
        return v;
      }
      case "set_id_aa64mmfr2_el1":
        // 7.x: the deprecated NV field is accepted at the host's value and ignored
        return getField(hw(), name, "NV") === f("NV") ? setField(v, name, "NV", 0) : v;
      case "set_ctr_el0":
        if (f("L1Ip") < 2) fail(op, "EINVAL"); // VPIPT and AIVIVT are reserved
        return v;
      case "set_id_aa64dfr0_el1":
        if (f("PMUVer") === 0xf) v = setField(v, name, "PMUVer", 0); // IMP_DEF becomes NI
        if (f("DebugVer") < 6) fail(op, "EINVAL"); // DebugVer_IMP is the minimum
        return v; // 7.x ignore_feat_doublelock not modelled
      case "set_id_dfr0_el1": {
        let perfmon = f("PerfMon");
        if (perfmon === 0xf) {
          v = setField(v, name, "PerfMon", 0);
          perfmon = 0;
        }
        if (perfmon !== 0 && perfmon < 3) fail(op, "EINVAL"); // PMUv3 or nothing
        if (f("CopDbg") < 6) fail(op, "EINVAL"); // CopDbg_Armv8
        return v;
      }
      default:
        return v;
    }
  }

  private setId(op: string, d: SysregDesc, v: bigint): void {
    const vm = this.vm;
    const m = vm.model;
    const name = d.name;
    if (name === "CLIDR_EL1" && !d.invariant) {
      // set_clidr (6.3+): per vCPU, no EBUSY after the first run
      const ctr = hostSanitised(m, vm.cpu, "CTR_EL0");
      const loc = (v >> 24n) & 7n;
      const louis = (v >> 21n) & 7n;
      const louu = (v >> 27n) & 7n;
      const idc = loc === 0n || (louis === 0n && louu === 0n);
      if (v >> 47n || (!((ctr >> 28n) & 1n) && idc)) fail(op, "EINVAL");
      this.vcpuIdRegs.set(name, v);
      return;
    }
    const cur = this.idValue(d);
    if (m.idRegs === "immutable") {
      if (name === "ID_AA64PFR0_EL1" && m.pfr0CsvWritable.length) {
        // set_id_aa64pfr0_el1 (5.10, 6.1): CSV2 (and CSV3) may be lowered, or raised to 1 when unaffected
        for (const f of m.pfr0CsvWritable) {
          const x = getField(v, name, f);
          const st = spectreState(m.data, vm.cpu); // arm64_get_spectre_v2_state / arm64_get_meltdown_state
          const unaffected = f === "CSV2" ? st.v2 === "UNAFFECTED" : st.meltdown === "UNAFFECTED";
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
      if (v !== cur) fail(op, "EINVAL"); // __set_id_reg / set_invariant_sys_reg: "you can't change it"
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
    if (d.invariant) {
      if (v !== cur) fail(op, "EINVAL"); // set_invariant_sys_reg (before 6.15)
      return;
    }
    v = this.idPrefilter(op, d, v);
    // set_id_reg (6.7+)
    if (vm.ranOnce) {
      if (v !== cur) fail(op, "EBUSY");
      return;
    }
    const r = checkFeatures(m, name, v, this.idReset(d), d.valBig, this.visibleAsRaz(d));
    if (r !== "ok") fail(op, "EINVAL"); // E2BIG is reported as EINVAL
    vm.idRegs.set(name, v);
    vm.listEpoch++; // visibility functions read ID fields
  }

  /** KVM_RUN (kvm_arch_vcpu_ioctl_run). */
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
      vm.listEpoch++;
    }
    // kvm_handle_mmio_return: complete the load (zeros unless answered), then step past the instruction
    const p = this.mmioPending;
    if (p) {
      if (!p.isWrite && p.rt !== 31) {
        let x = 0n;
        for (let i = p.len - 1; i >= 0; i--) x = (x << 8n) | BigInt(p.data[i] ?? 0);
        this.setX(p.rt, x);
      }
      this.setPc(this.pc() + 4n);
      this.mmioPending = undefined;
    }
    // A vCPU initialised with POWER_OFF waits in KVM_RUN for a PSCI CPU_ON: only a signal ends the call.
    if (this.poweredOff) return { reason: "INTR", code: 10 };
    if (!this.ranOnce) {
      this.ranOnce = true;
      // kvm_vcpu_first_run_init -> kvm_arm_pmu_v3_enable: KVM_REQ_RELOAD_PMU, handled before entering the guest
      const pmcr = descByName(vm.model, "PMCR_EL0");
      if (this.fset.pmu && vm.model.pmuReloadClearsPmcrCP && pmcr) {
        const v = (this.state.get(pmcr.id) as bigint | undefined) ?? 0n;
        this.state.set(pmcr.id, v & ~0b110n); // kvm_pmu_handle_pmcr: without PMCR.C and PMCR.P
      }
    }
    this.throughHardware();
    const exit = runInterp(this, RUN_BUDGET);
    this.throughHardware();
    return exit;
  }

  /**
   * The world switch around the guest: the hyp loads the vCPU's EL1/EL0 registers into the CPU
   * (__sysreg_restore_el1_state, ..._user_state, ..._common_state) and reads them back on the way out
   * (__sysreg_save_*): what the CPU does not keep (QEMU's ARM_CP_CONST AFSR0/AFSR1/AMAIR, CSSELR's four bits,
   * VBAR's low five: CpuModel.hardwareStore) comes back changed.
   */
  private throughHardware(): void {
    const vm = this.vm;
    for (const name of vm.model.hwSysregs) {
      const h = vm.cpu.hardwareStore[name];
      const d = h && h.store !== "raw" ? descByName(vm.model, name) : undefined;
      const v = d ? (this.state.get(d.id) as bigint | undefined) : undefined;
      if (!h || !d || v === undefined) continue;
      this.state.set(d.id, h.store === "const" ? h.value : h.store === "mask" ? v & h.mask : v);
    }
  }

  // ---- the machine under the interpreter ----------------------------------------------------------

  x(n: number): bigint {
    return (this.state.get(X[n]!) as bigint | undefined) ?? 0n;
  }
  setX(n: number, v: bigint): void {
    this.state.set(X[n]!, v & M64);
  }
  pc(): bigint {
    return (this.state.get(CORE_PC) as bigint | undefined) ?? 0n;
  }
  setPc(v: bigint): void {
    this.state.set(CORE_PC, v & M64);
  }
  private static readonly STATE_IDS: Record<A64StateReg, RegId> = {
    PSTATE: CORE_PSTATE,
    SP_EL0: CORE_SP_EL0,
    SP_EL1: CORE_SP_EL1,
    ELR_EL1: CORE_ELR_EL1,
    SPSR_EL1: CORE_SPSR_EL1,
    ESR_EL1: SYS_ESR_EL1,
    FAR_EL1: SYS_FAR_EL1,
    VBAR_EL1: SYS_VBAR_EL1,
  };
  get(r: A64StateReg): bigint {
    return (this.state.get(SimVcpu.STATE_IDS[r]) as bigint | undefined) ?? 0n;
  }
  set(r: A64StateReg, v: bigint): void {
    this.state.set(SimVcpu.STATE_IDS[r], v & M64);
  }
  ram(gpa: bigint, len: number) {
    return this.vm.ram(gpa, len);
  }

  /** kvm_smccc_call_handler (6.4+: SMCCC filter first), kvm_hvc_call_handler before. */
  private smcccTrap(conduit: "hvc" | "smc"): TrapOutcome {
    const vm = this.vm;
    const fid = Number(this.x(0) & 0xffffffffn);
    if (vm.model.smcccFilter) {
      const action = vm.filterAction(fid);
      if (action === FILTER.DENY) {
        this.setX(0, NOT_SUPPORTED);
        return { kind: "continue" };
      }
      if (action === FILTER.FWD_TO_USER) {
        // kvm_prepare_hypercall_exit
        const flags = conduit === "smc" ? 1n : 0n;
        return {
          kind: "exit",
          exit: {
            reason: "HYPERCALL",
            code: 3,
            nr: BigInt(fid),
            functionId: fid,
            conduit,
            is16bit: false,
            flags,
            args: [0n, 0n, 0n, 0n, 0n, 0n],
            ret: 0n,
          },
        };
      }
    }
    const r = smcccCall(this.hypercallContext(), [this.x(0), this.x(1), this.x(2), this.x(3)]);
    if (r.kind === "off" || r.kind === "reset") {
      r.preload.forEach((x, i) => this.setX(i, x));
      return { kind: "exit", exit: this.systemEvent(r.kind === "off" ? "SHUTDOWN" : "RESET", r.flags) };
    }
    r.x.forEach((x, i) => this.setX(i, x));
    return { kind: "continue" };
  }

  /** handle_hvc: the immediate is ignored. */
  hvc(_imm: number): TrapOutcome {
    return this.smcccTrap("hvc");
  }

  /** handle_smc: 5.10/6.1 always x0 = ~0; 6.4+ ~0 for a nonzero immediate, else an SMCCC call. */
  smc(imm: number): TrapOutcome {
    if (this.vm.system.hostSmcUndefined) return { kind: "undef" };
    if (!this.vm.model.smcccFilter || imm !== 0) {
      this.setX(0, M64);
      return { kind: "continue" };
    }
    return this.smcccTrap("smc");
  }

  mrs(e: SysregEnc): bigint | "undef" | "sysreg-trap" {
    return guestSysreg(this, e);
  }

  /** A guest MSR: KVM's trap handlers store what the descriptor stores; ID/read-only and unknown ones UNDEF. */
  msr(e: SysregEnc, v: bigint): boolean {
    const id = sysregId(e.op0, e.op1, e.crn, e.crm, e.op2);
    const d = descById(this.vm.model, id);
    const t = d ? undefined : timerStateId(this.vm.model, e);
    if (t !== undefined) {
      this.state.set(t, e.op2 === 1 ? v & ~ARCH_TIMER_CTRL_IT_STAT : v);
      return true;
    }
    if (!d || d.access === "undef_access" || isIdDesc(d) || d.invariant || this.hidden(d)) return false;
    if (e.op0 === 3 && e.op1 === 0 && e.crn === 0) return false;
    this.state.set(d.id, v);
    return true;
  }

  mmio(a: { address: bigint; isWrite: boolean; len: number; rt: number; data: Uint8Array }): KvmExit {
    // io_mem_abort: PC stays on the instruction until the next KVM_RUN (kvm_handle_mmio_return)
    this.mmioPending = { rt: a.rt, isWrite: a.isWrite, len: a.len, data: new Uint8Array(a.len) };
    return {
      reason: "MMIO",
      code: 6,
      address: a.address,
      isWrite: a.isWrite,
      length: a.len,
      data: a.isWrite ? a.data.slice(0, a.len) : new Uint8Array(a.len),
    };
  }

  /**
   * kvm_handle_guest_abort: an instruction fetch from an address no memslot backs is re-injected as an
   * external abort (kvm_inject_pabt / kvm_inject_sea_iabt: EC IABT_CUR, FSC EXTABT, FAR = the address).
   * If the vector is not backed either, the guest faults for ever inside KVM_RUN: only a signal ends it.
   */
  fetchAbort(pc: bigint): KvmExit | undefined {
    const el0 = ((this.get("PSTATE") >> 2n) & 3n) === 0n;
    const esr = ESR_IL | (BigInt(el0 ? ESR_EC_IABT_CUR - 1 : ESR_EC_IABT_CUR) << 26n) | 0x10n;
    takeException(this, esr, pc);
    return this.ram(this.pc(), 4) ? undefined : { reason: "INTR", code: 10 };
  }

  /** kvm_handle_wfx: the vCPU blocks until an interrupt; the simulator has no interrupt source, so a signal. */
  wfi(): KvmExit {
    return { reason: "INTR", code: 10 };
  }

  /** Context for the SMCCC handler. */
  hypercallContext(): HypercallContext {
    const vm = this.vm;
    return {
      model: vm.model,
      cpu: vm.cpu,
      psciVersion: this.psciVersion(),
      bitmap: (id) => vm.bitmaps.get(id) ?? 0n,
      ssbs: this.ssbs(),
      now: () => (vm.clock += 0x100n),
      revision: (s) => vm.revision(s),
      identityCap: vm.enabled.identity,
    };
  }

  smccc(x: readonly bigint[]) {
    return smcccCall(this.hypercallContext(), x);
  }

  /** KVM_EXIT_SYSTEM_EVENT; `flags` (data[0]) e.g. KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2. */
  systemEvent(type: keyof typeof SYSTEM_EVENT_TYPES, flags = 0n): KvmExit {
    return {
      reason: "SYSTEM_EVENT",
      code: 24,
      type: SYSTEM_EVENT_TYPES[type],
      event: type,
      data: [flags],
      flags,
    };
  }

  /** vCPU device attributes: PMU_V3_CTRL (0: IRQ 0, INIT 1, FILTER 2, SET_PMU 3), TIMER_CTRL (1), PVTIME_CTRL (2). */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    const a = Number(attr);
    const old = this.vm.model.data === "5.10" || this.vm.model.data === "6.1";
    if (group === 0) return this.fset.pmu && a <= (this.vm.model.data === "5.10" ? 1 : 3);
    if (group === 1) return a <= (old ? 1 : 3);
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

  /** Data for the pending MMIO load; KVM copies it into the register at the next KVM_RUN. */
  setMmioReadData(data: Uint8Array): void {
    this.live("KVM_RUN");
    const p = this.mmioPending;
    if (!p || p.isWrite) return;
    p.data = new Uint8Array(p.len);
    p.data.set(data.subarray(0, p.len));
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/**
 * An UNDEFINED read the CPU raises without a trap to KVM: reported with EC 0x18 when the CPU implements
 * FEAT_IDST (ID_AA64MMFR2_EL1.IDS, the hardware's own value) and the encoding is in the feature ID space
 * (op0 3, op1 0/1/3, CRn 0, CRm 0..7: QEMU's gen_sysreg_undef / arm_cpreg_encoding_in_idspace), else EC 0x00.
 */
function hardwareUndef(cpu: CpuModel, e: SysregEnc): "undef" | "sysreg-trap" {
  const idst = getField(cpu.id.ID_AA64MMFR2_EL1 ?? 0n, "ID_AA64MMFR2_EL1", "IDS") !== 0;
  const idSpace = e.op0 === 3 && [0, 1, 3].includes(e.op1) && e.crn === 0 && e.crm < 8;
  return idst && idSpace ? "sysreg-trap" : "undef";
}

/**
 * Whether the guest's CTR_EL0 reads trap to KVM (HCR_EL2.TID2; GenerationModel.ctrTrap): <= 6.2
 * vcpu_reset_hcr sets TID2 only for ARM64_MISMATCHED_CACHE_TYPE (never on a one-CPU host: has_mismatched_cache_type
 * compares the CPU with itself) or a 32-bit EL1 vCPU; 6.3+ (vcpu_set_hcr) sets TID4 instead of TID2 when the
 * host has FEAT_EVT (ARM64_HAS_EVT) and the VM's CTR_EL0 is the host's sanitised one. Untrapped, the guest
 * reads the CPU's own CTR_EL0 (IDC as the CPU has it, not read_cpuid_effective_cachetype's).
 */
function ctrTrapped(vcpu: SimVcpu): boolean {
  const vm = vcpu.vm;
  if (vm.model.ctrTrap === "tid2") return vcpu.features.includes(VCPU_FEATURES.EL1_32BIT);
  const mmfr2 = hostSanitised(vm.model, vm.cpu, "ID_AA64MMFR2_EL1");
  const evt = getField(mmfr2, "ID_AA64MMFR2_EL1", "EVT") >= 1;
  return !(evt && idOf(vcpu, "CTR_EL0") === hostSanitised(vm.model, vm.cpu, "CTR_EL0"));
}

/** A guest's MRS view of a system register, "undef" or "sysreg-trap" (see A64Machine.mrs). */
export function guestSysreg(vcpu: SimVcpu, e: SysregEnc): bigint | "undef" | "sysreg-trap" {
  const vm = vcpu.vm;
  const cpu = vm.cpu;
  const id = sysregId(e.op0, e.op1, e.crn, e.crm, e.op2);
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 0 && e.crm === 0) {
    // not trapped: VPIDR_EL2 / VMPIDR_EL2 / hardware REVIDR
    if (e.op2 === 0) return idOf(vcpu, "MIDR_EL1") ?? cpu.midr;
    if (e.op2 === 5) return (vcpu.state.get(id) as bigint | undefined) ?? 0n;
    if (e.op2 === 6) return idOf(vcpu, "REVIDR_EL1") ?? cpu.revidr;
    return hardwareUndef(cpu, e); // unallocated, and outside HCR_EL2.TID1/TID3's groups
  }
  if (e.op0 === 3 && e.op1 === 3 && e.crn === 0 && e.crm === 0 && e.op2 === 1 && !ctrTrapped(vcpu))
    return cpu.ctr;
  if (e.op0 === 3 && e.op1 === 3 && e.crn === 0 && e.crm === 0 && e.op2 === 7) return cpu.dczid;
  // CNTVCT_EL0 / CNTPCT_EL0: the counter minus the VM's offset (not trapped before 7.x; emulated after)
  if (e.op0 === 3 && e.op1 === 3 && e.crn === 14 && e.crm === 0 && (e.op2 === 1 || e.op2 === 2))
    return (vm.clock - (e.op2 === 2 ? vm.voffset : vm.poffset)) & M64;
  const d = descById(vm.model, id);
  if (!d) {
    const t = timerStateId(vm.model, e);
    if (t !== undefined) return (vcpu.state.get(t) as bigint | undefined) ?? 0n;
    if (e.op0 === 3 && e.op1 === 0 && e.crn === 0) return 0n; // reserved ID space: RAZ
    return "undef";
  }
  if (d.access === "undef_access" || vcpu.hidden(d)) return "undef"; // perform_access: hidden -> UNDEF
  if (d.access === "access_ccsidr") return vcpu.ccsidrFor(vcpu.csselr());
  if (isIdDesc(d) || d.invariant) return vcpu.idValue(d);
  return (vcpu.state.get(id) as bigint | undefined) ?? 0n;
}

/**
 * Before 7.x the EL1 timer registers are not in sys_reg_descs: the guest reaches them without a trap and
 * KVM saves them under the uapi ids (CNTV_CTL_EL0 = KVM_REG_ARM_TIMER_CTL, CNTV_CVAL_EL0 = KVM_REG_ARM_TIMER_CVAL,
 * whose id is CNTVCT_EL0's encoding; the physical timer likewise).
 */
function timerStateId(model: GenerationModel, e: SysregEnc): RegId | undefined {
  if (!model.timerRegs.length || e.op0 !== 3 || e.op1 !== 3 || e.crn !== 14 || (e.crm !== 2 && e.crm !== 3))
    return undefined;
  if (e.op2 === 1) return sysregId(3, 3, 14, e.crm, 1); // CNT[VP]_CTL_EL0
  if (e.op2 === 2) return e.crm === 3 ? TIMER_CVAL : sysregId(3, 3, 14, 2, 2); // CNT[VP]_CVAL_EL0
  return undefined;
}

function idOf(vcpu: SimVcpu, name: string): bigint | undefined {
  const d = descByName(vcpu.vm.model, name);
  return d ? vcpu.idValue(d) : undefined;
}

export function decodeForTests(id: RegId) {
  return decodeId(id);
}

/** Opens a simulated /dev/kvm. */
export function openSimKvm(opts: SimOptions): SimSystem {
  return new SimSystem(opts);
}
