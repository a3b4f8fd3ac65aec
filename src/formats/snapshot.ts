/**
 * A VM snapshot: everything a VMM needs to recreate a VM's guest-visible state on another host (or the
 * same host after a kernel change) — every register of every vCPU as KVM_GET_REG_LIST reported it,
 * bit-exact and including registers guestabi does not know, each vCPU's KVM_ARM_VCPU_INIT, the VM-wide
 * state a restore sets before creating vCPUs, and which host it came from.
 *
 * Two encodings: the JSON form here (readable, diffable) and the binary form (snapshot-binary.ts).
 * Both read into the same in-memory Snapshot and both check it with validateSnapshot().
 */
import { z } from "zod";
import { COPROC, SVE_VLS_LOW, formatId, makeId, malformedReason } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import { getRegList, normalizeVcpuInit } from "../kvm/helpers.js";
import type { KvmVcpu, RegValue, VcpuInit } from "../kvm/types.js";
import { VCPU_FEATURES } from "../kvm/uapi.js";
import {
  isScalarReg,
  regSizeBytes,
  regValueFits,
  regValueFromBytes,
  regValueToBytes,
} from "../kvm/values.js";
import { shownValue } from "./json-format.js";

// ---- in-memory model ----------------------------------------------------------------------------

/** Which host a snapshot (or a template) was taken on: the identity of its host profile. */
export interface HostIdentity {
  /** uname -r, e.g. "6.1.0-31-arm64" (a host profile's host.release). */
  release: string;
  /** The kernel's major.minor generation, e.g. "6.1"; null when unknown. */
  generation: string | null;
  /** What the host CPU was called (a host profile's host.cpuLabel), or null. */
  cpuLabel: string | null;
  /** sha256 (64 lowercase hex digits) of the host profile file, if one was recorded. */
  profileSha256?: string;
  /** The KvmSystem backend ("linux", "sim"). */
  backend?: string;
}

/** A KVM_SET_DEVICE_ATTR call to replay (SMCCC filter ranges on the VM, PMU/timer IRQs on a vCPU). */
export interface DeviceAttr {
  group: number;
  attr: bigint;
  /** The attribute data (empty for attributes that take none, e.g. PMU_V3_INIT). */
  data: Uint8Array;
}

/** A KVM_ENABLE_CAP call on the VM fd to replay, in order, before the vCPUs are created. */
export interface EnabledCap {
  cap: number;
  flags: number;
  /** kvm_enable_cap.args, at most 4. */
  args: bigint[];
}

/**
 * The in-kernel interrupt controller a VMM builds around the vCPUs (kvm/machine.ts), and the part of
 * its state that is guest ABI: the implementation revisions KVM lets userspace select.
 */
export interface MachineState {
  /** KVM_DEV_ARM_VGIC_GRP_NR_IRQS: SPIs + 32. */
  nrIrqs: number;
  its: boolean;
  /** GICD_IIDR as userspace reads it: its revision is what vgic_mmio_uaccess_write_v3_misc lets a restore set. */
  gicdIidr: number;
  /** GITS_IIDR with an ITS: the table ABI revision (vgic_mmio_uaccess_write_its_iidr). */
  gitsIidr?: number;
}

/** VM-wide state, applied between KVM_CREATE_VM and KVM_CREATE_VCPU (the machine: after the vCPUs). */
export interface VmState {
  /** KVM_VM_TYPE_ARM_IPA_SIZE bits; 0 means KVM's default (40). */
  ipaBits: number;
  caps: EnabledCap[];
  attrs: DeviceAttr[];
  /** Absent: the VM has no in-kernel irqchip (snapshots of 1.0, hosts without a vGICv3). */
  machine?: MachineState;
}

export interface VcpuSnapshot {
  /** The KVM_CREATE_VCPU id. */
  id: number;
  /** Features sorted and unique (helpers.normalizeVcpuInit) so equal inits compare equal. */
  init: VcpuInit;
  /**
   * SVE vector lengths in quadwords (VL = vq * 128 bits), sorted, unique, 1..512: the
   * KVM_REG_ARM64_SVE_VLS bitmap a restore must set before KVM_ARM_VCPU_FINALIZE. Present exactly when
   * the vCPU has the SVE feature.
   */
  sveVqs?: number[];
  /** vCPU device attributes to set after KVM_ARM_VCPU_INIT. */
  attrs: DeviceAttr[];
  /** Every register of GET_REG_LIST with its value (bigint up to U64, exact-size LE bytes above). */
  regs: Map<RegId, RegValue>;
}

