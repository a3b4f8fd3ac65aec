/**
 * zod 4 building blocks shared by guestabi's JSON documents (host profiles, restore trials). Each is a
 * codec: the JSON side (what the generated JSON Schema describes, `io: "input"`) and the in-memory side
 * (bigint ids and values, Uint8Array for registers wider than 64 bits). Every JSON form is canonical
 * (lower-case hex, no leading zeros), so decoding then encoding gives the same text back.
 */
import * as z from "zod";
import { CPU_LABEL_PATTERN } from "./cpu-label.js";
import { formatId, malformedReason } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import type { RegValue } from "../kvm/index.js";
import { regSizeBytes } from "../kvm/index.js";

export const ID_PATTERN = /^0x[0-9a-f]{16}$/;
export const U64_PATTERN = /^0x(?:0|[1-9a-f][0-9a-f]{0,15})$/;
/** A register wider than 64 bits: its bytes in KVM's (little-endian) memory order, 16..256 of them. */
export const BYTES_PATTERN = /^(?:[0-9a-f]{2}){16,256}$/;
export const ERRNO_PATTERN = /^E[A-Z0-9]{1,15}$/;

/** A bounded string: no control characters beyond tab, at most `max` characters. */
export const text = (max: number) =>
  z
    .string()
    .max(max)
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u0008\u000a-\u001f\u007f]*$/, "control characters are not allowed");

/** A register id: "0x" + 16 hex digits, a well-formed KVM/arm64 ONE_REG id. */
export const RegIdJson = z.codec(
  z
    .string()
    .regex(ID_PATTERN, "a register id is 0x followed by 16 lower-case hex digits")
    .refine((s) => ID_PATTERN.test(s) && malformedReason(BigInt(s)) === undefined, {
      message: "register id does not decode as a KVM/arm64 ONE_REG id",
    }),
  z.bigint(),
  { decode: (s) => BigInt(s), encode: (id: RegId) => formatId(id) },
);

/** An unsigned 64-bit value: "0x" + minimal lower-case hex. */
export const U64Json = z.codec(
  z.string().regex(U64_PATTERN, "a 64-bit value is 0x followed by minimal lower-case hex"),
  z
    .bigint()
    .min(0n)
    .max((1n << 64n) - 1n),
  { decode: (s) => BigInt(s), encode: (v: bigint) => "0x" + v.toString(16) },
);

/** The value of a register wider than 64 bits: lower-case hex bytes, little-endian, no "0x". */
export const BytesJson = z.codec(
  z.string().regex(BYTES_PATTERN, "a wide register value is 32..512 lower-case hex digits (bytes)"),
  z.custom<Uint8Array>((v) => v instanceof Uint8Array, "expected bytes"),
  { decode: (s) => Uint8Array.from(Buffer.from(s, "hex")), encode: (b) => Buffer.from(b).toString("hex") },
);

/** An errno name as KvmError reports it ("EINVAL", "E2BIG", "E524"). */
export const Errno = z.string().regex(ERRNO_PATTERN, "an errno name such as EINVAL");

/** The outcome of one KVM operation: "ok" or the errno it failed with. */
export const OpResult = z.union([z.literal("ok"), Errno]);

const U64_OR_ERRNO = new RegExp(
  `^(?:${U64_PATTERN.source.slice(1, -1)}|${ERRNO_PATTERN.source.slice(1, -1)})$`,
);
const READING = new RegExp(
  `^(?:${U64_PATTERN.source.slice(1, -1)}|${BYTES_PATTERN.source.slice(1, -1)}|${ERRNO_PATTERN.source.slice(1, -1)})$`,
);

/** A 64-bit value or the errno of the operation that should have produced it. */
export const U64OrErrnoJson = z.codec(
  z.string().regex(U64_OR_ERRNO, "expected 0x with minimal lower-case hex, or an errno name such as EINVAL"),
  z.union([
    z
      .bigint()
      .min(0n)
      .max((1n << 64n) - 1n),
    z.string(),
  ]),
  {
    decode: (s) => (s.startsWith("0x") ? BigInt(s) : s),
    encode: (v) => (typeof v === "bigint" ? "0x" + v.toString(16) : v),
  },
);

/** A register value of any size (see U64Json, BytesJson) or the errno of the read. */
export const RegValueOrErrnoJson = z.codec(
  z
    .string()
    .regex(
      READING,
      "expected 0x with minimal lower-case hex (up to 64 bits), hex bytes (wider registers) or an errno name",
    ),
  z.union([z.bigint(), z.custom<Uint8Array>((v) => v instanceof Uint8Array), z.string()]),
  {
    decode: (s): RegValue | string =>
      s.startsWith("0x") ? BigInt(s) : ERRNO_PATTERN.test(s) ? s : Uint8Array.from(Buffer.from(s, "hex")),
    encode: (v) =>
      typeof v === "bigint"
        ? "0x" + v.toString(16)
        : typeof v === "string"
          ? v
          : Buffer.from(v).toString("hex"),
  },
);

/** Whether `value` has the representation register `id`'s size calls for (values.ts' rule). */
export function valueFitsId(id: RegId, value: RegValue): boolean {
  const size = regSizeBytes(id);
  if (typeof value === "bigint") return size <= 8 && value >> BigInt(size * 8) === 0n;
  return size > 8 && value.length === size;
}

/** [register id, value] or [register id, errno of KVM_GET_ONE_REG]. */
export const RegReadingJson = z
  .tuple([RegIdJson, RegValueOrErrnoJson])
  // Checked only once the id decoded (zod runs this refinement even after an element's own issue).
  .refine(([id, v]) => typeof id !== "bigint" || typeof v === "string" || valueFitsId(id, v), {
    message: "value does not fit the register's size (bigint up to 64 bits, bytes of exactly its size)",
  });
export type RegReading = z.output<typeof RegReadingJson>;

/** Version-independent header of every guestabi document, checked first for a clear message. */
export const DocumentHeader = z.object({ format: z.string(), version: z.unknown() });

export const ToolJson = z.strictObject({ name: z.literal("guestabi"), version: text(64) });

/** Exactly "linux" or "sim" for the real backends; test doubles name themselves. */
export const BackendName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/);

/** A caller-given CPU label (`--cpu-label cortex-a72`). */
export const CpuLabel = z.string().regex(CPU_LABEL_PATTERN, "a CPU label like cortex-a72");
