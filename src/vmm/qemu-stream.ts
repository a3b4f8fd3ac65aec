/**
 * Reading a QEMU migration stream of an aarch64 VM (what `migrate "exec:cat > FILE"` writes, raw or
 * gzip'd): the machine type, the RAM layout (pages are stepped over, never kept), every device section,
 * and per vCPU the register list QEMU carries for KVM (cpreg_vmstate_indexes / _values) and its core
 * registers; then a guestabi Snapshot of it that `checkAbi` takes.
 *
 * The format, from QEMU's source (7.2 and 10.0 read; the framing is the same from 2.x on):
 * - migration/savevm.c qemu_savevm_state_header: be32 QEMU_VM_FILE_MAGIC ("QEVM"), be32
 *   QEMU_VM_FILE_VERSION (3); then QEMU_VM_CONFIGURATION and vmstate_configuration: be32 length and the
 *   machine type's name (MachineClass name, e.g. "virt-7.2"), then its subsections:
 *   configuration/target-page-bits (be32), configuration/capabilities (be32 count, each a u8 length and
 *   a name: put_capability), configuration/uuid (16 bytes).
 * - save_section_header: u8 type, be32 section id, and for SECTION_START / SECTION_FULL a u8 length +
 *   idstr, be32 instance id, be32 version; save_section_footer: QEMU_VM_SECTION_FOOTER + be32 section
 *   id (send-section-footer, on for every machine type since 2.4; optional here).
 *   qemu_savevm_command_send: QEMU_VM_COMMAND, be16 command, be16 length, data.
 *   qemu_savevm_state_complete_precopy_non_iterable: QEMU_VM_EOF, then QEMU_VM_VMDESCRIPTION, be32
 *   length and the JSON description.
 * - The JSON (migration/vmstate.c vmstate_save_state_v, vmsd_desc_field_start/_end,
 *   vmstate_subsection_save; savevm.c vmstate_save_old_style) lists every SECTION_FULL in stream order:
 *   name, instance_id, vmsd_name, version, fields [{name, type, size, array_len | index}] and
 *   subsections. `size` is the bytes a field wrote; an entry with array_len stands for that many
 *   elements of that size (a "compressed" array). A subsection in the stream is QEMU_VM_SUBSECTION, a
 *   u8 length + its vmsd name, be32 version. A full section carries no length: the JSON is what lets a
 *   reader step over it, so it is read first, from the end of the stream.
 * - RAM, section "ram" version 4 (migration/ram.c ram_save_setup, ram_load_precopy, parse_ramblocks,
 *   ram_block_from_stream, load_xbzrle): records of be64 offset | RAM_SAVE_FLAG_* (the flags are the
 *   bits below the target page size). MEM_SIZE: the total, then per block a u8 length + name, be64
 *   length (+ be64 address with x-ignore-shared) until the lengths add up to the total; ZERO, PAGE,
 *   XBZRLE and COMPRESS_PAGE (up to 9.0) name their block (u8 length + name) unless CONTINUE is set, then
 *   carry a fill byte, a page, a u8 encoding + be16 length + data, a be32 length + data; MULTIFD_FLUSH
 *   carries nothing; EOS ends the section's records.
 * - The vCPU (target/arm/machine.c vmstate_arm_cpu, section "cpu", instance id = cpu_index, every
 *   integer big-endian): env.xregs, env.pc, cpsr (PSTATE in AArch64: put_cpsr), env.sp_el, env.elr_el,
 *   env.banked_spsr, cpreg_vmstate_array_len, cpreg_vmstate_indexes and cpreg_vmstate_values (u64
 *   each, what cpu_pre_save copies from write_kvmstate_to_list), power_state; subsection cpu/vfp holds
 *   the V registers (env.vfp.zregs[n].d, two u64, low first) and fpscr, or since 10.0 cpu/vfp/fpcr_fpsr
 *   FPCR and FPSR as u64. Fields are found by these names in the JSON, never by fixed offsets.
 */
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import {
  KVM_REG_ARCH_MASK,
  KVM_REG_ARM64,
  decodeId,
  formatId,
  malformedReason,
  parseRegName,
  shownText,
} from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { ARM_TARGETS, FW_REGS, VCPU_FEATURES, regSizeBytes } from "../kvm/index.js";
import type { RegValue, VcpuFeatureName } from "../kvm/index.js";
import { readBounded } from "../formats/bounded-read.js";
import { SNAPSHOT_LIMITS, SVE_VLS_ID, validateSnapshot, vqsToVls } from "../formats/snapshot.js";
import type { Snapshot, VcpuSnapshot } from "../formats/snapshot.js";

// ---- errors and limits --------------------------------------------------------------------------

export type QemuStreamErrorCode =
  | "magic" // not a QEMU migration stream
  | "version" // a stream version this reader does not read
  | "gzip" // gzip'd, but the gzip data is corrupt
  | "truncated" // a record runs past the end of the stream
  | "limit" // a count or size beyond QEMU_STREAM_LIMITS
  | "vmdesc" // the JSON device description: missing, not JSON, of the wrong shape
  | "section" // section framing: types, ids, footers, the configuration
  | "ram" // a RAM record
  | "device" // a device section disagrees with its description
  | "cpu" // a vCPU section: its register arrays or ids
  | "unsupported" // a well-formed stream of a kind this reader does not read (postcopy, RDMA, ...)
  | "sve"; // a vCPU with SVE converted without its vector lengths

/** Every problem reading a QEMU migration stream: one line, with a code. */
export class QemuStreamError extends Error {
  override name = "QemuStreamError";
  readonly code: QemuStreamErrorCode;
  constructor(code: QemuStreamErrorCode, message: string) {
    super(message.replace(/\s+/g, " ").trim());
    this.code = code;
  }
}

function fail(code: QemuStreamErrorCode, message: string): never {
  throw new QemuStreamError(code, message);
}

/** Bounds a reader enforces before believing any count or length. */
export const QEMU_STREAM_LIMITS = {
  /** The stream (after gunzip): small VMs write well under 100 MB; RAM pages dominate. */
  streamBytes: 256 << 20,
  /** QEMU describes a vCPU in ~5.5 KB; virt takes at most 512 vCPUs. */
  vmdescBytes: 8 << 20,
  /** Nesting of subsections in the JSON description. */
  subsectionDepth: 16,
  /** Nesting of JSON arrays and objects (QEMU's descriptions nest a few dozen deep at most). */
  jsonDepth: 256,
  sections: 1 << 20,
  ramBlocks: 4096,
  /** A machine type name, a capability name, an idstr: QEMU's are far shorter. */
  nameBytes: 256,
  capabilities: 64,
  vcpus: SNAPSHOT_LIMITS.vcpus,
  cpregs: SNAPSHOT_LIMITS.regsPerVcpu,
} as const;

