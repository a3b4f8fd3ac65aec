/**
 * The vCPU configurations a probe covers (vcpu-configs.ts), and a "session": one VM with one vCPU set
 * up for a configuration (KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_ARM_VCPU_INIT, KVM_ARM_VCPU_FINALIZE for
 * SVE, the PMU's INIT attribute for PMU_V3), optionally already run once with the guest probe program.
 * Setup steps record their result; steps that cannot fail on a working KVM (creating the VM or vCPU)
 * throw, naming the operation and errno.
 */
import {
  DEFAULT_IRQCHIP,
  KVM_CAP,
  VCPU_FEATURES,
  createIrqchip,
  guest,
  initIrqchip,
  initPmu,
  vcpuFeatures,
  errnoOf,
} from "../kvm/index.js";
import type { Irqchip, KvmSystem, KvmVcpu, KvmVm } from "../kvm/index.js";
import type { VcpuConfig } from "./vcpu-configs.js";

export { VCPU_CONFIGS, configByName } from "./vcpu-configs.js";
export type { VcpuConfig } from "./vcpu-configs.js";

/** The configuration whose after-run values a profile keeps as saved state for restore trials. */
export const SAVED_STATE_CONFIG = "psci-0.2";

export interface SessionSteps {
  enableCap?: string;
  init: string;
  finalize?: string;
  /** KVM_CREATE_DEVICE(VGIC_V3) with its frames and interrupt count, and the ITS (kvm/machine.ts createIrqchip). */
  gic?: string;
  /** CTRL_INIT with the PMU's IRQ before it and INIT after it (kvm/machine.ts initIrqchip). */
  irqchipInit?: string;
  pmuInit?: string;
}

export interface Session {
  vm: KvmVm;
  vcpu: KvmVcpu;
  /** The vGICv3 and ITS; absent when the host offers none (the VM then runs without an irqchip). */
  irqchip?: Irqchip;
  steps: SessionSteps;
  /** Setup got far enough to list and run the vCPU. */
  ready: boolean;
  run?: guest.ProbeRun;
}

export interface SessionOptions {
  /** KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) before creating the vCPU. */
  writableImpIdRegs?: boolean;
  /** Stop before the vGIC's CTRL_INIT (and the PMU's INIT): for trials of what KVM allows before it. */
  irqchipUninitialized?: boolean;
  /** Called after KVM_ARM_VCPU_INIT, before the irqchip exists (ID register writes that must come first). */
  afterVcpuInit?: (vcpu: KvmVcpu) => void;
  /** Run the guest probe program once (the vCPU's first KVM_RUN) after setup. */
  program?: guest.ProbeProgram;
}

/** Opens a session; on any throw the VM is destroyed. The caller destroys it (destroySession). */
export function openSession(system: KvmSystem, config: VcpuConfig, opts: SessionOptions = {}): Session {
  const vm = system.createVm();
  try {
    const steps: SessionSteps = { init: "" };
    if (opts.writableImpIdRegs)
      steps.enableCap = errnoOf(() => vm.enableCap(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS));
    const target = vm.preferredTarget().target;
    const vcpu = vm.createVcpu(0);
    steps.init = errnoOf(() => vcpu.init({ target, features: vcpuFeatures(...config.features) }));
    let ready = steps.init === "ok";
    if (ready && config.features.includes("SVE")) {
      // KVM_GET_REG_LIST and KVM_RUN answer EPERM until SVE is finalized (kvm_arm_vcpu_is_finalized).
      steps.finalize = errnoOf(() => vcpu.finalize(VCPU_FEATURES.SVE));
      ready = steps.finalize === "ok";
    }
    if (ready) opts.afterVcpuInit?.(vcpu);
    const pmu = config.features.includes("PMU_V3");
    let irqchip: Irqchip | undefined;
    if (ready) steps.gic = errnoOf(() => (irqchip = createIrqchip(vm, DEFAULT_IRQCHIP)));
    if (irqchip) {
      if (!opts.irqchipUninitialized) {
        const chip = irqchip;
        steps.irqchipInit = errnoOf(() => initIrqchip(chip, pmu ? [vcpu] : []));
        if (pmu) steps.pmuInit = steps.irqchipInit;
        ready = steps.irqchipInit === "ok";
      }
    } else if (ready && pmu) {
      // No vGICv3 (the host offers none): kvm_arm_pmu_v3_enable() fails KVM_RUN until PMU_V3_INIT.
      steps.pmuInit = errnoOf(() => initPmu(vcpu));
    }
    const session: Session = { vm, vcpu, steps, ready, ...(irqchip ? { irqchip } : {}) };
    if (ready && opts.program) session.run = guest.runProbeProgram(vm, vcpu, opts.program);
    return session;
  } catch (e) {
    vm.destroy();
    throw e;
  }
}

export function destroySession(s: Session | undefined): void {
  s?.vm.destroy();
}
