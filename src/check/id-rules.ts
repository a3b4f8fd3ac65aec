/**
 * Value rules of the ID registers: what KVM_SET_ONE_REG of an ID register accepts on the destination.
 * - equal: immutable before 6.7 (set_id_reg: val != read_id_reg -> EINVAL), invariant registers
 *   (set_invariant_sys_reg, get_invariant_sys_reg), CCSIDR before 6.3 (demux_c15_set);
 * - pfr0Csv: before 6.7, set_id_aa64pfr0_el1 lets CSV2 (and CSV3 from 6.1) be lowered;
 * - idCheck: 6.7+, set_id_reg -> arm64_check_features (arm64_ftr_safe_value per ftr field);
 * - impId: 7.x, set_imp_id_reg (any value within the writable mask, with the capability).
 * Each returns the level and, given a verdict list, the register's verdict and its fields' verdicts.
 */
import type { RegId } from "../regs/index.js";
import { decodeId, ftrPolicies, sysregByEncoding } from "../regs/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { ftrAccepts } from "../kvm/rules/id-fields.js";
import { pfr0CsvAccepted, pfr0CsvFields, setImpIdAccepts } from "../kvm/rules/id-regs.js";
import type { VerdictLevel } from "./check.js";
import type { CompiledConfig, IdField } from "./host.js";
import { IMMUTABLE_BEFORE_6_7, equalWhy } from "./reasons.js";
import { REGISTRY, hex, hostValue, join64 } from "./registry.js";
import type { Out, Verdicts } from "./verdicts.js";
import { worse } from "./verdicts.js";