// ---- the stream's constants ---------------------------------------------------------------------

const QEMU_VM_FILE_MAGIC = 0x5145564d; // "QEVM"
const QEMU_VM_FILE_VERSION = 3;
const QEMU_VM_FILE_VERSION_COMPAT = 2; // savevm.c: refused by QEMU itself since 2.x

/** migration/savevm.c (include/migration/... QEMU_VM_*): what the byte before a record says it is. */
const QEMU_VM = {
  EOF: 0x00,
  SECTION_START: 0x01,
  SECTION_PART: 0x02,
  SECTION_END: 0x03,
  SECTION_FULL: 0x04,
  SUBSECTION: 0x05,
  VMDESCRIPTION: 0x06,
  CONFIGURATION: 0x07,
  COMMAND: 0x08,
  SECTION_FOOTER: 0x7e,
} as const;

/**
 * savevm.c enum qemu_vm_cmd: the commands a precopy stream may carry without changing how the rest
 * reads (OPEN_RETURN_PATH, PING, SWITCHOVER_START of 10.0). Postcopy, COLO and packaged streams are
 * not read.
 */
const HARMLESS_COMMANDS: ReadonlyMap<number, string> = new Map([
  [1, "OPEN_RETURN_PATH"],
  [2, "PING"],
  [11, "SWITCHOVER_START"],
]);

/** migration/ram.c (7.2) and ram.h (9.1+): RAM_SAVE_FLAG_*. */
const RAM_FLAG = {
  ZERO: 0x02,
  MEM_SIZE: 0x04,
  PAGE: 0x08,
  EOS: 0x10,
  CONTINUE: 0x20,
  XBZRLE: 0x40,
  HOOK: 0x80, // RDMA only
  COMPRESS_PAGE: 0x100, // removed in 9.1
  MULTIFD_FLUSH: 0x200, // 8.1+
} as const;
/** The records that carry a page of a named block (ram_block_from_stream). */
const PAGE_RECORDS: ReadonlySet<number> = new Set([
  RAM_FLAG.ZERO,
  RAM_FLAG.PAGE,
  RAM_FLAG.XBZRLE,
  RAM_FLAG.COMPRESS_PAGE,
]);
const RAM_SECTION_VERSION = 4; // ram_load: "if (version_id != 4) return -EINVAL"
const ENCODING_FLAG_XBZRLE = 0x1; // ram.c

/** zlib's compressBound, the bound ram_load_precopy puts on a COMPRESS_PAGE record. */
const compressBound = (n: number): number => n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 13;

// ---- the result ---------------------------------------------------------------------------------

export interface QemuRamBlock {
  name: string;
  /** used_length in bytes. */
  length: number;
}

export interface QemuRam {
  blocks: QemuRamBlock[];
  /** Page records seen (their contents are skipped). */
  pages: { zero: number; normal: number; xbzrle: number; compressed: number };
}

/** A SECTION_FULL: one device's state. */
export interface QemuDevice {
  /** Where its section header starts in the stream. */
  offset: number;
  idstr: string;
  instanceId: number;
  version: number;
  /** Its bytes in the stream, header and footer excluded. */
  bytes: number;
}

/** The core registers QEMU keeps in the cpu section's own fields (KVM's struct kvm_regs). */
export interface QemuCoreRegs {
  /** env.xregs[0..31] (KVM has x0..x30). */
  xregs: bigint[];
  pc: bigint;
  /** The cpsr field: PSTATE for a vCPU in AArch64 (put_cpsr). */
  pstate: number;
  /** env.sp_el[0..3]: SP_EL0 is KVM's sp, SP_EL1 its sp_el1. */
  spEl: bigint[];
  /** env.elr_el[0..3]: ELR_EL1 is [1]. */
  elrEl: bigint[];
  /** env.banked_spsr[0..7]: KVM's spsr[0..4] are banks 1..5 (kvm_arch_put_registers). */
  bankedSpsr: bigint[];
  /** The FP/SIMD registers of subsection cpu/vfp, when it is there. */
  fp?: {
    /** V0..V31, 16 little-endian bytes each (as KVM's U128 vregs). */
    vregs: Uint8Array[];
    fpsr: number;
    fpcr: number;
  };
}

export interface QemuCpu {
  /** The section's instance id: QEMU's cpu_index, the KVM vCPU id. */
  instanceId: number;
  /** cpreg_vmstate_indexes to cpreg_vmstate_values, in stream order. */
  cpregs: Map<bigint, bigint>;
  /** cpreg_vmstate_array_len. */
  cpregCount: number;
  /** Undefined when the cpu section lacks one of the fields (another QEMU layout). */
  core?: QemuCoreRegs;
  /** The power_state field, when present. */
  poweredOff?: boolean;
  /** The cpu section's subsections, e.g. "cpu/vfp", "cpu/sve". */
  subsections: string[];
}

export interface QemuStream {
  /**
   * The configuration's machine type, e.g. "virt-7.2": the versioned machine the VM ran as (a QEMU's
   * newest unless an older one was asked for); null without a configuration section.
   */
  machineType: string | null;
  /** configuration/target-page-bits, when sent. */
  targetPageBits: number | null;
  /** The JSON description's page_size: TARGET_PAGE_SIZE. */
  pageSize: number;
  /** configuration/capabilities (x-ignore-shared, mapped-ram). */
  capabilities: string[];
  /** The "ram" section; null when the stream has none. */
  ram: QemuRam | null;
  /** Every SECTION_FULL in stream order. */
  devices: QemuDevice[];
  cpus: QemuCpu[];
  /** The stream's length (after gunzip). */
  bytes: number;
}

// ---- reading bytes ------------------------------------------------------------------------------

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const hasMagic = (b: Uint8Array): boolean =>
  b.length >= 4 && new DataView(b.buffer, b.byteOffset, 4).getUint32(0) === QEMU_VM_FILE_MAGIC;
const latin1 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

