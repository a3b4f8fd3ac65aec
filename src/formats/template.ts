/**
 * An ABI template: the guest-visible ABI a VM is to have, whatever host it runs on — ID-register
 * values, firmware pseudo-register values (PSCI_VERSION, the WORKAROUND levels, the hypercall service
 * bitmaps), the vCPU features and SVE vector lengths, and the set of registers the VM may carry —
 * with where it came from. Stored as JSON (schema/abi-template.schema.json).
 */
import { z } from "zod";
import type { KernelGeneration } from "../regs/catalog-types.js";
import type { FieldValue } from "../regs/fields.js";
import { decodeFields } from "../regs/fields.js";
import { decodeId, formatId, malformedReason } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import { nameOf } from "../regs/names.js";
import { vcpuFeatureNames } from "../kvm/helpers.js";
import { VCPU_FEATURES, featureIdRangeIndex } from "../kvm/uapi.js";
import type { VcpuFeatureName } from "../kvm/uapi.js";
import { writeFileAtomic } from "./atomic-write.js";
import { readBounded } from "./bounded-read.js";
import type { HostIdentity } from "./snapshot.js";
import { HostIdentitySchema, featuresProblem, hostIdentityProblem, zodProblem } from "./snapshot.js";
import { shownValue } from "./json-format.js";
import type { MachinePins } from "./machine-pins.js";
import {
  MachinePinsJsonSchema,
  machinePinsFromJson,
  machinePinsProblem,
  machinePinsToJson,
} from "./machine-pins.js";

export interface AbiTemplate {
  name?: string;
  /** Full values of ID registers (U64 sysregs of the feature ID range: op0 3, op1 0/1/3, CRn 0). */
  idRegs: Map<RegId, bigint>;
  /** Firmware pseudo-registers (KVM_REG_ARM_FW_REG) and hypercall bitmaps (KVM_REG_ARM_FW_FEAT_BMAP_REG). */
  firmware: Map<RegId, bigint>;
  /**
   * Cache geometry: CCSIDR_EL1 values keyed by CSSELR selector ((level - 1) << 1 | InD), the demux
   * registers KVM_REG_ARM_DEMUX_ID_CCSIDR | selector, each among regs. CLIDR_EL1 is an ID register
   * (idRegs). Absent: the template does not fix the geometry.
   */
  ccsidr?: Map<number, bigint>;
  /** vCPU feature bit numbers (uapi VCPU_FEATURES), sorted and unique. */
  features: number[];
  /** SVE vector lengths in quadwords, sorted and unique; present exactly when features has SVE. */
  sveVqs?: number[];
  /** Every register the VM may carry; idRegs and firmware are among them. */
  regs: Set<RegId>;
  /** Guest ABI outside ONE_REG (machine-pins.ts): vGIC, ITS, PMU, counter offset, SMCCC filter. */
  machine?: MachinePins;
  provenance: {
    /** The host profiles/kernels the template was derived from. */
    derivedFrom: HostIdentity[];
    createdAt?: string;
    note?: string;
  };
}

export type TemplateErrorCode = "magic" | "version" | "syntax" | "schema" | "invalid";

export class TemplateFormatError extends Error {
  override name = "TemplateFormatError";
  readonly code: TemplateErrorCode;
  constructor(code: TemplateErrorCode, message: string) {
    super(message.replace(/\s+/g, " ").trim()); // one line, always
    this.code = code;
  }
}

export const TEMPLATE_JSON_FORMAT = "guestabi-abi-template";
export const TEMPLATE_VERSION = { major: 1, minor: 0 } as const;
const MAX_REGS = 65536;
/** KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR; | selector. */
export const CCSIDR_DEMUX_BASE = 0x6020000000110000n;
export const ccsidrId = (sel: number): RegId => CCSIDR_DEMUX_BASE | BigInt(sel);

// ---- validation ---------------------------------------------------------------------------------

function invalid(where: string, what: string): never {
  throw new TemplateFormatError("invalid", `${where}: ${what}`);
}
const isU64 = (v: unknown): boolean => typeof v === "bigint" && v >= 0n && v < 1n << 64n;

