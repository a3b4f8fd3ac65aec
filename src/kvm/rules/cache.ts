/**
 * Cache geometry KVM accepts from userspace (6.3+): set_clidr for CLIDR_EL1 and set_ccsidr for the demux
 * CCSIDR registers (sys_regs.c); before 6.3 both are invariant (set_invariant_sys_reg, demux_c15_set: a
 * write must equal the hardware's value). Values come as 32-bit halves for the checker's fast path.
 */
import { sysregByName } from "../../regs/catalog.js";
import type { GenerationModel } from "../kernels/model.js";

/** CLIDR_EL1_RES0 (asm/sysreg.h): bits 63:47. */
export const CLIDR_RES0 = 0xffff800000000000n;

/** CCSIDR_EL1's RES0 bits (arch/arm64/tools/sysreg). */
export const CCSIDR_RES0_MASK: bigint = (() => {
  let m = 0n;
  for (const f of sysregByName("CCSIDR_EL1")?.fields ?? [])
    if (f.kind === "res0") m |= ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
  return m;
})();
const CCSIDR_RES0_LO = Number(CCSIDR_RES0_MASK & 0xffffffffn);
const CCSIDR_RES0_HI = Number((CCSIDR_RES0_MASK >> 32n) & 0xffffffffn);

/**
 * Whether CSSELR selector `sel` names a cache CLIDR value `clidr` implements (is_valid_cache: Ctype
 * of level (sel >> 1) + 1 is I-only 1 or separate 3 for InD 1; D-only 2, separate 3 or unified 4
 * for InD 0).
 */
export function clidrImplements(clidr: bigint, sel: number): boolean {
  const level = sel >> 1;
  if (level >= 7) return false;
  const ctype = Number((clidr >> BigInt(3 * level)) & 7n);
  return sel & 1 ? ctype === 1 || ctype === 3 : ctype === 2 || ctype === 3 || ctype === 4;
}

/** set_clidr's idc_implied: LoC 0, or LoUIS and LoUU both 0 (no data cache clean to the PoU needed). */
export function clidrImpliesIdc(lo: number): boolean {
  const louis = (lo >>> 21) & 7;
  const loc = (lo >>> 24) & 7;
  const louu = (lo >>> 27) & 7;
  return loc === 0 || (louis === 0 && louu === 0);
}

/**
 * set_clidr: no bit outside `allowed` (the writable mask, i.e. not CLIDR_EL1_RES0), and cache levels that
 * imply IDC only when the VM's CTR_EL0.IDC is set; else EINVAL.
 */
export function setClidrAccepts(
  lo: number,
  hi: number,
  allowedLo: number,
  allowedHi: number,
  ctrIdc: boolean,
): boolean {
  return (lo & ~allowedLo) === 0 && (hi & ~allowedHi) === 0 && !(clidrImpliesIdc(lo) && !ctrIdc);
}

/**
 * get_min_cache_line_size: log2 of the smallest line CTR_EL0 allows for selector `sel` (IminLine for an
 * instruction cache, DminLine otherwise, in words: + 2).
 */
export function ccsidrMinLine(sel: number, iminLine: number, dminLine: number): number {
  return (sel & 1 ? iminLine : dminLine) + 2;
}

/** set_ccsidr: no RES0 bits, and LineSize + 4 (log2 bytes) at least get_min_cache_line_size; else EINVAL. */
export function setCcsidrAccepts(lo: number, hi: number, minLine: number): boolean {
  return (lo & CCSIDR_RES0_LO) === 0 && (hi & CCSIDR_RES0_HI) === 0 && (lo & 7) + 4 >= minLine;
}

/**
 * Whose the CCSIDR values are: the VM's ("vm": invariant, the hardware's, before 6.3) or each vCPU's
 * (vcpu->arch.ccsidr, 6.3+), from the generation's cache model.
 */
export function ccsidrScope(model: Pick<GenerationModel, "cacheIds">): "vm" | "vcpu" {
  return model.cacheIds === "host" ? "vm" : "vcpu";
}

/**
 * Whether a guest's read of CTR_EL0 traps to KVM (HCR_EL2.TID2), and so returns the VM's CTR_EL0
 * register, or reads the CPU's own CTR_EL0 (IDC as the hardware has it, which can differ from the
 * sanitised value KVM_GET_ONE_REG shows: read_cpuid_effective_cachetype sets IDC from CLIDR_EL1).
 * "tid2" (<= 6.2, kvm_emulate.h vcpu_reset_hcr): TID2 only for ARM64_MISMATCHED_CACHE_TYPE (never on
 * a one-CPU host) or a 32-bit EL1 vCPU. "tid4WithEvt" (6.3+, vcpu_set_hcr): TID2 unless the host has
 * FEAT_EVT (ARM64_HAS_EVT) and the VM's CTR_EL0 is the host's sanitised one (then TID4 traps only
 * CCSIDR/CLIDR/CSSELR).
 */
export function guestCtrTrapped(
  trap: GenerationModel["ctrTrap"],
  o: { el1_32bit: boolean; hostHasEvt: boolean; vmCtrIsHostSanitised: boolean },
): boolean {
  if (trap === "tid2") return o.el1_32bit;
  return !(o.hostHasEvt && o.vmCtrIsHostSanitised);
}
