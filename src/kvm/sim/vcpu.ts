/** The simulated vCPU fd: arm.c kvm_arch_vcpu_ioctl, delegating to the seam files; guest.c vCPU attrs. */
import { COPROC, makeId, sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { attrU32 } from "../machine.js";
import type { KvmExit, KvmVcpu, RegValue, VcpuInit } from "../types.js";
import { CORE_PC, CORE_PSTATE, CORE_SP, SYSTEM_EVENT_TYPES, coreXReg } from "../uapi.js";
import { M64, fail } from "./common.js";
import { descsOf } from "../kernels/descs.js";
import type { SysregDesc } from "../kernels/descs.js";
import { psciVersion, ssbs } from "./firmware-regs.js";
import { smcccCall } from "./hypercalls.js";
import type { HypercallContext } from "./hypercalls.js";
import type { VcpuFeatureSet } from "./idregs.js";
import type { A64Machine, A64StateReg, SysregEnc, TrapOutcome } from "./interp.js";
import { getOneReg, setOneReg } from "./one-reg.js";
import { getRegListRaw, scopeOfId } from "./reg-list.js";
import { RegState, stateSlots } from "./reg-state.js";
import type { RegList } from "./reg-list.js";
import { ccsidrFor, csselr, idReset, idValue } from "./reset.js";
import { fetchAbort, hvc, hypercallContext, mmio, run, setMmioReadData, smc } from "./run.js";
import type { MmioAccess } from "./interp.js";
import { setPmuAttr } from "./pmu.js";
import { guestMsr, guestSysreg } from "./sysreg-traps.js";
import { finalizeVcpu, initVcpu } from "./vcpu-init.js";
import { hidden, visibleAsRaz, userWriteIgnored } from "./visibility.js";
import type { Scope, SimVm } from "./vm.js";

const X = Array.from({ length: 31 }, (_, n) => coreXReg(n)); // looked up on every guest instruction
const CORE = (offsetBytes: number) => makeId("U64", COPROC.core, offsetBytes / 4); // struct kvm_regs
const CORE_SP_EL0 = CORE_SP; // user_pt_regs.sp
const CORE_SP_EL1 = CORE(272);
const CORE_ELR_EL1 = CORE(280);
const CORE_SPSR_EL1 = CORE(288); // spsr[KVM_SPSR_EL1]
const SYS_ESR_EL1 = sysregId(3, 0, 5, 2, 0);
const SYS_FAR_EL1 = sysregId(3, 0, 6, 0, 0);
const SYS_VBAR_EL1 = sysregId(3, 0, 12, 0, 0);

export class SimVcpu implements KvmVcpu, A64Machine {
  initialized = false;
  finalized = false;
  features: number[] = [];
  fset: VcpuFeatureSet = { sve: false, ptrauth: false, pmu: false, mte: false };
  target: number | undefined;
  poweredOff = false;
  private destroyed = false;
  /** @internal reg-list.ts: the register list (shared with the VM's vCPUs of the same listKey). */
  regList: RegList | undefined;
  /** @internal reg-list.ts: the SimVm.listEpoch the list was looked up at (-1: look again). */
  listEpoch = -1;
  /** Saved register state: core registers by id, system registers by their descriptor's encoding. */
  readonly state: RegState;
  /** Per-vCPU ID registers (6.7+ CLIDR_EL1: is_vcpu_ftr_id_reg). */
  vcpuIdRegs = new Map<string, bigint>();
  /** An MMIO access waiting for the next KVM_RUN (kvm_handle_mmio_return completes it and moves PC on). */
  mmioPending: { rt: number; isWrite: boolean; len: number; data: Uint8Array } | undefined;
  sveVqs = 0n;
  /** vcpu->arch.pmu.created (kvm_arm_pmu_v3_init). */
  pmuInit = false;
  /** vcpu->arch.pmu.irq_num once userspace set it. */
  pmuIrq: number | undefined;
  /** The vCPU has entered the guest (kvm_vcpu_initialized + first run: vcpu->arch.has_run_once). */
  ranOnce = false;
  /** vcpu->arch.ccsidr (6.3+): allocated by the first KVM_SET_ONE_REG of a CCSIDR that differs. */
  ccsidrs: bigint[] | undefined;

  constructor(
    readonly vm: SimVm,
    readonly id: number,
  ) {
    this.state = new RegState(stateSlots(descsOf(vm.model)));
  }

  /** Neither the vCPU nor its VM is destroyed. */
  get alive(): boolean {
    return !this.destroyed && !this.vm.destroyed;
  }
  /** Throws EBADF once the vCPU or its VM is gone. */
  live(op: string) {
    if (!this.alive) fail(op, "EBADF");
  }

  // ---- ioctls and KVM's views of the vCPU, each in the file of its kernel seam -------------------

  init(init: VcpuInit): void {
    initVcpu(this, init);
  }
  finalize(feature: number): void {
    finalizeVcpu(this, feature);
  }
  psciVersion(): bigint {
    return psciVersion(this);
  }
  idValue(d: SysregDesc): bigint {
    return idValue(this, d);
  }
  visibleAsRaz(d: SysregDesc): boolean {
    return visibleAsRaz(this, d);
  }
  userWriteIgnored(d: SysregDesc): boolean {
    return userWriteIgnored(this, d);
  }
  idReset(d: SysregDesc): bigint {
    return idReset(this, d);
  }
  csselr(): number {
    return csselr(this);
  }
  ccsidrFor(sel: number): bigint {
    return ccsidrFor(this, sel);
  }
  hidden(d: SysregDesc): boolean {
    return hidden(this, d);
  }
  scopeOfId(id: RegId): Scope | undefined {
    return scopeOfId(this, id);
  }
  getRegListRaw(capacity: number): RegId[] {
    return getRegListRaw(this, capacity);
  }
  getOneReg(id: RegId): RegValue {
    return getOneReg(this, id);
  }
  setOneReg(id: RegId, value: RegValue): void {
    setOneReg(this, id, value);
  }
  ssbs(): boolean {
    return ssbs(this);
  }
  run(): KvmExit {
    return run(this);
  }
  setMmioReadData(data: Uint8Array): void {
    setMmioReadData(this, data);
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
  hvc(imm: number): TrapOutcome {
    return hvc(this, imm);
  }
  smc(imm: number): TrapOutcome {
    return smc(this, imm);
  }
  mrs(e: SysregEnc): bigint | "undef" | "sysreg-trap" {
    return guestSysreg(this, e);
  }
  msr(e: SysregEnc, v: bigint): boolean {
    return guestMsr(this, e, v);
  }
  /** The vGIC's and ITS's frames are served in the kernel (run.ts mmio); anything else exits to userspace. */
  mmio(a: MmioAccess): KvmExit | bigint | undefined {
    return mmio(this, a);
  }
  fetchAbort(pc: bigint): KvmExit | undefined {
    return fetchAbort(this, pc);
  }
  /** kvm_handle_wfx: the vCPU blocks until an interrupt; the simulator has no interrupt source, so a signal. */
  wfi(): KvmExit {
    return { reason: "INTR", code: 10 };
  }

  hypercallContext(): HypercallContext {
    return hypercallContext(this);
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

  /**
   * vCPU device attributes: PMU_V3_CTRL (0: IRQ 0, INIT 1, FILTER 2, SET_PMU 3, SET_NR_COUNTERS 4), TIMER_CTRL
   * (1), PVTIME_CTRL (2).
   */
  hasDeviceAttr(group: number, attr: bigint): boolean {
    const op = "KVM_HAS_DEVICE_ATTR";
    this.live(op);
    const a = Number(attr);
    const m = this.vm.model;
    if (group === 0) return this.fset.pmu && a <= m.pmuCtrlMaxAttr; // kvm_arm_pmu_v3_has_attr
    if (group === 1) return a <= m.timerCtrlMaxAttr; // kvm_arm_timer_has_attr
    if (group === 2) return a === 0;
    return false;
  }
  getDeviceAttr(group: number, attr: bigint, _size: number): Uint8Array {
    const op = "KVM_GET_DEVICE_ATTR";
    this.live(op);
    if (group === 0 && attr === 0n) {
      // kvm_arm_pmu_v3_get_attr: only the IRQ is readable
      if (!this.vm.vgic) fail(op, "EINVAL");
      if (!this.fset.pmu) fail(op, "ENODEV");
      if (this.pmuIrq === undefined) fail(op, "ENXIO");
      return attrU32(this.pmuIrq!);
    }
    if (!this.hasDeviceAttr(group, attr)) fail(op, "ENXIO");
    return fail(op, "ENXIO", "attribute values are not modelled");
  }
  setDeviceAttr(group: number, attr: bigint, data?: Uint8Array): void {
    const op = "KVM_SET_DEVICE_ATTR";
    this.live(op);
    if (group === 0) return setPmuAttr(this, op, Number(attr), data);
    if (!this.hasDeviceAttr(group, attr)) fail(op, "ENXIO");
  }

  destroy(): void {
    this.destroyed = true;
  }
}