function idRegProblem(id: RegId): string | undefined {
  const d = decodeId(id);
  if (d.class !== "sysreg" || d.size !== "U64") return "is not a U64 system register";
  try {
    featureIdRangeIndex(d);
  } catch {
    return "is not in the feature ID register range (op0 3, op1 0/1/3, CRn 0)";
  }
  return undefined;
}

function fwRegProblem(id: RegId): string | undefined {
  const d = decodeId(id);
  return (d.class === "fw" || d.class === "fwBitmap") && d.size === "U64"
    ? undefined
    : "is not a U64 firmware register or bitmap";
}

/** Throws TemplateFormatError("invalid") naming the first inconsistency. */
export function validateTemplate(t: AbiTemplate): void {
  if (t.name !== undefined && typeof t.name !== "string") invalid("name", "must be a string");
  if (!(t.regs instanceof Set)) invalid("regs", "is not a Set");
  if (t.regs.size > MAX_REGS) invalid("regs", `${t.regs.size} registers (limit ${MAX_REGS})`);
  for (const id of t.regs) {
    const bad = malformedReason(id);
    if (bad) invalid("regs", `id ${formatId(id)}: ${bad}`);
  }
  const checkValues = (
    where: string,
    m: Map<RegId, bigint>,
    problem: (id: RegId) => string | undefined,
  ): void => {
    if (!(m instanceof Map)) invalid(where, "is not a Map");
    for (const [id, value] of m) {
      const bad = malformedReason(id) ?? problem(id);
      if (bad) invalid(where, `${formatId(id)} ${bad}`);
      if (!isU64(value)) invalid(where, `${formatId(id)}: value is not a u64`);
      if (!t.regs.has(id)) invalid(where, `${formatId(id)} is not among the template's regs`);
    }
  };
  checkValues("idRegs", t.idRegs, idRegProblem);
  checkValues("firmware", t.firmware, fwRegProblem);
  if (t.ccsidr !== undefined) {
    if (!(t.ccsidr instanceof Map)) invalid("ccsidr", "is not a Map");
    for (const [sel, value] of t.ccsidr) {
      if (!Number.isInteger(sel) || sel < 0 || sel > 13) invalid("ccsidr", `selector ${sel} is not 0..13`);
      if (typeof value !== "bigint" || value < 0n || value >= 1n << 32n)
        invalid("ccsidr", `selector ${sel}: value is not a u32`);
      if (!t.regs.has(ccsidrId(sel)))
        invalid("ccsidr", `${formatId(ccsidrId(sel))} is not among the template's regs`);
    }
  }
  const featBad = featuresProblem(t.features, t.sveVqs);
  if (featBad) invalid("features", featBad);
  if (t.machine !== undefined) {
    const machineBad = machinePinsProblem(t.machine);
    if (machineBad) invalid("machine", machineBad);
  }
  t.provenance.derivedFrom.forEach((h, i) => {
    const bad = hostIdentityProblem(h);
    if (bad) invalid(`provenance.derivedFrom[${i}]`, bad);
  });
}

/** The decoded fields of each ID and firmware register value (src/regs decodeFields), for reports. */
export function templateFields(
  t: AbiTemplate,
  generation: KernelGeneration,
): { id: RegId; name: string; value: bigint; fields: FieldValue[] | undefined }[] {
  return [...t.idRegs, ...t.firmware].map(([id, value]) => ({
    id,
    name: nameOf(id).name,
    value,
    fields: decodeFields(id, value, generation),
  }));
}

// ---- JSON form ----------------------------------------------------------------------------------

const hexU64 = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, "expected 0x and 1..16 hex digits");
const RegValueJson = z.object({
  id: hexU64,
  name: z.string().optional().meta({ description: "informative; ignored when read" }),
  value: hexU64,
});

