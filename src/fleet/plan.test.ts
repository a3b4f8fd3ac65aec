import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exampleFleet, defaultRollbacks, formatPlan, plan, planToJson } from "./plan.js";
import type { PlanReport } from "./plan.js";

let cached: PlanReport | undefined;
async function examplePlan(): Promise<PlanReport> {
  cached ??= plan(await exampleFleet());
  return cached;
}

describe("plan on the built-in example fleet", () => {
  it("rolls each 7.2 group back to every older kernel of the fleet", async () => {
    const f = await exampleFleet();
    assert.deepEqual(
      defaultRollbacks(f).map((r) => `${r.group}->${r.to}`),
      ["edge-a72->6.12", "edge-a72->6.1", "edge-a72->5.10", "edge-n1->6.12", "edge-n1->6.1", "edge-n1->5.10"],
    );
  });

  it("runs in a few seconds on the simulator, probing each (kernel, CPU) once", async () => {
    const r = await examplePlan();
    assert.equal(r.probed, 8);
    assert.ok(r.durationMs < 15_000, `${r.durationMs} ms`);
  });

  it("finds the fleet-wide baselines unhonourable because of 5.10, and says why", async () => {
    const r = await examplePlan();
    assert.deepEqual(
      r.baselines.map((b) => `${b.cpu} ${b.config} ${b.kernels.join(",")}`),
      [
        "cortex-a72 psci-0.2 5.10,6.1,6.12,7.2",
        "neoverse-n1 psci-0.2 5.10,6.1,6.12,7.2",
        "neoverse-n1 psci-0.2+pmu 5.10,6.1,6.12,7.2",
      ],
    );
    for (const b of r.baselines) assert.ok(b.unhonourable.length > 0);
    assert.ok(r.baselines[0]!.unhonourable.some((v) => v.host === "5.10" && v.register === "ID_DFR0_EL1"));
  });

  it("7.2 -> 6.12: every VM breaks with host defaults, none pinned to the baseline of 7.2 and 6.12", async () => {
    const r = await examplePlan();
    for (const x of r.rollbacks.filter((x) => x.to === "6.12")) {
      assert.equal(x.hostDefaults.counts.breaks, x.hostDefaults.counts.vms, x.group);
      assert.equal(x.pinned.counts.breaks + x.pinned.counts.cannotStart, 0, x.group);
      assert.equal(x.pinned.counts.safe, x.pinned.counts.vms, x.group); // not even the guest view changes
      for (const b of x.pinnedTo) assert.deepEqual(b.unhonourable, []);
    }
    assert.equal(
      r.rollbacks.find((x) => x.group === "edge-n1" && x.to === "6.12")!.hostDefaults.counts.vms,
      114,
    );
  });

  it("7.2 -> 5.10: no ABI suits both kernels; 7.2 -> 6.1: pinned VMs move, on 6.1's cache geometry", async () => {
    const r = await examplePlan();
    for (const x of r.rollbacks.filter((x) => x.to === "6.1" || x.to === "5.10"))
      assert.equal(x.hostDefaults.counts.breaks, x.hostDefaults.counts.vms);
    for (const x of r.rollbacks.filter((x) => x.to === "5.10")) {
      assert.equal(x.pinned.counts.cannotStart, x.pinned.counts.vms);
      assert.ok(x.pinnedTo.every((b) => b.unhonourable.length > 0));
    }
    // 6.1's cache geometry is the host's and invariant (demux_c15_set); 7.2 takes it (set_clidr,
    // set_ccsidr), so the 6.1 + 7.2 baseline carries it and nothing is unhonourable. The guest view
    // still changes (the GIC fields of the probe VM without a vGIC, and on Neoverse-N1 the CTR_EL0 that
    // 6.1's guest reads from the CPU; the SMC answers are apart), but nothing breaks.
    for (const x of r.rollbacks.filter((x) => x.to === "6.1")) {
      assert.equal(x.pinned.counts.breaks + x.pinned.counts.cannotStart, 0, x.group);
      for (const b of x.pinnedTo) assert.deepEqual(b.unhonourable, []);
    }
  });

  it("prints short aligned sections, and JSON", async () => {
    const r = await examplePlan();
    const text = formatPlan(r);
    for (const h of ["BASELINES", "WHAT EACH GROUP GIVES UP", "ROLLBACK IMPACT"])
      assert.match(text, new RegExp(`^${h} `, "m"));
    assert.match(
      text,
      /^ {2}roll edge-n1 back to 6\.12: 114 of 114 VMs break with host defaults, 0 pinned to the baseline of 7\.2 and 6\.12$/m,
    );
    assert.ok(text.split("\n").every((l) => l.length <= 200));
    const j = planToJson(r) as { format: string; baselines: { template: { format: string } }[] };
    assert.equal(j.format, "guestabi-plan");
    assert.equal(j.baselines[0]!.template.format, "guestabi-abi-template");
  });
});
