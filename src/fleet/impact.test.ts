import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { openSimKvm } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import { SimHosts, readFleetFile } from "./fleet.js";
import type { Fleet } from "./fleet.js";
import { countsText, formatImpact, impact, unpinnableCause, why } from "./impact.js";
import { writeSnapshotFile } from "../formats/snapshot-binary.js";
import { writeTemplateFile } from "../formats/template.js";
import { createDefaultVm, save } from "../vm/vm.js";

const hosts = new SimHosts([[2]]);

/** A fleet on 7.2 Cortex-A72: unpinned VMs, VMs pinned to the 6.12+7.2 baseline, a saved 7.2 VM; and a 6.1 group. */
async function smallFleet(): Promise<Fleet> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-impact-"));
  const b = baseline([hosts.profile("6.12", "cortex-a72"), hosts.profile("7.2", "cortex-a72")], {
    names: ["6.12", "7.2"],
  });
  assert.deepEqual(b.unhonourable, []);
  await writeTemplateFile(path.join(dir, "base.json"), b.template);
  await writeSnapshotFile(
    path.join(dir, "s.snap"),
    save(createDefaultVm(openSimKvm({ generation: "7.2", cpu: "cortex-a72" }))),
  );
  fs.writeFileSync(
    path.join(dir, "fleet.json"),
    JSON.stringify({
      format: "guestabi-fleet",
      version: 1,
      name: "small",
      groups: [
        { name: "new", kernel: "7.2", cpu: "cortex-a72", hosts: 10 },
        { name: "old", kernel: "6.1", cpu: "cortex-a72", hosts: 4 },
      ],
      vms: [
        { name: "web", group: "new", count: 20, abi: "host-defaults" },
        { name: "db", group: "new", count: 5, vcpus: 2, template: "base.json" },
        { name: "saved", group: "new", count: 2, snapshot: "s.snap" },
        { name: "legacy", group: "old", count: 7, abi: "host-defaults" },
      ],
    }),
  );
  return readFleetFile(path.join(dir, "fleet.json"));
}

const baselineOf = (a: "6.1" | "6.12", b: "7.2") =>
  baseline([hosts.profile(a, "cortex-a72"), hosts.profile(b, "cortex-a72")], { names: [a, b] });

