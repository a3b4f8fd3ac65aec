/**
 * Every reader fuzzed at a small count (about 5,000 inputs in all; `npm run fuzz` runs ≥ 1 M): each
 * input ends in a valid document or the reader's typed error. Crashes listed in CRASHES_TO_FIX are set
 * aside (and reported) until their reader is fixed; any other crash fails.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeInput, runTarget } from "../formats/fuzz/engine.js";
import type { FuzzTarget } from "../formats/fuzz/engine.js";
import { CRASHES_TO_FIX, knownCrash } from "./crashes-to-fix.js";
import { allTargets, makeSeeds } from "./targets.js";

const targets = new Map(allTargets(makeSeeds()).map((t) => [t.name, t]));
const target = (name: string): FuzzTarget => targets.get(name)!;

/** Inputs per target in the test suite, and the rejections each run must include. */
const RUNS: [string, number, string[]][] = [
  ["profile", 30, ["syntax", "schema"]],
  ["template", 250, ["syntax", "schema", "magic"]],
  ["restore-trial", 80, ["syntax", "schema"]],
  ["snapshot-binary", 1000, ["binary:checksum", "binary:section", "binary:truncated"]],
  ["snapshot-json", 200, ["json:syntax", "json:schema"]],
  ["fleet", 250, ["syntax", "schema", "version"]],
  ["reg-name", 1500, ["reg"]],
  ["reg-id", 1500, ["reg"]],
];

describe("reader fuzzing", () => {
  it("has a target for every reader, each seed a valid document", () => {
    assert.deepEqual([...targets.keys()].sort(), RUNS.map(([n]) => n).sort());
    for (const t of targets.values())
      for (const s of t.seeds) {
        const doc = t.read(s);
        t.verify?.(doc);
      }
  });

  it("makes the same input again from (seed, target, index)", () => {
    for (const t of targets.values()) {
      const a = makeInput(t, 5, 123);
      const b = makeInput(t, 5, 123);
      assert.deepEqual(a, b);
      assert.notDeepEqual(makeInput(t, 5, 124).input, a.input);
    }
  });

  for (const [name, runs, kinds] of RUNS)
    it(`${name}: ${runs} mutants, each a valid document or the reader's typed error`, (t) => {
      const rep = runTarget(target(name), { runs, seed: 14, keep: runs });
      const unknown = rep.found.crashes.filter((f) => {
        const known = knownCrash(name, f.error);
        if (known) t.diagnostic(`known crash (CRASHES_TO_FIX): input ${f.index}: ${known.what}`);
        return !known;
      });
      assert.deepEqual(
        unknown.map((f) => `${f.index} ${f.mutation}: ${f.error}`),
        [],
      );
      assert.equal(rep.accepted + Object.values(rep.rejected).reduce((a, b) => a + b, 0) + rep.crashes, runs);
      assert.ok(rep.accepted > 0, `nothing accepted: ${JSON.stringify(rep.rejected)}`);
      for (const k of kinds)
        assert.ok((rep.rejected[k] ?? 0) > 0, `no ${k} rejections: ${JSON.stringify(rep.rejected)}`);
    });
});

describe("CRASHES_TO_FIX: crashes the fuzzers found, each waiting for its reader's fix", () => {
  for (const c of CRASHES_TO_FIX)
    it(`${c.target}: ${c.what}`, { todo: c.fixed ? false : "reader not fixed yet" }, () => {
      const t = target(c.target);
      try {
        t.read(c.input);
      } catch (e) {
        assert.notEqual(t.rejection(e), undefined, String((e as Error)?.stack ?? e));
      }
    });
});