/** A position in the stream that never passes `end` (the JSON description's marker). */
class Cursor {
  constructor(
    readonly b: Uint8Array,
    readonly dv: DataView,
    public pos: number,
    readonly end: number,
  ) {}
  /** Claims n bytes, returns where they start. */
  take(n: number, what: string): number {
    if (!(n <= this.end - this.pos))
      fail(
        "truncated",
        `${what} at offset ${this.pos} needs ${n} bytes, the stream has ${this.end - this.pos} left`,
      );
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(what: string): number {
    return this.b[this.take(1, what)]!;
  }
  peek(): number | undefined {
    return this.pos < this.end ? this.b[this.pos] : undefined;
  }
  be16(what: string): number {
    return this.dv.getUint16(this.take(2, what));
  }
  be32(what: string): number {
    return this.dv.getUint32(this.take(4, what));
  }
  be64(what: string): bigint {
    return this.dv.getBigUint64(this.take(8, what));
  }
  /** A u8 length and that many bytes of name (idstrs, block names, subsection names). */
  name(what: string): string {
    const n = this.u8(`${what}'s length`);
    return latin1(this.b.subarray(this.take(n, what), this.pos));
  }
}

// ---- the JSON description -----------------------------------------------------------------------

interface VmdescField {
  name: string;
  size: number;
  /** array_len, else 1. */
  count: number;
}
interface VmdescNode {
  vmsdName: string | undefined;
  version: number | undefined;
  fields: VmdescField[];
  subsections: VmdescNode[];
}
interface VmdescDevice extends VmdescNode {
  name: string;
  instanceId: number;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const badDesc = (where: string, what: string): never => fail("vmdesc", `JSON description ${where}: ${what}`);

function descNode(x: unknown, where: string, depth: number): VmdescNode {
  if (!isObject(x)) return badDesc(where, "is not an object");
  if (x.vmsd_name !== undefined && typeof x.vmsd_name !== "string")
    badDesc(where, "vmsd_name is not a string");
  if (x.version !== undefined && !isCount(x.version)) badDesc(where, "version is not a count");
  const fields = x.fields ?? [];
  if (!Array.isArray(fields)) return badDesc(where, "fields is not an array");
  const subs = x.subsections ?? [];
  if (!Array.isArray(subs)) return badDesc(where, "subsections is not an array");
  if (subs.length > 0 && depth >= QEMU_STREAM_LIMITS.subsectionDepth)
    fail(
      "limit",
      `JSON description ${where}: subsections nest deeper than ${QEMU_STREAM_LIMITS.subsectionDepth}`,
    );
  return {
    vmsdName: x.vmsd_name as string | undefined,
    version: x.version as number | undefined,
    fields: fields.map((f, i): VmdescField => {
      const at = `${where}.fields[${i}]`;
      if (!isObject(f) || typeof f.name !== "string") return badDesc(at, "is not a field with a name");
      if (!isCount(f.size)) return badDesc(at, `${shownText(f.name)}: size is not a count`);
      if (f.array_len !== undefined && !isCount(f.array_len))
        return badDesc(at, `${shownText(f.name)}: array_len is not a count`);
      return { name: f.name, size: f.size, count: (f.array_len as number | undefined) ?? 1 };
    }),
    subsections: subs.map((s, i) => {
      const node = descNode(s, `${where}.subsections[${i}]`, depth + 1);
      if (node.vmsdName === undefined || node.version === undefined)
        badDesc(`${where}.subsections[${i}]`, "a subsection needs vmsd_name and version");
      return node;
    }),
  };
}

/** Whether JSON text (bytes) nests arrays and objects deeper than `limit` (JSON.parse takes ~1 µs a level). */
function nestsDeeperThan(json: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i]!;
    if (inString) {
      if (ch === 0x5c)
        i++; // a backslash escapes the next character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > limit) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/** The parsed description; each device entry is checked when its section is reached (describedDevice). */
interface Vmdesc {
  pageSize: number;
  devices: unknown[];
}

function parseVmdesc(json: Uint8Array): Vmdesc {
  if (nestsDeeperThan(json, QEMU_STREAM_LIMITS.jsonDepth))
    fail("limit", `the JSON description nests deeper than ${QEMU_STREAM_LIMITS.jsonDepth}`);
  let doc: unknown;
  try {
    doc = JSON.parse(latin1(json));
  } catch (e) {
    return fail("vmdesc", `the JSON description is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) return badDesc("(top)", "is not an object");
  const pageSize = doc.page_size;
  // TARGET_PAGE_BITS_MIN is 10 on Arm; no target has pages above 64 KiB.
  if (!isCount(pageSize) || pageSize < 1024 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    badDesc("page_size", `${shownText(String(pageSize))} is not a power of two in 1024..65536`);
  if (!Array.isArray(doc.devices)) return badDesc("devices", "is not an array");
  if (doc.devices.length > QEMU_STREAM_LIMITS.sections)
    fail("limit", `JSON description: ${doc.devices.length} devices (limit ${QEMU_STREAM_LIMITS.sections})`);
  return { pageSize: pageSize as number, devices: doc.devices };
}

/** Device entry i of the description, checked; undefined past its end. */
function describedDevice(v: Vmdesc, i: number): VmdescDevice | undefined {
  if (i >= v.devices.length) return undefined;
  const d = v.devices[i];
  const where = `devices[${i}]`;
  if (!isObject(d) || typeof d.name !== "string") return badDesc(where, "has no name");
  if (!isCount(d.instance_id) || d.instance_id > 0xffffffff)
    return badDesc(where, `${shownText(d.name)}: instance_id is not a u32`);
  return { ...descNode(d, where, 0), name: d.name, instanceId: d.instance_id };
}

/**
 * Where the JSON description starts: QEMU_VM_VMDESCRIPTION and a be32 length that reaches exactly the
 * end of the stream. JSON text has no control bytes, so the first such marker from the end is it.
 */
function findVmdesc(b: Uint8Array, dv: DataView): number {
  const lowest = Math.max(9, b.length - 5 - QEMU_STREAM_LIMITS.vmdescBytes); // header + EOF before it
  for (let p = b.length - 5; p >= lowest; p--)
    if (b[p] === QEMU_VM.VMDESCRIPTION && dv.getUint32(p + 1) === b.length - p - 5) return p;
  return fail(
    "vmdesc",
    `no JSON device description (QEMU_VM_VMDESCRIPTION) ends the stream: truncated, or written by a machine with suppress-vmdesc or a postcopy migration`,
  );
}

// ---- device sections ----------------------------------------------------------------------------

interface FieldAt {
  name: string;
  size: number;
  count: number;
  offset: number;
}
interface NodeAt {
  fields: FieldAt[];
  subsections: Map<string, NodeAt>;
}

/** Steps over a described section's fields and subsections, noting where each field lies. */
function walk(c: Cursor, node: VmdescNode, where: string): NodeAt {
  const fields = node.fields.map((f): FieldAt => {
    const bytes = f.size * f.count;
    if (!Number.isSafeInteger(bytes)) fail("truncated", `${where}: field ${shownText(f.name)} is too large`);
    return {
      name: f.name,
      size: f.size,
      count: f.count,
      offset: c.take(bytes, `${where} field ${shownText(f.name)}`),
    };
  });
  const subsections = new Map<string, NodeAt>();
  for (const sub of node.subsections) {
    const at = c.pos;
    const name = sub.vmsdName!;
    if (c.u8(`${where} subsection ${shownText(name)}`) !== QEMU_VM.SUBSECTION)
      fail(
        "device",
        `${where}: no subsection marker at offset ${at}, the description has ${shownText(name)}`,
      );
    const got = c.name(`${where} subsection name`);
    if (got !== name)
      fail(
        "device",
        `${where}: subsection ${shownText(got)} at offset ${at}, the description has ${shownText(name)}`,
      );
    const version = c.be32(`${where} subsection ${shownText(name)} version`);
    if (version !== sub.version)
      fail(
        "device",
        `${where}: subsection ${shownText(name)} has version ${version}, the description ${sub.version}`,
      );
    subsections.set(name, walk(c, sub, `${where}/${shownText(name)}`));
  }
  return { fields, subsections };
}

/** The one field of this name with `size`-byte elements, `count` of them (any count when undefined). */
function fieldOf(node: NodeAt | undefined, name: string, size: number, count?: number): FieldAt | undefined {
  const found = node?.fields.filter((f) => f.name === name) ?? [];
  const f = found[0];
  return found.length === 1 && f!.size === size && (count === undefined || f!.count === count)
    ? f
    : undefined;
}

const u64s = (dv: DataView, f: FieldAt): bigint[] =>
  Array.from({ length: f.count }, (_, i) => dv.getBigUint64(f.offset + 8 * i));

// FPSR_MASK and FPCR_MASK of target/arm/cpu.h (7.2; FPSCR_FPSR_MASK / FPSCR_FPCR_MASK in 10.0): how
// vfp_get_fpsr / vfp_get_fpcr split the fpscr field.
const FPSR_MASK = 0xf800009f;
const FPCR_MASK = 0x07ff9f00;

function readFp(dv: DataView, vfp: NodeAt | undefined): QemuCoreRegs["fp"] {
  if (!vfp) return undefined;
  const vregs: Uint8Array[] = [];
  for (let n = 0; n < 32; n++) {
    const f = fieldOf(vfp, `env.vfp.zregs[${n}].d`, 8, 2);
    if (!f) return undefined;
    const v = new Uint8Array(16);
    const out = new DataView(v.buffer);
    out.setBigUint64(0, dv.getBigUint64(f.offset), true);
    out.setBigUint64(8, dv.getBigUint64(f.offset + 8), true);
    vregs.push(v);
  }
  const split = vfp.subsections.get("cpu/vfp/fpcr_fpsr"); // 10.0: FPCR and FPSR whole, as u64
  const fpcr64 = fieldOf(split, "fpcr", 8, 1);
  const fpsr64 = fieldOf(split, "fpsr", 8, 1);
  if (fpcr64 && fpsr64)
    return {
      vregs,
      fpcr: Number(dv.getBigUint64(fpcr64.offset) & 0xffffffffn),
      fpsr: Number(dv.getBigUint64(fpsr64.offset) & 0xffffffffn),
    };
  const fpscr = fieldOf(vfp, "fpscr", 4, 1);
  if (!fpscr) return undefined;
  const v = dv.getUint32(fpscr.offset);
  return { vregs, fpsr: (v & FPSR_MASK) >>> 0, fpcr: (v & FPCR_MASK) >>> 0 };
}

function readCore(dv: DataView, cpu: NodeAt): QemuCoreRegs | undefined {
  const xregs = fieldOf(cpu, "env.xregs", 8, 32);
  const pc = fieldOf(cpu, "env.pc", 8, 1);
  const cpsr = fieldOf(cpu, "cpsr", 4, 1);
  const spEl = fieldOf(cpu, "env.sp_el", 8, 4);
  const elrEl = fieldOf(cpu, "env.elr_el", 8, 4);
  const spsr = fieldOf(cpu, "env.banked_spsr", 8, 8);
  if (!xregs || !pc || !cpsr || !spEl || !elrEl || !spsr) return undefined;
  const fp = readFp(dv, cpu.subsections.get("cpu/vfp"));
  return {
    xregs: u64s(dv, xregs),
    pc: dv.getBigUint64(pc.offset),
    pstate: dv.getUint32(cpsr.offset),
    spEl: u64s(dv, spEl),
    elrEl: u64s(dv, elrEl),
    bankedSpsr: u64s(dv, spsr),
    ...(fp ? { fp } : {}),
  };
}

/** The register arrays of a "cpu" section (vmstate_arm_cpu), found by name in its description. */
function readCpu(dv: DataView, node: NodeAt, instanceId: number): QemuCpu {
  const where = `cpu ${instanceId}`;
  const lenField = fieldOf(node, "cpreg_vmstate_array_len", 4, 1);
  if (!lenField) fail("cpu", `${where}: no 4-byte cpreg_vmstate_array_len field in its description`);
  const count = dv.getInt32(lenField.offset);
  if (count < 0) fail("cpu", `${where}: cpreg_vmstate_array_len is ${count}`);
  if (count > QEMU_STREAM_LIMITS.cpregs)
    fail("limit", `${where}: ${count} registers (limit ${QEMU_STREAM_LIMITS.cpregs})`);
  const cpregs = new Map<bigint, bigint>();
  if (count > 0) {
    // VMSTATE_VARRAY_INT32 of vmstate_info_uint64: count u64 each, described as one compressed entry.
    const ids = fieldOf(node, "cpreg_vmstate_indexes", 8, count);
    const values = fieldOf(node, "cpreg_vmstate_values", 8, count);
    if (!ids || !values)
      fail(
        "cpu",
        `${where}: the description has no ${count} u64 cpreg_vmstate_indexes and cpreg_vmstate_values`,
      );
    for (let i = 0; i < count; i++) {
      const id = dv.getBigUint64(ids.offset + 8 * i);
      if (cpregs.has(id)) fail("cpu", `${where}: register ${formatId(id)} is listed twice`);
      cpregs.set(id, dv.getBigUint64(values.offset + 8 * i));
    }
  }
  const core = readCore(dv, node);
  const power = fieldOf(node, "power_state", 1, 1);
  return {
    instanceId,
    cpregs,
    cpregCount: count,
    ...(core ? { core } : {}),
    ...(power ? { poweredOff: dv.getUint8(power.offset) !== 0 } : {}),
    subsections: [...node.subsections.keys()],
  };
}

// ---- RAM ----------------------------------------------------------------------------------------

interface RamState {
  ram: QemuRam;
  lengths: Map<string, number>;
  /** ram_block_from_stream's last block, for CONTINUE. */
  last: string | undefined;
  ignoreShared: boolean;
  pageSize: number;
}

/** The records of one "ram" section part, up to its EOS (ram_load_precopy). */
function readRamRecords(c: Cursor, st: RamState): void {
  const mask = st.pageSize - 1;
  for (;;) {
    const at = c.pos;
    const hi = c.be32("RAM record");
    const lo = c.be32("RAM record");
    const flags = lo & mask;
    const what = flags & ~RAM_FLAG.CONTINUE;
    if (what === RAM_FLAG.EOS) return;
    if (what === RAM_FLAG.MULTIFD_FLUSH) continue;
    if (what === RAM_FLAG.MEM_SIZE) {
      readRamBlocks(c, st, hi * 2 ** 32 + (lo - flags), at);
      continue;
    }
    if (what === RAM_FLAG.HOOK)
      fail("unsupported", `RAM record at offset ${at}: an RDMA hook (RAM_SAVE_FLAG_HOOK)`);
    if (!PAGE_RECORDS.has(what))
      fail("ram", `RAM record at offset ${at}: unknown flags 0x${flags.toString(16)}`);
    const block = flags & RAM_FLAG.CONTINUE ? st.last : c.name("RAM block name");
    if (block === undefined) fail("ram", `RAM record at offset ${at}: CONTINUE before any block was named`);
    const length = st.lengths.get(block);
    if (length === undefined) fail("ram", `RAM record at offset ${at}: unknown block ${shownText(block)}`);
    st.last = block;
    const offset = hi * 2 ** 32 + (lo - flags);
    if (offset >= length)
      fail(
        "ram",
        `RAM record at offset ${at}: page 0x${offset.toString(16)} lies past block ${shownText(block)}'s ${length} bytes`,
      );
    if (what === RAM_FLAG.ZERO) {
      c.take(1, "zero page fill byte");
      st.ram.pages.zero++;
    } else if (what === RAM_FLAG.PAGE) {
      c.take(st.pageSize, "RAM page");
      st.ram.pages.normal++;
    } else if (what === RAM_FLAG.XBZRLE) {
      const encoding = c.u8("XBZRLE encoding");
      const n = c.be16("XBZRLE length");
      if (encoding !== ENCODING_FLAG_XBZRLE || n > st.pageSize)
        fail("ram", `RAM record at offset ${at}: XBZRLE encoding ${encoding}, length ${n}`);
      c.take(n, "XBZRLE data");
      st.ram.pages.xbzrle++;
    } else {
      const n = c.be32("compressed page length");
      if (n > compressBound(st.pageSize))
        fail("ram", `RAM record at offset ${at}: compressed page of ${n} bytes`);
      c.take(n, "compressed page");
      st.ram.pages.compressed++;
    }
  }
}

/** RAM_SAVE_FLAG_MEM_SIZE: block names and lengths until they add up to the total (parse_ramblocks). */
function readRamBlocks(c: Cursor, st: RamState, total: number, at: number): void {
  if (total > Number.MAX_SAFE_INTEGER) fail("limit", `RAM block list at offset ${at}: ${total} bytes of RAM`);
  let left = total;
  while (left > 0) {
    if (st.ram.blocks.length >= QEMU_STREAM_LIMITS.ramBlocks)
      fail("limit", `RAM block list at offset ${at}: more than ${QEMU_STREAM_LIMITS.ramBlocks} blocks`);
    const name = c.name("RAM block name");
    const length = c.be64("RAM block length");
    if (length > BigInt(left))
      fail("ram", `RAM block ${shownText(name)}: ${length} bytes, more than the ${left} the total leaves`);
    if (st.ignoreShared) c.take(8, "RAM block address (x-ignore-shared)");
    if (st.lengths.has(name)) fail("ram", `RAM block ${shownText(name)} is listed twice`);
    st.lengths.set(name, Number(length));
    st.ram.blocks.push({ name, length: Number(length) });
    left -= Number(length);
  }
}

// ---- the stream ---------------------------------------------------------------------------------

/** vmstate_configuration: the machine type and its subsections. */
function readConfiguration(c: Cursor): {
  machineType: string;
  targetPageBits: number | null;
  capabilities: string[];
} {
  const len = c.be32("configuration name length");
  if (len > QEMU_STREAM_LIMITS.nameBytes)
    fail("limit", `configuration: machine type of ${len} bytes (limit ${QEMU_STREAM_LIMITS.nameBytes})`);
  const machineType = latin1(c.b.subarray(c.take(len, "machine type"), c.pos));
  let targetPageBits: number | null = null;
  const capabilities: string[] = [];
  while (c.peek() === QEMU_VM.SUBSECTION) {
    c.pos++;
    const name = c.name("configuration subsection");
    c.be32(`${shownText(name)} version`);
    if (name === "configuration/target-page-bits") targetPageBits = c.be32("target-page-bits");
    else if (name === "configuration/capabilities") {
      const n = c.be32("capability count");
      if (n > QEMU_STREAM_LIMITS.capabilities)
        fail("limit", `configuration: ${n} capabilities (limit ${QEMU_STREAM_LIMITS.capabilities})`);
      for (let i = 0; i < n; i++) capabilities.push(c.name("capability"));
    } else if (name === "configuration/uuid") c.take(16, "uuid");
    else fail("unsupported", `configuration: unknown subsection ${shownText(name)}`);
  }
  return { machineType, targetPageBits, capabilities };
}

function parseStream(b: Uint8Array): QemuStream {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (!hasMagic(b))
    fail(
      b.length < 4 && "QEVM".startsWith(latin1(b)) ? "truncated" : "magic",
      "not a QEMU migration stream (no QEVM magic)",
    );
  if (b.length < 8) fail("truncated", `a QEMU migration stream of ${b.length} bytes`);
  const version = dv.getUint32(4);
  if (version !== QEMU_VM_FILE_VERSION)
    fail(
      "version",
      `QEMU migration stream version ${version}${version === QEMU_VM_FILE_VERSION_COMPAT ? " (the obsolete v2 format)" : ""} is not read (only ${QEMU_VM_FILE_VERSION})`,
    );
  const marker = findVmdesc(b, dv);
  const vmdesc = parseVmdesc(b.subarray(marker + 5));
  const c = new Cursor(b, dv, 8, marker);

  let config: ReturnType<typeof readConfiguration> | undefined;
  if (c.peek() === QEMU_VM.CONFIGURATION) {
    c.pos++;
    config = readConfiguration(c);
  }
  const capabilities = config?.capabilities ?? [];
  if (capabilities.includes("mapped-ram"))
    fail("unsupported", "a mapped-ram stream (migration to a file: URI)");
  if (config?.targetPageBits != null && 2 ** config.targetPageBits !== vmdesc.pageSize)
    fail(
      "section",
      `target-page-bits ${config.targetPageBits} disagrees with the description's page_size ${vmdesc.pageSize}`,
    );

  const out: QemuStream = {
    machineType: config?.machineType ?? null,
    targetPageBits: config?.targetPageBits ?? null,
    pageSize: vmdesc.pageSize,
    capabilities,
    ram: null,
    devices: [],
    cpus: [],
    bytes: b.length,
  };
  let ramState: RamState | undefined;
  /** Section ids of SECTION_START to their idstr (only "ram" is read). */
  const iterable = new Map<number, string>();
  let described = 0;
  for (let sections = 0; ; sections++) {
    if (sections > QEMU_STREAM_LIMITS.sections)
      fail("limit", `more than ${QEMU_STREAM_LIMITS.sections} sections`);
    const at = c.pos;
    const type = c.u8("section type");
    if (type === QEMU_VM.EOF) break;
    if (type === QEMU_VM.COMMAND) {
      const cmd = c.be16("command");
      const len = c.be16("command length");
      if (!HARMLESS_COMMANDS.has(cmd))
        fail("unsupported", `command ${cmd} at offset ${at} (postcopy, COLO or a packaged stream)`);
      c.take(len, `command ${HARMLESS_COMMANDS.get(cmd)}`);
      continue;
    }
    if (type < QEMU_VM.SECTION_START || type > QEMU_VM.SECTION_FULL)
      fail("section", `unknown section type 0x${type.toString(16)} at offset ${at}`);
    const sectionId = c.be32("section id");
    if (type === QEMU_VM.SECTION_START || type === QEMU_VM.SECTION_FULL) {
      const idstr = c.name("section idstr");
      const instanceId = c.be32("instance id");
      const sectionVersion = c.be32("section version");
      const where = `section ${shownText(idstr)} ${instanceId}`;
      if (type === QEMU_VM.SECTION_START) {
        if (idstr !== "ram") fail("unsupported", `iterable ${where} at offset ${at} (only RAM is read)`);
        if (sectionVersion !== RAM_SECTION_VERSION)
          fail(
            "unsupported",
            `${where}: RAM section version ${sectionVersion} (only ${RAM_SECTION_VERSION})`,
          );
        if (ramState) fail("section", `${where} at offset ${at}: a second RAM section`);
        out.ram = { blocks: [], pages: { zero: 0, normal: 0, xbzrle: 0, compressed: 0 } };
        ramState = {
          ram: out.ram,
          lengths: new Map(),
          last: undefined,
          ignoreShared: capabilities.includes("x-ignore-shared"),
          pageSize: vmdesc.pageSize,
        };
        iterable.set(sectionId, idstr);
        readRamRecords(c, ramState);
      } else {
        const desc = describedDevice(vmdesc, described++);
        if (!desc) fail("device", `${where} at offset ${at}: the description has no more sections`);
        if (desc.name !== idstr || desc.instanceId !== instanceId)
          fail(
            "device",
            `${where} at offset ${at}: the description has ${shownText(desc.name)} ${desc.instanceId} here`,
          );
        const start = c.pos;
        const node = walk(c, desc, where);
        out.devices.push({ offset: at, idstr, instanceId, version: sectionVersion, bytes: c.pos - start });
        if (idstr === "cpu") {
          if (out.cpus.length >= QEMU_STREAM_LIMITS.vcpus)
            fail("limit", `more than ${QEMU_STREAM_LIMITS.vcpus} vCPUs`);
          if (out.cpus.some((x) => x.instanceId === instanceId))
            fail("device", `${where}: a second cpu ${instanceId}`);
          out.cpus.push(readCpu(dv, node, instanceId));
        }
      }
    } else {
      if (!iterable.has(sectionId))
        fail("section", `section part/end at offset ${at} for section id ${sectionId}, never started`);
      readRamRecords(c, ramState!);
    }
    if (c.peek() === QEMU_VM.SECTION_FOOTER) {
      c.pos++;
      const id = c.be32("section footer");
      if (id !== sectionId)
        fail("section", `footer at offset ${c.pos - 5} names section ${id}, the section is ${sectionId}`);
    }
  }
  if (c.pos !== marker)
    fail(
      "section",
      `QEMU_VM_EOF at offset ${c.pos - 1}, ${marker - c.pos} bytes before the JSON description`,
    );
  if (described !== vmdesc.devices.length)
    fail("device", `the description has ${vmdesc.devices.length} sections, the stream ${described}`);
  return out;
}

// ---- entry points -------------------------------------------------------------------------------

/** Whether bytes are a QEMU migration stream, raw (the QEVM magic) or gzip'd (its first bytes). */
export function looksLikeQemuStream(bytes: Uint8Array): boolean {
  if (hasMagic(bytes)) return true;
  if (!isGzip(bytes)) return false;
  try {
    // The head of the gzip data, inflated as far as it goes: 1 KiB inflates to at most ~1 MiB.
    const head = gunzipSync(bytes.subarray(0, 1024), {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: 2 << 20,
    });
    return hasMagic(head);
  } catch {
    return false;
  }
}

function gunzipBounded(bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: QEMU_STREAM_LIMITS.streamBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      fail("limit", `the gzip'd stream inflates to more than ${QEMU_STREAM_LIMITS.streamBytes} bytes`);
    return fail("gzip", `gzip'd, but not readable gzip data (${(e as Error).message})`);
  }
}

/** A QEMU migration stream, raw or gzip'd. Every problem is a one-line QemuStreamError. */
export function decodeQemuStream(bytes: Uint8Array): QemuStream {
  const raw = isGzip(bytes) ? gunzipBounded(bytes) : bytes;
  if (raw.length > QEMU_STREAM_LIMITS.streamBytes)
    fail("limit", `the stream is ${raw.length} bytes (limit ${QEMU_STREAM_LIMITS.streamBytes})`);
  return parseStream(raw);
}

/**
 * Reads a stream file (raw or gzip'd), at most QEMU_STREAM_LIMITS.streamBytes of it
 * (InputTooLargeError past that); format problems are QemuStreamError prefixed with the path.
 */
export async function readQemuStreamFile(path: string): Promise<QemuStream> {
  const bytes = await readBounded(path, QEMU_STREAM_LIMITS.streamBytes, "a QEMU migration stream");
  try {
    return decodeQemuStream(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (e instanceof QemuStreamError) throw new QemuStreamError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

// ---- the Snapshot -------------------------------------------------------------------------------

export interface QemuSnapshotOptions {
  /**
   * SVE vector lengths (vq, 1..512) of the vCPUs with SVE. QEMU leaves KVM's SVE registers, the
   * vector-length register KVM_REG_ARM64_SVE_VLS among them, out of its cpreg list
   * (kvm_arm_reg_syncs_via_cpreg_list), so a stream does not record them.
   */
  sveVqs?: readonly number[];
}

/** KVM_REG_ARM: the 32-bit Arm ids TCG's register list also holds (cpreg_to_kvm_id, target/arm/kvm-consts.h). */
const KVM_REG_ARM = 0x4000_0000_0000_0000n;

/**
 * The init features kvm_arch_init_vcpu (target/arm/kvm64.c) sets from the CPU's properties, each read
 * back from a register KVM lists only for a vCPU that has the feature (arch/arm64/kvm/sys_regs.c).
 */
const FEATURE_SIGNS: readonly { feature: VcpuFeatureName; register: string; rule: string; id: RegId }[] = [
  { feature: "PMU_V3", register: "PMCR_EL0", rule: "pmu_visibility, 5.11+; 5.10 lists it without a PMU too" },
  { feature: "SVE", register: "ZCR_EL1", rule: "sve_visibility" },
  { feature: "PTRAUTH_ADDRESS", register: "APIAKEYLO_EL1", rule: "ptrauth_visibility" },
  { feature: "PTRAUTH_GENERIC", register: "APGAKEYLO_EL1", rule: "ptrauth_visibility" },
  { feature: "HAS_EL2", register: "HCR_EL2", rule: "el2_visibility" },
].map((s) => ({ ...s, feature: s.feature as VcpuFeatureName, id: parseRegName(s.register) }));

/** kvm_psci_version: a vCPU without KVM_ARM_VCPU_PSCI_0_2 reports KVM_ARM_PSCI_0_1 = PSCI_VERSION(0, 1). */
const PSCI_0_2_VERSION = 2n;

const core = (name: string): RegId => parseRegName(name);
/** kvm_arch_put_registers (target/arm/kvm64.c): which QEMU field each KVM core register is set from. */
const CORE_IDS = {
  x: Array.from({ length: 31 }, (_, n) => core(`x${n}`)),
  sp: core("sp"), // env->sp_el[0]
  pc: core("pc"),
  pstate: core("pstate"),
  spEl1: core("sp_el1"), // env->sp_el[1]
  elrEl1: core("elr_el1"), // env->elr_el[1]
  spsr: Array.from({ length: 5 }, (_, i) => core(`spsr[${i}]`)), // env->banked_spsr[i + 1]
  vregs: Array.from({ length: 32 }, (_, n) => core(`vregs[${n}]`)),
  fpsr: core("fpsr"),
  fpcr: core("fpcr"),
};

function coreRegs(c: QemuCoreRegs, withFp: boolean): [RegId, RegValue][] {
  const out: [RegId, RegValue][] = CORE_IDS.x.map((id, n) => [id, c.xregs[n]!]);
  out.push(
    [CORE_IDS.sp, c.spEl[0]!],
    [CORE_IDS.pc, c.pc],
    [CORE_IDS.pstate, BigInt(c.pstate)],
    [CORE_IDS.spEl1, c.spEl[1]!],
    [CORE_IDS.elrEl1, c.elrEl[1]!],
    ...CORE_IDS.spsr.map((id, i): [RegId, RegValue] => [id, c.bankedSpsr[i + 1]!]),
  );
  if (withFp && c.fp)
    out.push(
      ...CORE_IDS.vregs.map((id, n): [RegId, RegValue] => [id, Uint8Array.from(c.fp!.vregs[n]!)]),
      [CORE_IDS.fpsr, BigInt(c.fp.fpsr)],
      [CORE_IDS.fpcr, BigInt(c.fp.fpcr)],
    );
  return out;
}

interface ConvertedVcpu {
  vcpu: VcpuSnapshot;
  /** How each feature was inferred. */
  inferred: string[];
  aarch32: number;
  coreNote: string;
}

function sveVqsOf(cpu: QemuCpu, opts: QemuSnapshotOptions): number[] {
  const vqs = [...new Set(opts.sveVqs ?? [])].sort((a, b) => a - b);
  if (vqs.length === 0)
    fail(
      "sve",
      `vCPU ${cpu.instanceId} has SVE, but a QEMU stream does not record its vector lengths (KVM_REG_ARM64_SVE_VLS): give them`,
    );
  if (!vqs.every((q) => Number.isInteger(q) && q >= 1 && q <= 512))
    fail("sve", `SVE vector lengths ${vqs.join(",")}: each must be a vq in 1..512`);
  return vqs;
}

function convertVcpu(cpu: QemuCpu, opts: QemuSnapshotOptions): ConvertedVcpu {
  const where = `vCPU ${cpu.instanceId}`;
  const regs = new Map<RegId, RegValue>();
  let aarch32 = 0;
  for (const [id, value] of cpu.cpregs) {
    const arch = id & KVM_REG_ARCH_MASK;
    if (arch === KVM_REG_ARM) {
      aarch32++;
      continue;
    }
    if (arch !== KVM_REG_ARM64) fail("cpu", `${where}: register id ${formatId(id)} is not an Arm ONE_REG id`);
    const bad = malformedReason(id);
    if (bad) fail("cpu", `${where}: register id ${formatId(id)}: ${bad}`);
    const d = decodeId(id);
    // kvm_arm_reg_syncs_via_cpreg_list: QEMU moves core and SVE registers itself, never in this list.
    if (d.class === "core" || d.class === "sve")
      fail("cpu", `${where}: ${d.class} register ${formatId(id)} in the cpreg list`);
    const size = regSizeBytes(id);
    // kvm_arm_init_cpreg_list: "Can't handle size of register" other than U32 and U64.
    if (size !== 4 && size !== 8)
      fail(
        "cpu",
        `${where}: register ${formatId(id)} is ${size * 8}-bit; QEMU's cpreg list holds 32- and 64-bit ones`,
      );
    if (size === 4 && value > 0xffffffffn)
      fail("cpu", `${where}: 32-bit register ${formatId(id)} holds 0x${value.toString(16)}`);
    regs.set(id, value);
  }

  const features: number[] = [];
  const inferred: string[] = [];
  const psci = cpu.cpregs.get(FW_REGS.PSCI_VERSION);
  if (psci === undefined) {
    features.push(VCPU_FEATURES.PSCI_0_2);
    inferred.push("PSCI_0_2 (assumed: QEMU asks for it on every host with KVM_CAP_ARM_PSCI_0_2)");
  } else if (psci >= PSCI_0_2_VERSION) {
    features.push(VCPU_FEATURES.PSCI_0_2);
    inferred.push(`PSCI_0_2 (KVM_REG_ARM_PSCI_VERSION is 0x${psci.toString(16)})`);
  }
  for (const s of FEATURE_SIGNS) {
    const sveSection = s.feature === "SVE" && cpu.subsections.includes("cpu/sve");
    if (!regs.has(s.id) && !sveSection) continue;
    features.push(VCPU_FEATURES[s.feature]);
    inferred.push(
      `${s.feature} (${regs.has(s.id) ? `${s.register} listed: ${s.rule}` : "subsection cpu/sve"})`,
    );
  }
  const sve = features.includes(VCPU_FEATURES.SVE);
  const sveVqs = sve ? sveVqsOf(cpu, opts) : undefined;
  if (sveVqs) regs.set(SVE_VLS_ID, vqsToVls(sveVqs));

  let coreNote = "No core registers (the cpu section lacks their fields)";
  if (cpu.core) {
    for (const [id, value] of coreRegs(cpu.core, !sve)) regs.set(id, value);
    coreNote = `Core registers from the cpu section's fields${
      sve
        ? "; the SVE Z, P and FFR registers are not converted"
        : cpu.core.fp
          ? ", V0..V31, FPSR and FPCR from cpu/vfp"
          : "; no FP/SIMD registers (no cpu/vfp)"
    }`;
  }
  return {
    vcpu: {
      id: cpu.instanceId,
      init: { target: ARM_TARGETS.GENERIC_V8, features: features.sort((a, b) => a - b) },
      ...(sveVqs ? { sveVqs } : {}),
      attrs: [],
      regs,
    },
    inferred,
    aarch32,
    coreNote,
  };
}

/** "0, 1: text; 2: other text" for facts that differ by vCPU. */
function byVcpu(items: { id: number; text: string }[]): string {
  const groups = new Map<string, number[]>();
  for (const { id, text } of items) groups.set(text, [...(groups.get(text) ?? []), id]);
  if (groups.size === 1) return [...groups.keys()][0]!;
  return [...groups].map(([text, ids]) => `vCPU ${ids.join(", ")}: ${text}`).join("; ");
}

/**
 * The stream as a Snapshot `checkAbi` takes: one vCPU per cpu section, its registers those QEMU would
 * write back to KVM (the cpreg list, the core registers), its init features inferred from them (the
 * note says how), target GENERIC_V8, and an unknown source host. QemuStreamError for a vCPU whose
 * registers QEMU could not have written, and ("sve") for SVE without opts.sveVqs.
 */
export function qemuStreamToSnapshot(stream: QemuStream, opts: QemuSnapshotOptions = {}): Snapshot {
  if (stream.cpus.length === 0) fail("cpu", "the stream has no cpu section");
  const converted = stream.cpus.map((c) => convertVcpu(c, opts));
  const aarch32 = converted.reduce((n, c) => n + c.aarch32, 0);
  const machine = stream.machineType ?? "unknown";
  const note =
    [
      `QEMU migration stream, machine ${machine}, ${converted.length} vCPU${converted.length === 1 ? "" : "s"}`,
      `vCPU init features inferred from the registers: ${byVcpu(converted.map((c) => ({ id: c.vcpu.id, text: c.inferred.join(", ") || "none" })))}`,
      "Target assumed KVM_ARM_TARGET_GENERIC_V8 (QEMU uses KVM_ARM_PREFERRED_TARGET, which the stream does not record)",
      byVcpu(converted.map((c) => ({ id: c.vcpu.id, text: c.coreNote }))),
      ...(aarch32 > 0
        ? [`Left out: ${aarch32} AArch32 ids of a TCG register list (KVM_REG_ARM, no arm64 ONE_REG ids)`]
        : []),
      "Not in a stream: the source host, the IPA size, VM capabilities and device attributes; the vGIC is not converted",
    ].join(". ") + ".";
  const snapshot: Snapshot = {
    source: {
      release: `unknown host (QEMU migration stream, machine ${machine})`,
      generation: null,
      cpuLabel: null,
    },
    note,
    vm: { ipaBits: 0, caps: [], attrs: [] },
    vcpus: converted.map((c) => c.vcpu),
  };
  try {
    validateSnapshot(snapshot);
  } catch (e) {
    fail("cpu", (e as Error).message);
  }
  return snapshot;
}
