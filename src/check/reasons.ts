/**
 * The texts that say why a destination refuses a value, per rule, each naming the kernel function: the
 * long form in the checker's verdicts (id-rules.ts), the short form in baseline.ts's give-ups. A rule's
 * wording lives here once; the acceptance itself is src/kvm/rules/.
 */
import { INVARIANT_ID_REGS } from "../kvm/rules/id-regs.js";
import type { CompiledConfig, RuleName } from "./host.js";
import type { CheckClass } from "./registry.js";

export const IMMUTABLE_BEFORE_6_7 = "ID registers are immutable before 6.7";
export const NO_FW_RULE = "a firmware register guestabi has no rule for";

/** Why a value must equal the destination's (rule equal / fwUnknown), for a register of class `cls`. */
export function equalWhy(
  rule: "equal" | "fwUnknown",
  cls: CheckClass,
  name: string,
  writableIds: boolean,
): string {
  if (rule === "fwUnknown") return `${NO_FW_RULE}: it must be equal`;
  if (cls === "demux") return "CCSIDR is invariant before 6.3 (demux_c15_set: EINVAL)";
  if (INVARIANT_ID_REGS.has(name))
    return writableIds
      ? "invariant without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg / get_invariant_sys_reg: EINVAL)"
      : "invariant (set_invariant_sys_reg: EINVAL)";
  return `${IMMUTABLE_BEFORE_6_7} (set_id_reg: val != read_id_reg -> EINVAL)`;
}

/** The destination's rule for register index `i` of `c`, in a few words (what refuses a value). */
export function ruleText(c: CompiledConfig, i: number): string {
  const rule: RuleName = c.rule[i] ?? "absent";
  switch (rule) {
    case "equal":
      return c.host.writableIds ? "invariant here" : `${IMMUTABLE_BEFORE_6_7} (set_id_reg)`;
    case "pfr0Csv":
      return "before 6.7 only CSV2/CSV3 may be lowered (set_id_aa64pfr0_el1)";
    case "idCheck":
      return "arm64_check_features refuses it";
    case "impId":
      return "outside the writable mask (set_imp_id_reg)";
    case "clidr":
      return "set_clidr refuses it";
    default:
      return "the destination refuses it";
  }
}