export const AbiTemplateJsonSchema = z
  .object({
    format: z.literal(TEMPLATE_JSON_FORMAT),
    version: z.object({ major: z.literal(TEMPLATE_VERSION.major), minor: z.int().min(0) }),
    name: z.string().optional(),
    features: z
      .array(z.string().regex(/^(?:[A-Z][A-Z0-9_]*|bit\d{1,3})$/, "expected a VCPU_FEATURES name or bit<n>"))
      .max(224)
      .meta({
        description: "KVM_ARM_VCPU_* feature names (POWER_OFF, PSCI_0_2, PMU_V3, SVE, ...) or bit<n>",
      }),
    sveVqs: z
      .array(z.int().min(1).max(512))
      .max(512)
      .optional()
      .meta({ description: "SVE vector lengths in quadwords (VL = vq * 128 bits)" }),
    idRegs: z.array(RegValueJson).max(MAX_REGS),
    firmware: z.array(RegValueJson).max(MAX_REGS),
    ccsidr: z
      .array(
        z.object({
          csselr: z.int().min(0).max(13).meta({ description: "CSSELR_EL1 selector: (level - 1) << 1 | InD" }),
          value: z.string().regex(/^0x[0-9a-fA-F]{1,8}$/, "expected 0x and 1..8 hex digits"),
        }),
      )
      .max(14)
      .optional()
      .meta({ description: "cache geometry: CCSIDR_EL1 values by CSSELR selector (CLIDR_EL1 is in idRegs)" }),
    regs: z.array(hexU64).max(MAX_REGS).meta({ description: "ids of every register the VM may carry" }),
    machine: MachinePinsJsonSchema.optional(),
    provenance: z.object({
      derivedFrom: z.array(HostIdentitySchema),
      createdAt: z.string().optional(),
      note: z.string().optional(),
    }),
  })
  .meta({ title: "guestabi ABI template", description: "The guest-visible ABI a KVM/arm64 VM is to have" });
export type AbiTemplateJson = z.input<typeof AbiTemplateJsonSchema>;

/** The JSON Schema of the template form (what schema/abi-template.schema.json holds). */
export function templateJsonSchema(): Record<string, unknown> {
  // io "input": readers strip unknown keys (a newer minor may add some), so the schema allows them.
  const json = z.toJSONSchema(AbiTemplateJsonSchema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "throw",
  });
  return { ...json, $id: "https://guestabi.dev/schema/abi-template.schema.json" };
}

const sortIds = (ids: Iterable<RegId>): RegId[] => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const hex64 = (v: bigint): string => "0x" + v.toString(16);

/** The JSON form (validated first); registers sorted by id. */
export function templateToJson(t: AbiTemplate): AbiTemplateJson {
  validateTemplate(t);
  const values = (m: Map<RegId, bigint>) =>
    sortIds(m.keys()).map((id) => ({ id: formatId(id), name: nameOf(id).name, value: hex64(m.get(id)!) }));
  const p = t.provenance;
  return {
    format: TEMPLATE_JSON_FORMAT,
    version: { ...TEMPLATE_VERSION },
    ...(t.name !== undefined ? { name: t.name } : {}),
    features: vcpuFeatureNames(t.features),
    ...(t.sveVqs ? { sveVqs: [...t.sveVqs] } : {}),
    idRegs: values(t.idRegs),
    firmware: values(t.firmware),
    ...(t.ccsidr
      ? {
          ccsidr: [...t.ccsidr]
            .sort((a, b) => a[0] - b[0])
            .map(([csselr, v]) => ({ csselr, value: hex64(v) })),
        }
      : {}),
    regs: sortIds(t.regs).map(formatId),
    ...(t.machine ? { machine: machinePinsToJson(t.machine) } : {}),
    provenance: {
      derivedFrom: p.derivedFrom.map((h) => ({ ...h })),
      ...(p.createdAt !== undefined ? { createdAt: p.createdAt } : {}),
      ...(p.note !== undefined ? { note: p.note } : {}),
    },
  };
}

function featureBit(name: string): number {
  if (Object.hasOwn(VCPU_FEATURES, name)) return VCPU_FEATURES[name as VcpuFeatureName];
  const m = /^bit(\d+)$/.exec(name);
  if (m && Number(m[1]) < 224) return Number(m[1]);
  throw new TemplateFormatError("invalid", `features: unknown vCPU feature '${name}'`);
}

