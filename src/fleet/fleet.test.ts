import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { VCPU_FEATURES } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import exampleJson from "./example-fleet.json" with { type: "json" };
import {
  FleetError,
  SimHosts,
  configsFor,
  loadFleet,
  parseFleet,
  readFleetFile,
  vmFeatures,
} from "./fleet.js";
import { abiOfVcpu } from "../vm/guest-abi.js";
import { hostIdentityOf } from "../vm/managed-vm.js";
import { writeSnapshotFile } from "../formats/snapshot-binary.js";
import { writeTemplateFile } from "../formats/template.js";
import { createDefaultVm, save } from "../vm/vm.js";

const base = {
  format: "guestabi-fleet",
  version: 1,
  groups: [{ name: "g", kernel: "7.2", cpu: "cortex-a72", hosts: 3 }],
  vms: [{ name: "v", group: "g", abi: "host-defaults" }],
};
const fails = (doc: unknown, re: RegExp) =>
  assert.throws(
    () => parseFleet(doc, "f.json"),
    (e: unknown) => e instanceof FleetError && re.test(e.message) && !e.message.includes("\n"),
  );

describe("fleet description", () => {
  it("parses the built-in example: four kernels, two CPU models", () => {
    const f = parseFleet(exampleJson);
    assert.deepEqual([...new Set(f.groups.map((g) => g.kernel))], ["5.10", "6.1", "6.12", "7.2"]);
    assert.deepEqual([...new Set(f.groups.map((g) => g.cpu))], ["cortex-a72", "neoverse-n1"]);
  });

  it("fills in defaults: one VM, one vCPU, PSCI_0_2", async () => {
    const f = await loadFleet(base, ".");
    assert.deepEqual(f.vms, [
      {
        name: "v",
        group: "g",
        count: 1,
        vcpus: 1,
        abi: { kind: "host-defaults", features: [VCPU_FEATURES.PSCI_0_2] },
      },
    ]);
    assert.equal(f.name, "fleet");
  });

  it("refuses bad documents with one line", () => {
    fails({ ...base, format: "x" }, /not a guestabi-fleet document/);
    fails({ ...base, version: 2 }, /unsupported fleet version 2/);
    fails({ ...base, groups: [{ ...base.groups[0], kernel: "4.19" }] }, /^f\.json: groups\[0\]\.kernel: /);
    fails(
      { ...base, groups: [{ ...base.groups[0], cpu: "pentium" }] },
      /groups\[0\]\.cpu: a CPU model of the simulator/,
    );
    fails({ ...base, groups: [base.groups[0], base.groups[0]] }, /group 'g' is defined twice/);
    fails(
      { ...base, vms: [{ name: "v", group: "h", abi: "host-defaults" }] },
      /VM 'v' names an unknown group 'h'/,
    );
    fails(
      { ...base, vms: [{ name: "v", group: "g", abi: "host-defaults", template: "t.json" }] },
      /vms\[0\]/,
    );
    fails({ ...base, vms: [{ name: "v", group: "g" }] }, /vms\[0\]/);
  });

  it("loads template and snapshot files relative to the fleet file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-fleet-"));
    const sys = openSimKvm({ generation: "6.1", cpu: "cortex-a72" });
    const m = createDefaultVm(sys);
    await writeTemplateFile(
      path.join(dir, "t.json"),
      abiOfVcpu(m.vcpus[0]!.vcpu, m.vcpus[0]!.init, hostIdentityOf(sys)),
    );
    await writeSnapshotFile(path.join(dir, "s.snap"), save(m));
    const doc = {
      ...base,
      vms: [
        { name: "a", group: "g", template: "t.json", count: 3 },
        { name: "b", group: "g", snapshot: "s.snap", vcpus: 2 },
      ],
    };
    fs.writeFileSync(path.join(dir, "fleet.json"), JSON.stringify(doc));
    const f = await readFleetFile(path.join(dir, "fleet.json"));
    assert.equal(f.vms[0]!.abi.kind, "template");
    assert.equal(f.vms[1]!.abi.kind, "snapshot");
    assert.deepEqual(vmFeatures(f.vms[1]!), [VCPU_FEATURES.PSCI_0_2]);
    fs.writeFileSync(
      path.join(dir, "bad.json"),
      JSON.stringify({ ...doc, vms: [{ name: "a", group: "g", template: "no.json" }] }),
    );
    await assert.rejects(readFleetFile(path.join(dir, "bad.json")), /VM 'a': cannot read .*no\.json: ENOENT/);
    await assert.rejects(
      readFleetFile(path.join(dir, "none.json")),
      /^FleetError: cannot read .*none\.json: ENOENT$/,
    );
  });

  it("probes each simulated host once, with the configurations the VMs need", () => {
    assert.deepEqual(configsFor([[2], [2, 3]]), ["psci-0.2", "psci-0.2+pmu"]);
    assert.deepEqual(configsFor([[2, 4]]), ["psci-0.2", "psci-0.2+sve"]);
    const hosts = new SimHosts([[2, 3]]);
    const p = hosts.profile("6.1", "cortex-a72");
    assert.equal(hosts.profile("6.1", "cortex-a72"), p);
    assert.equal(hosts.probed, 1);
    assert.deepEqual(
      p.configs.map((c) => c.name),
      ["psci-0.2", "psci-0.2+pmu"],
    );
  });
});
