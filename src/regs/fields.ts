/**
 * Splitting a register value into its fields: system registers by their tools/sysreg layout (with the
 * cpufeature.c policy of ID-register fields), firmware registers by their uapi values and bits.
 */
import type { FieldDef, FtrPolicy, KernelGeneration } from "./catalog.js";
import { fwRegByIndex, ftrPolicies, kvmTimerByEncoding, sysregByEncoding, sysregByName } from "./catalog.js";
import type { RegId } from "./id.js";
import { decodeId } from "./id.js";

export interface FieldValue {
  name: string;
  msb: number;
  lsb: number;
  value: bigint;
  /** The value read as two's complement, for signed fields (SignedEnum, or a signed ftr policy). */
  signedValue?: bigint;
  /** The enum name of the value, or a description of a flag's state. */
  meaning?: string;
  /** The kernel's sanitisation policy, for ID-register fields. */
  policy?: FtrPolicy;
  /** A bit set that the register's layout says must be zero (Res0/Raz), or an undefined bitmap bit. */
  unexpected?: boolean;
}

export function extractBits(value: bigint, msb: number, lsb: number): bigint {
  return (value >> BigInt(lsb)) & ((1n << BigInt(msb - lsb + 1)) - 1n);
}

export function toSigned(v: bigint, width: number): bigint {
  const sign = 1n << BigInt(width - 1);
  return v & sign ? v - (1n << BigInt(width)) : v;
}

function sysregFields(fields: FieldDef[], policies: FtrPolicy[] | undefined, value: bigint): FieldValue[] {
  return fields.map((f) => {
    const raw = extractBits(value, f.msb, f.lsb);
    const policy = policies?.find((p) => p.shift === f.lsb && p.width === f.msb - f.lsb + 1);
    const out: FieldValue = { name: f.name, msb: f.msb, lsb: f.lsb, value: raw };
    if (f.kind === "signedEnum" || policy?.signed) out.signedValue = toSigned(raw, f.msb - f.lsb + 1);
    const named = f.values?.find((v) => v.value === raw);
    if (named) out.meaning = named.name;
    if (policy) out.policy = policy;
    if ((f.kind === "res0" || f.kind === "raz") && raw !== 0n) out.unexpected = true;
    if (f.kind === "res1" && raw !== (1n << BigInt(f.msb - f.lsb + 1)) - 1n) out.unexpected = true;
    return out;
  });
}

function firmwareFields(cls: "fw" | "fwBitmap", index: number, value: bigint): FieldValue[] | undefined {
  const def = fwRegByIndex(cls, index);
  if (!def) return undefined;
  const out: FieldValue[] = [];
  let flagMask = 0n;
  for (const b of def.bits ?? []) {
    const set = ((value >> BigInt(b.bit)) & 1n) === 1n;
    flagMask |= 1n << BigInt(b.bit);
    out.push({ name: b.name, msb: b.bit, lsb: b.bit, value: set ? 1n : 0n, meaning: b.service });
  }
  if (cls === "fwBitmap") {
    // Bits the uapi header does not define: KVM refuses them (EINVAL), so a value with one is suspect.
    for (let bit = 0; bit < 64; bit++) {
      if (!(flagMask & (1n << BigInt(bit))) && (value >> BigInt(bit)) & 1n)
        out.push({
          name: `bit ${bit}`,
          msb: bit,
          lsb: bit,
          value: 1n,
          meaning: "undefined bit",
          unexpected: true,
        });
    }
    return out;
  }
  const level = value & ~flagMask;
  const named = def.values?.find((v) => v.value === level);
  if (def.name === "KVM_REG_ARM_PSCI_VERSION") {
    // PSCI_VERSION(major, minor) = major << 16 | minor (include/uapi/linux/psci.h)
    out.unshift(
      { name: "major", msb: 31, lsb: 16, value: extractBits(value, 31, 16) },
      {
        name: "minor",
        msb: 15,
        lsb: 0,
        value: extractBits(value, 15, 0),
        ...(named ? { meaning: named.name } : {}),
      },
    );
  } else {
    out.unshift({ name: "level", msb: 63, lsb: 0, value: level, ...(named ? { meaning: named.name } : {}) });
  }
  return out;
}

/**
 * The fields of `value` in register `id`; undefined when the catalog has no layout for it.
 * `generation` picks the kernel whose ID-register policies are reported.
 */
export function decodeFields(
  id: RegId,
  value: bigint,
  generation: KernelGeneration,
): FieldValue[] | undefined {
  const d = decodeId(id);
  if (d.class === "fw" || d.class === "fwBitmap") return firmwareFields(d.class, d.index, value);
  if (d.class !== "sysreg") return undefined;
  // KVM's swapped timer ids hold another register's value: lay it out as that register.
  const timer = kvmTimerByEncoding(d);
  const def = timer ? sysregByName(timer.holds) : sysregByEncoding(d);
  if (!def || def.fields.length === 0) return undefined;
  return sysregFields(def.fields, ftrPolicies(generation, def.name), value);
}
