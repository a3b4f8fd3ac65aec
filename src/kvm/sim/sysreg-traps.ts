/** The guest's MRS/MSR: sys_regs.c emulate_sys_reg / perform_access, and the untrapped registers. */
import { sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { VCPU_FEATURES } from "../uapi.js";
import { ARCH_TIMER_CTRL_IT_STAT, M64, TIMER_CVAL } from "./common.js";
import type { CpuModel } from "./cpus.js";
import { descById, descByName } from "../kernels/descs.js";
import { getField } from "./descs.js";
import type { GenerationModel } from "../kernels/model.js";
import { hostSanitised } from "./idregs.js";
import { guestCtrTrapped } from "../rules/cache.js";
import type { SysregEnc } from "./interp.js";
import type { SimVcpu } from "./vcpu.js";
import { isIdDesc } from "./visibility.js";

/** A guest MSR: KVM's trap handlers store what the descriptor stores; ID/read-only and unknown ones UNDEF. */
export function guestMsr(vcpu: SimVcpu, e: SysregEnc, v: bigint): boolean {
  const id = sysregId(e.op0, e.op1, e.crn, e.crm, e.op2);
  const d = descById(vcpu.vm.model, id);
  const t = d ? undefined : timerStateId(vcpu.vm.model, e);
  if (t !== undefined) {
    vcpu.state.set(t, e.op2 === 1 ? v & ~ARCH_TIMER_CTRL_IT_STAT : v);
    return true;
  }
  if (!d || d.access === "undef_access" || isIdDesc(d) || d.invariant || vcpu.hidden(d)) return false;
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 0) return false;
  vcpu.state.set(d.id, v);
  return true;
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

/** Whether the guest's CTR_EL0 reads trap to KVM: the shared rule (kvm/rules/cache.ts guestCtrTrapped). */
function ctrTrapped(vcpu: SimVcpu): boolean {
  const vm = vcpu.vm;
  const mmfr2 = hostSanitised(vm.model, vm.cpu, "ID_AA64MMFR2_EL1");
  return guestCtrTrapped(vm.model.ctrTrap, {
    el1_32bit: vcpu.features.includes(VCPU_FEATURES.EL1_32BIT),
    hostHasEvt: getField(mmfr2, "ID_AA64MMFR2_EL1", "EVT") >= 1,
    vmCtrIsHostSanitised: idOf(vcpu, "CTR_EL0") === hostSanitised(vm.model, vm.cpu, "CTR_EL0"),
  });
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
 * Before 6.18 the EL1 timer registers are not in sys_reg_descs: the guest reaches them without a trap and
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
