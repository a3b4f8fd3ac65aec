import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runTarget } from "../formats/fuzz/engine.js";
import type { FuzzTarget, TargetReport } from "../formats/fuzz/engine.js";
import { readCloudHypervisorState } from "./cloud-hypervisor.js";
import { readFirecrackerSnapshot } from "./firecracker-snapshot.js";
import {
  cloudHypervisorSeeds,
  cloudHypervisorStateTarget,
  firecrackerSeeds,
  firecrackerSnapshotTarget,
} from "./vmm-readers-fuzz.js";

/** No crash, no multi-line error; some mutants accepted, every other one a typed rejection (no timing: no hang check). */
function assertClean(rep: TargetReport, runs: number): void {
  const first = rep.found.crashes[0] ?? rep.found.multiLine[0];
  assert.equal(rep.crashes + rep.multiLine, 0, first && `${first.mutation}: ${first.error}`);
  assert.equal(rep.runs, runs);
  assert.equal(rep.accepted + Object.values(rep.rejected).reduce((a, b) => a + b, 0), runs);
  assert.ok(rep.accepted > 0, "no mutant was accepted: the mutations never reach a valid file");
}

describe("the VMM snapshot readers under fuzz", () => {
  it("seeds: every release's Firecracker file and every era's state.json read", () => {
    const fcSeeds = firecrackerSeeds();
    assert.equal(fcSeeds.length, 8);
    assert.deepEqual(
      fcSeeds.map((s) => readFirecrackerSnapshot(s).snapshot.vcpus.length),
      [2, 2, 2, 2, 2, 2, 2, 2],
    );
    const chSeeds = cloudHypervisorSeeds();
    assert.deepEqual(
      chSeeds.map((s) => readCloudHypervisorState(s).format),
      [
        "Cloud Hypervisor state.json (Cloud Hypervisor v29-v38)",
        "Cloud Hypervisor state.json (Cloud Hypervisor v39-v52)",
        "Cloud Hypervisor state.json (Cloud Hypervisor v53 and later)",
      ],
    );
  });

  for (const [target, rejected] of [
    [firecrackerSnapshotTarget(), "firecracker:checksum"],
    [cloudHypervisorStateTarget(), "cloud-hypervisor:syntax"],
  ] as [FuzzTarget, string][])
    it(`${target.name}: 600 mutants give a snapshot or a typed one-line error`, () => {
      const rep = runTarget(target, { runs: 600, seed: 7 });
      assertClean(rep, 600);
      assert.ok((rep.rejected[rejected] ?? 0) > 0, `no ${rejected} rejection`);
    });
});
