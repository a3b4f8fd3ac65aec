/**
 * One (requirements, host) evaluation: the VM-wide state, then per vCPU class its features and
 * target, the registers one side lacks, and the values of the registers both list, each by the
 * destination's rule. Given a verdict list (the full report) every verdict is written; given null
 * (the fast path) only the worst level is kept and evaluation stops at the first incompatibility.
 *
 * The per-pair loop reads a LayoutPlan: the destination's rules and values laid out in the subject's
 * order, computed once per (subject layout, host view) and cached on the view.
 */
import type { VerdictKind, VerdictLevel } from "./check.js";
import { featuresLevel, noConfigLevel, targetLevel, vmLevel } from "./vm-rules.js";
import type { CompiledConfig, CompiledHost, LayoutPlan } from "./host.js";
import { hostConfig } from "./host.js";
import { guestCtrLevel } from "./cache-rules.js";
import { machineLevel } from "./machine.js";
import { missingLevel, newLevel, shownValue, stateVerdicts } from "./presence.js";
import { REGISTRY, and, andNot, bitsOf, bitsWhere, hex, join64 } from "./registry.js";
import type { Requirements, VcpuRequirement } from "./requirements.js";
import { RULE_KIND, byValue, valueRule } from "./value-rules.js";
import type { Out, Verdicts } from "./verdicts.js";
import type { RestorePolicy } from "./restore-policy.js";
import { CORE_AND_SVE, fillError } from "./restore-policy.js";
import { worse } from "./verdicts.js";
import { MEASURED, NOT_MEASURED, RULE_FROM, raised, ruleGrounds } from "./evidence.js";

/** The worst level of `req` on `host`, with every verdict written to `out` when it is a list. */
export function evaluate(req: Requirements, host: CompiledHost, out: Out): VerdictLevel {
  let worst = worse(vmLevel(req, host, out), machineLevel(req, host, out));
  if (!out && worst === "incompatible") return worst;
  for (const r of req.classes) {
    worst = worse(worst, classLevel(r, host, out));
    if (!out && worst === "incompatible") return worst;
    if (out && req.vcpuCount > 1)
      for (const v of out.list) if (v.vcpus === undefined && v.kind !== "vm") v.vcpus = r.vcpus;
  }
  return worst;
}

/**
 * Per class of `req`, the registers the destination lacks (its layout plan's missing list): the only
 * registers whose "never knew" value (atReset) a level reads (presence.ts missingLevel).
 */
export function missingByClass(req: Requirements, host: CompiledHost): number[][] {
  return req.classes.map((r) => {
    const cfg = host.configs.get(r.featureKey) ?? hostConfig(host, r.features, r.featureKey);
    return cfg ? (cfg.plans[r.layout] ?? buildPlan(r, cfg)).missing : [];
  });
}

function classLevel(r: VcpuRequirement, host: CompiledHost, out: Out): VerdictLevel {
  const cfg = host.configs.get(r.featureKey) ?? hostConfig(host, r.features, r.featureKey);
  if (!cfg) return noConfigLevel(r, host, out);
  let worst = featuresLevel(r, cfg, out);
  if (r.target !== undefined) worst = worse(worst, targetLevel(r.target, host, out));
  if (!out && worst === "incompatible") return worst;
  const plan = cfg.plans[r.layout] ?? buildPlan(r, cfg);
  worst = worse(worst, presenceLevel(r, cfg, plan, out));
  if (!out && worst === "incompatible") return worst;
  worst = worse(worst, valuesLevel(r, cfg, plan, out));
  worst = worse(worst, guestCtrLevel(r, cfg, out));
  if (out) stateVerdicts(r, cfg, out);
  return worst;
}

/** Registers the destination lacks, and registers only the destination has. */
function presenceLevel(r: VcpuRequirement, cfg: CompiledConfig, plan: LayoutPlan, out: Out): VerdictLevel {
  let worst: VerdictLevel = "ok";
  if (plan.countExcess) {
    if (!out) return "incompatible";
    countVerdict(cfg, plan.countExcess, out);
    worst = "incompatible";
  }
  for (const i of plan.missing) {
    worst = worse(worst, missingLevel(r, cfg, i, out, plan.unexamined.has(i)));
    if (!out && worst === "incompatible") return worst;
  }
  if (out) {
    for (const i of plan.added) worst = worse(worst, newLevel(r, cfg, i, out));
    return worst;
  }
  // The fast path: the plan knows the level of every added register that depends on the host alone.
  worst = worse(worst, plan.addedLevel);
  for (const i of plan.addedBySubject) worst = worse(worst, newLevel(r, cfg, i, null));
  return worst;
}

/** The values of the registers both sides have, each by the destination's rule. */
function valuesLevel(r: VcpuRequirement, cfg: CompiledConfig, plan: LayoutPlan, out: Out): VerdictLevel {
  let worst: VerdictLevel = "ok";
  const { checked, cLo, cHi, cKnown } = r;
  const { judge: judges, lo: hlo, hi: hhi } = plan;
  for (let k = 0; k < checked.length; k++) {
    const judge = judges[k];
    if (judge === undefined) continue; // absent: judged as a missing register
    const i = checked[k] ?? 0;
    if (cKnown[k] === 0) {
      worst = worse(worst, unfixedLevel(cfg, i, plan.kind[k] ?? "id", out));
      continue;
    }
    const lo = cLo[k] ?? 0;
    const hi = cHi[k] ?? 0;
    // Equal readings are measured, whatever the rule.
    if (lo === hlo[k] && hi === hhi[k] && plan.byValue[k] === 1) {
      out?.reg(i, "ok", plan.kind[k] ?? "id", `equal (${hex(join64(lo, hi))})`, MEASURED);
      continue;
    }
    const level = judge(cfg, i, lo, hi, out, r);
    worst = worse(worst, level === "ok" ? raised(level, ruleGrounds(cfg, i)) : level);
    if (!out && worst === "incompatible") return worst;
  }
  return worst;
}

