import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openSimKvm } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import { writeSnapshotFile } from "../formats/snapshot-binary.js";
import { writeTemplateFile } from "../formats/template.js";
import { createDefaultVm, save } from "../vm/vm.js";
import { vmmPolicy } from "../vmm/policies.js";
import { fleetFileModel } from "./analysis.js";
import { SimHosts, readFleetFile } from "./fleet.js";
import { countsText, formatImpact, impactOf, impactToJson } from "./impact.js";
import type { FleetModel } from "./model.js";

const hosts = new SimHosts([[2]]);
const CPU = "cortex-a72";
let dir = "";
let model: FleetModel;

/**
 * A fleet on 7.2 Cortex-A72: unpinned VMs, VMs pinned to the 6.12+7.2 baseline, a saved 7.2 VM restored
 * by QEMU 10.0; and a 6.1 group. No group runs 6.12: its profile is a simulated what-if host.
 */
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-impact-"));
  const b = baseline([hosts.profile("6.12", CPU), hosts.profile("7.2", CPU)], { names: ["6.12", "7.2"] });
  assert.deepEqual(b.unhonourable, []);
  await writeTemplateFile(path.join(dir, "base.json"), b.template);
  await writeSnapshotFile(
    path.join(dir, "s.snap"),
    save(createDefaultVm(openSimKvm({ generation: "7.2", cpu: CPU }))),
  );
  fs.writeFileSync(
    path.join(dir, "fleet.json"),
    JSON.stringify({
      format: "guestabi-fleet",
      version: 1,
      name: "small",
      groups: [
        { name: "new", kernel: "7.2", cpu: CPU, hosts: 10 },
        { name: "old", kernel: "6.1", cpu: CPU, hosts: 4 },
      ],
      vms: [
        { name: "web", group: "new", count: 20, abi: "host-defaults" },
        { name: "db", group: "new", count: 5, vcpus: 2, template: "base.json" },
        { name: "saved", group: "new", count: 2, snapshot: "s.snap", vmm: "qemu@10.0" },
        { name: "legacy", group: "old", count: 7, abi: "host-defaults" },
      ],
    }),
  );
  model = fleetFileModel(await readFleetFile(path.join(dir, "fleet.json")), hosts);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const row = (r: ReturnType<typeof impactOf>, name: string) => r.entries.find((e) => e.names.includes(name))!;

