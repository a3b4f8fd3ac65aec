import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeInput } from "../formats/fuzz/engine.js";
import { qemuStreamTarget, runQemuStreamFuzz } from "./qemu-stream-fuzz.js";
import { qemuFuzzSeeds } from "./testing/qemu-fixtures.js";

const seeds = qemuFuzzSeeds();

describe("QEMU stream fuzz target", () => {
  it("reads every seed as a snapshot (vCPUs: 2, 1, 2, 1)", () => {
    const t = qemuStreamTarget(seeds);
    assert.deepEqual(
      seeds.map((s) => (t.read(s) as { vcpus: unknown[] }).vcpus.length),
      [2, 1, 2, 1],
    );
  });

  it("makes the same mutant of an index every time", () => {
    const t = qemuStreamTarget(seeds);
    assert.deepEqual(makeInput(t, 7, 42), makeInput(t, 7, 42));
  });

  it("400 mutants: every one a snapshot or a one-line QemuStreamError, none slow", () => {
    const rep = runQemuStreamFuzz(seeds, 400, 3);
    assert.deepEqual(rep.found.crashes, []);
    assert.deepEqual(rep.found.multiLine, []);
    assert.deepEqual(rep.found.hangs, []);
    assert.equal(rep.runs, 400);
    assert.ok(rep.accepted > 0, "some mutants still read");
    // Mutants reach the JSON description, the device sections and the RAM records.
    for (const code of ["vmdesc", "device", "truncated"]) assert.ok((rep.rejected[code] ?? 0) > 0, code);
  });
});
