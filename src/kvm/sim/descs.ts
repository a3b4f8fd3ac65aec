/**
 * Field helpers on register values (shift and mask from the catalog, arch/arm64/tools/sysreg). The
 * descriptor tables themselves are kernel data: src/kvm/kernels/descs.ts.
 */
import { sysregByName } from "../../regs/catalog.js";

const fieldCache = new Map<string, { shift: bigint; mask: bigint; width: number } | null>();
/** Shift and in-place mask of a register field from the catalog (arch/arm64/tools/sysreg). */
export function fieldOf(reg: string, field: string): { shift: bigint; mask: bigint; width: number } {
  const key = `${reg}.${field}`;
  let f = fieldCache.get(key);
  if (f === undefined) {
    const def = sysregByName(reg)?.fields.find((x) => x.name === field);
    f = def
      ? {
          shift: BigInt(def.lsb),
          mask: ((1n << BigInt(def.msb - def.lsb + 1)) - 1n) << BigInt(def.lsb),
          width: def.msb - def.lsb + 1,
        }
      : null;
    fieldCache.set(key, f);
  }
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
  try {
    fieldOf(reg, field);
    return true;
  } catch {
    return false;
  }
}
