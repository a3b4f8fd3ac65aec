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
        vmm: "guestabi",
      },
    ]);
    assert.equal(f.name, "fleet");
  });

  it("carries each VM's VMM, as its restore policy names itself", async () => {
    const f = await loadFleet(
      {
        ...base,
        vms: [
          { name: "a", group: "g", abi: "host-defaults", vmm: "qemu" },
          { name: "b", group: "g", abi: "host-defaults", vmm: "firecracker" },
          { name: "c", group: "g", abi: "host-defaults", vmm: "qemu@7.2" },
        ],
      },
      ".",
    );
    assert.deepEqual(
      f.vms.map((v) => v.vmm),
      ["qemu@11.1", "firecracker", "qemu@7.2"],
    );
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
  });

  it("says what is wrong with a VM entry: the key misspelt, the kind missing or doubled", () => {
    const ok = { name: "a", group: "g", abi: "host-defaults" };
    const exactly = (vms: unknown[], message: string) =>
      assert.throws(
        () => parseFleet({ ...base, vms }, "f.json"),
        (e: unknown) => e instanceof FleetError && e.message === message,
      );
    exactly(
      [ok, { ...ok, name: "b" }, { name: "c", group: "g", count: 2, vcpus: 2, templat: "t.json" }],
      'f.json: vms[2]: unknown key "templat" (known: name, group, count, vcpus, vmm, template)',
    );
    exactly(
      [{ name: "v", group: "g", snapshots: "s.snap", count: 0 }],
      'f.json: vms[0]: unknown key "snapshots" (known: name, group, count, vcpus, vmm, snapshot)',
    );
    exactly(
      [{ name: "v", group: "g", template: "t.json", features: ["PMU_V3"] }],
      'f.json: vms[0]: unknown key "features" (known: name, group, count, vcpus, vmm, template)',
    );
    exactly(
      [{ name: "v", group: "g" }],
      'f.json: vms[0]: missing one of "abi", "template", "snapshot" (how the VM\'s ABI is chosen)',
    );
    exactly(
      [{ name: "v", group: "g", image: "v.img" }],
      'f.json: vms[0]: missing one of "abi", "template", "snapshot" (how the VM\'s ABI is chosen); unknown key "image"',
    );
    exactly(
      [{ name: "v", group: "g", abi: "host-defaults", template: "t.json" }],
      'f.json: vms[0]: "abi" and "template" exclude each other (one says how the VM\'s ABI is chosen)',
    );
    exactly(
      [{ name: "v", group: "g", template: "t.json", vcpus: 0 }],
      "f.json: vms[0].vcpus: Too small: expected number to be >=1",
    );
    exactly(
      [{ name: "v", group: "g", abi: "host-defaults", vmm: "qemu@1" }],
      'f.json: vms[0].vmm: unknown VMM "qemu@1" (known: guestabi, qemu@7.2, qemu@10.0, qemu@11.1, firecracker, cloud-hypervisor, crosvm, qemu)',
    );
    exactly([ok, 7], "f.json: vms[1]: expected a VM entry object, got 7");
    exactly(
      [{ name: "v", group: "g" }, { name: "w" }],
      'f.json: vms[0]: missing one of "abi", "template", "snapshot" (how the VM\'s ABI is chosen) (and 1 more)',
    );
  });

  it("names the keys a group or the document knows", () => {
    assert.throws(() => parseFleet({ ...base, grops: [] }, "f.json"), {
      message: 'f.json: (top): unknown key "grops" (known: format, version, name, groups, vms)',
    });
    assert.throws(() => parseFleet({ ...base, groups: [{ ...base.groups[0], host: 3 }] }, "f.json"), {
      message: 'f.json: groups[0]: unknown key "host" (known: name, kernel, cpu, hosts)',
    });
  });

  it("takes a fleet of 4096 groups and 100,000 VM entries, not one more", () => {
    const groups = Array.from({ length: 4096 }, (_, i) => ({
      name: `g${i}`,
      kernel: "7.2",
      cpu: "neoverse-n1",
      hosts: 1,
    }));
    const vms = Array.from({ length: 100_000 }, (_, i) => ({
      name: `v${i}`,
      group: `g${i % 4096}`,
      abi: "host-defaults",
    }));
    const f = parseFleet({ ...base, groups, vms });
    assert.equal(f.groups.length, 4096);
    assert.equal(f.vms.length, 100_000);
    fails(
      { ...base, groups: [...groups, { ...groups[0], name: "one-more" }], vms },
      /^f\.json: groups: Too big: expected array to have <=4096 items$/,
    );
    fails(
      { ...base, groups, vms: [...vms, { name: "one-more", group: "g0", abi: "host-defaults" }] },
      /^f\.json: vms: Too big: expected array to have <=100000 items$/,
    );
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
