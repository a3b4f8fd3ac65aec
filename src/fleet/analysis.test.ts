import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { VCPU_FEATURES } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";
import {
  Analysis,
  compareKernels,
  fleetFileModel,
  hostDefaultsAbi,
  kernelLabel,
  kernelMatch,
} from "./analysis.js";
import { SimHosts, loadFleet } from "./fleet.js";
import { guestView, smcDifferences, viewEffects } from "./guest-view.js";
import { profileHash } from "./model.js";
import type { FleetModel } from "./model.js";

const hosts = new SimHosts([[2]]);
const CPU = "neoverse-n1";

/** A simulated profile as a real host of release `release` would record it. */
function asLinux(
  p: HostProfile,
  release: string,
  generation: HostProfile["host"]["generation"],
): HostProfile {
  return { ...p, backend: "linux", host: { ...p.host, release, generation } };
}

/** A model of the given profiles, one group each, no VMs. */
function modelOf(groups: { name: string; profile: HostProfile; hosts: number }[]): FleetModel {
  const profiles = new Map(groups.map((g) => [profileHash(g.profile), g.profile]));
  return {
    name: "m",
    profiles,
    abis: new Map(),
    hostCounts: groups.map((g) => ({ group: g.name, profile: profileHash(g.profile), hosts: g.hosts })),
    vmCounts: [],
  };
}

describe("a fleet file as a model", () => {
  it("stores each profile and ABI once; each VM entry a count with its name and VMM", async () => {
    const fleet = await loadFleet(
      {
        format: "guestabi-fleet",
        version: 1,
        name: "f",
        groups: [
          { name: "a", kernel: "7.2", cpu: CPU, hosts: 3 },
          { name: "b", kernel: "7.2", cpu: CPU, hosts: 2 },
        ],
        vms: [
          { name: "x", group: "a", count: 4, abi: "host-defaults" },
          { name: "y", group: "b", count: 1, vcpus: 2, abi: "host-defaults", vmm: "qemu" },
        ],
      },
      ".",
      "f",
    );
    const m = fleetFileModel(fleet, hosts);
    assert.equal(m.profiles.size, 1);
    assert.equal(m.abis.size, 1);
    const p = [...m.profiles.keys()][0]!;
    const abi = [...m.abis.keys()][0]!;
    assert.deepEqual(m.hostCounts, [
      { group: "a", profile: p, hosts: 3 },
      { group: "b", profile: p, hosts: 2 },
    ]);
    assert.deepEqual(m.vmCounts, [
      { group: "a", profile: p, abi, vmm: "guestabi", vcpus: 1, vms: 4, name: "x" },
      { group: "b", profile: p, abi, vmm: "qemu@11.1", vcpus: 2, vms: 1, name: "y" },
    ]);
  });
});

describe("kernels", () => {
  it("names a simulated profile by its simulator kernel, a real one by its release", () => {
    assert.equal(kernelLabel(hosts.profile("6.1-amzn", CPU)), "6.1-amzn");
    assert.equal(kernelLabel(asLinux(hosts.profile("6.1", CPU), "6.1.0-31-arm64", "6.1")), "6.1.0-31-arm64");
  });

  it("matches a kernel by release first, then by the release's generation, never by stand-in rules", () => {
    const real = asLinux(hosts.profile("6.1", CPU), "6.1.0-31-arm64", "6.1");
    assert.equal(kernelMatch(real, "6.1.0-31-arm64"), 2);
    assert.equal(kernelMatch(real, "6.1"), 1);
    assert.equal(kernelMatch(real, "6.12"), 0);
    assert.equal(kernelMatch(hosts.profile("6.1-amzn", CPU), "6.1-amzn"), 2);
    assert.equal(kernelMatch(hosts.profile("6.1-amzn", CPU), "6.1"), 1);
    // 6.18 is read with 6.12's rules (profileRules: assumed), but it is not 6.12.
    assert.equal(kernelMatch(hosts.profile("6.18", CPU), "6.12"), 0);
  });

  it("orders kernels: simulator kernels in their order, else by major.minor", () => {
    assert.deepEqual(["7.2", "6.1-amzn", "5.10", "6.18", "6.12"].sort(compareKernels), [
      "5.10",
      "6.1-amzn",
      "6.12",
      "6.18",
      "7.2",
    ]);
    assert.deepEqual(["6.12.5-x", "6.1.0-31-arm64", "5.15.0-1"].sort(compareKernels), [
      "5.15.0-1",
      "6.1.0-31-arm64",
      "6.12.5-x",
    ]);
  });
});

