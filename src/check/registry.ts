/**
 * The checker's process-wide register index. Every register id a compiled host or subject mentions is
 * interned into a small integer, so that compiled forms can be typed arrays and bitsets indexed by it.
 * With the index go what the checker knows from the id alone: its class (which family of rules judges
 * it), its name and its kernel-source time-varying mask.
 *
 * Compiled forms keep a 64-bit value as two 32-bit halves (lo32 / hi32, joined back by join64): the
 * per-pair loop compares numbers, never bigints.
 */
import type { RegId } from "../regs/index.js";
import { coprocOf, decodeId } from "../regs/index.js";
import { featureIdRangeIndex } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { regName } from "../formats/profile.js";
import { timeVaryingRule } from "../kvm/rules/time-varying.js";

/**
 * What the checker does with a register, by its id alone:
 * - state: saved state (core, ordinary system registers, SVE slices), restored as saved: only its
 *   presence is compared;
 * - fw: a firmware pseudo-register (PSCI_VERSION, the SMCCC workarounds);
 * - bitmap: a hypercall service bitmap (KVM_REG_ARM_FW_FEAT_BMAP);
 * - demux: CCSIDR by cache selector (KVM_REG_ARM_DEMUX_ID_CCSIDR);
 * - vls: the SVE vector lengths (KVM_REG_ARM64_SVE_VLS);
 * - id: the feature ID space (op0 3, op1 0/1/3, CRn 0, CRm 0..7), MPIDR_EL1 excepted.
 */
export type CheckClass = "state" | "fw" | "bitmap" | "demux" | "vls" | "id";

const MPIDR_EL1 = 0x603000000013c005n;

function classOf(id: RegId): CheckClass {
  const d = decodeId(id);
  switch (d.class) {
    case "fw":
      return "fw";
    case "fwBitmap":
      return "bitmap";
    case "demux":
      return "demux";
    case "sve":
      return d.kind === "vls" ? "vls" : "state";
    case "sysreg":
      if (id === MPIDR_EL1) return "state"; // reset_mpidr, no set_user: any value restores
      try {
        featureIdRangeIndex(d);
        return "id";
      } catch {
        return "state";
      }
    default:
      return "state";
  }
}

/** Interns register ids into small integers (indices), in the order they are first seen. */
class Registry {
  private readonly ids: RegId[] = [];
  private readonly classes: CheckClass[] = [];
  private readonly tvMasks: (bigint | undefined)[] = [];
  private readonly low: number[] = [];
  private readonly names: (string | undefined)[] = [];
  private readonly index = new Map<RegId, number>();

  intern(id: RegId): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.classes.push(classOf(id));
      this.tvMasks.push(timeVaryingRule(id)?.mask);
      this.low.push(Number(id & 0xffffn));
      this.index.set(id, i);
    }
    return i;
  }
  /**
   * Interns the ids not seen yet in ascending order. Reports list registers in index order, so the
   * first subject a process compiles fixes it: ascending, whatever order its snapshot lists them in.
   */
  internSorted(ids: Iterable<RegId>): void {
    const fresh = [...ids].filter((id) => !this.index.has(id));
    fresh.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const id of fresh) this.intern(id);
  }
  /** The register id of index `i`. */
  id(i: number): RegId {
    const id = this.ids[i];
    if (id === undefined) throw new RangeError(`register index ${i} was never interned`);
    return id;
  }
  /** The id's low 16 bits: a firmware register's or bitmap's number, a CCSIDR demux entry's CSSELR. */
  low16(i: number): number {
    return this.low[i] ?? 0;
  }
  /** The id's KVM_REG_ARM_COPROC group (regs/id.ts COPROC). */
  coproc(i: number): number {
    return coprocOf(this.id(i));
  }
  checkClass(i: number): CheckClass {
    return this.classes[i] ?? "state";
  }
  /** The kernel-source time-varying mask (time-varying.ts), if any. */
  tvMask(i: number): bigint | undefined {
    return this.tvMasks[i];
  }
  name(i: number): string {
    return (this.names[i] ??= regName(this.id(i)));
  }
  get size(): number {
    return this.ids.length;
  }
}

export const REGISTRY = new Registry();

// ---- 64-bit values as 32-bit halves ------------------------------------------------------------

export const lo32 = (v: bigint): number => Number(v & 0xffffffffn) >>> 0;
export const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn) >>> 0;
export const join64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
export const hex = (v: bigint | number): string => "0x" + v.toString(16);

/** The destination's value of register `i` in a compiled view (host.ts CompiledConfig). */
export const hostValue = (cfg: { lo: Uint32Array; hi: Uint32Array }, i: number): bigint =>
  join64(cfg.lo[i] ?? 0, cfg.hi[i] ?? 0);

export function bytesToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let k = b.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k] ?? 0);
  return v;
}

/** The value KVM's reset_unknown() leaves in a register nobody wrote (arch/arm64/kvm/sys_regs.h). */
export const RESET_UNKNOWN = 0x1de7ec7edbadc0den;

/** Whether a value is what a VM that never touched the register has: 0, or reset_unknown's value. */
export const isUntouched = (v: RegValue): boolean =>
  typeof v === "bigint" ? v === 0n || v === RESET_UNKNOWN : v.every((b) => b === 0);

// ---- bitsets over register indices -------------------------------------------------------------

/** A bitset over REGISTRY indices. */
export function bitsetOf(indices: Iterable<number>): Uint32Array {
  const list = [...indices];
  let max = -1;
  for (const i of list) if (i > max) max = i;
  const out = new Uint32Array((max >> 5) + 1);
  for (const i of list) out[i >> 5] = (out[i >> 5] ?? 0) | (1 << (i & 31));
  return out;
}

export function hasBit(set: Uint32Array, i: number): boolean {
  return ((set[i >> 5] ?? 0) & (1 << (i & 31))) !== 0;
}

/** The indices set in `a` (combined word by word with `b` by `op`), ascending. */
export function bitsWhere(a: Uint32Array, b: Uint32Array, op: (a: number, b: number) => number): number[] {
  const out: number[] = [];
  const words = Math.max(a.length, b.length);
  for (let w = 0; w < words; w++) {
    let m = op(a[w] ?? 0, b[w] ?? 0);
    while (m !== 0) {
      const bit = 31 - Math.clz32(m & -m);
      m &= m - 1;
      out.push((w << 5) | bit);
    }
  }
  return out;
}

/** The indices set in `set`, ascending. */
export const bitsOf = (set: Uint32Array): number[] => bitsWhere(set, set, and);

export const andNot = (a: number, b: number): number => a & ~b;
export const and = (a: number, b: number): number => a & b;
