/**
 * What Firecracker does with an aarch64 custom CPU template, as rules: what its parser refuses (PUT
 * /cpu-config, or "cpu-config" in a --config-file) and, given a host profile, what refuses the boot
 * (InstanceStart) on that host, each violation with Firecracker's own error. Read from
 * firecracker-microvm/firecracker v1.16.1 (unchanged at main 81b38b9):
 *
 * Parse (CustomCpuTemplate::try_from, templates.rs: serde_json, then validate()); serde stops at the first
 * error and serde_json appends " at line L column C", which is left out here; every problem is listed:
 * - the document: a JSON object with kvm_capabilities, vcpu_features, reg_modifiers, each defaulted, no
 *   other key (custom_cpu_template.rs, deny_unknown_fields); the two list elements are structs that
 *   ignore unknown keys; serde's derive also reads a struct from a JSON array of its fields in order;
 * - kvm_capabilities: strings, "N" adds KVM_CAP number N (u32) to the capabilities Firecracker checks,
 *   "!N" removes it (templates.rs KvmCapability::deserialize);
 * - vcpu_features: {index: u32, bitmap}, the bitmap a RegisterValueFilter<u32>;
 * - reg_modifiers: {addr, bitmap}: addr "0x" hex or "0b" binary u64 (templates_serde.rs
 *   deserialize_from_str_u64), bitmap a RegisterValueFilter<u128>;
 * - a bitmap (RegisterValueFilter::deserialize): an optional "0b", then characters read from the right:
 *   "_" skipped, x keeps KVM's bit, 0 and 1 set it; at most 32 (u32) or 128 (u128) of them, counted
 *   before the character is looked at (so a "_" past the limit is refused too);
 * - validate() (custom_cpu_template.rs): a register of 32 or 64 bits (KVM_REG_SIZE) takes no bitmap bit
 *   above its width; 128 bits anything; every other size is refused.
 *
 * Boot, on a host (builder.rs build_microvm_for_boot, arch/aarch64/mod.rs configure_system_for_boot), in
 * Firecracker's order:
 * - Kvm::new (vstate/kvm.rs, arch/aarch64/kvm.rs): the default capabilities (IOEVENTFD, IRQFD,
 *   USER_MEMORY, ARM_PSCI_0_2, DEVICE_CTRL, MP_STATE, ONE_REG) plus the template's, minus its "!"
 *   ones, each KVM_CHECK_EXTENSION on /dev/kvm; the first that answers 0 ends the boot;
 * - KvmVcpu::init (arch/aarch64/vcpu.rs): kvm_vcpu_init from KVM_ARM_PREFERRED_TARGET with PSCI_0_2
 *   (default_kvi; POWER_OFF on the secondary vCPUs), each vcpu_features entry applied to
 *   features[index] (an index past 6 panics), then init_vcpu refuses PMU_V3 (UnsupportedPmuV3, v1.16.0+;
 *   older versions fail at the first KVM_RUN, as KVM finds the PMU never initialised) and calls
 *   KVM_ARM_VCPU_INIT;
 * - CpuConfiguration::new (cpu_config/aarch64/mod.rs): KVM_GET_ONE_REG of every template register on vCPU
 *   0 (get_registers): a register the host does not list answers ENOENT and ends the boot; the values,
 *   with the bitmaps applied, are then written to every vCPU (KvmVcpu::configure, KVM_SET_ONE_REG), whose
 *   refusals are not judged here (`guestabi check` judges values);
 * - after the template, Firecracker writes some registers itself (the `overridden` list): PSTATE on
 *   every vCPU, PC and X0 on vCPU 0 (setup_boot_regs; docs/cpu_templates/boot-protocol.md), the physical
 *   counter on vCPU 0 with KVM_CAP_COUNTER_OFFSET, and CLIDR_EL1's Ctype and LoC fields from the host's
 *   sysfs cache topology (mod.rs override_clidr, cache_info.rs merge_clidr; v1.14.4, v1.15.1, v1.16.0+).
 */