export interface Snapshot {
  source: HostIdentity;
  /** ISO 8601 time the snapshot was taken, if recorded. */
  createdAt?: string;
  note?: string;
  vm: VmState;
  vcpus: VcpuSnapshot[];
}

// ---- errors and limits --------------------------------------------------------------------------

export type SnapshotErrorCode =
  | "magic" // not a snapshot of this format
  | "version" // a major version this code does not read
  | "truncated"
  | "trailing" // bytes after the end of the snapshot
  | "checksum"
  | "limit" // a count or size beyond the format's limits
  | "section" // section framing: lengths, kinds, order
  | "register" // a register record: malformed id, size, duplicate, order
  | "syntax" // not UTF-8 / not JSON
  | "schema" // JSON of the wrong shape
  | "invalid"; // well-formed but inconsistent (validateSnapshot)

/** Every problem reading or writing a snapshot, in either encoding: one line, with a code. */
export class SnapshotFormatError extends Error {
  override name = "SnapshotFormatError";
  readonly code: SnapshotErrorCode;
  constructor(code: SnapshotErrorCode, message: string) {
    // One line, always: JSON.parse messages quote the input, which may hold newlines.
    super(message.replace(/\s+/g, " ").trim());
    this.code = code;
  }
}

/** Bounds a reader enforces before believing any count. */
export const SNAPSHOT_LIMITS = {
  vcpus: 4096,
  regsPerVcpu: 65536,
  caps: 256,
  attrs: 1024,
  attrBytes: 4096,
  /** The VM/vCPU header of the binary form (JSON). */
  headerBytes: 16 << 20,
} as const;

export const SNAPSHOT_JSON_FORMAT = "guestabi-snapshot";
/** Readers accept any minor of their major; a newer minor only adds what older readers may ignore. */
export const SNAPSHOT_VERSION = { major: 1, minor: 1 } as const;

/** KVM_REG_ARM64_SVE_VLS: U512, a bitmap of supported vq (bit vq-1, little-endian u64[8]). */
export const SVE_VLS_ID: RegId = makeId("U512", COPROC.sve, SVE_VLS_LOW);
const SVE_VQ_MAX = 512;

// ---- validation ---------------------------------------------------------------------------------

const isU32 = (n: unknown): boolean =>
  Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;
const isU64 = (n: unknown): boolean => typeof n === "bigint" && n >= 0n && n < 1n << 64n;
const isSortedUnique = (a: readonly number[]): boolean => a.every((x, i) => i === 0 || x > a[i - 1]!);

function invalid(where: string, what: string): never {
  throw new SnapshotFormatError("invalid", `${where}: ${what}`);
}

function checkAttrs(where: string, attrs: readonly DeviceAttr[]): void {
  if (attrs.length > SNAPSHOT_LIMITS.attrs)
    invalid(where, `${attrs.length} attributes (limit ${SNAPSHOT_LIMITS.attrs})`);
  attrs.forEach((a, i) => {
    if (!isU32(a.group)) invalid(`${where}[${i}]`, "group is not a u32");
    if (!isU64(a.attr)) invalid(`${where}[${i}]`, "attr is not a u64");
    if (!(a.data instanceof Uint8Array)) invalid(`${where}[${i}]`, "data is not a Uint8Array");
    if (a.data.length > SNAPSHOT_LIMITS.attrBytes)
      invalid(`${where}[${i}]`, `${a.data.length} data bytes (limit ${SNAPSHOT_LIMITS.attrBytes})`);
  });
}

