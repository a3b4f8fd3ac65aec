/**
 * The analysis from profiles (impact.ts) against its oracle, the per-VM simulation (testing/oracle.ts:
 * each VM started, saved and restored on the simulator, the guest probe program's fingerprint on both
 * kernels): for every group and every older simulator kernel, with host defaults and pinned to the
 * baseline of the two kernels, the counts of VMs that break, see a change, are safe, cannot start are
 * equal. The simulator is the kernels' rules (src/kvm/rules), so the engine's answers are theirs.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { SIM_GENERATIONS, openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { writeSnapshotFile } from "../formats/snapshot-binary.js";
import { writeTemplateFile } from "../formats/template.js";
import { abiOfSnapshot } from "../vm/guest-abi.js";
import { createDefaultVm, save } from "../vm/vm.js";
import { vmmPolicy } from "../vmm/policies.js";
import { fleetFileModel } from "./analysis.js";
import type { ImpactMode } from "./analysis.js";
import { SimHosts, readFleetFile, vmFeatures } from "./fleet.js";
import type { Fleet } from "./fleet.js";
import { impactOf } from "./impact.js";
import type { ImpactReport } from "./impact.js";
import { exampleFleet } from "./plan.js";
import { simulateImpact } from "./testing/oracle.js";
import type { OracleReport } from "./testing/oracle.js";

type Counts = [breaks: number, changes: number, safe: number, cannotStart: number];
const countsOf = (c: ImpactReport["counts"] | OracleReport["counts"]): Counts => [
  c.breaks,
  c.guestViewChanges,
  c.safe,
  c.cannotStart,
];

/** Every older simulator kernel than a group's. */
const olderThan = (k: SimGeneration) => SIM_GENERATIONS.slice(0, SIM_GENERATIONS.indexOf(k));

/** Oracle and engine counts of every group rolled back to every older kernel, in `modes`. */
function compare(
  fleet: Fleet,
  hosts: SimHosts,
  modes: readonly ImpactMode[],
  vmm?: RestorePolicy,
): { key: string; oracle: Counts; engine: Counts; o: OracleReport; e: ImpactReport }[] {
  const model = fleetFileModel(fleet, hosts);
  const out = [];
  for (const g of fleet.groups)
    for (const to of olderThan(g.kernel))
      for (const mode of modes) {
        const o = simulateImpact(fleet, { rollback: g.name, to, mode, hosts, ...(vmm ? { vmm } : {}) });
        const e = impactOf(model, { group: g.name, to, mode, ...(vmm ? { vmm } : {}) });
        out.push({
          key: `${g.name} ${to} ${mode}`,
          oracle: countsOf(o.counts),
          engine: countsOf(e.counts),
          o,
          e,
        });
      }
  return out;
}

