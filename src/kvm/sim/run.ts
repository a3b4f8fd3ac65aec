/** KVM_RUN and guest exits: arm.c kvm_arch_vcpu_ioctl_run, handle_exit.c, hypercalls.c, mmio.c, mmu.c. */
import type { KvmExit } from "../types.js";
import { FILTER, M64, fail } from "./common.js";
import { descByName } from "../kernels/descs.js";
import { setField } from "./descs.js";
import { smcccCall } from "./hypercalls.js";
import type { HypercallContext } from "./hypercalls.js";
import { ESR_EC_IABT_CUR, ESR_IL, run as runInterp, takeException } from "./interp.js";
import type { MmioAccess, TrapOutcome } from "./interp.js";
import type { SimVcpu } from "./vcpu.js";
import { finalizeGicIdRegs } from "./vgic.js";

/** Instructions a KVM_RUN may execute before the simulator treats the vCPU as interrupted (INTR exit). */
const RUN_BUDGET = 1_000_000;

const NOT_SUPPORTED = M64; // SMCCC_RET_NOT_SUPPORTED

/** KVM_RUN (kvm_arch_vcpu_ioctl_run). */
export function run(vcpu: SimVcpu): KvmExit {
  const op = "KVM_RUN";
  vcpu.live(op);
  if (!vcpu.initialized) fail(op, "ENOEXEC");
  if (!vcpu.finalized) fail(op, "EPERM");
  if (vcpu.fset.pmu && !vcpu.pmuInit) fail(op, "EINVAL"); // kvm_arm_pmu_v3_enable: PMU not created
  const vm = vcpu.vm;
  if (!vcpu.ranOnce) {
    // kvm_arch_vcpu_run_pid_change: kvm_vgic_map_resources (once for the VM), then kvm_arm_pmu_v3_enable
    const err = vm.vgic?.mapResources();
    if (err) fail(op, err);
    pmuEnable(vcpu, op);
  }
  if (!vm.ranOnce) {
    vm.ranOnce = true;
    // kvm_finalize_sys_regs: with a vGICv3, kvm_vgic_finalize_idregs (7.2); without one the GIC fields go
    if (vm.vgic) finalizeGicIdRegs(vm, "first-run");
    else
      for (const c of vm.model.firstRunClearsWithoutVgic) {
        const v = vm.idRegs.get(c.reg);
        if (v !== undefined) vm.idRegs.set(c.reg, setField(v, c.reg, c.field, 0));
      }
    vm.listEpoch++;
  }
  // kvm_handle_mmio_return: complete the load (zeros unless answered), then step past the instruction
  const p = vcpu.mmioPending;
  if (p) {
    if (!p.isWrite && p.rt !== 31) {
      let x = 0n;
      for (let i = p.len - 1; i >= 0; i--) x = (x << 8n) | BigInt(p.data[i] ?? 0);
      vcpu.setX(p.rt, x);
    }
    vcpu.setPc(vcpu.pc() + 4n);
    vcpu.mmioPending = undefined;
  }
  // A vCPU initialised with POWER_OFF waits in KVM_RUN for a PSCI CPU_ON: only a signal ends the call.
  if (vcpu.poweredOff) return { reason: "INTR", code: 10 };
  if (!vcpu.ranOnce) {
    vcpu.ranOnce = true;
    // kvm_vcpu_first_run_init -> kvm_arm_pmu_v3_enable: KVM_REQ_RELOAD_PMU, handled before entering the guest
    const pmcr = descByName(vm.model, "PMCR_EL0");
    if (vcpu.fset.pmu && vm.model.pmuReloadClearsPmcrCP && pmcr) {
      const v = (vcpu.state.get(pmcr.id) as bigint | undefined) ?? 0n;
      vcpu.state.set(pmcr.id, v & ~0b110n); // kvm_pmu_handle_pmcr: without PMCR.C and PMCR.P
    }
  }
  throughHardware(vcpu);
  const exit = runInterp(vcpu, RUN_BUDGET);
  throughHardware(vcpu);
  return exit;
}

/**
 * kvm_arm_pmu_v3_enable with an in-kernel vGIC: the PMU's interrupt must be set (INIT required it) and an
 * SPI must be one the vGIC has. (Without a vGIC no interrupt can have been set: the IRQ attribute needs one.)
 */
function pmuEnable(vcpu: SimVcpu, op: string): void {
  const vgic = vcpu.vm.vgic;
  if (!vcpu.fset.pmu || !vgic) return;
  const irq = vcpu.pmuIrq;
  if (irq === undefined || (irq >= 32 && irq >= vgic.nrIrqs)) fail(op, "EINVAL");
}

/**
 * The world switch around the guest: the hyp loads the vCPU's EL1/EL0 registers into the CPU
 * (__sysreg_restore_el1_state, ..._user_state, ..._common_state) and reads them back on the way out
 * (__sysreg_save_*): what the CPU does not keep (QEMU's ARM_CP_CONST AFSR0/AFSR1/AMAIR, CSSELR's four bits,
 * VBAR's low five: CpuModel.hardwareStore) comes back changed.
 */
