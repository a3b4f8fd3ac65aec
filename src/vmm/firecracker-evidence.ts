/**
 * Reading what Firecracker's tools write about a host (aarch64): a `cpu-template-helper fingerprint
 * dump` file and a custom CPU template (a `template dump` is one, fully specified).
 *
 * Layouts, from Firecracker's source:
 * - fingerprint (src/cpu-template-helper/src/fingerprint/mod.rs, struct Fingerprint): firecracker_version,
 *   kernel_version (uname -r), microcode_version, bios_version, bios_revision (strings) and
 *   guest_cpu_config, a custom CPU template;
 * - custom CPU template (src/vmm/src/cpu_config/aarch64/custom_cpu_template.rs, deny_unknown_fields, every
 *   key defaulted): kvm_capabilities ["170", "!126"], vcpu_features [{index, bitmap}], reg_modifiers
 *   [{addr, bitmap}];
 * - addr (templates_serde.rs deserialize_from_str_u64): "0x" hex or "0b" binary, a u64;
 * - bitmap (templates.rs RegisterValueFilter::deserialize): optional "0b", then 0/1/x characters, most
 *   significant first, "_" ignored, at most 128 (reg_modifiers) or 32 (vcpu_features) of them; 0/1 set a
 *   bit, x leaves KVM's value; a shorter bitmap leaves the higher bits as x;
 * - a dump (src/cpu-template-helper/src/template/dump/aarch64.rs config_to_template): every register of
 *   KVM_GET_REG_LIST up to 128 bits, sorted by id, bitmaps of all 128 bits, except REG_EXCLUSION_LIST:
 *   PC, CNTV_CVAL_EL0 and CNTPCT_EL0.
 */
import * as z from "zod";
import { formatId, malformedReason } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { CORE_PC, regSizeBytes } from "../kvm/index.js";
import { ProfileError, firstIssue } from "../formats/profile.js";
import { text } from "../formats/schema-parts.js";

/** Bounds that make a hostile file fail validation instead of exhausting memory. */
export const FIRECRACKER_LIMITS = {
  fileBytes: 16 * 1024 * 1024,
  regs: 8192,
  features: 8,
  caps: 1024,
} as const;

/**
 * The registers a dump leaves out (aarch64.rs REG_EXCLUSION_LIST): PC; "SYS_CNTV_CVAL_EL0", encoded
 * (3,3,14,3,2), which is KVM's KVM_REG_ARM_TIMER_CNT id; and SYS_CNTPCT_EL0 (3,3,14,0,1), KVM's
 * KVM_REG_ARM_PTIMER_CNT id.
 */
export const DUMP_EXCLUDED: readonly RegId[] = [CORE_PC, 0x603000000013df1an, 0x603000000013df01n];

/** A Firecracker file that cannot be used; the message is one line. */
export class FirecrackerFileError extends ProfileError {
  override name = "FirecrackerFileError";
}

/** One bitmap: the bits it sets (mask) and their values; x bits are outside the mask. */
export interface Bitmap {
  value: bigint;
  mask: bigint;
  /** How many 0/1/x characters it has (a dump writes all 128). */
  width: number;
}

/** RegisterValueFilter::deserialize: "0b" optional, 0/1/x most significant first, "_" ignored. */
export function parseBitmap(s: string, maxBits: number): Bitmap | string {
  const body = s.startsWith("0b") ? s.slice(2) : s;
  let value = 0n;
  let mask = 0n;
  let width = 0;
  for (let i = body.length - 1; i >= 0; i--) {
    const c = body[i];
    if (c === "_") continue;
    if (width === maxBits) return `longer than ${maxBits} bits`;
    const bit = 1n << BigInt(width);
    if (c === "0") mask |= bit;
    else if (c === "1") {
      mask |= bit;
      value |= bit;
    } else if (c !== "x") return `unknown character '${c}'`;
    width++;
  }
  return { value, mask, width };
}

/** deserialize_from_str_u64: "0x" hex or "0b" binary, at most 64 bits. */
function parseAddr(s: string): bigint | string {
  const m = /^0x([0-9a-fA-F]{1,16})$|^0b([01]{1,64})$/.exec(s);
  if (!m) return "not 0x hex or 0b binary of at most 64 bits";
  return m[1] !== undefined ? BigInt("0x" + m[1]) : BigInt("0b" + m[2]);
}

const Bits = text(256);

const TemplateJson = z.strictObject({
  kvm_capabilities: z
    .array(z.string().regex(/^!?\d{1,10}$/, "a KVM capability number, or ! and one to remove"))
    .max(FIRECRACKER_LIMITS.caps)
    .default([]),
  vcpu_features: z
    .array(z.strictObject({ index: z.number().int().min(0).max(6), bitmap: Bits }))
    .max(FIRECRACKER_LIMITS.features)
    .default([]),
  reg_modifiers: z
    .array(z.strictObject({ addr: text(80), bitmap: Bits }))
    .max(FIRECRACKER_LIMITS.regs)
    .default([]),
});