describe("conformance: the analysis from profiles against the per-VM simulation", () => {
  it("the built-in example fleet: every group, every older kernel, host defaults and pinned", async () => {
    const fleet = await exampleFleet();
    const rows = compare(fleet, new SimHosts(fleet.vms.map(vmFeatures)), ["host-defaults", "pinned"]);
    for (const r of rows) assert.deepEqual(r.engine, r.oracle, r.key);
    // [group, to, mode, breaks, see a change, safe, cannot start], as both answer.
    const expected: [string, string, ImpactMode, ...Counts][] = [
      ["stable-a72", "5.10", "host-defaults", 120, 0, 0, 0],
      ["stable-a72", "5.10", "pinned", 0, 0, 0, 120],
      ["stable-a72", "5.10-amzn", "host-defaults", 120, 0, 0, 0],
      ["stable-a72", "5.10-amzn", "pinned", 0, 0, 0, 120],
      ["stable-n1", "5.10", "host-defaults", 60, 0, 0, 0],
      ["stable-n1", "5.10", "pinned", 0, 0, 0, 60],
      ["stable-n1", "5.10-amzn", "host-defaults", 60, 0, 0, 0],
      ["stable-n1", "5.10-amzn", "pinned", 0, 0, 0, 60],
      ["lts-a72", "5.10", "host-defaults", 60, 0, 0, 0],
      ["lts-a72", "5.10", "pinned", 0, 0, 0, 60],
      ["lts-a72", "5.10-amzn", "host-defaults", 60, 0, 0, 0],
      ["lts-a72", "5.10-amzn", "pinned", 0, 0, 0, 60],
      ["lts-a72", "6.1", "host-defaults", 60, 0, 0, 0],
      ["lts-a72", "6.1", "pinned", 0, 0, 60, 0],
      ["lts-a72", "6.1-amzn", "host-defaults", 60, 0, 0, 0],
      ["lts-a72", "6.1-amzn", "pinned", 0, 0, 60, 0],
      ["lts-n1", "5.10", "host-defaults", 190, 0, 0, 0],
      ["lts-n1", "5.10", "pinned", 0, 0, 0, 190],
      ["lts-n1", "5.10-amzn", "host-defaults", 190, 0, 0, 0],
      ["lts-n1", "5.10-amzn", "pinned", 0, 0, 0, 190],
      ["lts-n1", "6.1", "host-defaults", 190, 0, 0, 0],
      ["lts-n1", "6.1", "pinned", 0, 190, 0, 0],
      ["lts-n1", "6.1-amzn", "host-defaults", 190, 0, 0, 0],
      ["lts-n1", "6.1-amzn", "pinned", 0, 190, 0, 0],
      ["edge-a72", "5.10", "host-defaults", 30, 0, 0, 0],
      ["edge-a72", "5.10", "pinned", 0, 0, 0, 30],
      ["edge-a72", "5.10-amzn", "host-defaults", 30, 0, 0, 0],
      ["edge-a72", "5.10-amzn", "pinned", 0, 0, 0, 30],
      ["edge-a72", "6.1", "host-defaults", 30, 0, 0, 0],
      ["edge-a72", "6.1", "pinned", 0, 0, 30, 0],
      ["edge-a72", "6.1-amzn", "host-defaults", 30, 0, 0, 0],
      ["edge-a72", "6.1-amzn", "pinned", 0, 0, 30, 0],
      ["edge-a72", "6.12", "host-defaults", 30, 0, 0, 0],
      ["edge-a72", "6.12", "pinned", 0, 0, 30, 0],
      ["edge-a72", "6.18", "host-defaults", 0, 0, 30, 0],
      ["edge-a72", "6.18", "pinned", 0, 0, 30, 0],
      ["edge-n1", "5.10", "host-defaults", 114, 0, 0, 0],
      ["edge-n1", "5.10", "pinned", 0, 0, 0, 114],
      ["edge-n1", "5.10-amzn", "host-defaults", 114, 0, 0, 0],
      ["edge-n1", "5.10-amzn", "pinned", 0, 0, 0, 114],
      ["edge-n1", "6.1", "host-defaults", 114, 0, 0, 0],
      ["edge-n1", "6.1", "pinned", 0, 114, 0, 0],
      ["edge-n1", "6.1-amzn", "host-defaults", 114, 0, 0, 0],
      ["edge-n1", "6.1-amzn", "pinned", 0, 114, 0, 0],
      ["edge-n1", "6.12", "host-defaults", 114, 0, 0, 0],
      ["edge-n1", "6.12", "pinned", 0, 0, 114, 0],
      ["edge-n1", "6.18", "host-defaults", 0, 0, 114, 0],
      ["edge-n1", "6.18", "pinned", 0, 0, 114, 0],
    ];
    assert.deepEqual(
      rows.map((r) => [...r.key.split(" "), ...r.engine]),
      expected.map(([g, to, mode, ...c]) => [g, to, mode, ...c]),
    );
  });

  describe("a fleet of templates and snapshots (Neoverse-N1 on 5.10, 6.1, 6.12, 7.2)", () => {
    let dir = "";
    let fleet: Fleet;
    const hosts = new SimHosts([[2], [2, 3]]);
    const CPU = "neoverse-n1";
    const KERNELS = ["5.10", "6.1", "6.12", "7.2"] as const;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-conformance-"));
      const pair = baseline([hosts.profile("6.12", CPU), hosts.profile("7.2", CPU)], {
        names: ["6.12", "7.2"],
      });
      await writeTemplateFile(path.join(dir, "b-6.12-7.2.json"), pair.template);
      for (const k of KERNELS) {
        const s = save(createDefaultVm(openSimKvm({ generation: k, cpu: CPU }), { vcpus: 2, cpuLabel: CPU }));
        await writeSnapshotFile(path.join(dir, `s-${k}.snap`), s);
        await writeTemplateFile(path.join(dir, `t-${k}.json`), abiOfSnapshot(s));
      }
      const vms = KERNELS.flatMap((k) => [
        { name: `hd-${k}`, group: k, count: 5, abi: "host-defaults" },
        { name: `pmu-${k}`, group: k, count: 3, abi: "host-defaults", features: ["PSCI_0_2", "PMU_V3"] },
        { name: `b-${k}`, group: k, count: 2, vcpus: 4, template: "b-6.12-7.2.json" },
        { name: `own-${k}`, group: k, count: 1, vcpus: 2, snapshot: `s-${k}.snap` },
        { name: `s6.12-${k}`, group: k, count: 1, vcpus: 2, snapshot: "s-6.12.snap" },
        { name: `t6.1-${k}`, group: k, count: 1, template: "t-6.1.json" },
      ]);
      fs.writeFileSync(
        path.join(dir, "fleet.json"),
        JSON.stringify({
          format: "guestabi-fleet",
          version: 1,
          name: "mixed",
          groups: KERNELS.map((k) => ({ name: k, kernel: k, cpu: CPU, hosts: 2 })),
          vms,
        }),
      );
      fleet = await readFleetFile(path.join(dir, "fleet.json"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("host defaults and pinned: equal counts, guestabi's restore and QEMU 10.0's", () => {
      for (const vmm of [undefined, vmmPolicy("qemu@10.0")])
        for (const r of compare(fleet, hosts, ["host-defaults", "pinned"], vmm))
          assert.deepEqual(r.engine, r.oracle, `${r.key} ${vmm?.id ?? "guestabi"}`);
    });

    it("as described: equal but for snapshots whose ABI the group's own kernel cannot pin afresh", () => {
      // The oracle's guest view of a snapshot VM pins the snapshot's ABI registers (abiOfSnapshot, its
      // whole register list) on a fresh VM of the group's kernel; where that kernel does not list some of
      // them (a 6.12 snapshot on 7.2 hosts: 7.2 hides TCR2_EL1, PIRE0_EL1, PIR_EL1 on this CPU; likewise
      // a 5.10 one on 6.1+, whose PMU registers 5.10 lists without a PMU) the pin fails and the oracle
      // answers "breaks". The rollback itself restores the snapshot on the kernel it was taken on, and
      // the guest sees what it saw: the engine answers "safe". The only entry where the two differ.
      const differing: string[] = [];
      for (const r of compare(fleet, hosts, ["as-described"])) {
        const engine = new Map(r.e.entries.flatMap((e) => e.names.map((n) => [n, e] as const)));
        for (const v of r.o.vms) {
          const e = engine.get(v.vm)!;
          if (e.status === v.status) continue;
          differing.push(`${r.key} ${v.vm}: oracle ${v.status}, engine ${e.status}`);
          assert.equal(v.abi, "snapshot", v.vm);
          assert.match(v.restart.error ?? "", /^pin: .* cannot honour the template/, v.vm);
        }
      }
      assert.deepEqual(differing, ["7.2 6.12 as-described s6.12-7.2: oracle breaks, engine safe"]);
    });
  });
});
