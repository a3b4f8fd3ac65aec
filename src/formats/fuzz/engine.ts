/**
 * The mutation engine of the reader fuzzers: a seeded PRNG, byte mutations (bit flips, inserts,
 * deletes, splices, truncation), text mutations, JSON-aware mutations (huge numbers, deep nesting,
 * long strings, prototype keys, duplicate keys, wrong types, array length edits) and the runner that
 * feeds mutants to a reader. A reader must return a valid document or throw its own typed error;
 * anything else is a crash. Input k of a target is a pure function of (seed, target name, k), so any
 * input can be made again from its index (`npm run fuzz -- --replay target:k`).
 *
 * Self-contained (no fast-check), no imports: every layer's fuzz targets use it.
 */
import { isDeepStrictEqual } from "node:util";

export type Rand = () => number;

/** mulberry32: small, fast, good enough to pick mutations. */
export function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, list: readonly T[]): T => list[int(r, list.length)]!;
export const randomBytes = (r: Rand, n: number): Uint8Array =>
  Uint8Array.from({ length: n }, () => int(r, 256));

/** FNV-1a of a string: mixes a target's name into its inputs' seeds. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The generator of input `index` of `target` for a run seed. */
export function inputRand(seed: number, target: string, index: number): Rand {
  const r = prng((Math.imul(seed, 0x9e3779b1) ^ fnv(target) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  r(); // decorrelate neighbouring indexes
  return r;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export interface Mutant<I> {
  input: I;
  mutation: string;
}

// ---- bytes ------------------------------------------------------------------------------------------

/** 1-3 of: bit flips, byte insert, byte delete, splice from `other`, truncation. */
export function mutateBytes(r: Rand, base: Uint8Array, other: Uint8Array): Mutant<Uint8Array> {
  let b: Uint8Array = Uint8Array.from(base);
  const names: string[] = [];
  for (let k = 0; k < 1 + int(r, 3); k++) {
    const kind = pick(r, ["flip", "insert", "delete", "splice", "truncate"] as const);
    names.push(kind);
    const at = int(r, b.length + 1);
    if (kind === "flip" && b.length > 0) {
      for (let i = 0; i < 1 + int(r, 4); i++) b[int(r, b.length)]! ^= 1 << int(r, 8);
    } else if (kind === "insert") {
      b = concat(b.subarray(0, at), randomBytes(r, 1 + int(r, 8)), b.subarray(at));
    } else if (kind === "delete") {
      b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(r, 16))));
    } else if (kind === "splice") {
      const from = int(r, other.length);
      const chunk = other.subarray(from, from + 1 + int(r, 64));
      b =
        r() < 0.5
          ? concat(b.subarray(0, at), chunk, b.subarray(at))
          : concat(b.subarray(0, at), chunk, b.subarray(at + chunk.length));
    } else if (kind === "truncate") {
      b = b.slice(0, at);
    }
  }
  return { input: b, mutation: names.join("+") };
}

/** A u32 field edited to a boundary value: 0, 1, ±1, doubled, all ones, the sign bit, random. */
export function editU32(r: Rand, old: number): number {
  return [0, 1, old - 1, old + 1, old * 2, 0xffffffff, 0x80000000, int(r, 2 ** 32)][int(r, 8)]! >>> 0;
}

// ---- text -------------------------------------------------------------------------------------------

/** Characters that upset JSON and name parsers alike. */
export const JSON_JUNK = [
  '"',
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  "0",
  "x",
  "f",
  "-",
  "1e999",
  "null",
  "\\",
  "\u00e9",
  "\ud800",
  " ",
  "\n",
  "\u0000",
];

/** 1-3 of: replace or insert a junk token, delete a run, splice from `other`, truncate, repeat a run. */
export function mutateText(r: Rand, base: string, other: string, junk: readonly string[]): Mutant<string> {
  let t = base;
  const names: string[] = [];
  for (let k = 0; k < 1 + int(r, 3); k++) {
    const kind = pick(r, ["replace", "insert", "delete", "splice", "truncate", "repeat"] as const);
    names.push(kind);
    const at = int(r, t.length + 1);
    if (kind === "replace") t = t.slice(0, at) + pick(r, junk) + t.slice(at + 1);
    else if (kind === "insert") t = t.slice(0, at) + pick(r, junk) + t.slice(at);
    else if (kind === "delete") t = t.slice(0, at) + t.slice(at + 1 + int(r, 24));
    else if (kind === "splice") {
      const from = int(r, other.length);
      t = t.slice(0, at) + other.slice(from, from + 1 + int(r, 80)) + t.slice(at);
    } else if (kind === "repeat") {
      const run = t.slice(at, at + 1 + int(r, 8));
      t = t.slice(0, at) + run.repeat(pick(r, [2, 16, 1000, 100_000])) + t.slice(at);
    } else t = t.slice(0, at);
  }
  return { input: t, mutation: names.join("+") };
}