const FingerprintJson = z.strictObject({
  firecracker_version: text(128),
  kernel_version: text(128),
  microcode_version: text(128),
  bios_version: text(128),
  bios_revision: text(128),
  guest_cpu_config: TemplateJson,
});

/** A register a Firecracker file sets: its id, and the bits the bitmap sets. */
export interface FirecrackerReg extends Bitmap {
  id: RegId;
}

export interface FirecrackerEvidence {
  kind: "fingerprint" | "template";
  /** Fingerprint only: what Firecracker recorded about the host. */
  host?: {
    firecrackerVersion: string;
    kernelRelease: string;
    microcodeVersion: string;
    biosVersion: string;
    biosRevision: string;
  };
  /** The template's capabilities: KVM_CAP numbers to require (or, with remove, to ignore). */
  kvmCapabilities: { cap: number; remove: boolean }[];
  /** kvm_vcpu_init.features[] words the template sets. */
  vcpuFeatures: { index: number; value: bigint; mask: bigint }[];
  /** reg_modifiers in file order. */
  regs: FirecrackerReg[];
  /** Every register's bitmap gives all 128 bits (as `template dump` and `fingerprint dump` write). */
  complete: boolean;
}

/** Parses a Firecracker fingerprint or CPU template (JSON text); `source` names it in errors. */
export function readFirecrackerEvidence(input: string, source: string): FirecrackerEvidence {
  if (input.length > FIRECRACKER_LIMITS.fileBytes)
    throw new FirecrackerFileError(`${source}: larger than ${FIRECRACKER_LIMITS.fileBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(input);
  } catch (e) {
    throw new FirecrackerFileError(`${source}: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  const isFingerprint =
    typeof json === "object" &&
    json !== null &&
    !Array.isArray(json) &&
    Object.hasOwn(json, "guest_cpu_config");
  let template: z.output<typeof TemplateJson>;
  let host: FirecrackerEvidence["host"];
  if (isFingerprint) {
    const r = FingerprintJson.safeParse(json);
    if (!r.success)
      throw new FirecrackerFileError(`${source}: not a Firecracker fingerprint: ${firstIssue(r.error)}`);
    template = r.data.guest_cpu_config;
    host = {
      firecrackerVersion: r.data.firecracker_version,
      kernelRelease: r.data.kernel_version,
      microcodeVersion: r.data.microcode_version,
      biosVersion: r.data.bios_version,
      biosRevision: r.data.bios_revision,
    };
  } else {
    const r = TemplateJson.safeParse(json);
    if (!r.success)
      throw new FirecrackerFileError(
        `${source}: not a Firecracker CPU template or fingerprint: ${firstIssue(r.error)}`,
      );
    template = r.data;
  }
  const where = isFingerprint ? "guest_cpu_config." : "";
  const regs: FirecrackerReg[] = [];
  const seen = new Set<RegId>();
  template.reg_modifiers.forEach((m, i) => {
    const at = `${source}: ${where}reg_modifiers[${i}]`;
    const id = parseAddr(m.addr);
    if (typeof id === "string") throw new FirecrackerFileError(`${at}.addr: ${id}`);
    const bad = malformedReason(id);
    if (bad !== undefined)
      throw new FirecrackerFileError(`${at}.addr: ${formatId(id)} is not a register id (${bad})`);
    const bytes = regSizeBytes(id);
    if (bytes > 16)
      throw new FirecrackerFileError(
        `${at}.addr: ${formatId(id)} is ${bytes * 8} bits wide; templates hold at most 128`,
      );
    if (seen.has(id)) throw new FirecrackerFileError(`${at}.addr: ${formatId(id)} appears twice`);
    seen.add(id);
    const b = parseBitmap(m.bitmap, 128);
    if (typeof b === "string") throw new FirecrackerFileError(`${at}.bitmap: ${b}`);
    if (b.value >> BigInt(bytes * 8) !== 0n)
      throw new FirecrackerFileError(`${at}.bitmap: sets bits above the register's ${bytes * 8}`);
    regs.push({ id, ...b });
  });
  const vcpuFeatures = template.vcpu_features.map((f, i) => {
    const b = parseBitmap(f.bitmap, 32);
    if (typeof b === "string")
      throw new FirecrackerFileError(`${source}: ${where}vcpu_features[${i}].bitmap: ${b}`);
    return { index: f.index, value: b.value, mask: b.mask };
  });
  const kvmCapabilities = template.kvm_capabilities.map((c, i) => {
    const cap = Number(c.replace(/^!/, ""));
    if (cap > 0xffffffff)
      throw new FirecrackerFileError(`${source}: ${where}kvm_capabilities[${i}]: ${cap} is not a u32`);
    return { cap, remove: c.startsWith("!") };
  });
  return {
    kind: isFingerprint ? "fingerprint" : "template",
    ...(host ? { host } : {}),
    kvmCapabilities,
    vcpuFeatures,
    regs,
    complete: regs.length > 0 && regs.every((r) => r.width === 128),
  };
}
