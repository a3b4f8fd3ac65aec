/**
 * ID register writes outside arm64_check_features (id-fields.ts): the pre-6.7 exception for
 * ID_AA64PFR0_EL1's CSV fields (set_id_aa64pfr0_el1) and the implementation ID registers MIDR/REVIDR/AIDR
 * (set_invariant_sys_reg before 6.15, set_imp_id_reg after).
 */
import { sysregByName } from "../../regs/catalog.js";
import { sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import type { GenerationModel } from "../kernels/model.js";

/**
 * The ID_AA64PFR0_EL1 fields userspace may lower: before 6.7 the generation's set_id_aa64pfr0_el1 ones
 * (CSV2, CSV3 from 6.1); from 6.7 arm64_check_features lets both through the writable mask.
 */
export function pfr0CsvFields(model: Pick<GenerationModel, "idRegs" | "pfr0CsvWritable">): readonly string[] {
  return model.idRegs === "immutable" ? model.pfr0CsvWritable : ["CSV2", "CSV3"];
}

/**
 * set_id_aa64pfr0_el1 (before 6.7), one CSV field: at most 1, and not above KVM's value (1 only when the
 * host is unaffected: arm64_get_spectre_v2_state / arm64_get_meltdown_state); every other bit must equal.
 */
export function pfr0CsvAccepted(v: number, kvmValue: number): boolean {
  return v <= 1 && v <= kvmValue;
}

/** The implementation ID registers (IMPLEMENTATION_ID in sys_regs.c; invariant_sys_regs before 6.15). */
export const IMP_ID_REGS: ReadonlySet<string> = new Set(["MIDR_EL1", "REVIDR_EL1", "AIDR_EL1"]);

/** The same registers by ONE_REG id. */
export const IMP_ID_REG_IDS: ReadonlySet<RegId> = new Set(
  [...IMP_ID_REGS].map((n) => {
    const d = sysregByName(n)!;
    return sysregId(d.op0, d.op1, d.crn, d.crm, d.op2);
  }),
);

/** set_imp_id_reg: any value within the writable mask (the descriptor's .val), else EINVAL. */
export function setImpIdAccepts(lo: number, hi: number, maskLo: number, maskHi: number): boolean {
  return (lo & ~maskLo) === 0 && (hi & ~maskHi) === 0;
}

/**
 * The ID-space registers KVM keeps invariant unless a rule above makes them writable: the implementation
 * ID registers, CTR_EL0 and CLIDR_EL1 (invariant_sys_regs / set_invariant_sys_reg before 6.3-6.15).
 */
export const INVARIANT_ID_REGS: ReadonlySet<string> = new Set([...IMP_ID_REGS, "CTR_EL0", "CLIDR_EL1"]);
