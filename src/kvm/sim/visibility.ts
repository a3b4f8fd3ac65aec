/** Register visibility: sys_regs.c sysreg_hidden, sysreg_visible_as_raz, sysreg_user_write_ignore. */
import { INVARIANT_ID_REGS } from "../rules/id-regs.js";
import { descByName, descsOf } from "../kernels/descs.js";
import type { GenerationModel } from "../kernels/model.js";
import { getField, hasField } from "./descs.js";
import type { SysregDesc } from "../kernels/descs.js";
import { cpuHas32bitEl0 } from "./idregs.js";
import type { SimVcpu } from "./vcpu.js";

const idDescs = new WeakMap<SysregDesc, boolean>();

/**
 * ID-class descriptors: ID_SANITISED/ID_WRITABLE/..., the feature ID space, CTR/CLIDR/MIDR/REVIDR/AIDR.
 * Remembered per descriptor: every vCPU reset asks it of every descriptor.
 */
export function isIdDesc(d: SysregDesc): boolean {
  let id = idDescs.get(d);
  if (id === undefined) {
    id =
      d.invariant ||
      /^(ID_|AA32_ID_|IMPLEMENTATION_ID)/.test(d.outer) ||
      (d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm >= 1 && d.crm <= 7) || // the ID space
      INVARIANT_ID_REGS.has(d.name);
    idDescs.set(d, id);
  }
  return id;
}

const nonIdTables = new WeakMap<readonly SysregDesc[], readonly SysregDesc[]>();

/** The descriptors of a table (descsOf) that are neither ID-class nor invariant: each vCPU reset walks them. */
export function nonIdDescs(descs: readonly SysregDesc[]): readonly SysregDesc[] {
  let out = nonIdTables.get(descs);
  if (!out) nonIdTables.set(descs, (out = descs.filter((d) => !isIdDesc(d) && !d.invariant)));
  return out;
}

/**
 * kvm_vm_ioctl_get_reg_writable_masks (6.7+): the descriptors whose rd->val it reports, every ID register
 * of the feature ID range (op0 3, op1 0/1/3, CRn 0, CRm 0..7) with a set_user; the AArch32 ones (op1 0,
 * CRm 1..3) are left at 0 without kvm_supports_32bit_el0() (is_aa32_id_reg).
 */
export function writableMaskDescs(model: GenerationModel, has32bitEl0: boolean): SysregDesc[] {
  return descsOf(model).filter(
    (d) =>
      d.op0 === 3 &&
      d.crn === 0 &&
      [0, 1, 3].includes(d.op1) &&
      d.crm <= 7 &&
      isIdDesc(d) &&
      Boolean(d.setUser) &&
      (has32bitEl0 || !(d.op1 === 0 && d.crm >= 1 && d.crm <= 3)),
  );
}

/**
 * is_vm_ftr_id_reg (6.7+): the feature ID space (op0 3, op1 0, CRn 0, CRm 1..7) and CTR_EL0; 7.x adds
 * MIDR/REVIDR/AIDR (IMPLEMENTATION_ID). CLIDR_EL1 is per vCPU (is_vcpu_ftr_id_reg).
 */
export function isVmFtrIdReg(d: SysregDesc): boolean {
  if (d.invariant) return false;
  if (d.name === "CTR_EL0" || d.outer === "IMPLEMENTATION_ID") return true;
  return d.op0 === 3 && d.op1 === 0 && d.crn === 0 && d.crm >= 1 && d.crm < 8;
}

const razDesc = (d: SysregDesc) =>
  d.visibility === "raz_visibility" || d.outer === "ID_UNALLOCATED" || d.outer === "ID_HIDDEN";

/**
 * sysreg_visible_as_raz: raz_visibility (ID_UNALLOCATED, ID_HIDDEN); id_visibility's ID_AA64ZFR0_EL1 without
 * SVE; aa32_id_visibility (6.0+) without AArch32 at EL0 (kvm_supports_32bit_el0), which also makes the
 * register REG_USER_WI (see userWriteIgnored).
 */
export function visibleAsRaz(vcpu: SimVcpu, d: SysregDesc): boolean {
  if (razDesc(d)) return true;
  if (d.visibility === "aa32_id_visibility" && !cpuHas32bitEl0(vcpu.vm.cpu)) return true;
  const idVisibility = d.visibility === "id_visibility" || d.visibility === "aa32_id_visibility";
  return idVisibility && d.name === "ID_AA64ZFR0_EL1" && !vcpu.fset.sve;
}

/** sysreg_user_write_ignore: REG_USER_WI (aa32_id_visibility without AArch32 EL0): KVM_SET_ONE_REG does nothing. */
export function userWriteIgnored(vcpu: SimVcpu, d: SysregDesc): boolean {
  return d.visibility === "aa32_id_visibility" && !cpuHas32bitEl0(vcpu.vm.cpu);
}

/** sysreg_hidden: the visibility functions, in terms of the vCPU's features and the VM's ID values. */
export function hidden(vcpu: SimVcpu, d: SysregDesc): boolean {
  const f = vcpu.fset;
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
      return !feat(vcpu, "ID_AA64MMFR3_EL1", "TCRX");
    case "sctlr2_visibility":
      return !feat(vcpu, "ID_AA64MMFR3_EL1", "SCTLRX");
    case "s1pie_visibility":
      return !feat(vcpu, "ID_AA64MMFR3_EL1", "S1PIE");
    case "s1poe_visibility":
      return !feat(vcpu, "ID_AA64MMFR3_EL1", "S1POE");
    case "fp8_visibility":
      return !feat(vcpu, "ID_AA64PFR2_EL1", "FPMR");
    case "pfar_visibility":
      return !feat(vcpu, "ID_AA64PFR1_EL1", "PFAR"); // "next" (synthetic), like tcr2_visibility
    default:
      return true; // el2_*, sme_visibility, hidden_visibility, ...: no EL2/SME guests modelled
  }
}

function feat(vcpu: SimVcpu, reg: string, field: string): boolean {
  const d = descByName(vcpu.vm.model, reg);
  return d && hasField(reg, field) ? getField(vcpu.idValue(d), reg, field) > 0 : false;
}