/** A template from its parsed JSON form. Throws TemplateFormatError for every problem. */
export function templateFromJson(doc: unknown): AbiTemplate {
  const d = doc as { format?: unknown; version?: { major?: unknown; minor?: unknown } } | null;
  if (typeof d !== "object" || d === null || Array.isArray(d))
    throw new TemplateFormatError("schema", "an ABI template must be a JSON object");
  if (d.format !== TEMPLATE_JSON_FORMAT)
    throw new TemplateFormatError("magic", `not a guestabi ABI template (format is ${shownValue(d.format)})`);
  const major = d.version?.major;
  if (typeof major === "number" && major !== TEMPLATE_VERSION.major)
    throw new TemplateFormatError(
      "version",
      `ABI template version ${major}.${shownValue(d.version?.minor)} is not supported (this guestabi reads ${TEMPLATE_VERSION.major}.x)`,
    );
  const r = AbiTemplateJsonSchema.safeParse(doc);
  if (!r.success) throw new TemplateFormatError("schema", zodProblem(r.error));
  const j = r.data;
  const ids = (where: string, list: string[]): RegId[] =>
    list.map((text) => {
      const id = BigInt(text);
      const bad = malformedReason(id);
      if (bad) invalid(where, `id ${text}: ${bad}`);
      return id;
    });
  const values = (where: string, list: { id: string; value: string }[]): Map<RegId, bigint> => {
    const m = new Map<RegId, bigint>();
    ids(
      where,
      list.map((x) => x.id),
    ).forEach((id, i) => {
      if (m.has(id)) invalid(where, `duplicate register ${formatId(id)}`);
      m.set(id, BigInt(list[i]!.value));
    });
    return m;
  };
  const regList = ids("regs", j.regs);
  const regs = new Set(regList);
  if (regs.size !== regList.length) invalid("regs", "duplicate register ids");
  const bits = j.features.map(featureBit);
  const features = [...new Set(bits)].sort((a, b) => a - b);
  if (features.length !== bits.length) invalid("features", "a feature is listed twice");
  let ccsidr: Map<number, bigint> | undefined;
  if (j.ccsidr) {
    ccsidr = new Map();
    for (const c of j.ccsidr) {
      if (ccsidr.has(c.csselr)) invalid("ccsidr", `duplicate selector ${c.csselr}`);
      ccsidr.set(c.csselr, BigInt(c.value));
    }
  }
  const t: AbiTemplate = {
    ...(j.name !== undefined ? { name: j.name } : {}),
    idRegs: values("idRegs", j.idRegs),
    firmware: values("firmware", j.firmware),
    ...(ccsidr ? { ccsidr } : {}),
    features,
    ...(j.sveVqs ? { sveVqs: j.sveVqs } : {}),
    regs,
    ...(j.machine ? { machine: machinePinsFromJson(j.machine) } : {}),
    provenance: {
      derivedFrom: j.provenance.derivedFrom.map((h) => ({ ...h })),
      ...(j.provenance.createdAt !== undefined ? { createdAt: j.provenance.createdAt } : {}),
      ...(j.provenance.note !== undefined ? { note: j.provenance.note } : {}),
    },
  };
  validateTemplate(t);
  return t;
}

/** JSON text of a template (2-space indented, trailing newline). */
export function formatTemplateJson(t: AbiTemplate): string {
  return JSON.stringify(templateToJson(t), null, 2) + "\n";
}

/** A template from JSON text. Throws TemplateFormatError for every problem. */
export function parseTemplateJson(text: string): AbiTemplate {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TemplateFormatError("syntax", `ABI template is not valid JSON: ${(e as Error).message}`);
  }
  return templateFromJson(doc);
}

/**
 * The largest template file a reader takes: formatTemplateJson writes two lists of MAX_REGS named
 * values (about 110 bytes each) and one of MAX_REGS ids, about 16 MB, twice that for room.
 */
export const TEMPLATE_FILE_BYTES = 32 << 20;

/**
 * Reads a template file, at most TEMPLATE_FILE_BYTES of it (InputTooLargeError past that); format
 * problems are TemplateFormatError prefixed with the path.
 */
export async function readTemplateFile(path: string): Promise<AbiTemplate> {
  const text = (await readBounded(path, TEMPLATE_FILE_BYTES, "an ABI template")).toString("utf8");
  try {
    return parseTemplateJson(text);
  } catch (e) {
    if (e instanceof TemplateFormatError) throw new TemplateFormatError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

/** Writes a template atomically (validated first: nothing is written for an invalid template). */
export async function writeTemplateFile(path: string, t: AbiTemplate): Promise<void> {
  await writeFileAtomic(path, formatTemplateJson(t));
}