/** Why a host identity is malformed, or undefined. */
export function hostIdentityProblem(h: HostIdentity): string | undefined {
  if (typeof h.release !== "string" || h.release.length === 0) return "release must be a non-empty string";
  if (h.generation !== null && !(typeof h.generation === "string" && /^\d+\.\d+$/.test(h.generation)))
    return `generation '${String(h.generation)}' is not major.minor or null`;
  if (h.cpuLabel !== null && typeof h.cpuLabel !== "string") return "cpuLabel must be a string or null";
  if (h.profileSha256 !== undefined && !/^[0-9a-f]{64}$/.test(h.profileSha256))
    return "profileSha256 must be 64 lowercase hex digits";
  if (h.backend !== undefined && typeof h.backend !== "string") return "backend must be a string";
  return undefined;
}

/** Why a feature list or SVE vector lengths are malformed or disagree (sveVqs iff SVE), or undefined. */
export function featuresProblem(
  features: readonly number[],
  sveVqs: readonly number[] | undefined,
): string | undefined {
  if (!features.every((b) => Number.isInteger(b) && b >= 0 && b < 224) || !isSortedUnique(features))
    return "features must be sorted, unique bit numbers below 224";
  const sve = features.includes(VCPU_FEATURES.SVE);
  if (sve && !sveVqs) return "the SVE feature is set but sveVqs is missing";
  if (!sve && sveVqs) return "sveVqs is given without the SVE feature";
  if (!sveVqs) return undefined;
  if (sveVqs.length === 0) return "sveVqs is empty";
  if (!sveVqs.every((q) => Number.isInteger(q) && q >= 1 && q <= SVE_VQ_MAX) || !isSortedUnique(sveVqs))
    return `sveVqs must be sorted, unique integers in 1..${SVE_VQ_MAX}`;
  return undefined;
}

/**
 * Throws SnapshotFormatError("invalid") naming the first inconsistency: limits, integer ranges, ids that
 * are not arm64 ONE_REG ids, values whose representation does not match the id's size, duplicate vCPU
 * ids, unnormalized features, SVE vector lengths disagreeing with the features or the VLS register.
 */
export function validateSnapshot(s: Snapshot): void {
  const hostBad = hostIdentityProblem(s.source);
  if (hostBad) invalid("source", hostBad);
  if (!Number.isInteger(s.vm.ipaBits) || s.vm.ipaBits < 0 || s.vm.ipaBits > 64)
    invalid("vm.ipaBits", `${s.vm.ipaBits} is not 0..64`);
  if (s.vm.caps.length > SNAPSHOT_LIMITS.caps) invalid("vm.caps", `more than ${SNAPSHOT_LIMITS.caps}`);
  s.vm.caps.forEach((c, i) => {
    if (!isU32(c.cap) || !isU32(c.flags)) invalid(`vm.caps[${i}]`, "cap and flags must be u32");
    if (c.args.length > 4 || !c.args.every(isU64)) invalid(`vm.caps[${i}]`, "args must be at most 4 u64");
  });
  checkAttrs("vm.attrs", s.vm.attrs);
  const m = s.vm.machine;
  if (m) {
    // vgic_set_common_attr(GRP_NR_IRQS): 64..1023, a multiple of 32
    if (!Number.isInteger(m.nrIrqs) || m.nrIrqs < 64 || m.nrIrqs > 1023 || m.nrIrqs % 32)
      invalid("vm.machine.nrIrqs", `${m.nrIrqs} is not 64..992 in steps of 32`);
    if (typeof m.its !== "boolean") invalid("vm.machine.its", "must be true or false");
    if (!isU32(m.gicdIidr)) invalid("vm.machine.gicdIidr", "must be u32");
    if (m.gitsIidr !== undefined && (!m.its || !isU32(m.gitsIidr)))
      invalid("vm.machine.gitsIidr", "a u32, only with an ITS");
  }
  if (s.vcpus.length > SNAPSHOT_LIMITS.vcpus)
    invalid("vcpus", `${s.vcpus.length} vCPUs (limit ${SNAPSHOT_LIMITS.vcpus})`);
  const seen = new Set<number>();
  s.vcpus.forEach((v, i) => {
    const where = `vcpus[${i}]`;
    if (!isU32(v.id)) invalid(`${where}.id`, "is not a u32");
    if (seen.has(v.id)) invalid(`${where}.id`, `duplicate vCPU id ${v.id}`);
    seen.add(v.id);
    if (!isU32(v.init.target)) invalid(`${where}.init.target`, "is not a u32");
    const featBad = featuresProblem(v.init.features, v.sveVqs);
    if (featBad) invalid(where, featBad);
    checkAttrs(`${where}.attrs`, v.attrs);
    if (!(v.regs instanceof Map)) invalid(`${where}.regs`, "is not a Map");
    if (v.regs.size > SNAPSHOT_LIMITS.regsPerVcpu)
      invalid(`${where}.regs`, `${v.regs.size} registers (limit ${SNAPSHOT_LIMITS.regsPerVcpu})`);
    // A vCPU with the same ids as the last one checked (in the same order, in this snapshot or an
    // earlier one) reuses their sizes: its ids are well-formed, and only its values are checked.
    const same = sameIds(v.regs, checkedIds);
    const ids: RegId[] = [];
    const sizes: number[] = [];
    const sizeAt = same ? checkedSizes : sizes;
    let n = 0;
    for (const [id, value] of v.regs) {
      if (!same) {
        const bad = malformedReason(id);
        if (bad) invalid(`${where}.regs`, `register id ${formatId(id)}: ${bad}`);
        ids.push(id);
        sizes.push(regSizeBytes(id));
      }
      if (!regValueFits(sizeAt[n]!, value))
        try {
          regValueToBytes(id, value); // the value's representation must match the id's size
        } catch (e) {
          invalid(`${where}.regs`, (e as Error).message);
        }
      n++;
    }
    if (!same) {
      checkedIds = ids;
      checkedSizes = sizes;
    }
    const vls = v.regs.get(SVE_VLS_ID);
    if (vls !== undefined && v.sveVqs && vlsToVqs(vls as Uint8Array).join() !== v.sveVqs.join())
      invalid(`${where}.sveVqs`, "disagrees with the KVM_REG_ARM64_SVE_VLS register");
  });
}

