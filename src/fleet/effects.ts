/**
 * What a change of register values means to the guest, in words an operator can act on: "the guest
 * loses PTP (KVM vendor hypercall)", "the guest sees PSCI 1.0 instead of 1.3", "the guest gains PMUVer
 * (ID_AA64DFR0_EL1.PMUVer 0=NI -> 4=V3P1)".
 *
 * Guest effects come from the firmware pseudo-registers (PSCI version, SMCCC workaround levels, the
 * hypercall bitmaps: a bit a bit) and from the feature ID registers, field by field. Other registers
 * (timers, system state, SVE state) hold the guest's state, not what it is offered: they are no effect.
 */
import type { FieldDef, FieldValue, RegId } from "../regs/index.js";
import {
  KERNEL_GENERATIONS,
  decodeFields,
  decodeId,
  isReservedIdRegister,
  nameOf,
  sysregByEncoding,
} from "../regs/index.js";
import { FW_REGS } from "../kvm/index.js";
import { configView, servicesFromGuestView } from "../check/config-view.js";
import type { HostProfile } from "../formats/profile.js";

export interface GuestEffect {
  /** What the guest uses, in words: "PTP (KVM vendor hypercall)", "PSCI", "RNDR (ID_AA64ISAR0_EL1)". */
  what: string;
  change: "loses" | "gains" | "changes";
  /** For "changes": "1.3" -> "1.1"; the field values or levels otherwise. */
  from?: string;
  to?: string;
  /** The sentence: "the guest loses PTP (KVM vendor hypercall)", "the guest sees PSCI 1.1 instead of 1.3". */
  text: string;
  /** The registers (and fields) behind it, "KVM_REG_ARM_VENDOR_HYP_BMAP bit 1", "ID_AA64ISAR0_EL1.RNDR". */
  registers: string[];
}

// ---- the firmware pseudo-registers (uapi asm/kvm.h, Documentation/virt/kvm/arm/fw-pseudo-registers.rst)

/** kvm_arm_get_fw_reg: the value's level bits (KVM_REG_FEATURE_LEVEL_MASK, 4 bits wide). */
const LEVEL_MASK = 0xfn;
/** KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED: with level AVAIL, the mitigation is on for the vCPU. */
const WA2_ENABLED = 0x10n;

interface FirmwareRegister {
  id: RegId;
  what: string;
  /** How the value reads to the guest: a PSCI version, or what a workaround level tells it. */
  reads: (value: bigint) => string;
  /** "version": "sees PSCI 1.0 instead of 1.3"; "level": "sees X "not required" instead of "...". */
  kind: "version" | "level";
}

/** PSCI_VERSION(major, minor) = major << 16 | minor (include/uapi/linux/psci.h). */
const psciVersion = (v: bigint): string => `${v >> 16n}.${v & 0xffffn}`;

const levelReads =
  (levels: Readonly<Record<number, string>>) =>
  (v: bigint): string =>
    levels[Number(v & LEVEL_MASK)] ?? `level ${v}`;

/** What WORKAROUND_1 and _3 read, from the kernel's spectre state (get_kernel_wa_level). */
const spectreStateLevel = levelReads({
  0: "not offered (mitigation status unknown)", // _NOT_AVAIL: SPECTRE_VULNERABLE
  1: "required, offered", // _AVAIL: SPECTRE_MITIGATED
  2: "not required", // _NOT_REQUIRED: SPECTRE_UNAFFECTED
});

