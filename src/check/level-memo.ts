/**
 * checkLevel's memo (check.ts): the level of a subject on a compiled host, remembered on the host by
 * the subject's signature (requirements.ts: all a rule reads but which registers are at a "never
 * knew" value) and by that "never knew" bit (atReset) of each register the host lacks, the only place
 * a rule reads it (presence.ts missingLevel). Time-varying registers are judged before that bit, so
 * they do not count. Bounded: a long-running service's hosts keep SIGNATURES_KEPT signatures each.
 */
import type { CompiledHost } from "./host.js";
import { evaluate, missingByClass } from "./evaluate.js";
import { bitsetOf, hasBit } from "./registry.js";
import type { Requirements } from "./requirements.js";
import { levelRank } from "./verdicts.js";

/** The levels of the subjects of one signature on one host. */
export interface SignatureLevels {
  /** Per class, the registers the host lacks whose atReset bit the rules read. */
  resetDecides: number[][];
  /**
   * Incompatible even with every one of them at a never-knew value (the most lenient case: a missing
   * register at such a value is tolerated, else incompatible), so whatever the bits.
   */
  alwaysIncompatible: boolean;
  /** The level by those registers' atReset bits (atResetKey). */
  byReset: Map<number | string, 0 | 1 | 2>;
}

const SIGNATURES_KEPT = 4096;
/** atReset patterns remembered per signature: past this they start over. */
const PATTERNS_KEPT = 256;

/**
 * What a host keeps of a signature seen once: nothing but the mark, so that a fleet of subjects all
 * different costs no memory per pair beyond the map's entry (and no garbage to collect).
 */
export const SEEN_ONCE = 0;

/** The level (levelRank) of `req` on `host`, evaluated once per signature and atReset pattern. */
export function rememberedLevel(req: Requirements, host: CompiledHost): 0 | 1 | 2 {
  let memo = host.levels.get(req.signature);
  if (memo === undefined) {
    if (host.levels.size >= SIGNATURES_KEPT) host.levels.clear();
    host.levels.set(req.signature, SEEN_ONCE);
    return levelRank(evaluate(req, host, null));
  }
  if (memo === SEEN_ONCE) {
    const resetDecides = missingByClass(req, host).map((missing, c) => {
      const tv = req.classes[c]?.tv ?? new Uint32Array(0);
      return missing.filter((i) => !hasBit(tv, i));
    });
    memo = {
      resetDecides,
      alwaysIncompatible:
        resetDecides.some((m) => m.length > 0) &&
        levelRank(evaluate(allAtReset(req, resetDecides), host, null)) === 2,
      byReset: new Map(),
    };
    host.levels.set(req.signature, memo);
  }
  if (memo.alwaysIncompatible) return 2;
  const key = atResetKey(req, memo.resetDecides);
  let level = memo.byReset.get(key);
  if (level === undefined) {
    level = levelRank(evaluate(req, host, null));
    if (memo.byReset.size >= PATTERNS_KEPT) memo.byReset.clear();
    memo.byReset.set(key, level);
  }
  return level;
}

/** `req` with every register of `registers` (per class) at a never-knew value. */
function allAtReset(req: Requirements, registers: readonly (readonly number[])[]): Requirements {
  return {
    ...req,
    classes: req.classes.map((c, k) => {
      const added = bitsetOf(registers[k] ?? []);
      const atReset = new Uint32Array(Math.max(c.atReset.length, added.length));
      atReset.set(c.atReset);
      added.forEach((w, j) => (atReset[j] = (atReset[j] ?? 0) | w));
      return { ...c, atReset };
    }),
  };
}

/** The atReset bits of `registers` (per class): a number up to 52 bits (exact in a double), else text. */
function atResetKey(req: Requirements, registers: readonly (readonly number[])[]): number | string {
  let count = 0;
  for (const m of registers) count += m.length;
  let bits = 0;
  let text = "";
  registers.forEach((m, c) => {
    const atReset = req.classes[c]?.atReset ?? new Uint32Array(0);
    for (const i of m) {
      const bit = hasBit(atReset, i) ? 1 : 0;
      if (count <= 52) bits = bits * 2 + bit;
      else text += bit;
    }
  });
  return count <= 52 ? bits : text;
}
