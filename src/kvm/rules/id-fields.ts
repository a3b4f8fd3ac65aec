/**
 * Whether KVM accepts a userspace value of an ID register field (6.7+): arm64_check_features and
 * arm64_ftr_safe_value (cpufeature.c), with kvm_arm64_ftr_safe_value's overrides folded into the catalog's
 * policies. The field rule works on numbers (every ftr field is at most 32 bits wide), so the checker's
 * compiled fast path calls it directly; the simulator calls it with Number(field).
 */
import type { FtrPolicy, FtrType } from "../../regs/catalog-types.js";

/** ftr types as small codes (the checker's compiled field programs hold these). */
export const FTR_TYPE_CODE: Readonly<Record<FtrType, number>> = {
  exact: 0,
  lowerSafe: 1,
  higherSafe: 2,
  higherOrZeroSafe: 3,
};
export const FTR_TYPE_NAME = ["exact", "lowerSafe", "higherSafe", "higherOrZeroSafe"] as const;

/**
 * arm64_ftr_safe_value(ftrp, new, cur) == new, i.e. whether arm64_check_features accepts field value `v`
 * against the limit `lim` (KVM's value). `type` is an FTR_TYPE_CODE; `safe` the exact type's safe value.
 */
export function ftrAccepts(type: number, safe: number, v: number, lim: number): boolean {
  if (v === lim) return true;
  switch (type) {
    case 0: // FTR_EXACT: the safe value
      return v === safe;
    case 1: // FTR_LOWER_SAFE: min(new, cur)
      return v < lim;
    case 2: // FTR_HIGHER_SAFE: max(new, cur)
      return v > lim;
    default: // FTR_HIGHER_OR_ZERO_SAFE: 0 if either is 0, else max
      return lim === 0 || v === 0 ? v === 0 : v > lim;
  }
}

/** A policy's exact safe value as its field reads (sign-extended for a signed field). */
export function ftrSafe(p: FtrPolicy): number {
  return Number(p.signed ? BigInt.asIntN(p.width, p.safe) : p.safe);
}

export const ftrMask = (p: FtrPolicy): bigint => ((1n << BigInt(p.width)) - 1n) << BigInt(p.shift);

/**
 * The fields arm64_check_features checks by policy: those entirely inside the writable mask; every other
 * bit (`fixed`) must equal the limit.
 */
export function checkedFields(
  policies: readonly FtrPolicy[],
  writable: bigint,
): { fields: FtrPolicy[]; fixed: bigint } {
  const fields: FtrPolicy[] = [];
  let free = 0n;
  for (const p of policies) {
    const m = ftrMask(p);
    if ((m & writable) !== m) continue;
    free |= m;
    fields.push(p);
  }
  return { fields, fixed: ~free & 0xffffffffffffffffn };
}

/** A checked field with its shift, width mask, type code and safe value worked out once. */
interface CompiledField {
  shift: bigint;
  ones: bigint;
  width: number;
  signed: boolean;
  type: number;
  safe: number;
}
interface CompiledCheck {
  fields: CompiledField[];
  fixed: bigint;
}

/** checkedFields compiled, per policy table (the catalog's, shared) and writable mask. */
const compiledChecks = new WeakMap<readonly FtrPolicy[], Map<bigint, CompiledCheck>>();

function compiledCheck(policies: readonly FtrPolicy[], writable: bigint): CompiledCheck {
  let byMask = compiledChecks.get(policies);
  if (!byMask) compiledChecks.set(policies, (byMask = new Map()));
  let c = byMask.get(writable);
  if (!c) {
    const { fields, fixed } = checkedFields(policies, writable);
    c = {
      fields: fields.map((p) => ({
        shift: BigInt(p.shift),
        ones: (1n << BigInt(p.width)) - 1n,
        width: p.width,
        signed: p.signed,
        type: FTR_TYPE_CODE[p.type],
        safe: ftrSafe(p),
      })),
      fixed,
    };
    byMask.set(writable, c);
  }
  return c;
}

function fieldValue(f: CompiledField, v: bigint): number {
  const raw = (v >> f.shift) & f.ones;
  return Number(f.signed ? BigInt.asIntN(f.width, raw) : raw);
}

/**
 * arm64_check_features (6.7+): "ok" when `val` is acceptable against `limit` (KVM's reset value) under
 * the writable mask, else "E2BIG" (set_id_reg turns that into EINVAL); "EINVAL" for a register without
 * ftr policies. `raz`: the register is visible as RAZ (only 0 is accepted).
 */
export function checkFeatures(
  policies: readonly FtrPolicy[] | undefined,
  val: bigint,
  limit: bigint,
  writable: bigint,
  raz: boolean,
): "ok" | "E2BIG" | "EINVAL" {
  if (raz) return val ? "E2BIG" : "ok";
  if (!policies) return "EINVAL";
  // Every field at the limit is safe (arm64_ftr_safe_value(ftrp, v, v) == v) and so are the fixed bits.
  if (val === limit) return "ok";
  const { fields, fixed } = compiledCheck(policies, writable);
  for (const f of fields)
    if (!ftrAccepts(f.type, f.safe, fieldValue(f, val), fieldValue(f, limit))) return "E2BIG";
  return (val & fixed) === (limit & fixed) ? "ok" : "E2BIG";
}
