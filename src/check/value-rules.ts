/**
 * The value rules by name: how the destination judges the subject's value of a register both sides
 * list, by the rule compiled into the host (host.ts RuleName). Each rule lives with its family:
 * id-rules.ts (equal, pfr0Csv, idCheck, impId, fwUnknown), firmware-rules.ts (psci, wa13, wa2,
 * bitmap), cache-rules.ts (clidr, ccsidr), sve-rules.ts (vls).
 */
import type { VerdictKind, VerdictLevel } from "./check.js";
import { ccsidrRule, clidrRule } from "./cache-rules.js";
import { bitmapRule, psciRule, wa13Rule, wa2Rule } from "./firmware-rules.js";
import type { CompiledConfig, RuleName } from "./host.js";
import { equalRule, fwUnknownRule, idCheckRule, impIdRule, pfr0CsvRule } from "./id-rules.js";
import { REGISTRY } from "./registry.js";
import type { SubjectFacts } from "./requirements.js";
import { vlsRule } from "./sve-rules.js";
import type { Out } from "./verdicts.js";

/**
 * The level the destination gives the subject's value (`lo`, `hi`: its 32-bit halves) of register
 * `i`, with the verdicts saying why when `out` is a list.
 */
export type ValueRule = (
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Out,
  subject: SubjectFacts,
) => VerdictLevel;

/**
 * unreadable: the destination lists the register but its value was not measured: the probe could not
 * read it (an errno), or imported evidence leaves it out.
 */
const unreadableRule: ValueRule = (cfg, i, _lo, _hi, out) => {
  out?.rule(
    cfg,
    i,
    "tolerated",
    REGISTRY.checkClass(i) === "fw" ? "firmware" : "id",
    cfg.view.reset.has(REGISTRY.id(i))
      ? "the destination lists it but could not read it in the probe: not compared"
      : "the destination lists it; the evidence leaves its value out: not compared",
  );
  return "tolerated";
};

/** Saved state is restored as saved (only state registers have it; their presence is what counts). */
const stateRule: ValueRule = () => "ok";

const VALUE_RULES: Readonly<Record<Exclude<RuleName, "absent">, ValueRule>> = {
  state: stateRule,
  equal: equalRule,
  pfr0Csv: pfr0CsvRule,
  idCheck: idCheckRule,
  impId: impIdRule,
  clidr: clidrRule,
  ccsidr: ccsidrRule,
  psci: psciRule,
  wa13: wa13Rule,
  wa2: wa2Rule,
  bitmap: bitmapRule,
  vls: vlsRule,
  unreadable: unreadableRule,
  fwUnknown: fwUnknownRule,
};

export const valueRule = (rule: Exclude<RuleName, "absent">): ValueRule => VALUE_RULES[rule];

/** The kind of the verdicts about a register under `rule` that no rule explains (equal, unfixed). */
export const RULE_KIND: Readonly<Record<RuleName, VerdictKind>> = {
  absent: "id",
  state: "state",
  equal: "id",
  pfr0Csv: "id",
  idCheck: "id",
  impId: "id",
  clidr: "id",
  ccsidr: "cache",
  psci: "psci",
  wa13: "workaround",
  wa2: "workaround",
  bitmap: "bitmap",
  vls: "sve",
  unreadable: "id",
  fwUnknown: "firmware",
};

/** Whether equal 64-bit values settle the rule (not for vector lengths, nor an unread register). */
export const byValue = (rule: RuleName): boolean => rule !== "vls" && rule !== "unreadable";

/**
 * The level the destination's rule gives a value of a register it lists (no verdicts): what baseline()
 * asks when it chooses values. Not for SVE_VLS (vector lengths are not a 64-bit value).
 */
export function valueLevelOf(
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  ssbs?: number,
): VerdictLevel {
  const rule = i < cfg.size ? (cfg.rule[i] ?? "absent") : "absent";
  if (rule === "absent" || rule === "state") return "ok";
  if (rule !== "unreadable" && lo === cfg.lo[i] && hi === cfg.hi[i]) return "ok";
  return VALUE_RULES[rule](cfg, i, lo, hi, null, { vqs: undefined, ssbs });
}
