import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { fleetFileModel } from "./analysis.js";
import { loadFleet } from "./fleet.js";
import type { FleetModel } from "./model.js";
import { exampleFleet } from "./plan.js";
import { ROLLOUT_ASSUMPTIONS, ROLLOUT_POLICIES, formatRollout, rolloutOf, rolloutToJson } from "./rollout.js";
import type { RolloutReport, RolloutStep } from "./rollout.js";

/** A step's counts as "breaks/changes/split" per policy, in ROLLOUT_POLICIES order. */
const counts = (s: RolloutStep) =>
  ROLLOUT_POLICIES.map((p) => `${s.byPolicy[p].breaks}/${s.byPolicy[p].changes}/${s.byPolicy[p].split}`);

describe("rollout of the example fleet to 7.2 in 5 waves", () => {
  let r: RolloutReport;
  before(async () => {
    r = rolloutOf(fleetFileModel(await exampleFleet()), { to: "7.2", waves: 5 });
  });

  it("splits the 240 hosts not on 7.2 evenly in the fleet's order, their VMs with them", () => {
    assert.deepEqual(r.onTarget, { hosts: 40, vms: 144 });
    assert.deepEqual(
      r.waves.map((w) => [w.hosts, w.vms]),
      [
        [48, 104],
        [48, 112],
        [48, 56],
        [48, 124],
        [48, 114],
      ],
    );
    assert.deepEqual(
      r.targets.map((t) => `${t.hosts} ${t.cpu} ${t.from}->${t.to} ${t.simulated}`),
      [
        "24 cortex-a72 5.10->7.2 false",
        "16 neoverse-n1 5.10->7.2 false",
        "40 cortex-a72 6.1->7.2 false",
        "60 neoverse-n1 6.1->7.2 false",
        "20 cortex-a72 6.12->7.2 false",
        "80 neoverse-n1 6.12->7.2 false",
      ],
    );
  });

  it("each step under each policy: breaks / changes / split", () => {
    assert.deepEqual(ROLLOUT_POLICIES, [
      "as-described",
      "host-defaults",
      "qemu-compat",
      "pair-baseline",
      "fleet-baseline",
    ]);
    assert.deepEqual(
      r.steps.map((s) => [`${s.kind} ${s.wave}`, s.hosts, s.vms, ...counts(s)]),
      [
        // 5.10's VMs cannot move up (the first wave); every other VM moves and then sees 7.2's defaults.
        ["upgrade 1", 48, 104, "80/24/104", "80/24/104", "80/24/104", "80/0/80", "104/0/510"],
        ["upgrade 2", 48, 112, "0/112/216", "0/112/216", "0/112/216", "0/16/80", "112/0/510"],
        ["upgrade 3", 48, 56, "0/56/272", "0/56/272", "0/56/272", "0/44/80", "56/0/510"],
        ["upgrade 4", 48, 124, "0/124/396", "0/124/396", "0/124/396", "0/0/80", "124/0/510"],
        ["upgrade 5", 48, 114, "0/114/0", "0/114/0", "0/114/0", "0/0/0", "114/0/0"],
        // Pinned per pair, only 5.10's VMs (no ABI suits 5.10 and 7.2) break going back.
        ["rollback 1", 48, 104, "104/0/0", "104/0/0", "104/0/0", "80/0/0", "104/0/0"],
        ["rollback 2", 96, 216, "216/0/0", "216/0/0", "216/0/0", "80/16/0", "216/0/0"],
        ["rollback 3", 144, 272, "272/0/0", "272/0/0", "272/0/0", "80/60/0", "272/0/0"],
        ["rollback 4", 192, 396, "396/0/0", "396/0/0", "396/0/0", "80/60/0", "396/0/0"],
        ["rollback 5", 240, 510, "510/0/0", "510/0/0", "510/0/0", "80/60/0", "510/0/0"],
      ],
    );
  });

  it("recommends the pair baselines, naming the templates to apply before the upgrade", () => {
    assert.equal(r.recommendation.policy, "pair-baseline");
    assert.deepEqual(r.totals["pair-baseline"], { breaks: 160, changes: 120 });
    assert.deepEqual(r.totals["as-described"], { breaks: 590, changes: 430 });
    assert.match(
      r.recommendation.text,
      /^pinned per CPU model and kernel pair .*: 160 VM moves break and 120 see a change over the upgrade and a full rollback \(as described: 590 break, 430 see a change\); before the upgrade pin the VMs to 8 templates: cortex-a72-psci-0\.2-5\.10\+7\.2\.abi\.json, /,
    );
    // The fleet baseline spans 5.10 too: unhonourable, so every VM breaks under it.
    const fleet = r.policies.find((p) => p.policy === "fleet-baseline")!;
    assert.deepEqual(
      fleet.templates.map((t) => [t.file, t.kernels.join(" ")]),
      [
        ["cortex-a72-psci-0.2.abi.json", "5.10 6.1 6.12 7.2"],
        ["neoverse-n1-psci-0.2.abi.json", "5.10 6.1 6.12 7.2"],
        ["neoverse-n1-psci-0.2+pmu.abi.json", "5.10 6.1 6.12 7.2"],
      ],
    );
    for (const t of fleet.templates) assert.ok(t.unhonourable > 0);
  });

  it("prints the steps by policy, the assumptions and the recommendation; JSON", () => {
    const text = formatRollout(r);
    assert.match(
      text,
      /^guestabi rollout: fleet example to 7\.2: 240 hosts in 5 waves \(40 hosts already on 7\.2, 144 VMs there stay\)\n/,
    );
    assert.match(text, /^ {2}upgrade wave 1 +48 +104 +80 break, 24 change, 104 split +/m);
    assert.match(text, /^ {2}roll back waves 1-5 +240 +510 +510 break, 0 change +/m);
    for (const a of ROLLOUT_ASSUMPTIONS) assert.ok(text.includes(`\n  ${a}\n`), a);
    const j = rolloutToJson(r) as { format: string; steps: unknown[] };
    assert.equal(j.format, "guestabi-rollout");
    assert.equal(j.steps.length, 10);
  });
});

