/**
 * Register values in the interface's representation, and their byte form. KVM moves a register value
 * as KVM_REG_SIZE(id) bytes in host (little-endian) order; the interface shows values of 1..8 bytes as
 * an unsigned bigint and wider ones (U128 V-registers, U256..U2048 SVE registers) as a Uint8Array of
 * exactly that many bytes. Every backend converts with these functions so they agree exactly.
 */
import { KVM_REG_SIZE_MASK, KVM_REG_SIZE_SHIFT, REG_SIZES, sizeBytes } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import type { RegValue } from "./types.js";

/** KVM_REG_SIZE(id): 1 << size code. RangeError for a size code KVM does not define. */
export function regSizeBytes(id: RegId): number {
  const code = Number((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
  const size = REG_SIZES[code];
  if (!size) throw new RangeError(`register id 0x${id.toString(16)} has size code ${code}`);
  return sizeBytes(size);
}

/** Whether the interface represents values of this register as bigint (size <= 8 bytes). */
export function isScalarReg(id: RegId): boolean {
  return regSizeBytes(id) <= 8;
}

/** Bytes (little-endian, exactly the register's size) to the interface's value. */
export function regValueFromBytes(id: RegId, bytes: Uint8Array): RegValue {
  const size = regSizeBytes(id);
  if (bytes.length !== size)
    throw new RangeError(`register 0x${id.toString(16)} has ${size} bytes, got ${bytes.length}`);
  if (size > 8) return Uint8Array.from(bytes);
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** The largest value of a register of 1, 2, 4 or 8 bytes. */
const SCALAR_MAX: Readonly<Record<number, bigint>> = {
  1: 0xffn,
  2: 0xffffn,
  4: 0xffffffffn,
  8: (1n << 64n) - 1n,
};

/**
 * Whether regValueToBytes accepts the value for a register of `bytes` bytes (regSizeBytes), without
 * making the bytes: checks that run for every register call it and ask regValueToBytes for the error.
 */
export function regValueFits(bytes: number, value: RegValue): boolean {
  if (typeof value === "bigint") return value >= 0n && value <= (SCALAR_MAX[bytes] ?? -1n);
  return value instanceof Uint8Array && bytes > 8 && value.length === bytes;
}

/**
 * The interface's value to bytes. A bigint must fit unsigned in the register's size; a Uint8Array must
 * have exactly its size. bigint for a register wider than 8 bytes, or bytes for a narrower one, is a
 * RangeError: the representation is fixed by the size, so both backends reject the same inputs.
 */
export function regValueToBytes(id: RegId, value: RegValue): Uint8Array {
  const size = regSizeBytes(id);
  if (typeof value === "bigint") {
    if (size > 8)
      throw new RangeError(`register 0x${id.toString(16)} is ${size * 8}-bit: give its value as bytes`);
    if (value < 0n || value >> BigInt(size * 8) !== 0n)
      throw new RangeError(
        `value 0x${value.toString(16)} does not fit register 0x${id.toString(16)} (${size} bytes)`,
      );
    const out = new Uint8Array(size);
    let v = value;
    for (let i = 0; i < size; i++) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }
  if (!(value instanceof Uint8Array)) throw new TypeError("register value must be a bigint or a Uint8Array");
  if (size <= 8)
    throw new RangeError(`register 0x${id.toString(16)} is ${size * 8}-bit: give its value as a bigint`);
  if (value.length !== size)
    throw new RangeError(`register 0x${id.toString(16)} has ${size} bytes, value has ${value.length}`);
  return Uint8Array.from(value);
}

/** Equality of two values of the same register (bigint by value, bytes bytewise). */
export function regValuesEqual(a: RegValue, b: RegValue): boolean {
  if (typeof a === "bigint" || typeof b === "bigint") return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Little-endian bytes of an unsigned integer value (1..8 bytes), for MMIO data. */
export function leBytes(value: bigint, length: number): Uint8Array {
  if (length < 1 || length > 8) throw new RangeError(`length ${length} is not 1..8`);
  const out = new Uint8Array(length);
  let v = BigInt.asUintN(length * 8, value);
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The unsigned value of little-endian bytes (at most 8). */
export function fromLeBytes(bytes: Uint8Array): bigint {
  if (bytes.length > 8) throw new RangeError(`${bytes.length} bytes do not fit a u64`);
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}
