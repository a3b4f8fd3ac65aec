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
 * An ftr field arm64_check_features checks by policy, with what both of its users need worked out once:
 * the simulator extracts it from a bigint (shiftBig, ones), the checker from two 32-bit halves (shift,
 * width, signed).
 */
export interface FtrField {
  policy: FtrPolicy;
  shift: number;
  width: number;
  signed: boolean;
  type: FtrType;
  /** FTR_TYPE_CODE[type]: the form ftrAccepts takes. */
  code: number;
  /** The exact type's safe value (ftrSafe). */
  safe: number;
  shiftBig: bigint;
  ones: bigint;
}

/** checkedFields' answers, per policy table (the catalog's, shared) and writable mask. */
const checkedByTable = new WeakMap<
  readonly FtrPolicy[],
  Map<bigint, { fields: FtrField[]; fixed: bigint }>
>();

/**
 * The fields arm64_check_features checks by policy: those entirely inside the writable mask; every other
 * bit (`fixed`) must equal the limit. Worked out once per policy table and mask.
 */
export function checkedFields(
  policies: readonly FtrPolicy[],
  writable: bigint,
): { fields: FtrField[]; fixed: bigint } {
  let byMask = checkedByTable.get(policies);
  if (!byMask) checkedByTable.set(policies, (byMask = new Map()));
  let checked = byMask.get(writable);
  if (!checked) {
    const fields: FtrField[] = [];
    let free = 0n;
    for (const p of policies) {
      const m = ftrMask(p);
      if ((m & writable) !== m) continue;
      free |= m;
      fields.push({
        policy: p,
        shift: p.shift,
        width: p.width,
        signed: p.signed,
        type: p.type,
        code: FTR_TYPE_CODE[p.type],
        safe: ftrSafe(p),
        shiftBig: BigInt(p.shift),
        ones: (1n << BigInt(p.width)) - 1n,
      });
    }
    byMask.set(writable, (checked = { fields, fixed: ~free & 0xffffffffffffffffn }));
  }
  return checked;
}

function fieldValue(f: FtrField, v: bigint): number {
  const raw = (v >> f.shiftBig) & f.ones;
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
  const { fields, fixed } = checkedFields(policies, writable);
  for (const f of fields)
    if (!ftrAccepts(f.code, f.safe, fieldValue(f, val), fieldValue(f, limit))) return "E2BIG";
  return (val & fixed) === (limit & fixed) ? "ok" : "E2BIG";
}
