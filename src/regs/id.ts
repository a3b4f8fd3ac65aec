/**
 * The KVM/arm64 ONE_REG id space: encode, decode and format register ids.
 * Layout from include/uapi/linux/kvm.h (arch + size fields) and arch/arm64/include/uapi/asm/kvm.h
 * (coprocessor classes and their per-class fields).
 */

export type RegId = bigint;

// include/uapi/linux/kvm.h
export const KVM_REG_ARCH_MASK = 0xff00_0000_0000_0000n;
export const KVM_REG_ARM64 = 0x6000_0000_0000_0000n;
export const KVM_REG_SIZE_SHIFT = 52n;
export const KVM_REG_SIZE_MASK = 0x00f0_0000_0000_0000n;
// arch/arm64/include/uapi/asm/kvm.h: the class lives in bits 16..27; bits 28..51 are never used.
export const KVM_REG_ARM_COPROC_SHIFT = 16n;
export const KVM_REG_ARM_COPROC_MASK = 0x0fff_0000n;
const RESERVED_MASK = 0x000f_ffff_f000_0000n;
const LOW_MASK = 0xffffn;

/** Register sizes by their KVM_REG_SIZE_* code (log2 of the byte count). */
export const REG_SIZES = ["U8", "U16", "U32", "U64", "U128", "U256", "U512", "U1024", "U2048"] as const;
export type RegSize = (typeof REG_SIZES)[number];

export function sizeBytes(size: RegSize): number {
  return 1 << REG_SIZES.indexOf(size);
}

/** Coprocessor numbers of the arm64 ONE_REG classes (arch/arm64/include/uapi/asm/kvm.h). */
export const COPROC = {
  core: 0x10, // KVM_REG_ARM_CORE
  demux: 0x11, // KVM_REG_ARM_DEMUX
  sysreg: 0x13, // KVM_REG_ARM64_SYSREG
  fw: 0x14, // KVM_REG_ARM_FW
  sve: 0x15, // KVM_REG_ARM64_SVE
  fwBitmap: 0x16, // KVM_REG_ARM_FW_FEAT_BMAP
} as const;

// KVM_REG_ARM64_SVE_{ZREG,PREG,FFR}_BASE, KVM_ARM64_SVE_MAX_SLICES and KVM_REG_ARM64_SVE_VLS.
export const SVE_ZREG_BASE = 0x000;
export const SVE_PREG_BASE = 0x400;
export const SVE_FFR_BASE = 0x600;
export const SVE_NUM_ZREGS = 32;
export const SVE_NUM_PREGS = 16;
export const SVE_MAX_SLICES = 32;
export const SVE_VLS_LOW = 0xffff;

/** An id split into its fields. Every well-formed arm64 id decodes to one of these, never a throw. */
export type DecodedId =
  | { class: "core"; size: RegSize; offset: number }
  | { class: "demux"; size: RegSize; demuxId: number; value: number }
  | { class: "sysreg"; size: RegSize; op0: number; op1: number; crn: number; crm: number; op2: number }
  | { class: "fw"; size: RegSize; index: number }
  | { class: "fwBitmap"; size: RegSize; index: number }
  | { class: "sve"; size: RegSize; kind: "zreg" | "preg" | "ffr"; n: number; slice: number }
  | { class: "sve"; size: RegSize; kind: "vls" }
  | { class: "sve"; size: RegSize; kind: "unknown"; low: number }
  | { class: "unknown"; size: RegSize; coproc: number; low: number };

export type RegClass = DecodedId["class"];
export const REG_CLASSES: readonly RegClass[] = [
  "core",
  "demux",
  "sysreg",
  "fw",
  "fwBitmap",
  "sve",
  "unknown",
];

export class RegIdError extends Error {
  override name = "RegIdError";
}

/**
 * User text inside a one-line error: control characters (a newline would split the line) escaped as
 * JSON escapes them, and cut after 64 characters.
 */
export function shownText(text: string): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > 64 ? escaped.slice(0, 64) + "..." : escaped;
}

const U64_MAX = (1n << 64n) - 1n;

/** Parses a register id written as hex (0x-prefixed or bare 16 digits) or decimal. */
export function parseId(text: string): RegId {
  const s = text.trim();
  let id: bigint;
  if (/^0x[0-9a-f]{1,16}$/i.test(s)) id = BigInt(s);
  else if (/^[0-9a-f]{16}$/i.test(s)) id = BigInt("0x" + s);
  else if (/^[0-9]{1,20}$/.test(s)) id = BigInt(s);
  else throw new RegIdError(`not a register id: '${shownText(text)}' (expected hex like 0x603000000013c020)`);
  if (id > U64_MAX) throw new RegIdError(`register id out of 64-bit range: '${shownText(text)}'`);
  return id;
}

/** The id's KVM_REG_ARM_COPROC group (COPROC). */
export const coprocOf = (id: RegId): number =>
  Number((id & KVM_REG_ARM_COPROC_MASK) >> KVM_REG_ARM_COPROC_SHIFT);

export function formatId(id: RegId): string {
  return "0x" + id.toString(16).padStart(16, "0");
}