const FIRMWARE: readonly FirmwareRegister[] = [
  // kvm_arm_get_fw_reg -> kvm_psci_version: the PSCI version the guest's PSCI_VERSION call returns
  { id: FW_REGS.PSCI_VERSION, what: "PSCI", reads: psciVersion, kind: "version" },
  {
    // get_kernel_wa_level(WORKAROUND_1) from arm64_get_spectre_v2_state; the guest's
    // SMCCC_ARCH_FEATURES(ARM_SMCCC_ARCH_WORKAROUND_1) answers from the same state (kvm_smccc_call_handler)
    id: FW_REGS.SMCCC_ARCH_WORKAROUND_1,
    what: "the Spectre-v2 workaround call (SMCCC_ARCH_WORKAROUND_1)",
    reads: spectreStateLevel,
    kind: "level",
  },
  {
    // get_kernel_wa_level(WORKAROUND_2) from arm64_get_spectre_v4_state; kvm_arm_set_fw_reg narrows a
    // restored UNKNOWN to NOT_AVAIL and AVAIL to NOT_REQUIRED (the uapi: "only two states")
    id: FW_REGS.SMCCC_ARCH_WORKAROUND_2,
    what: "the Spectre-v4 (SSB) workaround call (SMCCC_ARCH_WORKAROUND_2)",
    reads: (v) =>
      (v & LEVEL_MASK) === 2n
        ? v & WA2_ENABLED
          ? "offered, on for this vCPU"
          : "offered, off for this vCPU"
        : levelReads({
            0: "not offered (unmitigated unless the guest uses SSBS)", // _NOT_AVAIL: vulnerable, or mitigated with SSBS
            1: "state unknown, not offered", // _UNKNOWN
            3: "not required", // _NOT_REQUIRED: SPECTRE_UNAFFECTED, or mitigated without SSBS
          })(v),
    kind: "level",
  },
  {
    // get_kernel_wa_level(WORKAROUND_3) from arm64_get_spectre_bhb_state
    id: FW_REGS.SMCCC_ARCH_WORKAROUND_3,
    what: "the Spectre-BHB workaround call (SMCCC_ARCH_WORKAROUND_3)",
    reads: spectreStateLevel,
    kind: "level",
  },
];

/** A hypercall service a bitmap bit lets the guest call (kvm_smccc_test_fw_bmap's function ids). */
interface BitmapBit {
  id: RegId;
  bit: number;
  what: string;
}

const BITMAP_BITS: readonly BitmapBit[] = [
  // KVM_REG_ARM_STD_BIT_TRNG_V1_0: ARM_SMCCC_TRNG_VERSION.._RND64 (kvm_trng_call)
  { id: FW_REGS.STD_BMAP, bit: 0, what: "TRNG 1.0 (Arm firmware random numbers)" },
  // KVM_REG_ARM_STD_HYP_BIT_PV_TIME: ARM_SMCCC_HV_PV_TIME_FEATURES/_ST (kvm_hypercall_pv_features)
  { id: FW_REGS.STD_HYP_BMAP, bit: 0, what: "PV time (stolen-time hypercalls)" },
  // KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT: ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID and _CALL_UID_FUNC_ID
  { id: FW_REGS.VENDOR_HYP_BMAP, bit: 0, what: "KVM_FEATURES and CALL_UID (KVM vendor hypercalls)" },
  // KVM_REG_ARM_VENDOR_HYP_BIT_PTP: ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID (kvm_ptp_get_time)
  { id: FW_REGS.VENDOR_HYP_BMAP, bit: 1, what: "PTP (KVM vendor hypercall)" },
  // 6.15+ KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER: ARM_SMCCC_VENDOR_HYP_KVM_DISCOVER_IMPL_VER_FUNC_ID
  {
    id: FW_REGS.VENDOR_HYP_BMAP_2,
    bit: 0,
    what: "target implementation version discovery (KVM vendor hypercall DISCOVER_IMPL_VER)",
  },
  // 6.15+ KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_CPUS: ARM_SMCCC_VENDOR_HYP_KVM_DISCOVER_IMPL_CPUS_FUNC_ID
  {
    id: FW_REGS.VENDOR_HYP_BMAP_2,
    bit: 1,
    what: "target implementation CPUs discovery (KVM vendor hypercall DISCOVER_IMPL_CPUS)",
  },
];

/**
 * A bitmap bit no kernel here defines, named by the function it stands for: the vendor bitmaps hold
 * KVM's vendor hypercall functions 0-63 and 64-127 (uapi asm/kvm.h), the standard ones their services.
 */
function unknownBitWhat(id: RegId, bit: number): string {
  if (id === FW_REGS.VENDOR_HYP_BMAP) return `KVM vendor hypercall function ${bit}`;
  if (id === FW_REGS.VENDOR_HYP_BMAP_2) return `KVM vendor hypercall function ${64 + bit}`;
  return `${nameOf(id).name} service bit ${bit}`;
}

// ---- effects ------------------------------------------------------------------------------------

