/**
 * Value rules of the firmware pseudo-registers: what KVM_SET_ONE_REG accepts on the destination.
 * - psci: KVM_REG_ARM_PSCI_VERSION, the versions kvm_arm_set_fw_reg knows (0.1 only without
 *   PSCI_0_2, the others only with it);
 * - wa13: SMCCC_ARCH_WORKAROUND_1/3, level bits only and get_kernel_wa_level(regid) >= val;
 * - wa2: SMCCC_ARCH_WORKAROUND_2, kvm_arm_set_fw_reg's NOT_AVAIL / NOT_REQUIRED mapping;
 * - bitmap: the hypercall service bitmaps, kvm_arm_set_fw_reg_bmap (any subset of the features).
 */
import type { RegId } from "../regs/index.js";
import { fwRegByIndex } from "../regs/index.js";
import { bitmapAccepted, wa2Accepted, wa2Level, waAccepted } from "../kvm/rules/firmware.js";
import type { VerdictLevel } from "./check.js";
import type { CompiledConfig } from "./host.js";
import { REGISTRY, hex, hostValue, join64 } from "./registry.js";
import type { SubjectFacts } from "./requirements.js";
import type { Out } from "./verdicts.js";

// ---- PSCI ----------------------------------------------------------------------------------------

const psciName = (v: number): string => (v < 0 ? "?" : `${v >>> 16}.${v & 0xffff}`);

/** kvm_arm_set_fw_reg: the PSCI versions the kernel knows, 0.1 only without PSCI_0_2 and vice versa. */
export function psciRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const ok = hi === 0 && cfg.psci.includes(lo >>> 0);
  const level = ok ? "tolerated" : "incompatible";
  if (out)
    out.rule(
      cfg,
      i,
      level,
      "psci",
      ok
        ? `the guest saw PSCI ${psciName(lo)}; the destination defaults to ${psciName(cfg.lo[i] ?? 0)} and accepts ${psciName(lo)} (kvm_arm_set_fw_reg): the restore pins it`
        : `the guest saw PSCI ${psciName(hi ? -1 : lo)}; the destination accepts ${cfg.psci.map(psciName).join(", ")} (kvm_arm_set_fw_reg${cfg.psciFrom === "experiments" ? ", as the probe's writes showed" : ""}): EINVAL`,
    );
  return level;
}

// ---- the SMCCC workarounds ---------------------------------------------------------------------

const WA_NAMES = ["NOT_AVAIL", "AVAIL", "NOT_REQUIRED"];
const waName = (v: number): string => `${WA_NAMES[v] ?? `level ${v}`} (${v})`;
const WA2_NAMES = ["NOT_AVAIL", "UNKNOWN", "AVAIL", "NOT_REQUIRED"];
const wa2Name = (v: number): string =>
  `${WA2_NAMES[v & 0xf] ?? `level ${v & 0xf}`}${v & 0x10 ? "+ENABLED" : ""} (${hex(v >>> 0)})`;

/** WORKAROUND_1/3, kvm_arm_set_fw_reg: level bits only, and get_kernel_wa_level(regid) >= val. */
export function wa13Rule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const d = (cfg.lo[i] ?? 0) & 0xf;
  const extraBits = hi !== 0 || (lo & ~0xf) !== 0;
  const level = waAccepted(lo, hi, d) ? "tolerated" : "incompatible";
  if (out)
    out.rule(
      cfg,
      i,
      level,
      "workaround",
      level === "tolerated"
        ? `the guest saw ${waName(lo)}; the destination is at ${waName(d)}, a higher level: KVM accepts the write (kvm_arm_set_fw_reg) and the guest's workaround calls keep working`
        : extraBits
          ? `the VM has ${hex(join64(lo, hi))}: bits beyond the level (kvm_arm_set_fw_reg: EINVAL)`
          : `the guest relies on ${waName(lo)}; the destination's kernel level is only ${waName(d)} (get_kernel_wa_level < val: kvm_arm_set_fw_reg EINVAL)`,
    );
  return level;
}