import { formatId, malformedReason, nameOf, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import type { ErrnoName } from "../kvm/index.js";
import { CORE_PC, CORE_PSTATE, VCPU_FEATURES, capInfo, coreXReg } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import { configView } from "../check/config-view.js";
import {
  FC_BOOT_PMU,
  fcBootGetReg,
  fcBootInit,
  fcFeatureIndexPanic,
  fcMissingCapability,
} from "./firecracker-errors.js";

/** A kvm_vcpu_init.features[] word the template changes: bits in `filter` become those of `value`. */
export interface FirecrackerFeatureWord {
  index: number;
  filter: bigint;
  value: bigint;
}

/** A register the template changes: bits in `filter` become those of `value` (RegisterValueFilter::apply). */
export interface FirecrackerModifier {
  addr: RegId;
  filter: bigint;
  value: bigint;
}

/** A template as Firecracker reads it. */
export interface ParsedFirecrackerTemplate {
  kvmCapabilities: { cap: number; remove: boolean }[];
  vcpuFeatures: FirecrackerFeatureWord[];
  regModifiers: FirecrackerModifier[];
}

export interface FirecrackerViolation {
  /** "parse": Firecracker refuses the template itself; "boot": InstanceStart fails on the host. */
  stage: "parse" | "boot";
  /** Where in the template: "reg_modifiers[3].bitmap", "kvm_capabilities[0]", "" for the document. */
  at: string;
  /** Firecracker's error, as its API answers it. */
  error: string;
  /** The Firecracker function (and file) that decides it. */
  rule: string;
  /** guestabi's explanation, where Firecracker's error does not say why. */
  why?: string;
}

/** A register the template sets that Firecracker writes itself after applying the template. */
export interface FirecrackerOverride {
  at: string;
  register: string;
  what: string;
}

export interface FirecrackerTemplateCheck {
  violations: FirecrackerViolation[];
  overridden: FirecrackerOverride[];
  /** What the host profile cannot answer, one line each. */
  unchecked: string[];
  /** The template as Firecracker reads it (absent when the parse fails). */
  template?: ParsedFirecrackerTemplate;
}

// ---- parse ---------------------------------------------------------------------------------------

const DOC = "CustomCpuTemplate::try_from (cpu_config/templates.rs, aarch64/custom_cpu_template.rs)";
const RULE = {
  document: `${DOC}: serde, deny_unknown_fields`,
  capability: "KvmCapability::deserialize (cpu_config/templates.rs)",
  bitmap: "RegisterValueFilter::deserialize (cpu_config/templates.rs)",
  addr: "deserialize_from_str_u64 (cpu_config/templates_serde.rs)",
  feature: "VcpuFeatures (aarch64/custom_cpu_template.rs): serde",
  validate: "CustomCpuTemplate::validate (aarch64/custom_cpu_template.rs)",
} as const;
const FIELDS = ["kvm_capabilities", "vcpu_features", "reg_modifiers"] as const;
const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/** How serde_json names a JSON value in "invalid type" errors (its JsonUnexpected). */
function unexpected(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return `boolean \`${v}\``;
  if (typeof v === "number") return Number.isInteger(v) ? `integer \`${v}\`` : `floating point \`${v}\``;
  if (typeof v === "string") return `string ${JSON.stringify(v)}`;
  return Array.isArray(v) ? "sequence" : "map";
}
const invalidType = (v: unknown, expected: string) => `invalid type: ${unexpected(v)}, expected ${expected}`;

type Problem = (at: string, error: string, rule: string) => void;

/** Rust's ParseIntError, as Debug ("{:?}") and Display print it. */
type IntErrorKind = "Empty" | "InvalidDigit" | "PosOverflow";
const INT_ERROR_TEXT: Record<IntErrorKind, string> = {
  Empty: "cannot parse integer from empty string",
  InvalidDigit: "invalid digit found in string",
  PosOverflow: "number too large to fit in target type",
};

/** u32/u64::from_str_radix: an optional "+", then digits of the radix (either case), at most `max`. */
function parseUnsigned(s: string, radix: 2 | 10 | 16, max: bigint): bigint | IntErrorKind {
  if (s === "") return "Empty";
  const digits = s.startsWith("+") ? s.slice(1) : s;
  if (digits === "") return "InvalidDigit";
  const valid = { 2: /^[01]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[radix];
  if (!valid.test(digits)) return "InvalidDigit";
  const n = BigInt(radix === 10 ? digits : (radix === 2 ? "0b" : "0x") + digits);
  return n > max ? "PosOverflow" : n;
}

/** RegisterValueFilter::deserialize for a V of `bits` bits: {filter, value}, or Firecracker's error. */
export function parseFirecrackerBitmap(
  original: string,
  bits: 32 | 128,
): { filter: bigint; value: bigint } | string {
  const body = original.startsWith("0b") ? original.slice(2) : original;
  const bytes = Buffer.from(body, "utf8");
  let filter = 0n;
  let value = 0n;
  let i = 0;
  for (let k = bytes.length - 1; k >= 0; k--) {
    if (i === bits) return `Failed to parse string [${original}] as a bitmap - string is too long`;
    const c = bytes[k]!;
    if (c === 0x5f) continue; // '_'
    const bit = 1n << BigInt(i);
    if (c === 0x30) filter |= bit;
    else if (c === 0x31) {
      filter |= bit;
      value |= bit;
    } else if (c !== 0x78)
      return `Failed to parse string [${original}] as a bitmap - unknown character: ${c}`;
    i++;
  }
  return { filter, value };
}

/** deserialize_from_str_u64: "0b" binary or "0x" hex, else Firecracker's error. */
function parseAddr(s: string): bigint | string {
  const radix = s.startsWith("0b") ? 2 : s.startsWith("0x") ? 16 : undefined;
  if (radix === undefined)
    return (
      `No supported number system prefix found in value [${s}]. Make sure to prefix the number with ` +
      `'0x' for hexadecimal numbers or '0b' for binary numbers.`
    );
  const n = parseUnsigned(s.slice(2), radix, U64_MAX);
  return typeof n === "bigint"
    ? n
    : `Failed to parse string [${s}] as a number for CPU template - ParseIntError { kind: ${n} }`;
}

/**
 * A struct as serde's derive reads it from JSON: an object (unknown keys ignored unless the caller
 * refuses them), or an array of the fields in order (visit_seq; serde_json refuses elements past the
 * last field with "trailing characters"). A missing field is an error unless `defaulted`.
 */
function structFields(
  v: unknown,
  at: string,
  name: string,
  fields: readonly string[],
  problem: Problem,
  rule: string,
  defaulted = false,
): Record<string, unknown> | undefined {
  if (Array.isArray(v)) {
    if (v.length > fields.length) return void problem(at, "trailing characters", rule);
    if (v.length < fields.length && !defaulted)
      return void problem(
        at,
        `invalid length ${v.length}, expected struct ${name} with ${fields.length} elements`,
        rule,
      );
    return Object.fromEntries(v.map((x, i) => [fields[i]!, x]));
  }
  if (typeof v !== "object" || v === null) return void problem(at, invalidType(v, `struct ${name}`), rule);
  const o = v as Record<string, unknown>;
  const missing = defaulted ? undefined : fields.find((f) => !Object.hasOwn(o, f));
  if (missing !== undefined) return void problem(at, `missing field \`${missing}\``, rule);
  return o;
}

/** A list field: absent is empty (#[serde(default)]), anything but an array refused. */
function listField(doc: Record<string, unknown>, key: string, problem: Problem): unknown[] {
  const v = doc[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problem(key, invalidType(v, "a sequence"), RULE.document);
    return [];
  }
  return v;
}

function parseCapabilities(list: unknown[], problem: Problem): ParsedFirecrackerTemplate["kvmCapabilities"] {
  const out: ParsedFirecrackerTemplate["kvmCapabilities"] = [];
  list.forEach((c, i) => {
    const at = `kvm_capabilities[${i}]`;
    if (typeof c !== "string") return problem(at, invalidType(c, "a string"), RULE.capability);
    const remove = c.startsWith("!");
    const n = parseUnsigned(remove ? c.slice(1) : c, 10, BigInt(U32_MAX));
    if (typeof n !== "bigint")
      return problem(
        at,
        `Failed to parse string [${c}] as a kvm capability - can not convert to numeric: ${INT_ERROR_TEXT[n]}`,
        RULE.capability,
      );
    out.push({ cap: Number(n), remove });
  });
  return out;
}

function parseFeatures(list: unknown[], problem: Problem): FirecrackerFeatureWord[] {
  const out: FirecrackerFeatureWord[] = [];
  list.forEach((f, i) => {
    const at = `vcpu_features[${i}]`;
    const o = structFields(f, at, "VcpuFeatures", ["index", "bitmap"], problem, RULE.feature);
    if (!o) return;
    const index = o.index;
    let ok = true;
    if (typeof index !== "number" || !Number.isInteger(index)) {
      problem(`${at}.index`, invalidType(index, "u32"), RULE.feature);
      ok = false;
    } else if (index < 0 || index > U32_MAX) {
      problem(`${at}.index`, `invalid value: integer \`${index}\`, expected u32`, RULE.feature);
      ok = false;
    }
    const b = typeof o.bitmap === "string" ? parseFirecrackerBitmap(o.bitmap, 32) : undefined;
    if (b === undefined) problem(`${at}.bitmap`, invalidType(o.bitmap, "a string"), RULE.bitmap);
    else if (typeof b === "string") problem(`${at}.bitmap`, b, RULE.bitmap);
    if (ok && b !== undefined && typeof b !== "string") out.push({ index: index as number, ...b });
  });
  return out;
}

/** KVM_REG_SIZE of an id, in bytes (arch/aarch64/regs.rs reg_size). */
const regBytes = (id: RegId): number => 2 ** Number((id >> 52n) & 0xfn);

function parseModifiers(list: unknown[], problem: Problem): FirecrackerModifier[] {
  const out: FirecrackerModifier[] = [];
  list.forEach((m, i) => {
    const at = `reg_modifiers[${i}]`;
    const o = structFields(m, at, "RegisterModifier", ["addr", "bitmap"], problem, RULE.document);
    if (!o) return;
    const addr = typeof o.addr === "string" ? parseAddr(o.addr) : undefined;
    if (addr === undefined) problem(`${at}.addr`, invalidType(o.addr, "a string"), RULE.addr);
    else if (typeof addr === "string") problem(`${at}.addr`, addr, RULE.addr);
    const b = typeof o.bitmap === "string" ? parseFirecrackerBitmap(o.bitmap, 128) : undefined;
    if (b === undefined) problem(`${at}.bitmap`, invalidType(o.bitmap, "a string"), RULE.bitmap);
    else if (typeof b === "string") problem(`${at}.bitmap`, b, RULE.bitmap);
    if (typeof addr === "bigint" && b !== undefined && typeof b !== "string") out.push({ addr, ...b });
  });
  return out;
}

/** CustomCpuTemplate::validate: the register's width takes the bitmap; only 32, 64 and 128 bits. */
function validateSizes(mods: readonly FirecrackerModifier[], problem: Problem): void {
  mods.forEach((m, i) => {
    const bytes = regBytes(m.addr);
    const addr = "0x" + m.addr.toString(16);
    const at = `reg_modifiers[${i}]`;
    if (bytes > 256)
      // RegSize::from: unreachable!() past U2048
      problem(
        at,
        "internal error: entered unreachable code: Registers bigger than 2048 bits are not supported",
        RULE.validate,
      );
    else if (bytes === 4 || bytes === 8) {
      const limit = (1n << BigInt(bytes * 8)) - 1n;
      if (m.value > limit || m.filter > limit)
        problem(
          at,
          `Invalid size of bitmap for register ${addr}, should be <= ${bytes * 8} bits`,
          RULE.validate,
        );
    } else if (bytes !== 16)
      problem(
        at,
        `Invalid aarch64 register address: ${addr} - Only 32, 64 and 128 bit wide registers are supported`,
        RULE.validate,
      );
  });
}

/** The template text as Firecracker's parser reads it: the template, or every problem it has. */
export function parseFirecrackerTemplate(text: string): {
  template?: ParsedFirecrackerTemplate;
  violations: FirecrackerViolation[];
} {
  const violations: FirecrackerViolation[] = [];
  const problem: Problem = (at, error, rule) => violations.push({ stage: "parse", at, error, rule });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    problem("", `not JSON: ${(e as Error).message.split("\n")[0]}`, `${DOC}: serde_json`);
    return { violations };
  }
  const d = structFields(doc, "", "CustomCpuTemplate", FIELDS, problem, RULE.document, true);
  if (!d) return { violations };
  if (!Array.isArray(doc))
    for (const k of Object.keys(d))
      if (!(FIELDS as readonly string[]).includes(k))
        problem(
          k,
          `unknown field \`${k}\`, expected one of ${FIELDS.map((f) => `\`${f}\``).join(", ")}`,
          RULE.document,
        );
  const template: ParsedFirecrackerTemplate = {
    kvmCapabilities: parseCapabilities(listField(d, "kvm_capabilities", problem), problem),
    vcpuFeatures: parseFeatures(listField(d, "vcpu_features", problem), problem),
    regModifiers: parseModifiers(listField(d, "reg_modifiers", problem), problem),
  };
  validateSizes(template.regModifiers, problem);
  return violations.length ? { violations } : { template, violations };
}

// ---- boot ----------------------------------------------------------------------------------------

/** Kvm::DEFAULT_CAPABILITIES (arch/aarch64/kvm.rs), in order. */
const DEFAULT_CAPABILITIES: readonly number[] = [
  "IOEVENTFD",
  "IRQFD",
  "USER_MEMORY",
  "ARM_PSCI_0_2",
  "DEVICE_CTRL",
  "MP_STATE",
  "ONE_REG",
].map((n) => capInfo(n)!.number);

/** Kvm::combine_capabilities: the defaults, then each "N" appended once, each "!N" swap_remove'd. */
export function firecrackerCapabilities(mods: ParsedFirecrackerTemplate["kvmCapabilities"]): number[] {
  const caps = [...DEFAULT_CAPABILITIES];
  for (const m of mods) {
    const pos = caps.indexOf(m.cap);
    if (!m.remove) {
      if (pos < 0) caps.push(m.cap);
    } else if (pos >= 0) {
      const last = caps.pop()!; // Vec::swap_remove: the last element takes the removed one's place
      if (pos < caps.length) caps[pos] = last;
    }
  }
  return caps;
}

/** kvm_vcpu_init.features[] of vCPU 0 after the template: default_kvi (PSCI_0_2), then each entry. */
export function firecrackerFeatureWords(words: readonly FirecrackerFeatureWord[]): {
  features: bigint[];
  /** Entries whose index is past features[6] (a panic in KvmVcpu::init). */
  outOfBounds: number[];
} {
  const features = Array.from({ length: 7 }, () => 0n);
  features[0] = 1n << BigInt(VCPU_FEATURES.PSCI_0_2);
  const outOfBounds: number[] = [];
  words.forEach((w, i) => {
    if (w.index >= features.length) outOfBounds.push(i);
    else features[w.index] = (features[w.index]! & ~w.filter) | w.value;
  });
  return { features, outOfBounds };
}

/** The feature bit numbers set in kvm_vcpu_init.features[] words. */
export const firecrackerFeatureBits = (words: readonly bigint[]): number[] =>
  words.flatMap((w, k) =>
    Array.from({ length: 32 }, (_, b) => b)
      .filter((b) => (w >> BigInt(b)) & 1n)
      .map((b) => k * 32 + b),
  );

const PTIMER_CNT = sysregId(3, 3, 14, 0, 1); // KVM_REG_ARM_PTIMER_CNT
const CLIDR_EL1 = sysregId(3, 1, 0, 0, 1);
const MPIDR_EL1 = sysregId(3, 0, 0, 0, 5);
/** CLIDR_EL1 Ctype1..7 [20:0] and LoC [26:24]: what merge_clidr takes from sysfs (cache_info.rs). */
export const CLIDR_SYSFS_FIELDS = 0x071fffffn;

/** What Firecracker writes itself after the template, by register (vcpu.rs setup_boot_regs, mod.rs). */
const OVERRIDES = new Map<RegId, (host: HostProfile | undefined) => string | undefined>([
  [CORE_PSTATE, () => "every vCPU gets EL1h with D, A, I and F masked (setup_boot_regs)"],
  [CORE_PC, () => "vCPU 0 starts at the kernel's entry (setup_boot_regs); the others where PSCI CPU_ON says"],
  [
    coreXReg(0),
    () => "vCPU 0 gets the device tree's address (setup_boot_regs); the others CPU_ON's context id",
  ],
  [
    PTIMER_CNT,
    (host) => {
      const cap = host?.kvm?.caps["KVM_CAP_COUNTER_OFFSET"]?.[0];
      if (cap === 0) return undefined; // without KVM_CAP_COUNTER_OFFSET Firecracker leaves it
      return "vCPU 0's physical counter is zeroed at boot when /dev/kvm has KVM_CAP_COUNTER_OFFSET (setup_boot_regs)";
    },
  ],
  [
    CLIDR_EL1,
    () =>
      `its Ctype and LoC fields (mask 0x${CLIDR_SYSFS_FIELDS.toString(16)}) are replaced by the host's sysfs cache topology on every vCPU when they differ (override_clidr, merge_clidr; v1.14.4, v1.15.1, v1.16.0+): on a 6.3+ host, whose KVM makes up CLIDR_EL1, the guest sees the host's cache levels`,
  ],
  [
    MPIDR_EL1,
    () =>
      "every vCPU gets vCPU 0's value: Firecracker reads the template registers on vCPU 0 and writes them to each vCPU (CpuConfiguration::new, KvmVcpu::configure)",
  ],
]);

/** A register as reasons name it: "ID_AA64PFR0_EL1 (0x603000000013c020)", or the id when it is no register id. */
const regLabel = (id: RegId): string => {
  const bad = malformedReason(id);
  return bad === undefined
    ? `${nameOf(id).name} (${formatId(id)})`
    : `${formatId(id)} (not a register id: ${bad})`;
};

/** The errno a FeatureIssue's reason gives for KVM_ARM_VCPU_INIT (config-view.ts writes it so). */
const initErrno = (reason: string): ErrnoName | undefined =>
  /KVM_ARM_VCPU_INIT: (E[A-Z0-9]+)/.exec(reason)?.[1] as ErrnoName | undefined;

function bootRules(t: ParsedFirecrackerTemplate, host: HostProfile, out: FirecrackerTemplateCheck): void {
  const boot = (at: string, error: string, rule: string, why?: string) =>
    out.violations.push({ stage: "boot", at, error, rule, ...(why !== undefined ? { why } : {}) });

  // Kvm::new: KVM_CHECK_EXTENSION on /dev/kvm, in combine_capabilities' order.
  for (const cap of firecrackerCapabilities(t.kvmCapabilities)) {
    const name = capInfo(cap)?.name;
    const answer = name !== undefined ? host.kvm?.caps[name]?.[0] : undefined;
    const at = `kvm_capabilities: ${name ?? cap}`;
    if (answer === undefined) out.unchecked.push(`${at}: the profile has no KVM_CHECK_EXTENSION answer`);
    else if (answer === 0)
      // check_extension_raw's 0; a failed ioctl (-1) counts as present there
      boot(
        at,
        fcMissingCapability(cap),
        "Kvm::new -> check_capabilities (vstate/kvm.rs)",
        `${name} is 0 on this host`,
      );
  }

  // KvmVcpu::init: features[index] panics past 6; PMU_V3 refused; KVM_ARM_VCPU_INIT judges the rest.
  const { features, outOfBounds } = firecrackerFeatureWords(t.vcpuFeatures);
  for (const i of outOfBounds)
    boot(
      `vcpu_features[${i}].index`,
      fcFeatureIndexPanic(t.vcpuFeatures[i]!.index),
      "KvmVcpu::init (arch/aarch64/vcpu.rs): kvi.features[index], a [u32; 7]",
      "Firecracker panics",
    );
  const bits = firecrackerFeatureBits(features);
  if (bits.includes(VCPU_FEATURES.PMU_V3))
    boot("vcpu_features", FC_BOOT_PMU, "KvmVcpu::init_vcpu (arch/aarch64/vcpu.rs, v1.16.0+)");
  const requested = bits.filter((b) => b !== VCPU_FEATURES.PMU_V3);
  const view = configView(host, requested);
  for (const issue of view?.issues ?? []) {
    const errno = initErrno(issue.reason);
    if (issue.level === "incompatible" && errno !== undefined)
      boot(
        "vcpu_features",
        fcBootInit(errno),
        "KvmVcpu::init_vcpu -> KVM_ARM_VCPU_INIT (arch/aarch64/vcpu.rs)",
        issue.reason,
      );
    else out.unchecked.push(`vcpu_features: ${issue.reason}`);
  }
  if (!view) {
    out.unchecked.push(
      `registers: no probed configuration of the profile initialises with a subset of features [${requested.join(", ")}]`,
    );
    return;
  }

  // CpuConfiguration::new -> get_registers on vCPU 0: KVM_GET_ONE_REG of each template register.
  const listed = new Set(view.ids);
  t.regModifiers.forEach((m, i) => {
    if (!listed.has(m.addr))
      boot(
        `reg_modifiers[${i}]`,
        fcBootGetReg(m.addr, "ENOENT"),
        "CpuConfiguration::new -> get_registers (cpu_config/aarch64/mod.rs, arch/aarch64/vcpu.rs)",
        `${regLabel(m.addr)} is not in this host's KVM_GET_REG_LIST (${view.name})`,
      );
  });
  if (t.regModifiers.length > 0)
    out.unchecked.push(
      "register values: whether KVM_SET_ONE_REG takes each value is not judged here (guestabi check judges values)",
    );
}

/**
 * Firecracker's rules for a custom CPU template (`text`, its JSON): the parse, and with `host` the boot on
 * that host. Violations come in Firecracker's order; Firecracker itself stops at the first.
 */
export function checkFirecrackerTemplate(text: string, host?: HostProfile): FirecrackerTemplateCheck {
  const { template, violations } = parseFirecrackerTemplate(text);
  const out: FirecrackerTemplateCheck = { violations, overridden: [], unchecked: [] };
  if (!template) return out;
  out.template = template;
  template.regModifiers.forEach((m, i) => {
    const what = OVERRIDES.get(m.addr)?.(host);
    if (what !== undefined)
      out.overridden.push({ at: `reg_modifiers[${i}]`, register: nameOf(m.addr).name, what });
  });
  if (host) bootRules(template, host, out);
  return out;
}