/** equal: any other value is refused. */
export const equalRule = (cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel =>
  mustEqual(cfg, i, lo, hi, out, "equal");

/** fwUnknown: a firmware register guestabi has no rule for must be equal too. */
export const fwUnknownRule = (
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Out,
): VerdictLevel => mustEqual(cfg, i, lo, hi, out, "fwUnknown");

function mustEqual(
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Out,
  rule: "equal" | "fwUnknown",
): VerdictLevel {
  if (!out) return "incompatible";
  const why = equalWhy(rule, REGISTRY.checkClass(i), REGISTRY.name(i), cfg.host.writableIds);
  const s = join64(lo, hi);
  const d = hostValue(cfg, i);
  out.rule(
    cfg,
    i,
    "incompatible",
    rule === "equal" ? "id" : "firmware",
    `the VM has ${hex(s)}, the destination shows ${hex(d)} and cannot be changed: ${why}`,
  );
  if (REGISTRY.checkClass(i) === "id") fieldDiffVerdicts(cfg, i, s, d, s ^ d, why, out);
  return "incompatible";
}

/** The catalog fields of an ID register, for naming bits in reasons. */
export function catalogFields(id: RegId): { name: string; msb: number; lsb: number }[] {
  const d = decodeId(id);
  if (d.class !== "sysreg") return [];
  return (sysregByEncoding(d)?.fields ?? []).map((f) => ({ name: f.name, msb: f.msb, lsb: f.lsb }));
}

/** Incompatible verdicts for every catalog field (and leftover bits) within `bits` of s ^ d. */
function fieldDiffVerdicts(
  cfg: CompiledConfig,
  i: number,
  s: bigint,
  d: bigint,
  bits: bigint,
  why: string,
  out: Verdicts,
): void {
  let left = bits;
  for (const f of catalogFields(REGISTRY.id(i))) {
    const m = ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
    if ((left & m) === 0n) continue;
    left &= ~m;
    const sv = (s & m) >> BigInt(f.lsb);
    const dv = (d & m) >> BigInt(f.lsb);
    const pol = policyOf(cfg, REGISTRY.name(i), f.lsb, f.msb - f.lsb + 1);
    out.rule(
      cfg,
      i,
      "incompatible",
      "id",
      `the guest saw ${hex(sv)}, the destination shows ${hex(dv)}${pol ? ` (${pol}: ${direction(pol, sv, dv)})` : ""}: ${why}`,
      f.name,
    );
  }
  if (left !== 0n)
    out.rule(
      cfg,
      i,
      "incompatible",
      "id",
      `bits ${hex(left)} differ outside any known field: ${why}`,
      `bits ${hex(left)}`,
    );
}

function policyOf(cfg: CompiledConfig, reg: string, shift: number, width: number): string | undefined {
  const p = ftrPolicies(cfg.host.generation, reg)?.find((x) => x.shift === shift && x.width === width);
  return p ? `${p.type}${p.signed ? " signed" : ""}` : undefined;
}

function direction(pol: string, s: bigint, d: bigint): string {
  if (pol.startsWith("lowerSafe"))
    return s < d ? "the destination offers more" : "the guest relies on more than the destination offers";
  if (pol.startsWith("higherSafe"))
    return s > d ? "the destination offers more" : "the guest relies on more than the destination offers";
  return "values differ";
}

// ---- before 6.7: set_id_aa64pfr0_el1 ------------------------------------------------------------

/** A 4-bit field of ID_AA64PFR0_EL1's upper half that set_id_aa64pfr0_el1 lets differ. */
interface CsvField {
  name: "CSV2" | "CSV3";
  /** Shift within the upper 32 bits. */
  shift: number;
}
const CSV2: CsvField = { name: "CSV2", shift: 24 }; // bits 59:56
const CSV3: CsvField = { name: "CSV3", shift: 28 }; // bits 63:60

/** Before 6.7, set_id_aa64pfr0_el1: only CSV2 (and CSV3 from 6.1) may differ, each <= 1 and <= the kernel's. */
export function pfr0CsvRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const dlo = cfg.lo[i] ?? 0;
  const dhi = cfg.hi[i] ?? 0;
  const writable = pfr0CsvFields(generationModel(cfg.host.generation));
  const fields = [CSV2, CSV3].filter((f) => writable.includes(f.name));
  const csvMaskHi = fields.reduce((m, f) => m | (0xf << f.shift), 0);
  let level: VerdictLevel =
    (lo ^ dlo) !== 0 || ((hi ^ dhi) & ~csvMaskHi) !== 0 ? "incompatible" : "tolerated";
  const differing: { f: CsvField; s: number; d: number; level: VerdictLevel }[] = [];
  for (const f of fields) {
    const s = (hi >>> f.shift) & 0xf;
    const d = (dhi >>> f.shift) & 0xf;
    if (s === d) continue;
    const l = pfr0CsvAccepted(s, d) ? "tolerated" : "incompatible";
    level = worse(level, l);
    differing.push({ f, s, d, level: l });
  }
  if (!out) return level;
  const s = join64(lo, hi);
  const d = join64(dlo, dhi);
  out.rule(
    cfg,
    i,
    level,
    "id",
    `the VM has ${hex(s)}, the destination shows ${hex(d)}; before 6.7 only ${fields.map((f) => f.name).join("/")} may differ (set_id_aa64pfr0_el1)`,
  );
  for (const x of differing)
    out.rule(
      cfg,
      i,
      x.level,
      "id",
      x.level === "tolerated"
        ? `the guest saw ${x.s}, the destination shows ${x.d}: lowered by the restore (set_id_aa64pfr0_el1 accepts 0..the kernel's value)`
        : `the guest saw ${x.s}, the destination shows ${x.d}: set_id_aa64pfr0_el1 refuses ${x.f.name} above the kernel's (it would promise an unmitigated CPU)`,
      x.f.name,
    );
  const other = (s ^ d) & ~(BigInt(csvMaskHi >>> 0) << 32n);
  if (other !== 0n)
    fieldDiffVerdicts(
      cfg,
      i,
      s,
      d,
      other,
      `${IMMUTABLE_BEFORE_6_7} (set_id_aa64pfr0_el1: anything but CSV2/CSV3 must equal)`,
      out,
    );
  return level;
}

// ---- 6.7+: arm64_check_features -------------------------------------------------------------------

/** A field of a value given as 32-bit halves (width <= 32), sign-extended when `signed`. */
export function fieldOf(lo: number, hi: number, shift: number, width: number, signed: boolean): number {
  let v: number;
  if (shift >= 32) v = hi >>> (shift - 32);
  else if (shift + width <= 32) v = lo >>> shift;
  else v = (lo >>> shift) | (hi << (32 - shift));
  v = width >= 32 ? v >>> 0 : v & ((1 << width) - 1);
  if (signed && width < 32 && v & (1 << (width - 1))) v -= 1 << width;
  return v;
}