/** The ids of the last vCPU validateSnapshot found well-formed, and their sizes (regSizeBytes). */
let checkedIds: readonly RegId[] = [];
let checkedSizes: readonly number[] = [];

/** Whether a snapshot vCPU's register ids are `ids`, in that order. */
export function sameIds(regs: ReadonlyMap<RegId, RegValue>, ids: readonly RegId[]): boolean {
  if (regs.size !== ids.length) return false;
  let i = 0;
  for (const id of regs.keys()) if (id !== ids[i++]) return false;
  return true;
}

// ---- SVE vector lengths -------------------------------------------------------------------------

/** The vq list of a KVM_REG_ARM64_SVE_VLS value (64 bytes, bit vq-1). */
export function vlsToVqs(vls: Uint8Array): number[] {
  const out: number[] = [];
  for (let bit = 0; bit < vls.length * 8; bit++) if ((vls[bit >> 3]! >> (bit & 7)) & 1) out.push(bit + 1);
  return out;
}

/** The KVM_REG_ARM64_SVE_VLS value of a vq list. */
export function vqsToVls(vqs: readonly number[]): Uint8Array {
  const out = new Uint8Array(regSizeBytes(SVE_VLS_ID));
  for (const q of vqs) {
    if (!Number.isInteger(q) || q < 1 || q > SVE_VQ_MAX)
      throw new RangeError(`SVE vq ${q} is not 1..${SVE_VQ_MAX}`);
    out[(q - 1) >> 3]! |= 1 << ((q - 1) & 7);
  }
  return out;
}

// ---- capture ------------------------------------------------------------------------------------

/** The last list ascending() sorted, as KVM gave it, and sorted: a VM's vCPUs nearly always list the same ids. */
let lastListed: readonly RegId[] = [];
let lastSorted: readonly RegId[] = [];

/** The ids in ascending order; a list equal to the previous one (same ids, same order) reuses its sort. */
function ascending(listed: RegId[]): readonly RegId[] {
  if (listed.length === lastListed.length && listed.every((id, i) => id === lastListed[i])) return lastSorted;
  lastListed = listed.slice();
  lastSorted = listed.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return lastSorted;
}

/**
 * A vCPU's snapshot: every id KVM_GET_REG_LIST reports, read with KVM_GET_ONE_REG, kept as KVM gave
 * it. `init` is what the VMM passed to KVM_ARM_VCPU_INIT; sveVqs comes from the VLS register.
 */