/** Why an id is not a well-formed arm64 ONE_REG id, or undefined when it is. */
export function malformedReason(id: RegId): string | undefined {
  if (id < 0n || id > U64_MAX) return "outside the 64-bit range";
  if ((id & KVM_REG_ARCH_MASK) !== KVM_REG_ARM64) return "architecture field is not KVM_REG_ARM64";
  const code = Number((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
  if (code >= REG_SIZES.length) return `size code ${code} is not a KVM_REG_SIZE_* value`;
  if ((id & RESERVED_MASK) !== 0n) return "bits 28..51 are set";
  return undefined;
}

export function decodeId(id: RegId): DecodedId {
  const reason = malformedReason(id);
  if (reason) throw new RegIdError(`malformed register id ${formatId(id)}: ${reason}`);
  const size = REG_SIZES[Number((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT)]!;
  const coproc = Number((id & KVM_REG_ARM_COPROC_MASK) >> KVM_REG_ARM_COPROC_SHIFT);
  const low = Number(id & LOW_MASK);
  switch (coproc) {
    case COPROC.core:
      return { class: "core", size, offset: low };
    case COPROC.demux: // KVM_REG_ARM_DEMUX_ID_MASK 0xff00, KVM_REG_ARM_DEMUX_VAL_MASK 0x00ff
      return { class: "demux", size, demuxId: low >> 8, value: low & 0xff };
    case COPROC.sysreg: // KVM_REG_ARM64_SYSREG_{OP0,OP1,CRN,CRM,OP2}_MASK
      return {
        class: "sysreg",
        size,
        op0: (low >> 14) & 0x3,
        op1: (low >> 11) & 0x7,
        crn: (low >> 7) & 0xf,
        crm: (low >> 3) & 0xf,
        op2: low & 0x7,
      };
    case COPROC.fw:
      return { class: "fw", size, index: low };
    case COPROC.fwBitmap:
      return { class: "fwBitmap", size, index: low };
    case COPROC.sve:
      return decodeSve(size, low);
    default:
      return { class: "unknown", size, coproc, low };
  }
}

// KVM_REG_ARM64_SVE_ZREG(n, i) = ZREG_BASE | n << 5 | i, likewise PREG; FFR(i) = FFR_BASE | i.
function decodeSve(size: RegSize, low: number): DecodedId {
  if (low === SVE_VLS_LOW) return { class: "sve", size, kind: "vls" };
  const slice = low & (SVE_MAX_SLICES - 1);
  const n = (low >> 5) & 0x1f;
  if (low < SVE_PREG_BASE) return { class: "sve", size, kind: "zreg", n, slice };
  if (low < SVE_FFR_BASE && n < SVE_NUM_PREGS) return { class: "sve", size, kind: "preg", n, slice };
  if (low >= SVE_FFR_BASE && low < SVE_FFR_BASE + SVE_MAX_SLICES)
    return { class: "sve", size, kind: "ffr", n: 0, slice };
  return { class: "sve", size, kind: "unknown", low };
}

/** Inverse of decodeId: encodeDecoded(decodeId(id)) === id for every well-formed id. */
export function encodeDecoded(d: DecodedId): RegId {
  let coproc: number;
  let low: number;
  switch (d.class) {
    case "core":
      [coproc, low] = [COPROC.core, d.offset];
      break;
    case "demux":
      [coproc, low] = [COPROC.demux, (d.demuxId << 8) | d.value];
      break;
    case "sysreg":
      [coproc, low] = [COPROC.sysreg, (d.op0 << 14) | (d.op1 << 11) | (d.crn << 7) | (d.crm << 3) | d.op2];
      break;
    case "fw":
      [coproc, low] = [COPROC.fw, d.index];
      break;
    case "fwBitmap":
      [coproc, low] = [COPROC.fwBitmap, d.index];
      break;
    case "sve":
      coproc = COPROC.sve;
      if (d.kind === "vls") low = SVE_VLS_LOW;
      else if (d.kind === "unknown") low = d.low;
      else {
        const base = d.kind === "zreg" ? SVE_ZREG_BASE : d.kind === "preg" ? SVE_PREG_BASE : SVE_FFR_BASE;
        low = base | (d.n << 5) | d.slice;
      }
      break;
    case "unknown":
      [coproc, low] = [d.coproc, d.low];
      break;
  }
  return makeId(d.size, coproc, low);
}

export function makeId(size: RegSize, coproc: number, low: number): RegId {
  return (
    KVM_REG_ARM64 |
    (BigInt(REG_SIZES.indexOf(size)) << KVM_REG_SIZE_SHIFT) |
    (BigInt(coproc & 0xfff) << KVM_REG_ARM_COPROC_SHIFT) |
    BigInt(low & 0xffff)
  );
}

/** ARM64_SYS_REG(op0, op1, crn, crm, op2): always a 64-bit sysreg id. */
export function sysregId(op0: number, op1: number, crn: number, crm: number, op2: number): RegId {
  return encodeDecoded({ class: "sysreg", size: "U64", op0, op1, crn, crm, op2 });
}

export function sysregEncodingName(d: {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}): string {
  return `S${d.op0}_${d.op1}_C${d.crn}_C${d.crm}_${d.op2}`;
}