/** WORKAROUND_2: the destination's level must be at least the one KVM maps the guest's to. */
export function wa2Rule(
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Out,
  subject: SubjectFacts,
): VerdictLevel {
  const want = wa2Level(lo, hi);
  const d = (cfg.lo[i] ?? 0) & 0xf;
  const level = wa2Accepted(lo, hi, d) ? "tolerated" : "incompatible";
  if (!out) return level;
  const ssbsNote =
    cfg.wa2FromVm && d === 0 && subject.ssbs === 0
      ? "; on 6.12+ the level depends on the VM's ID_AA64PFR1_EL1.SSBS (kvm_has_feat in get_kernel_wa_level): this VM hides SSBS, so a mitigated host may report NOT_REQUIRED, which the profile (default SSBS) cannot show"
      : "";
  out.rule(
    cfg,
    i,
    level,
    "workaround",
    want < 0
      ? `the VM has ${hex(join64(lo, hi))}: not a value kvm_arm_set_fw_reg accepts (ENABLED only with AVAIL, levels 0..3)`
      : level === "incompatible"
        ? `the guest saw ${wa2Name(lo)}, which KVM maps to NOT_REQUIRED; the destination's level is ${wa2Name(d)} ("We can deal with NOT_AVAIL on NOT_REQUIRED, but not the other way around": kvm_arm_set_fw_reg EINVAL)${ssbsNote}`
        : `the guest saw ${wa2Name(lo)}; the destination is at ${wa2Name(d)}: kvm_arm_set_fw_reg maps ${want === 0 ? "NOT_AVAIL/UNKNOWN to NOT_AVAIL" : "AVAIL/NOT_REQUIRED to NOT_REQUIRED"} and accepts it`,
  );
  return level;
}

// ---- hypercall service bitmaps -----------------------------------------------------------------

/** kvm_arm_set_fw_reg_bmap: val & ~features -> EINVAL; any subset is accepted before the first run. */
export function bitmapRule(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): VerdictLevel {
  const features = cfg.bitmapFeatures.get(i) ?? 0;
  const level = bitmapAccepted(lo, hi, features) ? "tolerated" : "incompatible";
  if (!out) return level;
  const id = REGISTRY.id(i);
  const s = join64(lo, hi);
  const d = hostValue(cfg, i);
  const feats = BigInt(features >>> 0);
  out.rule(
    cfg,
    i,
    level,
    "bitmap",
    level === "tolerated"
      ? `the VM has ${hex(s)}, the destination defaults to ${hex(d)} (${serviceDiff(id, s, d)} by default): the restore writes ${hex(s)} before the first run (kvm_arm_set_fw_reg_bmap)`
      : `the guest uses services the destination does not offer (${bitNames(id, s & ~feats)}): kvm_arm_set_fw_reg_bmap refuses unknown bits (EINVAL)`,
  );
  for (let b = 0; b < 64; b++) {
    const bit = 1n << BigInt(b);
    if ((s & bit) === (d & bit)) continue;
    const used = (s & bit) !== 0n;
    const lacks = used && !(feats & bit);
    out.rule(
      cfg,
      i,
      lacks ? "incompatible" : "tolerated",
      "bitmap",
      used
        ? lacks
          ? `used by the guest; the destination lacks it (kvm_arm_set_fw_reg_bmap: EINVAL)`
          : `used by the guest; off by default on the destination, enabled by the restore`
        : `not used by the guest; on by default on the destination, disabled by the restore`,
      bitmapBitName(id, b),
    );
  }
  return level;
}

/** "loses KVM vendor hypervisor: PTP; gains ..." for bitmap values `had` -> `gets`. */
export function serviceDiff(id: RegId, had: bigint, gets: bigint): string {
  const parts: string[] = [];
  const lost = had & ~gets;
  const gained = gets & ~had;
  if (lost) parts.push(`loses ${bitNames(id, lost)}`);
  if (gained) parts.push(`gains ${bitNames(id, gained)}`);
  return parts.join("; ");
}

function bitNames(id: RegId, bits: bigint): string {
  const names: string[] = [];
  for (let b = 0; b < 64; b++) if ((bits >> BigInt(b)) & 1n) names.push(bitmapBitName(id, b));
  return names.join(", ");
}

function bitmapBitName(id: RegId, bit: number): string {
  const def = fwRegByIndex("fwBitmap", Number(id & 0xffffn));
  const b = def?.bits?.find((x) => x.bit === bit);
  return b ? `${b.service} (bit ${bit})` : `bit ${bit}`;
}