describe("rollout: QEMU compat options", () => {
  let model: FleetModel;
  before(async () => {
    model = fleetFileModel(
      await loadFleet(
        {
          format: "guestabi-fleet",
          version: 1,
          name: "q",
          groups: [
            { name: "lts", kernel: "6.12", cpu: "cortex-a72", hosts: 6 },
            { name: "edge", kernel: "7.2", cpu: "cortex-a72", hosts: 2 },
          ],
          vms: [
            { name: "q", group: "lts", count: 12, abi: "host-defaults", vmm: "qemu@11.1" },
            { name: "q72", group: "lts", count: 6, abi: "host-defaults", vmm: "qemu@7.2" },
            { name: "g", group: "lts", count: 5, abi: "host-defaults" },
            { name: "e", group: "edge", count: 3, abi: "host-defaults" },
          ],
        },
        ".",
        "q",
      ),
    );
  });

  it("pin PSCI 1.1 for QEMU 11.1's VMs (kvm-psci-version): they neither change nor break going back", () => {
    const r = rolloutOf(model, { to: "7.2", waves: 3 });
    const qemu = r.policies.find((p) => p.policy === "qemu-compat")!;
    assert.deepEqual(qemu.qemuOptions, [
      "QEMU 11.1 on cortex-a72 6.12 and 7.2: -cpu host,pmu=off,kvm-psci-version=1.1",
      "QEMU 7.2 on cortex-a72 6.12 and 7.2: -cpu host,pmu=off",
    ]);
    const back = r.steps[r.steps.length - 1]!;
    // Going back from 7.2 after a restart: host defaults carry PSCI 1.3; QEMU 11.1's 12 VMs keep 1.1.
    assert.deepEqual([back.kind, back.vms], ["rollback", 23]);
    assert.equal(back.byPolicy["host-defaults"].breaks, 23);
    assert.equal(back.byPolicy["qemu-compat"].breaks, 11);
    assert.deepEqual(
      r.steps.filter((s) => s.kind === "upgrade").map((s) => s.byPolicy["qemu-compat"].changes),
      [2, 1, 2],
    );
  });

  it("refuses a wave count out of range", () => {
    assert.throws(
      () => rolloutOf(model, { to: "7.2", waves: 0 }),
      /^FleetError: waves must be 1\.\.1000, not 0$/,
    );
  });
});