export function captureVcpu(vcpu: KvmVcpu, init: VcpuInit, attrs: DeviceAttr[] = []): VcpuSnapshot {
  const ids = ascending(getRegList(vcpu));
  const regs = new Map<RegId, RegValue>();
  for (const id of ids) regs.set(id, vcpu.getOneReg(id));
  const vls = regs.get(SVE_VLS_ID);
  return {
    id: vcpu.id,
    init: normalizeVcpuInit(init),
    ...(vls instanceof Uint8Array ? { sveVqs: vlsToVqs(vls) } : {}),
    attrs,
    regs,
  };
}

// ---- JSON form ----------------------------------------------------------------------------------

const u32 = z.int().min(0).max(0xffffffff);
const hexU64 = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, "expected 0x and 1..16 hex digits");
const hexBytes = z.string().regex(/^0x(?:[0-9a-fA-F]{2})*$/, "expected 0x and an even number of hex digits");

export const HostIdentitySchema = z.object({
  release: z.string().min(1).meta({ description: "uname -r" }),
  generation: z
    .string()
    .regex(/^\d+\.\d+$/, "expected major.minor")
    .nullable(),
  cpuLabel: z.string().nullable(),
  profileSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits")
    .optional(),
  backend: z.string().optional(),
});

const DeviceAttrJson = z.object({
  group: u32,
  attr: hexU64,
  data: hexBytes.max(2 + 2 * SNAPSHOT_LIMITS.attrBytes),
});
const attrList = z.array(DeviceAttrJson).max(SNAPSHOT_LIMITS.attrs);

const VmJson = z.object({
  ipaBits: z.int().min(0).max(64).meta({ description: "KVM_VM_TYPE_ARM_IPA_SIZE; 0 = KVM's default (40)" }),
  caps: z
    .array(z.object({ cap: u32, flags: u32, args: z.array(hexU64).max(4) }))
    .max(SNAPSHOT_LIMITS.caps)
    .meta({ description: "KVM_ENABLE_CAP calls on the VM, in order" }),
  attrs: attrList.meta({ description: "KVM_SET_DEVICE_ATTR calls on the VM, in order" }),
  machine: z
    .object({
      nrIrqs: z.int().min(64).max(1023),
      its: z.boolean(),
      gicdIidr: u32.meta({ description: "GICD_IIDR as userspace read it (KVM_DEV_ARM_VGIC_GRP_DIST_REGS)" }),
      gitsIidr: u32
        .optional()
        .meta({ description: "GITS_IIDR (KVM_DEV_ARM_VGIC_GRP_ITS_REGS), with an ITS" }),
    })
    .optional()
    .meta({ description: "the vGICv3 (and ITS) built after the vCPUs; absent: no in-kernel irqchip" }),
});

const VcpuHeaderJson = z.object({
  id: u32,
  init: z.object({ target: u32, features: z.array(z.int().min(0).max(223)).max(224) }),
  sveVqs: z.array(z.int().min(1).max(SVE_VQ_MAX)).max(SVE_VQ_MAX).optional(),
  attrs: attrList,
});

const RegJson = z.object({
  id: hexU64,
  value: z
    .string()
    .regex(/^0x[0-9a-fA-F]{1,512}$/, "expected 0x and 1..512 hex digits")
    .meta({
      description:
        "up to U64: the value as hex; wider: the little-endian bytes as KVM stores them, 2 hex digits each",
    }),
});

const VersionJson = z.object({ major: z.literal(SNAPSHOT_VERSION.major), minor: z.int().min(0) });

const snapshotFields = {
  source: HostIdentitySchema,
  createdAt: z.string().optional(),
  note: z.string().optional(),
  vm: VmJson,
};

/** The JSON form of a snapshot. */
export const SnapshotJsonSchema = z
  .object({
    format: z.literal(SNAPSHOT_JSON_FORMAT),
    version: VersionJson,
    ...snapshotFields,
    vcpus: z
      .array(VcpuHeaderJson.extend({ regs: z.array(RegJson).max(SNAPSHOT_LIMITS.regsPerVcpu) }))
      .max(SNAPSHOT_LIMITS.vcpus),
  })
  .meta({
    title: "guestabi VM snapshot",
    description: "Registers and VM state of a KVM/arm64 VM (JSON form)",
  });
