/**
 * FOUND_CRASHES: inputs with which the fuzzers once crashed a reader (an exception other than its typed
 * error), kept as regression cases: fuzz.test.ts requires each to end in the reader's typed error.
 */

/** A depth at which JSON.stringify / Array.prototype.join of a parsed value overflows the stack. */
const DEPTH = 10_000;
const nested = "[".repeat(DEPTH) + "]".repeat(DEPTH);

export interface CrashCase {
  /** A fuzz target of targets.ts. */
  target: string;
  /** What crashed, where (each was a stack overflow: the reader echoed the nest in its error). */
  what: string;
  /** The input (small to write down, same crash as the fuzzer's). */
  input: string;
}

export const FOUND_CRASHES: readonly CrashCase[] = [
  {
    target: "template",
    what: 'templateFromJson (src/formats/template.ts:252): JSON.stringify(d.format) of a deeply nested "format" in the magic error',
    input: `{"format":${nested}}`,
  },
  {
    target: "template",
    what: 'templateFromJson (src/formats/template.ts:256): String(d.version?.minor) of a deeply nested "minor" in the version error',
    input: `{"format":"guestabi-abi-template","version":{"major":2,"minor":${nested}}}`,
  },
  {
    target: "fleet",
    what: 'parseFleet (src/fleet/fleet.ts:136): JSON.stringify(d.version) of a deeply nested "version"',
    input: `{"format":"guestabi-fleet","version":${nested}}`,
  },
  {
    target: "profile",
    what: 'parseDocument (src/formats/profile.ts:351, readProfile): JSON.stringify(header.data.version) of a deeply nested "version"',
    input: `{"format":"guestabi-host-profile","version":${nested}}`,
  },
  {
    target: "restore-trial",
    what: 'parseDocument (src/formats/profile.ts:351, readRestoreTrial): the same, "version" of a restore trial',
    input: `{"format":"guestabi-restore-trial","version":${nested}}`,
  },
  {
    target: "snapshot-json",
    what: 'snapshotFromJson (src/formats/snapshot.ts:490): JSON.stringify of a deeply nested "format" in the magic error',
    input: `{"format":${nested}}`,
  },
  {
    target: "api-body",
    what: "profileOf (src/serve/api.ts, POST /hosts and POST /profiles): JSON.stringify of a body's profile with a deep nest (a 500)",
    input: `{"route":"POST /hosts","body":{"group":"g","profile":{"format":"guestabi-host-profile","x":${nested}},"hosts":["h"]}}`,
  },
];
