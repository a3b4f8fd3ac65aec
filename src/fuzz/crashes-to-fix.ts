/**
 * CRASHES_TO_FIX: inputs the fuzzers found that crash a reader (an exception other than its typed
 * error). Each stays here as a regression case; fuzz.test.ts runs it as a `todo` test until the reader
 * is fixed and `fixed` is set to true, and until then the in-suite fuzz run sets aside crashes of that
 * target matching `signature` (reporting them) instead of failing. `npm run fuzz` counts them all.
 */

/** A depth at which JSON.stringify / Array.prototype.join of a parsed value overflows the stack. */
const DEPTH = 10_000;
const nested = "[".repeat(DEPTH) + "]".repeat(DEPTH);

export interface CrashCase {
  /** A fuzz target of targets.ts. */
  target: string;
  /** What crashes, where. */
  what: string;
  /** The input (small to write down, same crash as the fuzzer's). */
  input: string;
  /** The crash as the fuzzer sees it (error text). */
  signature: RegExp;
  fixed: boolean;
}

const STACK_OVERFLOW = /RangeError: Maximum call stack size exceeded/;

export const CRASHES_TO_FIX: readonly CrashCase[] = [
  {
    target: "template",
    what: 'templateFromJson (src/formats/template.ts:252): JSON.stringify(d.format) of a deeply nested "format" in the magic error',
    input: `{"format":${nested}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
  {
    target: "template",
    what: 'templateFromJson (src/formats/template.ts:256): String(d.version?.minor) of a deeply nested "minor" in the version error',
    input: `{"format":"guestabi-abi-template","version":{"major":2,"minor":${nested}}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
  {
    target: "fleet",
    what: 'parseFleet (src/fleet/fleet.ts:136): JSON.stringify(d.version) of a deeply nested "version"',
    input: `{"format":"guestabi-fleet","version":${nested}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
  {
    target: "profile",
    what: 'parseDocument (src/formats/profile.ts:351, readProfile): JSON.stringify(header.data.version) of a deeply nested "version"',
    input: `{"format":"guestabi-host-profile","version":${nested}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
  {
    target: "restore-trial",
    what: 'parseDocument (src/formats/profile.ts:351, readRestoreTrial): the same, "version" of a restore trial',
    input: `{"format":"guestabi-restore-trial","version":${nested}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
  {
    target: "snapshot-json",
    what: 'snapshotFromJson (src/formats/snapshot.ts:490): JSON.stringify of a deeply nested "format" in the magic error',
    input: `{"format":${nested}}`,
    signature: STACK_OVERFLOW,
    fixed: false,
  },
];

/** Whether a crash of `target` is a known one still waiting for its fix. */
export function knownCrash(target: string, error: string): CrashCase | undefined {
  return CRASHES_TO_FIX.find((c) => !c.fixed && c.target === target && c.signature.test(error));
}