/**
 * A template register without a value: the template does not fix it. Cache geometry (CCSIDR) has no
 * place in a template at all: the guest always gets the destination's.
 */
function unfixedLevel(cfg: CompiledConfig, i: number, kind: VerdictKind, out: Out): VerdictLevel {
  const cache = REGISTRY.checkClass(i) === "demux";
  const grounds = cfg.ruleFrom[i] === RULE_FROM.notMeasured ? NOT_MEASURED : MEASURED;
  const level = raised(cache ? "ok" : "tolerated", grounds);
  const shown = grounds === MEASURED ? shownValue(cfg, i) : "value, which was not measured";
  out?.reg(
    i,
    level,
    kind,
    cache
      ? `cache geometry is not part of a template: the guest sees the destination's ${shown}`
      : `the template does not fix its value: the guest sees the destination's ${shown}`,
    grounds,
  );
  return level;
}

/** A saved register list longer than the destination's, which the VMM refuses before any register. */
function countVerdict(cfg: CompiledConfig, excess: { count: number; limit: number }, out: Verdicts): void {
  const { count, label } = cfg.host.policy;
  if (!count) return;
  const error = fillError(count.error, excess);
  out.vmm(
    "VMM",
    "",
    "vmm",
    `the VM saves ${excess.count} registers in ${label}'s list, the destination lists ${excess.limit}: ${label} refuses a longer list before it looks at any register (${count.rule}): ${error}`,
    MEASURED,
    error,
  );
}

/** Whether the policy's VMM saves register `i` (restore-policy.ts unsaved groups). */
function savedBy(policy: RestorePolicy): ((i: number) => boolean) | undefined {
  if (policy.unsaved.length === 0) return undefined;
  const groups = new Set(policy.unsaved.map((g) => g.coproc));
  return (i) => !groups.has(REGISTRY.coproc(i));
}

/** The number of registers of `bits` in the policy's counted list (CountRule), or undefined. */
function countedExcess(
  r: VcpuRequirement,
  cfg: CompiledConfig,
): { count: number; limit: number } | undefined {
  const { count: rule } = cfg.host.policy;
  if (!rule) return undefined;
  const saved = savedBy(cfg.host.policy);
  const excluded = new Set(rule.excludedCoprocs);
  const counted = (bits: Uint32Array) =>
    bitsOf(bits).filter((i) => !excluded.has(REGISTRY.coproc(i)) && (!saved || saved(i))).length;
  const count = counted(r.present);
  const limit = counted(cfg.present);
  return count > limit ? { count, limit } : undefined;
}

/** The destination's side of a (subject layout, host view) pair: what the per-pair loop reads. */
function buildPlan(r: VcpuRequirement, cfg: CompiledConfig): LayoutPlan {
  // Registers the VMM does not save are, to the destination, registers the subject never had.
  const saved = savedBy(cfg.host.policy);
  const added = bitsWhere(cfg.present, r.present, andNot);
  if (saved) added.push(...bitsWhere(cfg.present, r.present, and).filter((i) => !saved(i)));
  // A new bitmap's level depends on the subject's source services, a new CCSIDR's on the subject's
  // CLIDR; every other one only on the host.
  const bySubject = (i: number) => REGISTRY.checkClass(i) === "bitmap" || REGISTRY.checkClass(i) === "demux";
  const n = r.checked.length;
  const plan: LayoutPlan = {
    missing: bitsWhere(r.present, cfg.present, andNot).filter((i) => !saved || saved(i)),
    added,
    addedBySubject: added.filter(bySubject),
    addedLevel: added
      .filter((i) => !bySubject(i))
      .reduce((w, i) => worse(w, newLevel(r, cfg, i, null)), "ok" as VerdictLevel),
    kind: [],
    judge: [],
    byValue: new Uint8Array(n),
    lo: new Uint32Array(n),
    hi: new Uint32Array(n),
    countExcess: countedExcess(r, cfg),
    unexamined: new Set(),
  };
  if (cfg.host.policy.missing.examined === "below-destination-last") {
    const listed = bitsOf(cfg.present).filter((i) => !CORE_AND_SVE.includes(REGISTRY.coproc(i)));
    const last = listed.reduce((m, i) => (REGISTRY.id(i) > m ? REGISTRY.id(i) : m), 0n);
    for (const i of plan.missing) if (REGISTRY.id(i) > last) plan.unexamined.add(i);
  }
  r.checked.forEach((i, k) => {
    const rule = (i < cfg.size && (!saved || saved(i)) && cfg.rule[i]) || "absent";
    plan.kind.push(RULE_KIND[rule]);
    plan.judge.push(rule === "absent" ? undefined : valueRule(rule));
    if (byValue(rule)) plan.byValue[k] = 1;
    plan.lo[k] = cfg.lo[i] ?? 0;
    plan.hi[k] = cfg.hi[i] ?? 0;
  });
  cfg.plans[r.layout] = plan;
  return plan;
}
