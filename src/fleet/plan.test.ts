import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fleetFileModel } from "./analysis.js";
import type { FleetModel } from "./model.js";
import {
  baselineFile,
  defaultRollbacks,
  exampleFleet,
  formatPlan,
  planOf,
  planTemplates,
  planToJson,
} from "./plan.js";
import type { PlanReport } from "./plan.js";

let model: FleetModel;
let r: PlanReport;
before(async () => {
  model = fleetFileModel(await exampleFleet());
  r = planOf(model, { clock: () => 0 });
});

describe("plan on the built-in example fleet", () => {
  it("rolls each 7.2 group back to every older kernel of the fleet", () => {
    assert.deepEqual(
      defaultRollbacks(model).map((x) => `${x.group}->${x.to}`),
      ["edge-a72->6.12", "edge-a72->6.1", "edge-a72->5.10", "edge-n1->6.12", "edge-n1->6.1", "edge-n1->5.10"],
    );
  });

  it("answers from the fleet's eight profiles: no what-if host", () => {
    assert.deepEqual(
      [r.fleet.profiles, r.fleet.simulated, r.whatIf, r.fleet.vms, r.fleet.entries],
      [8, true, 0, 654, 11],
    );
  });

  it("finds the fleet-wide baselines unhonourable because of 5.10, and says why", () => {
    assert.deepEqual(
      r.baselines.map((b) => `${b.cpu} ${b.config} ${b.kernels.join(",")} ${baselineFile(b, false)}`),
      [
        "cortex-a72 psci-0.2 5.10,6.1,6.12,7.2 cortex-a72-psci-0.2.abi.json",
        "neoverse-n1 psci-0.2 5.10,6.1,6.12,7.2 neoverse-n1-psci-0.2.abi.json",
        "neoverse-n1 psci-0.2+pmu 5.10,6.1,6.12,7.2 neoverse-n1-psci-0.2+pmu.abi.json",
      ],
    );
    for (const b of r.baselines) assert.ok(b.unhonourable.length > 0);
    assert.ok(r.baselines[0]!.unhonourable.some((v) => v.host === "5.10" && v.register === "ID_DFR0_EL1"));
  });

  it("says in words what a group gives up pinned to its domain's baseline", () => {
    const edge = r.giveUps.find((g) => g.group === "edge-n1")!;
    assert.deepEqual([edge.kernels, edge.cpu, edge.hosts], [["7.2"], "neoverse-n1", 30]);
    assert.deepEqual(edge.byFeatures[0]!.effects.map((e) => e.text).slice(0, 2), [
      "the guest loses TRNG 1.0 (Arm firmware random numbers)",
      "the guest loses KVM_FEATURES and CALL_UID (KVM vendor hypercalls)",
    ]);
  });

  it("7.2 -> 6.12: every VM breaks as described and with host defaults, none pinned to the baseline of 7.2 and 6.12", () => {
    for (const x of r.rollbacks.filter((y) => y.to === "6.12")) {
      assert.equal(x.asDescribed.counts.breaks, x.asDescribed.counts.vms, x.group);
      assert.equal(x.hostDefaults.counts.breaks, x.hostDefaults.counts.vms, x.group);
      assert.equal(x.pinned.counts.safe, x.pinned.counts.vms, x.group);
      for (const b of x.pinnedTo) assert.deepEqual(b.unhonourable, []);
    }
    const n1 = r.rollbacks.find((x) => x.group === "edge-n1" && x.to === "6.12")!;
    assert.equal(n1.hostDefaults.counts.vms, 114);
    assert.equal(
      n1.recommendation,
      "roll edge-n1 back to 6.12: 114 of 114 VMs break with host defaults, 0 pinned to the baseline of 7.2 and 6.12: before the upgrade, pin edge-n1's VMs to neoverse-n1-psci-0.2-6.12+7.2.abi.json, neoverse-n1-psci-0.2+pmu-6.12+7.2.abi.json; the guests give up: sees PSCI 1.1 instead of 1.3",
    );
  });

  it("7.2 -> 6.1: pinned VMs move; on Neoverse-N1 their guests still read 6.1's CTR_EL0, which no register pins", () => {
    const n1 = r.rollbacks.find((x) => x.group === "edge-n1" && x.to === "6.1")!;
    assert.deepEqual(n1.pinned.counts, {
      vms: 114,
      breaks: 0,
      guestViewChanges: 114,
      safe: 0,
      cannotStart: 0,
    });
    assert.deepEqual(
      n1.pinned.entries[0]!.effects.map((e) => e.text),
      ["the guest sees CTR_EL0 0x8444c004 instead of 0x9444c004"],
    );
    const a72 = r.rollbacks.find((x) => x.group === "edge-a72" && x.to === "6.1")!;
    assert.equal(a72.pinned.counts.safe, 30);
  });

  it("7.2 -> 5.10: no ABI suits both kernels, and the recommendation says so", () => {
    for (const x of r.rollbacks.filter((y) => y.to === "5.10")) {
      assert.equal(x.pinned.counts.cannotStart, x.pinned.counts.vms);
      assert.match(
        x.recommendation,
        /; pinning cannot help, no ABI suits both kernels \(5\.10 ID_DFR0_EL1\.PerfMon, /,
      );
    }
  });

  it("prints short aligned sections, and JSON with each template's file", () => {
    const text = formatPlan(r);
    for (const h of ["BASELINES", "WHAT EACH GROUP GIVES UP", "ROLLBACK IMPACT", "RECOMMENDATIONS"])
      assert.match(text, new RegExp(`^${h}`, "m"));
    assert.match(
      text,
      /^guestabi plan: fleet example: 8 host groups, 280 hosts, 654 VMs \(11 entries\); 8 host profiles \(simulator\), 0 what-if, 0\.0 s$/m,
    );
    assert.match(
      text,
      /^ {2}edge-n1 7\.2 -> 6\.1 +114 +114 break, 0 see a change, 0 safe +114 break, 0 see a change, 0 safe +0 break, 114 see a change, 0 safe$/m,
    );
    const j = planToJson(r) as {
      format: string;
      version: number;
      baselines: { file: string; template: { format: string } }[];
    };
    assert.deepEqual([j.format, j.version], ["guestabi-plan", 2]);
    assert.equal(j.baselines[0]!.file, "cortex-a72-psci-0.2.abi.json");
    assert.equal(j.baselines[0]!.template.format, "guestabi-abi-template");
  });

  it("names a template's file with what is safe in a file name, whatever a profile's CPU label or release holds", () => {
    const b = { ...r.baselines[0]!, cpu: "../Vendor CPU/x", kernels: ["6.1.0-31-arm64", "7.2~rc1"] };
    assert.equal(baselineFile(b, false), "Vendor-CPU-x-psci-0.2.abi.json");
    assert.equal(baselineFile(b, true), "Vendor-CPU-x-psci-0.2-6.1.0-31-arm64+7.2-rc1.abi.json");
  });

  it("its templates: the three domain baselines and each rollback's pair baselines, once each", () => {
    assert.deepEqual(
      planTemplates(r).map((t) => t.file),
      [
        "cortex-a72-psci-0.2.abi.json",
        "neoverse-n1-psci-0.2.abi.json",
        "neoverse-n1-psci-0.2+pmu.abi.json",
        "cortex-a72-psci-0.2-6.12+7.2.abi.json",
        "cortex-a72-psci-0.2-6.1+7.2.abi.json",
        "cortex-a72-psci-0.2-5.10+7.2.abi.json",
        "neoverse-n1-psci-0.2-6.12+7.2.abi.json",
        "neoverse-n1-psci-0.2+pmu-6.12+7.2.abi.json",
        "neoverse-n1-psci-0.2-6.1+7.2.abi.json",
        "neoverse-n1-psci-0.2+pmu-6.1+7.2.abi.json",
        "neoverse-n1-psci-0.2-5.10+7.2.abi.json",
        "neoverse-n1-psci-0.2+pmu-5.10+7.2.abi.json",
      ],
    );
  });
});