describe("impact", () => {
  it("rolling 7.2 back to 6.12: unpinned VMs break on PSCI 1.3, the pinned ones are safe", async () => {
    const fleet = await smallFleet();
    const r = impact(fleet, { rollback: "new", to: "6.12", hosts });
    assert.deepEqual(r.rollback, { group: "new", cpu: "cortex-a72", hosts: 10, from: "7.2", to: "6.12" });
    const by = Object.fromEntries(r.vms.map((v) => [v.vm, v]));
    assert.equal(by.web!.status, "breaks");
    assert.equal(why(by.web!), "migration refused: KVM_REG_ARM_PSCI_VERSION");
    assert.equal(by.saved!.status, "breaks");
    assert.equal(by.db!.status, "safe"); // compatible, and the guest sees exactly the same ABI on 6.12
    assert.deepEqual(by.db!.restart.differences, []);
    assert.deepEqual(r.counts, {
      vms: 27,
      breaks: 22,
      guestViewChanges: 0,
      unpinnableOnly: 0,
      safe: 5,
      cannotStart: 0,
    });
    assert.equal(r.unaffected, 7);
    assert.equal(countsText(r.counts), "22 break, 0 guest view changes, 5 safe");
    assert.match(
      formatImpact(r),
      /^rollback of group new \(10 hosts, cortex-a72\) from 7\.2 to 6\.12, VMs as described\n/,
    );
  });

  it("with host defaults every VM of the group breaks; pinned to the baseline none does", async () => {
    const fleet = await smallFleet();
    const d = impact(fleet, { rollback: "new", to: "6.12", mode: "host-defaults", hosts });
    assert.equal(d.counts.breaks, 27);
    const p = impact(fleet, {
      rollback: "new",
      to: "6.12",
      mode: "pinned",
      pinTo: baselineOf("6.12", "7.2").template,
      hosts,
    });
    assert.equal(p.counts.breaks, 0);
    assert.equal(p.counts.safe, 27);
  });

  it("rolling 7.2 back to 6.1 breaks unpinned VMs (6.1's invariant cache geometry); pinned ones move", async () => {
    const fleet = await smallFleet();
    const r = impact(fleet, { rollback: "new", to: "6.1", hosts });
    const db = r.vms.find((v) => v.vm === "db")!;
    assert.equal(db.status, "breaks");
    assert.ok(!("error" in db.migrate));
    const names = new Set(("error" in db.migrate ? [] : db.migrate.incompatible).map((v) => v.register));
    for (const n of ["CCSIDR[0]", "CCSIDR[1]", "CCSIDR[2]", "CLIDR_EL1"]) assert.ok(names.has(n), n);
    // Pinned to the 6.1+7.2 baseline (6.1's cache geometry, which 7.2 takes: set_clidr, set_ccsidr),
    // every VM starts on 7.2 and moves to 6.1.
    const p = impact(fleet, {
      rollback: "new",
      to: "6.1",
      mode: "pinned",
      pinTo: baselineOf("6.1", "7.2").template,
      hosts,
    });
    assert.equal(p.counts.cannotStart, 0);
    assert.equal(p.counts.breaks, 0);
    // Over the VMs' conduit (HVC) nothing differs: the VMs have their vGICv3 (the GIC ID fields and
    // GICD_IIDR read the same); 6.1's SMC answers (handle_smc) are apart and change no status.
    const pinnedDb = p.vms.find((v) => v.vm === "db")!;
    assert.equal(pinnedDb.status, "safe");
    assert.deepEqual(pinnedDb.restart.differences, []);
    assert.deepEqual(pinnedDb.restart.otherConduitDifferences, [
      ["PSCI_VERSION via smc: 0x10001 0x0 0x0 0x0", "PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"],
      ["SMCCC_VERSION via smc: 0x10001 0x0 0x0 0x0", "SMCCC_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"],
    ]);
    // A VMM whose tables say SMC (a guest with EL2): the SMC answers are its guest view, the HVC ones apart.
    const smc = impact(fleet, {
      rollback: "new",
      to: "6.1",
      mode: "pinned",
      pinTo: baselineOf("6.1", "7.2").template,
      hosts,
      conduit: "smc",
    }).vms.find((v) => v.vm === "db")!;
    assert.deepEqual(
      smc.restart.differences.map(([a]) => a.split(":")[0]),
      ["PSCI_VERSION via smc", "SMCCC_VERSION via smc"],
    );
    assert.deepEqual(smc.restart.otherConduitDifferences, []);
  });

  it("names the causes no register pins", () => {
    assert.equal(
      unpinnableCause(
        "PSCI_VERSION via smc: 0x10001 0x0 0x0 0x0",
        "PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0",
      ),
      "the SMC conduit (handle_smc)",
    );
    // The GIC ID fields are no such cause: every VM has its vGICv3, so a GIC field that differs is real.
    assert.equal(
      unpinnableCause("ID_AA64PFR0_EL1: 0x1000000000000222", "ID_AA64PFR0_EL1: 0x1000000001000222"),
      undefined,
    );
    assert.equal(
      unpinnableCause("PSCI_VERSION: 0x10003 0x0 0x0 0x0", "PSCI_VERSION: 0x10001 0x0 0x0 0x0"),
      undefined,
    );
  });

  it("refuses an unknown group or kernel", async () => {
    const fleet = await smallFleet();
    assert.throws(
      () => impact(fleet, { rollback: "nope", to: "6.1", hosts }),
      /no group 'nope' in fleet small/,
    );
    assert.throws(
      () => impact(fleet, { rollback: "new", to: "4.19" as "6.1", hosts }),
      /unknown kernel '4\.19'/,
    );
    assert.throws(
      () => impact(fleet, { rollback: "new", to: "6.1", mode: "pinned", hosts }),
      /needs a template/,
    );
  });
});
