/**
 * A few A64 instruction encoders: just what the guest probe program needs. Each returns the 32-bit
 * instruction word (a little-endian word in memory). Encodings from the Arm ARM (DDI 0487), section
 * C6 "A64 Base Instruction Descriptions"; each function documents its field layout, and the tests
 * check words against GNU as (binutils-aarch64-linux-gnu).
 *
 * Registers are numbers 0..30 (x0..x30); 31 means xzr or sp depending on the instruction, as noted.
 */

/** A system register encoding: the (op0, op1, CRn, CRm, op2) of MRS/MSR. */
export interface SysregEncoding {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}

function field(name: string, v: number, bits: number): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits)
    throw new RangeError(`${name} ${v} does not fit ${bits} bits`);
  return v;
}
const xreg = (r: number, what = "register") => field(what, r, 5);
const word = (w: number) => w >>> 0;

/**
 * MOVZ Xd, #imm16, LSL #shift (64-bit): sf=1 opc=10 100101 hw:2 imm16:16 Rd:5
 *   = 0xd2800000 | hw << 21 | imm16 << 5 | Rd,   hw = shift / 16.
 */
export function movz(rd: number, imm16: number, shift = 0): number {
  return word(0xd2800000 | (hwOf(shift) << 21) | (field("imm16", imm16, 16) << 5) | xreg(rd));
}

/** MOVK Xd, #imm16, LSL #shift (64-bit): sf=1 opc=11 100101 hw imm16 Rd = 0xf2800000 | hw << 21 | imm16 << 5 | Rd. */
export function movk(rd: number, imm16: number, shift = 0): number {
  return word(0xf2800000 | (hwOf(shift) << 21) | (field("imm16", imm16, 16) << 5) | xreg(rd));
}

function hwOf(shift: number): number {
  if (![0, 16, 32, 48].includes(shift)) throw new RangeError(`MOVZ/MOVK shift ${shift} is not 0/16/32/48`);
  return shift / 16;
}

/**
 * Loads a 64-bit immediate: MOVZ of the lowest nonzero halfword (of halfword 0 for 0), then MOVK of
 * each other nonzero halfword; 1 to 4 instructions. Negative values are taken modulo 2^64.
 */
export function movImm64(rd: number, value: bigint): number[] {
  const v = BigInt.asUintN(64, value);
  const halves = [0, 1, 2, 3].map((i) => Number((v >> BigInt(16 * i)) & 0xffffn));
  const nonzero = halves.map((h, i) => (h ? i : -1)).filter((i) => i >= 0);
  if (nonzero.length === 0) return [movz(rd, 0)];
  const [first, ...rest] = nonzero as [number, ...number[]];
  return [movz(rd, halves[first]!, 16 * first), ...rest.map((i) => movk(rd, halves[i]!, 16 * i))];
}

/** HVC #imm16: 11010100 000 imm16 000 10 = 0xd4000002 | imm16 << 5. */
export function hvc(imm16 = 0): number {
  return word(0xd4000002 | (field("imm16", imm16, 16) << 5));
}

/** SMC #imm16: 11010100 000 imm16 000 11 = 0xd4000003 | imm16 << 5. */
export function smc(imm16 = 0): number {
  return word(0xd4000003 | (field("imm16", imm16, 16) << 5));
}

function sysregBits(e: SysregEncoding): number {
  if (e.op0 !== 2 && e.op0 !== 3) throw new RangeError(`MRS/MSR op0 must be 2 or 3, got ${e.op0}`);
  return (
    (e.op0 << 19) |
    (field("op1", e.op1, 3) << 16) |
    (field("CRn", e.crn, 4) << 12) |
    (field("CRm", e.crm, 4) << 8) |
    (field("op2", e.op2, 3) << 5)
  );
}

/**
 * MRS Xt, <sysreg>: 1101010100 L=1 op0:2 op1:3 CRn:4 CRm:4 op2:3 Rt:5
 *   = 0xd5200000 | op0 << 19 | op1 << 16 | CRn << 12 | CRm << 8 | op2 << 5 | Rt   (Rt 31 = xzr).
 */
export function mrs(rt: number, e: SysregEncoding): number {
  return word(0xd5200000 | sysregBits(e) | xreg(rt));
}

/** MSR <sysreg>, Xt: as MRS with L=0: 0xd5000000 | op0 << 19 | ... | Rt. */
export function msr(e: SysregEncoding, rt: number): number {
  return word(0xd5000000 | sysregBits(e) | xreg(rt));
}

/**
 * STR Xt, [Xn, #imm] (64-bit, unsigned offset; no writeback, so a fault on it has a valid ISV and KVM
 * can report it as MMIO): size=11 111 0 01 opc=00 imm12 Rn Rt = 0xf9000000 | (imm / 8) << 10 | Rn << 5 | Rt.
 * imm: multiple of 8, 0..32760. Rn 31 = sp.
 */
