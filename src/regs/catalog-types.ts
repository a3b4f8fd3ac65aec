/**
 * Shapes of the generated register catalog (src/regs/generated/*.json, written by
 * scripts/gen-catalog.mjs from Debian's kernel sources). JSON has no bigint: values wider than 2^53 are
 * hex strings there and bigint here.
 */

export const KERNEL_GENERATIONS = ["5.10", "6.1", "6.12", "7.2"] as const;
export type KernelGeneration = (typeof KERNEL_GENERATIONS)[number];

/**
 * A field of a system register, as arch/arm64/tools/sysreg describes it (or, for the few registers it
 * does not describe, scripts/gen-catalog.supplement.json).
 */
export interface FieldDef {
  name: string;
  msb: number;
  lsb: number;
  /**
   * sysreg's Field/UnsignedEnum/SignedEnum/Enum/Res0/Res1/Raz/Unkn; "ident" (supplement only): an
   * identification number such as MIDR_EL1's PartNum or REVIDR_EL1's IMPLEMENTATION DEFINED bits, with
   * no order and no feature level, so no field policy or lower/raise experiment applies to it.
   */
  kind: "field" | "unsignedEnum" | "signedEnum" | "enum" | "res0" | "res1" | "raz" | "unkn" | "ident";
  /** Named values of an enum field, in the order sysreg lists them. */
  values?: { value: bigint; name: string }[];
}

export interface SysregDef {
  name: string;
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
  /** Fields from the MSB down; empty when the kernel's tables give none. */
  fields: FieldDef[];
  /** Where the encoding came from: "sysreg" (tools/sysreg) or "sysreg.h". */
  source: "sysreg" | "sysreg.h";
  /** Where the fields came from when not tools/sysreg (the supplement's citation: cputype.h, Arm ARM). */
  fieldsSource?: string;
}

/** cpufeature.c's FTR_EXACT / FTR_LOWER_SAFE / FTR_HIGHER_SAFE / FTR_HIGHER_OR_ZERO_SAFE. */
export type FtrType = "exact" | "lowerSafe" | "higherSafe" | "higherOrZeroSafe";

/** One ARM64_FTR_BITS entry of an ID register, with KVM's overrides folded in. */
export interface FtrPolicy {
  field: string;
  shift: number;
  width: number;
  signed: boolean;
  type: FtrType;
  safe: bigint;
  visible: boolean;
  strict: boolean;
  /** Set when sys_regs.c gives KVM a different policy than the host's (kvm_arm64_ftr_safe_value). */
  kvmOverride?: string;
}

/** A firmware pseudo-register (coproc 0x14) or feature bitmap (coproc 0x16) from uapi asm/kvm.h. */
export interface FwRegDef {
  name: string;
  class: "fw" | "fwBitmap";
  index: number;
  /** First kernel generation whose uapi header defines it. */
  since: KernelGeneration;
  /** Named values (PSCI versions, workaround levels), each with the first generation that has it. */
  values?: { value: bigint; name: string; since?: KernelGeneration }[];
  /** Flag bits inside the value (WORKAROUND_2's ENABLED, bitmap services). */
  bits?: { bit: number; name: string; service: string; since: KernelGeneration }[];
}
