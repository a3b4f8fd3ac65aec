/**
 * Value rules of the cache geometry registers from 6.3 (before, both are invariant: the equal rule):
 * - clidr: set_clidr (no RES0 bits; cache levels that imply IDC need CTR_EL0.IDC);
 * - ccsidr: set_ccsidr (no RES0 bits; the line size at least get_min_cache_line_size).
 * And which CCSIDR entries a CLIDR_EL1 value implements (is_valid_cache), for entries one side lacks;
 * and which CTR_EL0 the guest reads (guestCtrLevel): KVM_SET_ONE_REG's value only where the read traps.
 */
import type { KernelGeneration } from "../regs/index.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import type { GenerationModel } from "../kvm/kernels/model.js";
import {
  ccsidrMinLine,
  clidrImplements,
  guestCtrTrapped,
  setCcsidrAccepts,
  setClidrAccepts,
} from "../kvm/rules/cache.js";
import type { VerdictLevel } from "./check.js";
import type { ConfigView } from "./config-view.js";
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

// ---- the CTR_EL0 the guest reads ----------------------------------------------------------------

/** CTR_EL0 (op0 3, op1 3, CRn 0, CRm 0, op2 1) and ID_AA64MMFR2_EL1 (EVT: bits 59:56). */
export const CTR_ID = 0x603000000013d801n;
const MMFR2_ID = 0x603000000013c03an;

/**
 * What decides the CTR_EL0 a host's guest reads (kvm/rules/cache.ts guestCtrTrapped): the kernel's
 * trap rule, the host's FEAT_EVT and sanitised CTR_EL0 (KVM's reset value), and the CPU's own CTR_EL0
 * as the probe's guest read it untrapped (undefined when the profile has no such reading).
 */
export interface GuestCtr {
  trap: GenerationModel["ctrTrap"];
  hostHasEvt: boolean;
  sanitised: bigint;
  cpuOwn: bigint | undefined;
}

/** The GuestCtr of a host view, or undefined when the view has no CTR_EL0 reading. */
export function guestCtrOf(view: ConfigView, generation: KernelGeneration): GuestCtr | undefined {
  const sanitised = view.reset.get(CTR_ID);
  if (typeof sanitised !== "bigint") return undefined;
  const mmfr2 = view.reset.get(MMFR2_ID);
  const g: GuestCtr = {
    trap: generationModel(generation).ctrTrap,
    hostHasEvt: typeof mmfr2 === "bigint" && ((mmfr2 >> 56n) & 0xfn) >= 1n,
    sanitised,
    cpuOwn: undefined,
  };
  // The probe's guest runs AArch64 with the host's CTR_EL0: its reading is the CPU's own when untrapped.
  const read = view.base.firstRun?.items.find((it) => it.name === "CTR_EL0");
  if (read?.outcome === "value" && typeof read.value === "bigint" && !trapped(g, sanitised, false))
    g.cpuOwn = read.value;
  return g;
}

const trapped = (g: GuestCtr, vmCtr: bigint, el1_32bit: boolean): boolean =>
  guestCtrTrapped(g.trap, {
    el1_32bit,
    hostHasEvt: g.hostHasEvt,
    vmCtrIsHostSanitised: vmCtr === g.sanitised,
  });

/** The CTR_EL0 a guest reads on the host when its VM's register holds `vmCtr`; undefined: not measured. */
export function guestCtrSeen(g: GuestCtr, vmCtr: bigint, features: readonly number[]): bigint | undefined {
  return trapped(g, vmCtr, features.includes(VCPU_FEATURES.EL1_32BIT)) ? vmCtr : g.cpuOwn;
}

/** Which of CTR_EL0's fields (DIC, IDC, CWG, ERG, DminLine, L1Ip, IminLine) differ between two values. */
function ctrFieldsDiffering(a: bigint, b: bigint): string {
  const fields: [string, bigint, bigint][] = [
    ["DIC", 29n, 1n],
    ["IDC", 28n, 1n],
    ["CWG", 24n, 0xfn],
    ["ERG", 20n, 0xfn],
    ["DminLine", 16n, 0xfn],
    ["L1Ip", 14n, 3n],
    ["IminLine", 0n, 0xfn],
  ];
  const names = fields.filter(([, at, m]) => ((a >> at) & m) !== ((b >> at) & m)).map(([n]) => n);
  if (names.length === 0) return "bits outside the named fields differ";
  return `${names.join(", ")} ${names.length === 1 ? "differs" : "differ"}`;
}

/**
 * The CTR_EL0 the guest reads on the destination against what it read before (the source's guest, or
 * a template's value; a snapshot without its source's profile is not judged). Where the read does not
 * trap, the guest reads the CPU's own CTR_EL0 whatever KVM_SET_ONE_REG wrote (on <= 6.2 the register is
 * invariant anyway: set_invariant_sys_reg), so no value can pin it: tolerated, with the fields that change.
 */
export function guestCtrLevel(r: VcpuRequirement, cfg: CompiledConfig, out: Out): VerdictLevel {
  const i = REGISTRY.intern(CTR_ID);
  const v = r.values.get(i);
  const g = cfg.guestCtr;
  const expected = r.expectedGuestCtr;
  if (typeof v !== "bigint" || !g || expected === undefined) return "ok";
  const seen = guestCtrSeen(g, v, r.features);
  if (seen === undefined || seen === expected) return "ok";
  out?.rule(
    cfg,
    i,
    "tolerated",
    "cache",
    seen === v
      ? `the guest reads the VM's register here (HCR_EL2.TID2: vcpu_set_hcr), ${hex(v)}, but the source's guest read ${hex(expected)} (${ctrFieldsDiffering(seen, expected)})`
      : `the guest reads this CPU's own CTR_EL0 here, ${hex(seen)}, not ${hex(expected)} (${ctrFieldsDiffering(seen, expected)}): the read does not trap (no HCR_EL2.TID2: ${g.trap === "tid2" ? "vcpu_reset_hcr" : "vcpu_set_hcr"}), so no register value pins it`,
  );
  return "tolerated";
}