// ---- JSON -------------------------------------------------------------------------------------------

/** JSON text written out verbatim by `stringify` (numbers JSON.stringify cannot write, deep nests). */
class Raw {
  constructor(readonly text: string) {}
}
/** Extra [key, value] members of an object, written after its own: duplicate keys. */
const DUPLICATES = Symbol("duplicates");
type Json =
  null | boolean | number | string | Raw | Json[] | { [k: string]: Json; [DUPLICATES]?: [string, Json][] };
type JsonObject = Exclude<Json, null | boolean | number | string | Raw | Json[]>;

const isObject = (v: Json): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Raw);

/** Sets an own property, "__proto__" included (plain assignment would set the prototype). */
function setOwn(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** JSON text of a mutated tree; iterative in its nesting depth only as deep as the tree (Raw nests are text). */
function stringify(v: Json): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(stringify).join(",")}]`;
  if (isObject(v)) {
    const members = [...Object.keys(v).map((k): [string, Json] => [k, v[k]!]), ...(v[DUPLICATES] ?? [])];
    return `{${members.map(([k, x]) => `${JSON.stringify(k)}:${stringify(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** Every container and leaf of a tree with the slot that holds it (the root has none). */
interface Slot {
  value: Json;
  parent?: JsonObject | Json[];
  key?: string | number;
}
function slots(root: Json): Slot[] {
  const out: Slot[] = [{ value: root }];
  for (let i = 0; i < out.length && out.length < 100_000; i++) {
    const v = out[i]!.value;
    if (Array.isArray(v)) v.forEach((x, k) => out.push({ value: x, parent: v, key: k }));
    else if (isObject(v)) for (const k of Object.keys(v)) out.push({ value: v[k]!, parent: v, key: k });
  }
  return out;
}
function put(s: Slot, value: Json): void {
  if (Array.isArray(s.parent)) s.parent[s.key as number] = value;
  else if (s.parent) setOwn(s.parent, s.key as string, value);
}

/** The most characters one JSON edit adds (deep nests and long strings stay below it too). */
const GROWTH_LIMIT = 8 * 1024 * 1024;

export const PROTOTYPE_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
];
const HUGE_NUMBERS = [
  "1e999",
  "-1e999",
  "1e308",
  "9007199254740993",
  "18446744073709551616",
  "123456789012345678901234567890123456789",
  "-0",
  "0.5",
  "-1",
  "4294967296",
  "5e-324",
];

/** A hex string edited: a digit flipped, lengthened, shortened, upper-cased, 2^64, garbage. */
function editHex(r: Rand, s: string): string {
  const digits = s.slice(2);
  const i = int(r, digits.length);
  return pick(r, [
    () => `0x${digits.slice(0, i)}${pick(r, [..."0123456789abcdefg"])}${digits.slice(i + 1)}`,
    () => `0x${digits}${pick(r, ["0", "f", "00000000"])}`,
    () => `0x${digits.slice(1)}`,
    () => s.toUpperCase(),
    () => "0x10000000000000000",
    () => "0x",
    () => digits,
    () => `0x${"f".repeat(pick(r, [16, 17, 64, 10_000]))}`,
  ])();
}

/**
 * One JSON-aware edit of the tree at a random slot, a fifth of them at a member of the root (the
 * header: "format", "version", where readers look first); returns its name.
 */
function editTree(r: Rand, all: Slot[], donor: Slot[]): string {
  const top = all.filter((x) => x.parent === all[0]!.value);
  const s = top.length > 0 && r() < 0.2 ? pick(r, top) : pick(r, all);
  const kind = pick(r, [
    "huge-number",
    "deep-nesting",
    "long-string",
    "proto-key",
    "proto-value",
    "duplicate-key",
    "wrong-type",
    "drop-key",
    "unknown-key",
    "donor-value",
    "number-edit",
    "hex-edit",
    "array-length",
  ] as const);
  const v = s.value;
  switch (kind) {
    case "huge-number":
      put(s, new Raw(pick(r, HUGE_NUMBERS)));
      break;
    case "deep-nesting": {
      const d = pick(r, [8, 64, 1000, 20_000, 200_000]);
      const [open, close] = r() < 0.5 ? ["[", "]"] : ['{"a":', "}"];
      put(s, new Raw(open.repeat(d) + "1" + close.repeat(d)));
      break;
    }
    case "long-string":
      put(
        s,
        (typeof v === "string" ? v : "x").repeat(pick(r, [2, 100, 10_000, 200_000])).slice(0, 1_000_000),
      );
      break;
    case "proto-key": {
      const objects = all.filter((x) => isObject(x.value));
      const o = objects.length > 0 ? pick(r, objects).value : null;
      // A copy of `v`: `o` may lie inside it.
      const value = pick(r, [{}, "x", 1, null, [], "copy"] as Json[]);
      if (o !== null && isObject(o)) setOwn(o, pick(r, PROTOTYPE_KEYS), value === "copy" ? copy(v) : value);
      break;
    }
    case "proto-value":
      put(s, pick(r, PROTOTYPE_KEYS));
      break;
    case "duplicate-key":
      if (isObject(v) && Object.keys(v).length > 0) {
        const k = pick(r, Object.keys(v));
        (v[DUPLICATES] ??= []).push([k, copy(pick(r, donor).value)]);
      }
      break;
    case "wrong-type":
      put(s, pick(r, [null, true, 0, "", [], {}, "x", [v], { v }] as Json[]));
      break;
    case "drop-key":
      if (isObject(s.parent ?? null)) Reflect.deleteProperty(s.parent as JsonObject, s.key as string);
      else if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      break;
    case "unknown-key":
      if (isObject(v))
        setOwn(v, pick(r, ["extra", "format", "version", "x".repeat(300)]), copy(pick(r, donor).value));
      break;
    case "donor-value":
      put(s, copy(pick(r, donor).value));
      break;
    case "number-edit":
      if (typeof v === "number")
        put(s, pick(r, [v + 1, v - 1, -v, 0, v * 2 ** 32, v / 3, 2 ** 31, 2 ** 53, -(2 ** 31)]));
      break;
    case "hex-edit":
      if (typeof v === "string" && /^0x[0-9a-f]*$/i.test(v)) put(s, editHex(r, v));
      else put(s, editHex(r, "0x6030000000130000"));
      break;
    case "array-length":
      if (Array.isArray(v) && v.length > 0) {
        // At most GROWTH_LIMIT characters of copies: a mutant big enough for the readers' size
        // limits, not one that exhausts this process.
        const each = Math.max(1, stringify(v[0]!).length);
        const n = Math.min(
          pick(r, [0, 1, v.length - 1, v.length + 1, 2 * v.length, 300, 10_000]),
          Math.max(v.length, Math.floor(GROWTH_LIMIT / each)),
        );
        put(
          s,
          Array.from({ length: n }, (_, i) => v[i % v.length]!),
        );
      }
      break;
  }
  return `json:${kind}`;
}

/**
 * 1-3 JSON-aware edits of `base` (valid JSON text) with values taken from `other`, written back as
 * text; a base that is not JSON gets text mutations.
 */
export function mutateJson(r: Rand, base: string, other: string): Mutant<string> {
  let tree: Json;
  try {
    tree = JSON.parse(base) as Json;
  } catch {
    return mutateText(r, base, other, JSON_JUNK);
  }
  const donor = donorSlots(other);
  // The slots of the unedited tree: a later edit may land in a part an earlier one replaced (harmless).
  const all = slots(tree);
  const names: string[] = [];
  for (let k = 0; k < 1 + int(r, 3); k++) names.push(editTree(r, all, donor));
  return { input: stringify(all[0]!.value), mutation: names.join("+") };
}

/** Donor values by seed text, parsed once (seeds are few and fixed; values are copied when used). */
const donors = new Map<string, Slot[]>();
function donorSlots(text: string): Slot[] {
  let d = donors.get(text);
  if (!d) {
    try {
      d = slots(JSON.parse(text) as Json);
    } catch {
      d = [{ value: text }];
    }
    donors.set(text, d);
  }
  return d;
}
/** A copy as text: parsing it back would turn a Raw deep nest into a tree too deep to write again. */
const copy = (v: Json): Json => new Raw(stringify(v));

/** Half JSON-aware edits, half text edits: the mix every JSON reader gets. */
export function mutateJsonText(r: Rand, base: string, other: string): Mutant<string> {
  return r() < 0.5 ? mutateJson(r, base, other) : mutateText(r, base, other, JSON_JUNK);
}

// ---- the runner ---------------------------------------------------------------------------------------

/** A reader under fuzz. */
export interface FuzzTarget<I extends string | Uint8Array = string | Uint8Array> {
  name: string;
  /** Valid documents made by the project itself. */
  seeds: readonly I[];
  mutate(r: Rand, base: I, other: I): Mutant<I>;
  /** Reads an input: returns the document or throws. */
  read(input: I): unknown;
  /** The rejection's key ("syntax", "schema", ...) when `e` is the reader's typed error, else undefined. */
  rejection(e: unknown): string | undefined;
  /** Throws when an accepted document is not a real one (e.g. does not survive a round trip). */
  verify?(doc: unknown): void;
}

export interface Finding {
  index: number;
  mutation: string;
  /** The input: text, or bytes as "base64:...". Long inputs are kept whole (they reproduce the crash). */
  input: string;
  error: string;
}

export interface TargetReport {
  target: string;
  runs: number;
  /** Mutants that still read as a valid document. */
  accepted: number;
  /** Typed rejections by key. */
  rejected: Record<string, number>;
  /** Anything else thrown, or an accepted document that is not real. */
  crashes: number;
  /** Typed errors whose message is more than one line (the CLI prints only the first). */
  multiLine: number;
  /** Inputs slower than the per-input budget. */
  hangs: number;
  /** The first `keep` findings of each kind, with their inputs. */
  found: { crashes: Finding[]; multiLine: Finding[]; hangs: Finding[] };
  ms: number;
  slowest: { index: number; ms: number; mutation: string };
}

export interface RunOptions {
  runs: number;
  seed: number;
  /** First input index (a worker resuming after a killed input). */
  start?: number;
  /** Per-input time budget, ms: slower inputs are reported as hangs. */
  budgetMs?: number;
  /** Written before each input: [0] = its index (a watchdog in another thread reads it). */
  progress?: Int32Array;
  /** Findings kept per kind (counts stay exact in `runs`; the rest are dropped). */
  keep?: number;
}

const showInput = (i: string | Uint8Array): string =>
  typeof i === "string" ? i : "base64:" + Buffer.from(i).toString("base64");

/** Input `index` of a target for a seed (what the runner feeds it). */
export function makeInput<I extends string | Uint8Array>(
  t: FuzzTarget<I>,
  seed: number,
  index: number,
): Mutant<I> {
  const r = inputRand(seed, t.name, index);
  return t.mutate(r, pick(r, t.seeds), pick(r, t.seeds));
}

/** A report of no inputs yet. */
export function emptyReport(target: string): TargetReport {
  return {
    target,
    runs: 0,
    accepted: 0,
    rejected: {},
    crashes: 0,
    multiLine: 0,
    hangs: 0,
    found: { crashes: [], multiLine: [], hangs: [] },
    ms: 0,
    slowest: { index: -1, ms: 0, mutation: "" },
  };
}

/** Feeds `runs` mutants to a target and tallies what its reader did. */
export function runTarget<I extends string | Uint8Array>(t: FuzzTarget<I>, o: RunOptions): TargetReport {
  const start = o.start ?? 0;
  const budget = o.budgetMs ?? 1000;
  const keep = o.keep ?? 20;
  const rep = emptyReport(t.name);
  const note = (kind: "crashes" | "multiLine" | "hangs", f: Finding) => {
    rep[kind]++;
    if (rep.found[kind].length < keep) rep.found[kind].push(f);
  };
  const started = performance.now();
  for (let index = start; index < start + o.runs; index++) {
    if (o.progress) Atomics.store(o.progress, 0, index);
    const m = makeInput(t, o.seed, index);
    const t0 = performance.now();
    // The reader's time only: the budget is about the reader, not the round trip that checks it.
    let ms = -1;
    let crash: unknown;
    try {
      const doc = t.read(m.input);
      ms = performance.now() - t0;
      try {
        t.verify?.(doc);
        rep.accepted++;
      } catch (e) {
        crash = new Error(`accepted, but not a real document: ${String((e as Error)?.stack ?? e)}`);
      }
    } catch (e) {
      const key = t.rejection(e);
      if (key === undefined) crash = e;
      else {
        rep.rejected[key] = (rep.rejected[key] ?? 0) + 1;
        const msg = (e as Error).message;
        if (msg.includes("\n"))
          note("multiLine", { index, mutation: m.mutation, input: showInput(m.input), error: msg });
      }
    }
    if (ms < 0) ms = performance.now() - t0;
    if (crash !== undefined)
      note("crashes", {
        index,
        mutation: m.mutation,
        input: showInput(m.input),
        error: String((crash as Error)?.stack ?? crash),
      });
    if (ms > rep.slowest.ms) rep.slowest = { index, ms, mutation: m.mutation };
    if (ms > budget)
      note("hangs", { index, mutation: m.mutation, input: showInput(m.input), error: `${ms.toFixed(0)} ms` });
    rep.runs++;
  }
  rep.ms = performance.now() - started;
  return rep;
}

/** Round-trip check for `verify`: `again(doc)` (write, then read back) must equal `doc`, -0 as 0. */
export function roundTrips(doc: unknown, again: (doc: unknown) => unknown): void {
  const back = again(doc);
  if (!isDeepStrictEqual(back, doc) && !isDeepStrictEqual(unsignZero(back), unsignZero(doc)))
    throw new Error("the document changes in a write-read round trip");
}

/** A copy with every -0 made 0 (JSON "-0" reads as -0, and no writer keeps the sign). */
function unsignZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(unsignZero);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [unsignZero(k), unsignZero(x)]));
  if (v instanceof Set) return new Set([...v].map(unsignZero));
  if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unsignZero(x)]));
  return v;
}