function effect(
  change: GuestEffect["change"],
  what: string,
  text: string,
  registers: string[],
  values: { from?: string; to?: string } = {},
): GuestEffect {
  return { what, change, ...values, text, registers };
}

function firmwareEffect(r: FirmwareRegister, before?: bigint, after?: bigint): GuestEffect | undefined {
  const reg = nameOf(r.id).name;
  if (before === undefined && after === undefined) return undefined;
  if (after === undefined)
    return effect("loses", r.what, `the guest loses ${r.what}`, [reg], { from: r.reads(before!) });
  if (before === undefined)
    return effect("gains", r.what, `the guest gains ${r.what}`, [reg], { to: r.reads(after) });
  const from = r.reads(before);
  const to = r.reads(after);
  if (from === to) return undefined;
  const shown = r.kind === "version" ? `${to} instead of ${from}` : `"${to}" instead of "${from}"`;
  return effect("changes", r.what, `the guest sees ${r.what} ${shown}`, [reg], { from, to });
}

/**
 * Each bit of a hypercall bitmap the guest loses or gains. A bitmap missing on one side is all bits
 * off there: pass the services a kernel without the bitmap registers offers (guestRegisterValues).
 */
function bitmapEffects(id: RegId, before: bigint, after: bigint): GuestEffect[] {
  const reg = nameOf(id).name;
  const out: GuestEffect[] = [];
  const changed = before ^ after;
  for (let bit = 0; bit < 64; bit++) {
    if (((changed >> BigInt(bit)) & 1n) === 0n) continue;
    const what = BITMAP_BITS.find((b) => b.id === id && b.bit === bit)?.what ?? unknownBitWhat(id, bit);
    const registers = [`${reg} bit ${bit}`];
    const change = (after >> BigInt(bit)) & 1n ? "gains" : "loses";
    out.push(effect(change, what, `the guest ${change} ${what}`, registers));
  }
  return out;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** A field's value with its name from the register catalog: "1=IMP", or "3" when it has none. */
const shownField = (value: bigint, meaning: string | undefined) =>
  meaning && meaning !== `${value}` ? `${value}=${meaning}` : `${value}`;

/**
 * Each field of a feature ID register that differs. A field is absent where it reads NI (the catalog's
 * "not implemented"), or, for a field without named values, 0 (negative when signed): going absent is
 * "loses", coming present "gains", any other difference "changes". Reserved and identification fields
 * (RES0, RES1, RAZ, UNKN, ident) are no feature.
 */
function idFieldEffects(id: RegId, before: bigint, after: bigint): GuestEffect[] {
  const d = decodeId(id);
  const def = d.class === "sysreg" ? sysregByEncoding(d) : undefined;
  if (!def || def.fields.length === 0) {
    const reg = nameOf(id).name;
    const [from, to] = [hex(before), hex(after)];
    return [effect("changes", reg, `the guest sees ${reg} ${to} instead of ${from}`, [reg], { from, to })];
  }
  // The layout is the same in every kernel; the newest one's policies say which fields are signed.
  const newest = KERNEL_GENERATIONS[KERNEL_GENERATIONS.length - 1]!;
  const fieldsBefore = new Map(decodeFields(id, before, newest)!.map((f) => [f.name, f]));
  const fieldsAfter = new Map(decodeFields(id, after, newest)!.map((f) => [f.name, f]));
  const out: GuestEffect[] = [];
  for (const f of def.fields) {
    if (!FEATURE_FIELD_KINDS.has(f.kind)) continue;
    const fb = fieldsBefore.get(f.name)!;
    const fa = fieldsAfter.get(f.name)!;
    if (fb.value === fa.value) continue;
    const values = { from: shownField(fb.value, fb.meaning), to: shownField(fa.value, fa.meaning) };
    const field = `${def.name}.${f.name}`;
    const what = `${f.name} (${def.name})`;
    const detail = `${f.name} (${field} ${values.from} -> ${values.to})`;
    if (isAbsent(f, fa) && !isAbsent(f, fb))
      out.push(effect("loses", what, `the guest loses ${detail}`, [field], values));
    else if (isAbsent(f, fb) && !isAbsent(f, fa))
      out.push(effect("gains", what, `the guest gains ${detail}`, [field], values));
    else
      out.push(
        effect(
          "changes",
          what,
          `the guest sees ${field} ${values.to} instead of ${values.from}`,
          [field],
          values,
        ),
      );
  }
  return out;
}

/** A field whose values the catalog names is absent where it reads NI; an unnamed one at 0 (signed: below). */
function isAbsent(f: FieldDef, v: FieldValue): boolean {
  if (f.values) return f.values.some((n) => n.name === "NI") && v.meaning === "NI";
  return v.signedValue !== undefined ? v.signedValue < 0n : v.value === 0n;
}

/** Catalog field kinds that hold a feature (not RES0/RES1/RAZ/UNKN, not an identification number). */
const FEATURE_FIELD_KINDS: ReadonlySet<FieldDef["kind"]> = new Set([
  "field",
  "unsignedEnum",
  "signedEnum",
  "enum",
]);

const CHANGE_ORDER: Record<GuestEffect["change"], number> = { loses: 0, changes: 1, gains: 2 };

/**
 * Effects of a guest going from the `before` register values to `after`, losses first, then changes,
 * then gains (each in register order: PSCI, the workarounds, the bitmaps, the ID registers).
 *
 * An id missing on one side is that side's absence: a firmware register the kernel lacks (the guest
 * loses or gains what it stands for), a bitmap all bits off, an ID register reading 0 (the feature ID
 * space reads as zero where a kernel lists no register). A kernel without the bitmap registers (before
 * 6.0, VENDOR_HYP_BMAP_2 before 6.15) still offers some services unconditionally: guestRegisterValues
 * fills them in from the guest's own calls. Registers that are neither firmware nor feature ID
 * registers are ignored.
 */
export function guestEffects(
  before: ReadonlyMap<RegId, bigint>,
  after: ReadonlyMap<RegId, bigint>,
): GuestEffect[] {
  const out: GuestEffect[] = [];
  for (const r of FIRMWARE) {
    const e = firmwareEffect(r, before.get(r.id), after.get(r.id));
    if (e) out.push(e);
  }
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  for (const id of ids) {
    const d = decodeId(id);
    if (d.class === "fwBitmap") out.push(...bitmapEffects(id, before.get(id) ?? 0n, after.get(id) ?? 0n));
  }
  for (const id of ids) {
    const d = decodeId(id);
    if (d.class === "fw" && !FIRMWARE.some((r) => r.id === id)) {
      const e = firmwareEffect(
        { id, what: nameOf(id).name, reads: hex, kind: "version" },
        before.get(id),
        after.get(id),
      );
      if (e) out.push(e);
    }
    if (d.class === "sysreg" && isReservedIdRegister(d)) {
      const b = before.get(id) ?? 0n;
      const a = after.get(id) ?? 0n;
      if (a !== b) out.push(...idFieldEffects(id, b, a));
    }
  }
  return out
    .map((e, i) => ({ e, i }))
    .sort((x, y) => CHANGE_ORDER[x.e.change] - CHANGE_ORDER[y.e.change] || x.i - y.i)
    .map((x) => x.e);
}

/**
 * The register values a guest of `profile` with vCPU `features` is offered (bit numbers; configView),
 * with the hypercall bitmaps a kernel lacks filled in from the guest's own calls
 * (servicesFromGuestView); undefined when no probed configuration covers the features.
 */
export function guestRegisterValues(
  profile: HostProfile,
  features: readonly number[],
): Map<RegId, bigint> | undefined {
  const view = configView(profile, features);
  if (!view) return undefined;
  const out = new Map<RegId, bigint>();
  for (const [id, v] of view.reset) if (typeof v === "bigint") out.set(id, v);
  for (const [id, v] of servicesFromGuestView(view.base)) if (!out.has(id)) out.set(id, v);
  return out;
}

/**
 * Effects in one line, the sentences without "the guest", at most `max` of them:
 * "loses PTP (KVM vendor hypercall); sees PSCI 1.1 instead of 1.3; +2 more". "no change the guest
 * sees" when there is none.
 */
export function effectsText(effects: readonly GuestEffect[], max = 3): string {
  if (effects.length === 0) return "no change the guest sees";
  const shown = effects.slice(0, Math.max(1, max)).map((e) => e.text.replace(/^the guest /, ""));
  const more = effects.length - shown.length;
  return shown.join("; ") + (more > 0 ? `; +${more} more` : "");
}