describe("impact", () => {
  it("7.2 -> 6.12 (what-if): unpinned VMs break on PSCI 1.3, in words; the pinned ones are safe", () => {
    const r = impactOf(model, { group: "new", to: "6.12" });
    assert.deepEqual(r.rollback, { group: "new", hosts: 10, cpus: [CPU], from: ["7.2"], to: "6.12" });
    assert.deepEqual(r.targets, [
      {
        from: "7.2",
        to: "6.12",
        hosts: 10,
        simulated: true,
        evidence: "simulated what-if host: no inventory host runs 6.12 on cortex-a72",
      },
    ]);
    const web = row(r, "web");
    assert.equal(web.status, "breaks");
    assert.deepEqual(
      web.effects.map((e) => e.text),
      ["the guest sees PSCI 1.1 instead of 1.3"],
    );
    assert.deepEqual(web.verdicts, ["KVM_REG_ARM_PSCI_VERSION"]);
    assert.equal(
      web.why,
      "the guest sees PSCI 1.1 instead of 1.3; guestabi refuses: KVM_REG_ARM_PSCI_VERSION",
    );
    assert.equal(row(r, "db").status, "safe");
    assert.equal(row(r, "db").why, "");
    const saved = row(r, "saved");
    assert.deepEqual([saved.status, saved.vmm, saved.abi], ["breaks", "qemu@10.0", "snapshot"]);
    assert.equal(saved.restore?.loads, false);
    assert.deepEqual(r.counts, { vms: 27, breaks: 22, guestViewChanges: 0, safe: 5, cannotStart: 0 });
    assert.equal(r.unaffected, 7);
    assert.equal(countsText(r.counts), "22 break, 0 see a change, 5 safe");
    const text = formatImpact(r);
    assert.match(
      text,
      /^rollback of group new \(10 hosts, cortex-a72\) from 7\.2 to 6\.12, VMs as described\n/,
    );
    assert.match(text, /\n {2}27 VMs: 22 break, 0 see a change, 5 safe; 7 VMs of other groups unaffected\n/);
    assert.match(text, /\n {2}db +5 +safe +template +guestabi +nothing changes\n/);
  });

  it("7.2 -> 6.1: the target is the old group's profile; the template breaks on 6.1's invariant cache geometry", () => {
    const r = impactOf(model, { group: "new", to: "6.1" });
    assert.deepEqual(
      r.targets.map((t) => [t.to, t.simulated, t.evidence]),
      [["6.1", false, "the profile 4 hosts of the fleet run (old)"]],
    );
    const db = row(r, "db");
    assert.equal(db.status, "breaks");
    assert.deepEqual(db.verdicts, [
      "CLIDR_EL1",
      "CLIDR_EL1.LoC",
      "CLIDR_EL1.Ctype2",
      "CCSIDR[0]",
      "CCSIDR[1]",
      "CCSIDR[2]",
    ]);
    assert.deepEqual(
      db.effects.map((e) => e.text),
      ["the guest sees CLIDR_EL1 0xa200023 instead of 0x9200003"],
    );
    // QEMU 10.0 fails first on the longer register list (cpreg_vmstate_array_len): its own message.
    assert.equal(
      row(r, "saved").why,
      "the guest sees PSCI 1.1 instead of 1.3; sees CLIDR_EL1 0xa200023 instead of 0x9200003; QEMU 10.0 refuses: Invalid value 182 expecting positive value <= 167",
    );
    // 6.1 answers an SMC with -1 (handle_smc): apart, no status.
    assert.deepEqual(row(r, "web").smc, [
      "PSCI_VERSION by SMC: answered -> -1 (not an SMCCC call)",
      "SMCCC_VERSION by SMC: answered -> -1 (not an SMCCC call)",
    ]);
  });

  it("modes: host defaults, every VM breaks; pinned to the 6.1+7.2 baselines, guestabi's VMs move", () => {
    const d = impactOf(model, { group: "new", to: "6.12", mode: "host-defaults" });
    assert.deepEqual(d.counts, { vms: 27, breaks: 27, guestViewChanges: 0, safe: 0, cannotStart: 0 });
    const p = impactOf(model, { group: "new", to: "6.1", mode: "pinned" });
    assert.deepEqual(
      p.entries.map((e) => [e.names.join(","), e.abi, e.status]),
      [
        ["web,db", "template", "safe"],
        ["saved", "template", "breaks"],
      ],
    );
  });

  it("--vmm overrides each VM's VMM: QEMU 11.1 refuses PSCI 1.3 with its own error", () => {
    const r = impactOf(model, {
      group: "new",
      to: "6.12",
      mode: "host-defaults",
      vmm: vmmPolicy("qemu@11.1"),
    });
    assert.equal(r.vmm, "qemu@11.1");
    assert.deepEqual(
      r.entries.map((e) => [e.names.join(","), e.vmm, e.count, e.vcpus]),
      [["web,db,saved", "qemu@11.1", 27, [1, 2]]],
    );
    assert.equal(
      r.entries[0]!.restore?.error,
      "Could not set register fw reg 0 to 10003 (is 10001) | Failed to put registers after init: Invalid argument",
    );
  });

  it("a template the source refuses cannot start", () => {
    const old = baseline([hosts.profile("5.10", CPU)], { names: ["5.10"] }).template;
    const r = impactOf(model, { group: "new", to: "6.12", mode: "pinned", pinTo: old });
    assert.equal(r.counts.cannotStart, 27);
    assert.match(r.entries[0]!.why, /^7\.2 \(cortex-a72\) cannot honour the template \(/);
  });

  it("names what is missing: a group, a kernel the simulator cannot stand in for", () => {
    assert.throws(
      () => impactOf(model, { group: "nope", to: "6.1" }),
      /^FleetError: no group 'nope' in fleet small \(groups: new, old\)$/,
    );
    assert.throws(
      () => impactOf(model, { group: "new", to: "4.19" }),
      /^FleetError: no host runs 4\.19 on cortex-a72, and 4\.19 is not a simulator kernel \(known: 5\.10, /,
    );
  });

  it("JSON: format guestabi-impact version 2, the entries with their effects", () => {
    const j = impactToJson(impactOf(model, { group: "new", to: "6.12" })) as {
      format: string;
      version: number;
      entries: { names: string[]; effects: { text: string }[] }[];
    };
    assert.deepEqual([j.format, j.version], ["guestabi-impact", 2]);
    assert.deepEqual(j.entries[0]!.effects[0]!.text, "the guest sees PSCI 1.1 instead of 1.3");
  });
});
