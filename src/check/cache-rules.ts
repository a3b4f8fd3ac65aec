/**
 * Value rules of the cache geometry registers from 6.3 (before, both are invariant: the equal rule):
 * - clidr: set_clidr (no RES0 bits; cache levels that imply IDC need CTR_EL0.IDC);
 * - ccsidr: set_ccsidr (no RES0 bits; the line size at least get_min_cache_line_size).
 * And which CCSIDR entries a CLIDR_EL1 value implements (is_valid_cache), for entries one side lacks.
 */
import { ccsidrMinLine, clidrImplements, setCcsidrAccepts, setClidrAccepts } from "../kvm/rules/cache.js";
import type { VerdictLevel } from "./check.js";
import type { CompiledConfig } from "./host.js";
import { REGISTRY, hex, hostValue, join64 } from "./registry.js";
import type { VcpuRequirement } from "./requirements.js";
import type { Out } from "./verdicts.js";

/** CLIDR_EL1 (op0 3, op1 1, CRn 0, CRm 0, op2 1). */
export const CLIDR_ID = 0x603000000013c801n;

export const UNIMPLEMENTED_CACHE =
  "a cache level/type the VM's CLIDR_EL1 does not implement: its CCSIDR is UNKNOWN (get_ccsidr), the guest cannot rely on it";

const cachesByClidr = new Map<bigint, number>();

/** The CSSELR selectors (0..13) a CLIDR_EL1 value implements, as a bitmask (memoised: a fleet's VMs share a few). */
export function implementedCaches(clidr: bigint): number {
  let m = cachesByClidr.get(clidr);
  if (m === undefined) {
    m = 0;
    for (let sel = 0; sel < 14; sel++) if (clidrImplements(clidr, sel)) m |= 1 << sel;
    if (cachesByClidr.size < 256) cachesByClidr.set(clidr, m);
  }
  return m;
}

/** A CCSIDR demux entry of a level/type the subject's CLIDR_EL1 value does not implement. */
export function unimplementedCache(r: VcpuRequirement, i: number): boolean {
  if (r.caches === undefined || REGISTRY.checkClass(i) !== "demux") return false;
  const sel = REGISTRY.low16(i) & 0xff;
  return sel >= 14 || ((r.caches >> sel) & 1) === 0;
}

/** set_clidr: no RES0 bits (outside the writable mask), and IDC-implied levels need CTR_EL0.IDC. */
export function clidrRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const level = setClidrAccepts(lo, hi, cfg.wLo[i] ?? 0, cfg.wHi[i] ?? 0, cfg.ctr?.idc ?? false)
    ? "tolerated"
    : "incompatible";
  if (!out) return level;
  const res0 = !setClidrAccepts(lo, hi, cfg.wLo[i] ?? 0, cfg.wHi[i] ?? 0, true);
  out.rule(
    cfg,
    i,
    level,
    "cache",
    level === "tolerated"
      ? `the VM has ${hex(join64(lo, hi))}, the destination shows ${hex(hostValue(cfg, i))}: the restore writes it (set_clidr accepts it)`
      : res0
        ? `the VM has ${hex(join64(lo, hi))}: RES0 bits set (set_clidr: EINVAL)`
        : `the VM's cache levels imply IDC but the destination's CTR_EL0.IDC is 0 (set_clidr: EINVAL)`,
  );
  return level;
}

/** set_ccsidr: no RES0 bits; LineSize + 4 >= get_min_cache_line_size (CTR_EL0 IminLine/DminLine + 2). */
export function ccsidrRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const csselr = REGISTRY.low16(i) & 0xff;
  const minLine = ccsidrMinLine(csselr, cfg.ctr?.imin ?? 0, cfg.ctr?.dmin ?? 0);
  const line = (lo & 7) + 4;
  const level = setCcsidrAccepts(lo, hi, minLine) ? "tolerated" : "incompatible";
  if (!out) return level;
  const res0 = !setCcsidrAccepts(lo, hi, 0);
  out.rule(
    cfg,
    i,
    level,
    "cache",
    level === "tolerated"
      ? `the VM has ${hex(lo >>> 0)}, the destination shows ${hex((cfg.lo[i] ?? 0) >>> 0)}: the restore writes it (set_ccsidr accepts it)`
      : res0
        ? `the VM has ${hex(lo >>> 0)}: RES0 bits set (set_ccsidr: EINVAL)`
        : `the VM's line size 2^${line} is below the destination's minimum 2^${minLine} (set_ccsidr / get_min_cache_line_size: EINVAL)`,
  );
  return level;
}
