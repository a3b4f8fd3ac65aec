/**
 * Verdict levels and the verdict list the rules write to.
 *
 * Every rule returns the level it gives (ok < tolerated < incompatible) and, when handed a Verdicts
 * list, also says why. The fast path (checkLevel) hands it null: the same rule code runs, no reason
 * text is built, and evaluation stops at the first incompatibility. The full report (checkCompiled)
 * hands it a list. So the fast path's level is by construction the worst of the report's verdicts
 * (and a property test in check.test.ts holds them equal).
 *
 * Every verdict carries its grounds (evidence.ts): a register's verdict by the destination's rule finds
 * them by index in the compiled view (rule()); the others are given (reg(), general()). A verdict on
 * unknown evidence is never ok (raised), and its reason gets the grounds' note.
 */
import { formatId } from "../regs/index.js";
import type { Verdict, VerdictKind, VerdictLevel } from "./check.js";
import type { Grounds } from "./evidence.js";
import { raised, ruleGrounds } from "./evidence.js";
import type { CompiledConfig } from "./host.js";
import { REGISTRY } from "./registry.js";

/** The more severe of two levels. */
export const worse = (a: VerdictLevel, b: VerdictLevel): VerdictLevel =>
  a === "incompatible" || b === "ok" ? a : b;

/** A level as a number for sorting and counting: 0 ok, 1 tolerated, 2 incompatible. */
export const levelRank = (l: VerdictLevel): 0 | 1 | 2 => (l === "ok" ? 0 : l === "tolerated" ? 1 : 2);

/** The rank (levelRank) of the worst of a list of verdicts; 0 for none. */
export function worstLevel(verdicts: readonly Verdict[]): number {
  let w = 0;
  for (const v of verdicts) w = Math.max(w, levelRank(v.level));
  return w;
}

/** The verdicts of a full report, in the order the rules give them. */
export class Verdicts {
  readonly list: Verdict[] = [];

  /** A verdict about the register of REGISTRY index `i`, on the given grounds. */
  reg(
    i: number,
    level: VerdictLevel,
    kind: VerdictKind,
    reason: string,
    grounds: Grounds,
    field?: string,
  ): void {
    this.add(REGISTRY.name(i), formatId(REGISTRY.id(i)), level, kind, reason, grounds, field);
  }

  /** A verdict on which the VMM's restore fails, with the error it prints (restore-policy.ts). */
  vmm(
    register: string,
    id: string,
    kind: VerdictKind,
    reason: string,
    grounds: Grounds,
    vmmError: string,
  ): void {
    this.add(register, id, "incompatible", kind, reason, grounds, undefined);
    const v = this.list[this.list.length - 1];
    if (v) v.vmmError = vmmError;
  }

  /** A verdict about register `i` by the destination's rule for it: on that rule's grounds. */
  rule(
    cfg: CompiledConfig,
    i: number,
    level: VerdictLevel,
    kind: VerdictKind,
    reason: string,
    field?: string,
  ): void {
    this.reg(i, level, kind, reason, ruleGrounds(cfg, i), field);
  }

  /** A verdict about no register: a vCPU feature (KVM_ARM_VCPU_INIT), else the VM. */
  general(level: VerdictLevel, kind: VerdictKind, reason: string, grounds: Grounds, field?: string): void {
    this.add(kind === "feature" ? "KVM_ARM_VCPU_INIT" : "VM", "", level, kind, reason, grounds, field);
  }

  /** A verdict about guest ABI outside ONE_REG (machine.ts): a GIC register, the PMU, a VM ioctl. */
  machine(register: string, level: VerdictLevel, reason: string, grounds: Grounds, field?: string): void {
    this.add(register, "", level, "machine", reason, grounds, field);
  }

  private add(
    register: string,
    id: string,
    level: VerdictLevel,
    kind: VerdictKind,
    reason: string,
    grounds: Grounds,
    field: string | undefined,
  ): void {
    const v: Verdict = {
      register,
      id,
      level: raised(level, grounds),
      reason: reason + grounds.note,
      evidence: grounds.evidence,
      kind,
    };
    if (field !== undefined) v.field = field;
    this.list.push(v);
  }
}

/** Where a rule writes its verdicts: a list for the full report, null on the fast path. */
export type Out = Verdicts | null;