export type SnapshotJson = z.input<typeof SnapshotJsonSchema>;

/** The header of the binary form: the JSON form without format/version and without the registers. */
export const SnapshotHeaderSchema = z.object({
  ...snapshotFields,
  vcpus: z.array(VcpuHeaderJson).max(SNAPSHOT_LIMITS.vcpus),
});
export type SnapshotHeaderJson = z.input<typeof SnapshotHeaderSchema>;

/** The JSON Schema of the JSON form (what schema/snapshot.schema.json holds). */
export function snapshotJsonSchema(): Record<string, unknown> {
  // io "input": readers strip unknown keys (a newer minor may add some), so the schema allows them.
  const json = z.toJSONSchema(SnapshotJsonSchema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "throw",
  });
  return { ...json, $id: "https://guestabi.dev/schema/snapshot.schema.json" };
}

/** Lowercase hex of bytes, without a prefix. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
/** Bytes of an even-length hex string (already validated), as a plain Uint8Array. */
export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}
const u64Hex = (v: bigint): string => "0x" + v.toString(16);

/** The first zod issue as "path: message" (+ how many more). */
export function zodProblem(e: z.ZodError): string {
  const first = e.issues[0]!;
  const path = first.path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
  const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : "";
  return `${path || "(top)"}: ${first.message}${more}`;
}

const attrsToJson = (a: DeviceAttr[]) =>
  a.map((x) => ({ group: x.group, attr: u64Hex(x.attr), data: "0x" + toHex(x.data) }));
const attrsFromJson = (a: z.output<typeof attrList>): DeviceAttr[] =>
  a.map((x) => ({ group: x.group, attr: BigInt(x.attr), data: fromHex(x.data.slice(2)) }));

function vcpuHeaderToJson(v: VcpuSnapshot): z.input<typeof VcpuHeaderJson> {
  return {
    id: v.id,
    init: { target: v.init.target, features: [...v.init.features] },
    ...(v.sveVqs ? { sveVqs: [...v.sveVqs] } : {}),
    attrs: attrsToJson(v.attrs),
  };
}

/** The binary form's header object (validated first). */
export function snapshotHeaderToJson(s: Snapshot): SnapshotHeaderJson {
  validateSnapshot(s);
  return {
    source: { ...s.source },
    ...(s.createdAt !== undefined ? { createdAt: s.createdAt } : {}),
    ...(s.note !== undefined ? { note: s.note } : {}),
    vm: {
      ipaBits: s.vm.ipaBits,
      caps: s.vm.caps.map((c) => ({ cap: c.cap, flags: c.flags, args: c.args.map(u64Hex) })),
      attrs: attrsToJson(s.vm.attrs),
      ...(s.vm.machine ? { machine: { ...s.vm.machine } } : {}),
    },
    vcpus: s.vcpus.map(vcpuHeaderToJson),
  };
}

/** A snapshot with empty register maps from a header object; throws SnapshotFormatError("schema"). */
export function snapshotFromHeaderJson(header: unknown): Snapshot {
  const r = SnapshotHeaderSchema.safeParse(header);
  if (!r.success) throw new SnapshotFormatError("schema", `snapshot header: ${zodProblem(r.error)}`);
  return headerFromParsed(r.data);
}

function headerFromParsed(h: z.output<typeof SnapshotHeaderSchema>): Snapshot {
  return {
    source: { ...h.source },
    ...(h.createdAt !== undefined ? { createdAt: h.createdAt } : {}),
    ...(h.note !== undefined ? { note: h.note } : {}),
    vm: {
      ipaBits: h.vm.ipaBits,
      caps: h.vm.caps.map((c) => ({ cap: c.cap, flags: c.flags, args: c.args.map((a) => BigInt(a)) })),
      attrs: attrsFromJson(h.vm.attrs),
      ...(h.vm.machine
        ? {
            machine: {
              nrIrqs: h.vm.machine.nrIrqs,
              its: h.vm.machine.its,
              gicdIidr: h.vm.machine.gicdIidr,
              ...(h.vm.machine.gitsIidr !== undefined ? { gitsIidr: h.vm.machine.gitsIidr } : {}),
            },
          }
        : {}),
    },
    vcpus: h.vcpus.map((v) => ({
      id: v.id,
      init: { target: v.init.target, features: v.init.features },
      ...(v.sveVqs ? { sveVqs: v.sveVqs } : {}),
      attrs: attrsFromJson(v.attrs),
      regs: new Map(),
    })),
  };
}

