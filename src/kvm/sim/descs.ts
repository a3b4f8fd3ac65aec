/**
 * Field helpers on register values (shift and mask from the catalog, arch/arm64/tools/sysreg). The
 * descriptor tables themselves are kernel data: src/kvm/kernels/descs.ts.
 */
import { sysregByName } from "../../regs/catalog.js";

type Field = { shift: bigint; mask: bigint; width: number };
/** By register, then field (two lookups of constant strings: no key to build per call). */
const fieldCache = new Map<string, Map<string, Field | null>>();

/** A register field from the catalog, or null for a field the catalog does not have. */
function lookUpField(reg: string, field: string): Field | null {
  let fields = fieldCache.get(reg);
  if (!fields) fieldCache.set(reg, (fields = new Map()));
  let f = fields.get(field);
  if (f === undefined) {
    const def = sysregByName(reg)?.fields.find((x) => x.name === field);
    f = def
      ? {
          shift: BigInt(def.lsb),
          mask: ((1n << BigInt(def.msb - def.lsb + 1)) - 1n) << BigInt(def.lsb),
          width: def.msb - def.lsb + 1,
        }
      : null;
    fields.set(field, f);
  }
  return f;
}

/** Shift and in-place mask of a register field from the catalog (arch/arm64/tools/sysreg). */
export function fieldOf(reg: string, field: string): Field {
  const f = lookUpField(reg, field);
  if (!f) throw new RangeError(`no field ${field} in ${reg}`);
  return f;
}

export function getField(value: bigint, reg: string, field: string): number {
  const f = fieldOf(reg, field);
  return Number((value & f.mask) >> f.shift);
}

export function setField(value: bigint, reg: string, field: string, v: number): bigint {
  const f = fieldOf(reg, field);
  return (value & ~f.mask) | ((BigInt(v) << f.shift) & f.mask);
}

export function hasField(reg: string, field: string): boolean {
  return lookUpField(reg, field) !== null;
}