describe("targets", () => {
  let edge: string;
  let a: Analysis;
  before(() => {
    const groups = [
      { name: "edge", profile: asLinux(hosts.profile("7.2", CPU), "7.2.0-1-arm64", "7.2"), hosts: 10 },
      { name: "old-few", profile: asLinux(hosts.profile("6.1", CPU), "6.1.0-20-arm64", "6.1"), hosts: 2 },
      { name: "old-many", profile: asLinux(hosts.profile("6.1", CPU), "6.1.0-31-arm64", "6.1"), hosts: 9 },
      {
        name: "other-cpu",
        profile: asLinux(hosts.profile("6.12", "cortex-a72"), "6.12.3", "6.12"),
        hosts: 5,
      },
    ];
    const m = modelOf(groups);
    edge = m.hostCounts[0]!.profile;
    a = new Analysis(m, hosts);
  });

  it("a generation: of the profiles running it on the same CPU, the one most hosts run", () => {
    const t = a.target(edge, "6.1");
    assert.equal(a.kernel(t.profile), "6.1.0-31-arm64");
    assert.deepEqual([t.simulated, t.evidence], [false, "the profile 9 hosts of the fleet run (old-many)"]);
  });

  it("a release: exactly that profile, though fewer hosts run it", () => {
    assert.equal(a.kernel(a.target(edge, "6.1.0-20-arm64").profile), "6.1.0-20-arm64");
  });

  it("no host of the CPU runs it: a simulated what-if host when the simulator has the kernel and CPU", () => {
    const t = a.target(edge, "6.12");
    assert.deepEqual(
      [a.kernel(t.profile), t.simulated, t.evidence],
      ["6.12", true, "simulated what-if host: no inventory host runs 6.12 on neoverse-n1"],
    );
    assert.equal(a.whatIfProfiles, 1);
  });

  it("else one line naming what is missing", () => {
    assert.throws(
      () => a.target(edge, "6.6.0-1-arm64"),
      /^FleetError: no host runs 6\.6\.0-1-arm64 on neoverse-n1, and 6\.6\.0-1-arm64 is not a simulator kernel \(known: /,
    );
    const m = modelOf([
      {
        name: "g",
        profile: {
          ...hosts.profile("7.2", CPU),
          host: { ...hosts.profile("7.2", CPU).host, cpuLabel: "graviton9" },
        },
        hosts: 1,
      },
    ]);
    assert.throws(
      () => new Analysis(m, hosts).target(m.hostCounts[0]!.profile, "6.1"),
      /^FleetError: no host runs 6\.1 on graviton9, and graviton9 is not a simulator CPU model$/,
    );
  });
});

describe("the guest's view from a profile", () => {
  it("host defaults 7.2 -> 6.12: PSCI 1.3 becomes 1.1, in words", () => {
    const before = guestView(hosts.profile("7.2", CPU), [VCPU_FEATURES.PSCI_0_2])!;
    const after = guestView(hosts.profile("6.12", CPU), [VCPU_FEATURES.PSCI_0_2])!;
    assert.deepEqual(
      viewEffects(before, after).map((e) => e.text),
      ["the guest sees PSCI 1.1 instead of 1.3"],
    );
    assert.deepEqual(smcDifferences(before, after), []);
  });

  it("6.12 -> 6.1: SMC calls go unanswered on 6.1 (handle_smc), apart from the view", () => {
    const before = guestView(hosts.profile("6.12", CPU), [VCPU_FEATURES.PSCI_0_2])!;
    const after = guestView(hosts.profile("6.1", CPU), [VCPU_FEATURES.PSCI_0_2])!;
    assert.deepEqual(smcDifferences(before, after), [
      "PSCI_VERSION by SMC: answered -> -1 (not an SMCCC call)",
      "SMCCC_VERSION by SMC: answered -> -1 (not an SMCCC call)",
    ]);
  });

  it("a case is checked once, whatever the number of VMs", () => {
    const m = modelOf([{ name: "g", profile: hosts.profile("7.2", CPU), hosts: 1 }]);
    const a = new Analysis(m, hosts);
    const p = m.hostCounts[0]!.profile;
    const t = a.target(p, "6.18").profile;
    const abi = hostDefaultsAbi([VCPU_FEATURES.PSCI_0_2]);
    const c = a.evaluate(abi, GUESTABI_POLICY, p, t);
    assert.equal(a.evaluate(abi, GUESTABI_POLICY, p, t), c);
    assert.equal(c.status, "safe");
  });
});
