/**
 * Every reader fuzzed at a small count (about 5,000 inputs in all; `npm run fuzz` runs ≥ 1 M): each
 * input ends in a valid document or the reader's typed error, of one line; so does every input of
 * FOUND_CRASHES.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeInput, runTarget } from "../formats/fuzz/engine.js";
import type { FuzzTarget } from "../formats/fuzz/engine.js";
import { FOUND_CRASHES } from "./found-crashes.js";
import { allTargets, makeSeeds } from "./targets.js";

const targets = new Map(allTargets(makeSeeds()).map((t) => [t.name, t]));
const target = (name: string): FuzzTarget => targets.get(name)!;

/** Inputs per target in the test suite, and the rejections each run must include. */
const RUNS: [string, number, string[]][] = [
  ["profile", 60, ["syntax", "schema"]],
  ["template", 250, ["syntax", "schema", "magic"]],
  ["restore-trial", 80, ["syntax", "schema"]],
  ["snapshot-binary", 1000, ["binary:checksum", "binary:section", "binary:truncated"]],
  ["snapshot-json", 200, ["json:syntax", "json:schema"]],
  ["fleet", 250, ["syntax", "schema", "version"]],
  ["api-body", 300, ["syntax", "schema", "size", "unknown-key", "abi"]],
  ["stored-profile-head", 80, ["syntax", "schema"]],
  ["reg-name", 1500, ["reg"]],
  ["reg-id", 1500, ["reg"]],
  ["firecracker-import", 200, ["syntax", "schema", "value", "not-a-dump"]],
  ["qemu-stream", 200, ["vmdesc", "device", "ram", "truncated"]],
  ["firecracker-snapshot", 200, ["firecracker:checksum", "firecracker:limit", "firecracker:truncated"]],
  ["cloud-hypervisor-state", 200, ["cloud-hypervisor:syntax", "cloud-hypervisor:schema"]],
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
    it(`${name}: ${runs} mutants, each a valid document or the reader's typed error`, () => {
      const rep = runTarget(target(name), { runs, seed: 14, keep: runs });
      assert.deepEqual(
        rep.found.crashes.map((f) => `${f.index} ${f.mutation}: ${f.error}`),
        [],
      );
      // A rejection is one line: the CLI prints errors as one line on stderr.
      assert.deepEqual(
        rep.found.multiLine.map((f) => `${f.index} ${f.mutation}: ${f.error}`),
        [],
      );
      assert.equal(rep.accepted + Object.values(rep.rejected).reduce((a, b) => a + b, 0) + rep.crashes, runs);
      assert.ok(rep.accepted > 0, `nothing accepted: ${JSON.stringify(rep.rejected)}`);
      for (const k of kinds)
        assert.ok((rep.rejected[k] ?? 0) > 0, `no ${k} rejections: ${JSON.stringify(rep.rejected)}`);
    });
});

describe("FOUND_CRASHES: inputs that once crashed a reader end in its typed error", () => {
  for (const c of FOUND_CRASHES)
    it(`${c.target}: ${c.what}`, () => {
      const t = target(c.target);
      assert.throws(
        () => t.read(c.input),
        (e) => t.rejection(e) !== undefined,
      );
    });
});