/** A policy's name for reasons: "lowerSafe", "exact safe=0x0", with "signed". */
export const policyText = (f: Pick<IdField, "type" | "signed" | "safe">): string =>
  `${f.type}${f.type === "exact" ? ` safe=0x${f.safe.toString(16)}` : ""}${f.signed ? " signed" : ""}`;

/** 6.7+: set_id_reg -> arm64_check_features. */
export function idCheckRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const level = idCheckLevel(cfg, i, lo, hi);
  if (out) explainIdCheck(cfg, i, lo, hi, level, out);
  return level;
}

/** arm64_check_features: bits outside the policy fields equal the limit, each field accepted by its policy. */
function idCheckLevel(cfg: CompiledConfig, i: number, lo: number, hi: number): VerdictLevel {
  const dlo = cfg.lo[i] ?? 0;
  const dhi = cfg.hi[i] ?? 0;
  if (((lo ^ dlo) & (cfg.fixLo[i] ?? 0)) !== 0 || ((hi ^ dhi) & (cfg.fixHi[i] ?? 0)) !== 0)
    return "incompatible";
  for (const f of cfg.idFields[i] ?? []) {
    const v = fieldOf(lo, hi, f.shift, f.width, f.signed);
    const lim = fieldOf(dlo, dhi, f.shift, f.width, f.signed);
    if (!ftrAccepts(f.code, f.safe, v, lim)) return "incompatible";
  }
  return "tolerated";
}

function explainIdCheck(
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  level: VerdictLevel,
  out: Verdicts,
): void {
  const s = join64(lo, hi);
  const d = hostValue(cfg, i);
  out.rule(
    cfg,
    i,
    level,
    "id",
    `the VM has ${hex(s)}, the destination shows ${hex(d)} (writable mask ${hex(join64(cfg.wLo[i] ?? 0, cfg.wHi[i] ?? 0))}): ${level === "tolerated" ? "the restore writes it (arm64_check_features accepts every field)" : "KVM_SET_ONE_REG fails with EINVAL (arm64_check_features)"}`,
  );
  for (const f of cfg.idFields[i] ?? []) {
    const v = fieldOf(lo, hi, f.shift, f.width, f.signed);
    const lim = fieldOf(cfg.lo[i] ?? 0, cfg.hi[i] ?? 0, f.shift, f.width, f.signed);
    if (v === lim) continue;
    const ok = ftrAccepts(f.code, f.safe, v, lim);
    out.rule(
      cfg,
      i,
      ok ? "tolerated" : "incompatible",
      "id",
      ok
        ? `the guest saw ${v}, the destination shows ${lim}: the restore writes ${v} (${policyText(f)}${f.policy.kvmOverride ? ", KVM's own policy" : ""}: arm64_check_features accepts it)`
        : `the guest saw ${v}, the destination offers ${lim}: ${policyText(f)} refuses it (arm64_check_features: E2BIG, KVM_SET_ONE_REG EINVAL)`,
      f.policy.field,
    );
  }
  const fixedDiff = (s ^ d) & join64(cfg.fixLo[i] ?? 0, cfg.fixHi[i] ?? 0);
  if (fixedDiff !== 0n)
    fieldDiffVerdicts(
      cfg,
      i,
      s,
      d,
      fixedDiff,
      "not writable on this kernel: outside the writable mask or without an ftr policy, it must equal the limit (arm64_check_features)",
      out,
    );
}

// ---- 7.x: set_imp_id_reg ---------------------------------------------------------------------------

/** set_imp_id_reg: any value within the writable mask, once the VMM enabled the capability. */
export function impIdRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const level = setImpIdAccepts(lo, hi, cfg.wLo[i] ?? 0, cfg.wHi[i] ?? 0) ? "tolerated" : "incompatible";
  if (out)
    out.rule(
      cfg,
      i,
      level,
      "id",
      level === "tolerated"
        ? `the VM has ${hex(join64(lo, hi))}, the destination shows ${hex(hostValue(cfg, i))}: writable after KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) on the new VM (set_imp_id_reg); without it KVM_SET_ONE_REG fails with EINVAL`
        : `the VM has ${hex(join64(lo, hi))}: outside the writable mask ${hex(join64(cfg.wLo[i] ?? 0, cfg.wHi[i] ?? 0))} (set_imp_id_reg: EINVAL)`,
    );
  return level;
}