/** A register value in the JSON form: minimal hex up to U64, "0x" + LE bytes above. */
export function regValueToJson(value: RegValue): string {
  return typeof value === "bigint" ? u64Hex(value) : "0x" + toHex(value);
}

/** Inverse of regValueToJson; throws SnapshotFormatError("register"). */
export function regValueFromJson(id: RegId, text: string): RegValue {
  const digits = text.slice(2);
  const size = regSizeBytes(id);
  if (isScalarReg(id)) {
    if (digits.length > size * 2)
      throw new SnapshotFormatError(
        "register",
        `register ${formatId(id)}: value ${text} is wider than ${size} bytes`,
      );
    return BigInt(text);
  }
  if (digits.length !== size * 2)
    throw new SnapshotFormatError(
      "register",
      `register ${formatId(id)}: value has ${digits.length} hex digits, a ${size}-byte register needs ${size * 2}`,
    );
  return regValueFromBytes(id, fromHex(digits));
}

/** The JSON form (an object; JSON.stringify it, or use formatSnapshotJson). Validates first. */
export function snapshotToJson(s: Snapshot): SnapshotJson {
  const h = snapshotHeaderToJson(s);
  return {
    format: SNAPSHOT_JSON_FORMAT,
    version: { ...SNAPSHOT_VERSION },
    ...h,
    vcpus: h.vcpus.map((v, i) => ({
      ...v,
      regs: [...s.vcpus[i]!.regs]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, value]) => ({ id: formatId(id), value: regValueToJson(value) })),
    })),
  };
}

/** A snapshot from its parsed JSON form. Throws SnapshotFormatError for every problem. */
export function snapshotFromJson(doc: unknown): Snapshot {
  const d = doc as { format?: unknown; version?: { major?: unknown; minor?: unknown } } | null;
  if (typeof d !== "object" || d === null || Array.isArray(d))
    throw new SnapshotFormatError("schema", "a snapshot must be a JSON object");
  if (d.format !== SNAPSHOT_JSON_FORMAT)
    throw new SnapshotFormatError("magic", `not a guestabi snapshot (format is ${shownValue(d.format)})`);
  const major = d.version?.major;
  if (typeof major === "number" && major !== SNAPSHOT_VERSION.major)
    throw new SnapshotFormatError(
      "version",
      `snapshot format version ${major}.${shownValue(d.version?.minor)} is not supported (this guestabi reads ${SNAPSHOT_VERSION.major}.x)`,
    );
  const r = SnapshotJsonSchema.safeParse(doc);
  if (!r.success) throw new SnapshotFormatError("schema", zodProblem(r.error));
  const s = headerFromParsed(r.data);
  r.data.vcpus.forEach((v, i) => {
    const regs = s.vcpus[i]!.regs;
    for (const [j, reg] of v.regs.entries()) {
      const id = BigInt(reg.id);
      const bad = malformedReason(id);
      if (bad) throw new SnapshotFormatError("register", `vcpus[${i}].regs[${j}]: id ${reg.id}: ${bad}`);
      if (regs.has(id))
        throw new SnapshotFormatError("register", `vcpus[${i}]: duplicate register ${formatId(id)}`);
      regs.set(id, regValueFromJson(id, reg.value));
    }
  });
  validateSnapshot(s);
  return s;
}

/** JSON text of a snapshot (2-space indented, trailing newline). */
export function formatSnapshotJson(s: Snapshot): string {
  return JSON.stringify(snapshotToJson(s), null, 2) + "\n";
}

/** A snapshot from JSON text. Throws SnapshotFormatError for every problem. */
export function parseSnapshotJson(text: string): Snapshot {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SnapshotFormatError("syntax", `snapshot is not valid JSON: ${(e as Error).message}`);
  }
  return snapshotFromJson(doc);
}