export function strImm(rt: number, rn: number, imm = 0): number {
  return word(0xf9000000 | (scaledOffset(imm) << 10) | (xreg(rn, "base register") << 5) | xreg(rt));
}

/** LDR Xt, [Xn, #imm] (64-bit, unsigned offset): opc=01: 0xf9400000 | (imm / 8) << 10 | Rn << 5 | Rt. */
export function ldrImm(rt: number, rn: number, imm = 0): number {
  return word(0xf9400000 | (scaledOffset(imm) << 10) | (xreg(rn, "base register") << 5) | xreg(rt));
}

/**
 * LDR Wt, [Xn, #imm] (32-bit, unsigned offset; zero-extends into Xt; no writeback, so ISV is valid):
 * size=10 111 0 01 opc=01 imm12 Rn Rt = 0xb9400000 | (imm / 4) << 10 | Rn << 5 | Rt.
 * imm: multiple of 4, 0..16380. Rn 31 = sp, Rt 31 = wzr.
 */
export function ldrWImm(rt: number, rn: number, imm = 0): number {
  return word(0xb9400000 | (scaledOffset(imm, 4) << 10) | (xreg(rn, "base register") << 5) | xreg(rt));
}

/** imm12 of an unsigned-offset load/store of `bytes` bytes: imm / bytes, 0..4095. */
function scaledOffset(imm: number, bytes = 8): number {
  if (!Number.isInteger(imm) || imm < 0 || imm % bytes !== 0 || imm > 4095 * bytes)
    throw new RangeError(
      `${8 * bytes}-bit load/store offset ${imm} is not a multiple of ${bytes} in 0..${4095 * bytes}`,
    );
  return imm / bytes;
}

/** ADD Xd, Xn, #imm12 (64-bit, shift 0): sf=1 op=0 S=0 100010 sh=0 imm12 Rn Rd = 0x91000000 | imm12 << 10 | Rn << 5 | Rd. */
export function addImm(rd: number, rn: number, imm12: number): number {
  return word(0x91000000 | (field("imm12", imm12, 12) << 10) | (xreg(rn) << 5) | xreg(rd));
}

/** MOV Xd, Xm (ORR Xd, XZR, Xm): 0xaa0003e0 | Rm << 16 | Rd. */
export function movReg(rd: number, rm: number): number {
  return word(0xaa0003e0 | (xreg(rm) << 16) | xreg(rd));
}

/** B <label>: 000101 imm26, imm26 = offset / 4 (two's complement), offset from this instruction, ±128 MiB. */
export function b(offsetBytes: number): number {
  if (
    !Number.isInteger(offsetBytes) ||
    offsetBytes % 4 !== 0 ||
    offsetBytes < -(2 ** 27) ||
    offsetBytes >= 2 ** 27
  )
    throw new RangeError(`branch offset ${offsetBytes} is not a multiple of 4 within ±128 MiB`);
  return word(0x14000000 | ((offsetBytes / 4) & 0x3ffffff));
}

/** RET {Xn}: 1101011 0 0 10 11111 0000 0 0 Rn 00000 = 0xd65f0000 | Rn << 5 (Rn default x30: 0xd65f03c0). */
export function ret(rn = 30): number {
  return word(0xd65f0000 | (xreg(rn) << 5));
}

export const NOP = 0xd503201f;
export const WFI = 0xd503207f;
/** ISB (SY): 0xd5033fdf. */
export const ISB = 0xd5033fdf;
/** ERET: 1101011 0100 11111 000000 11111 00000 = 0xd69f03e0. */
export const ERET = 0xd69f03e0;

/** System registers the probe program itself uses (Arm ARM encodings). */
export const SYSREGS = {
  MIDR_EL1: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 0 },
  MPIDR_EL1: { op0: 3, op1: 0, crn: 0, crm: 0, op2: 5 },
  SCTLR_EL1: { op0: 3, op1: 0, crn: 1, crm: 0, op2: 0 },
  SPSR_EL1: { op0: 3, op1: 0, crn: 4, crm: 0, op2: 0 },
  ELR_EL1: { op0: 3, op1: 0, crn: 4, crm: 0, op2: 1 },
  CURRENT_EL: { op0: 3, op1: 0, crn: 4, crm: 2, op2: 2 },
  ESR_EL1: { op0: 3, op1: 0, crn: 5, crm: 2, op2: 0 },
  FAR_EL1: { op0: 3, op1: 0, crn: 6, crm: 0, op2: 0 },
  VBAR_EL1: { op0: 3, op1: 0, crn: 12, crm: 0, op2: 0 },
} as const satisfies Record<string, SysregEncoding>;

/** Little-endian bytes of instruction words. */
export function wordsToBytes(words: readonly number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const v = new DataView(out.buffer);
  words.forEach((w, i) => v.setUint32(4 * i, w >>> 0, true));
  return out;
}