function throughHardware(vcpu: SimVcpu): void {
  const vm = vcpu.vm;
  for (const name of vm.model.hwSysregs) {
    const h = vm.cpu.hardwareStore[name];
    const d = h && h.store !== "raw" ? descByName(vm.model, name) : undefined;
    const v = d ? (vcpu.state.get(d.id) as bigint | undefined) : undefined;
    if (!h || !d || v === undefined) continue;
    vcpu.state.set(d.id, h.store === "const" ? h.value : h.store === "mask" ? v & h.mask : v);
  }
}

/** kvm_smccc_call_handler (6.4+: SMCCC filter first), kvm_hvc_call_handler before. */
function smcccTrap(vcpu: SimVcpu, conduit: "hvc" | "smc"): TrapOutcome {
  const vm = vcpu.vm;
  const fid = Number(vcpu.x(0) & 0xffffffffn);
  if (vm.model.smcccFilter) {
    const action = vm.filterAction(fid);
    if (action === FILTER.DENY) {
      vcpu.setX(0, NOT_SUPPORTED);
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
  const r = smcccCall(vcpu.hypercallContext(), [vcpu.x(0), vcpu.x(1), vcpu.x(2), vcpu.x(3)]);
  if (r.kind === "off" || r.kind === "reset") {
    r.preload.forEach((x, i) => vcpu.setX(i, x));
    return { kind: "exit", exit: vcpu.systemEvent(r.kind === "off" ? "SHUTDOWN" : "RESET", r.flags) };
  }
  r.x.forEach((x, i) => vcpu.setX(i, x));
  return { kind: "continue" };
}

/** handle_hvc: the immediate is ignored. */
export function hvc(vcpu: SimVcpu, _imm: number): TrapOutcome {
  return smcccTrap(vcpu, "hvc");
}

/** handle_smc: 5.10/6.1 always x0 = ~0; 6.4+ ~0 for a nonzero immediate, else an SMCCC call. */
export function smc(vcpu: SimVcpu, imm: number): TrapOutcome {
  if (vcpu.vm.system.hostSmcUndefined) return { kind: "undef" };
  if (!vcpu.vm.model.smcccFilter || imm !== 0) {
    vcpu.setX(0, M64);
    return { kind: "continue" };
  }
  return smcccTrap(vcpu, "smc");
}

/**
 * io_mem_abort: an in-kernel device's frame (kvm_io_bus_write/read: the vGIC's distributor and
 * redistributors, the ITS) completes the access in the kernel: a load's bytes come back as an unsigned
 * number (the interpreter writes Rt and steps past the instruction), a store returns undefined. Any other
 * address exits to userspace (mmioExit).
 */
export function mmio(vcpu: SimVcpu, a: MmioAccess): KvmExit | bigint | undefined {
  const vm = vcpu.vm;
  if (!vm.vgic?.mapped) return mmioExit(vcpu, a);
  let store: bigint | undefined;
  if (a.isWrite) {
    store = 0n;
    for (let i = a.len - 1; i >= 0; i--) store = (store << 8n) | BigInt(a.data[i] ?? 0);
  }
  let value = vm.vgic.guestAccess(a.address, a.len, store);
  for (const its of vm.its) value ??= its.guestAccess(a.address, a.len, store);
  if (value === undefined) return mmioExit(vcpu, a);
  // A64Machine.mmio: a load's bytes as an unsigned number (the interpreter writes Rt); a store: done
  return a.isWrite ? undefined : value & ((1n << BigInt(8 * a.len)) - 1n);
}

/** KVM_EXIT_MMIO: PC stays on the instruction until the next KVM_RUN (kvm_handle_mmio_return). */
export function mmioExit(vcpu: SimVcpu, a: MmioAccess): KvmExit {
  vcpu.mmioPending = { rt: a.rt, isWrite: a.isWrite, len: a.len, data: new Uint8Array(a.len) };
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
export function fetchAbort(vcpu: SimVcpu, pc: bigint): KvmExit | undefined {
  const el0 = ((vcpu.get("PSTATE") >> 2n) & 3n) === 0n;
  const esr = ESR_IL | (BigInt(el0 ? ESR_EC_IABT_CUR - 1 : ESR_EC_IABT_CUR) << 26n) | 0x10n;
  takeException(vcpu, esr, pc);
  return vcpu.ram(vcpu.pc(), 4) ? undefined : { reason: "INTR", code: 10 };
}

/** Context for the SMCCC handler. */
export function hypercallContext(vcpu: SimVcpu): HypercallContext {
  const vm = vcpu.vm;
  return {
    model: vm.model,
    cpu: vm.cpu,
    psciVersion: vcpu.psciVersion(),
    bitmap: (id) => vm.bitmaps.get(id) ?? 0n,
    ssbs: vcpu.ssbs(),
    now: () => (vm.clock += 0x100n),
    revision: (s) => vm.revision(s),
    identityCap: vm.enabled.identity,
  };
}

/** Data for the pending MMIO load; KVM copies it into the register at the next KVM_RUN. */
export function setMmioReadData(vcpu: SimVcpu, data: Uint8Array): void {
  vcpu.live("KVM_RUN");
  const p = vcpu.mmioPending;
  if (!p || p.isWrite) return;
  p.data = new Uint8Array(p.len);
  p.data.set(data.subarray(0, p.len));
}
