/**
 * /dev/kvm of the simulated kernel: arm.c kvm_arch_dev_ioctl, kvm_vm_ioctl_check_extension, kvm_main.c.
 *
 * The simulated kernel: KvmSystem/KvmVm/KvmVcpu for a (kernel generation, host CPU model) pair,
 * errno-exact for what it models (see README.md). Sources: arch/arm64/kvm/{arm.c,guest.c,sys_regs.c,
 * hypercalls.c,psci.c,reset.c,handle_exit.c,mmio.c,mmu.c,arch_timer.c} of each generation. The
 * proposals of proposals.ts are modelled only when SimOptions.proposals is set.
 */
import type { CreateVmOptions, KvmSystem } from "../types.js";
import { KVM_API_VERSION } from "../uapi.js";
import { CAPS_BY_NUMBER, fail } from "./common.js";
import { cpuModel } from "./cpus.js";
import type { CpuModel } from "./cpus.js";
import { getField, hasField } from "./descs.js";
import { generationModel } from "../kernels/generations.js";
import type { GenerationModel, SimGeneration } from "../kernels/model.js";
import { hostSanitised } from "./idregs.js";
import { guestabiCapName } from "./proposals.js";
import { SimVm } from "./vm.js";

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
  /**
   * The answer of kvm_vm_ioctl_check_extension(_generic) with kvm = NULL ("dev") or a VM; a negative one throws.
   * `msisRequireDevid`: the VM has an ITS (kvm->arch.vgic.msis_require_devid).
   */
  capValue(cap: number, on: "dev" | "vm", msisRequireDevid = false): number {
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
        return msisRequireDevid ? 1 : 0;
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

/** Opens a simulated /dev/kvm. */
export function openSimKvm(opts: SimOptions): SimSystem {
  return new SimSystem(opts);
}
