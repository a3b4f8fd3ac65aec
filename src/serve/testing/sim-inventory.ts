/**
 * TEST HELPER: a small inventory of simulated hosts for the serve tests (API and browser), with
 * profiles probed on the simulator as `guestabi inventory add-sim` probes them. Groups, one CPU
 * model each: edge-a72 (kernel 7.2, Cortex-A72, 2 hosts), edge-n1 (7.2, Neoverse-N1, 2), stable-a72
 * (6.1, Cortex-A72, 2), stable-n1 (6.1, Neoverse-N1, 1). VMs, dealt over their group's hosts in turn,
 * each with 1 vCPU and restored by guestabi:
 *
 * - web-1..4 on edge-a72 and batch-1..2 on edge-n1: unpinned (host defaults, PSCI_0_2);
 * - api-1..2 on edge-a72: pinned to the Cortex-A72 baseline of 6.1 and 7.2;
 * - cache-1..3 on edge-n1: pinned to the Neoverse-N1 baseline of 6.1 and 7.2;
 * - db-1..2 on stable-a72, queue-1 on stable-n1: unpinned.
 */
import { baseline } from "../../check/baseline.js";
import { SimHosts } from "../../fleet/fleet.js";
import { abiHash, profileHash } from "../../fleet/model.js";
import type { StoredAbi } from "../../fleet/model.js";
import type { HostProfile } from "../../formats/profile.js";
import { openInventory } from "../../inventory/store.js";
import type { Inventory } from "../../inventory/store.js";
import { VCPU_FEATURES } from "../../kvm/index.js";

export async function simInventory(spec: string): Promise<Inventory> {
  const sim = new SimHosts([[VCPU_FEATURES.PSCI_0_2]]);
  const a72 = { new: sim.profile("7.2", "cortex-a72"), old: sim.profile("6.1", "cortex-a72") };
  const n1 = { new: sim.profile("7.2", "neoverse-n1"), old: sim.profile("6.1", "neoverse-n1") };
  const unpinned: StoredAbi = { kind: "host-defaults", features: [VCPU_FEATURES.PSCI_0_2] };
  const pinned = (p: { new: HostProfile; old: HostProfile }): StoredAbi => ({
    kind: "template",
    template: baseline([p.old, p.new], { names: ["6.1", "7.2"], now: () => new Date(0) }).template,
  });
  const [a72Pinned, n1Pinned] = [pinned(a72), pinned(n1)];
  const hosts = (group: string, n: number, p: HostProfile) =>
    Array.from({ length: n }, (_, i) => ({ name: `${group}-${i + 1}`, group, profile: profileHash(p) }));
  const vms = (name: string, group: string, groupHosts: number, n: number, abi: StoredAbi) =>
    Array.from({ length: n }, (_, i) => ({
      name: `${name}-${i + 1}`,
      host: `${group}-${(i % groupHosts) + 1}`,
      abi: abiHash(abi),
      vmm: "guestabi",
      vcpus: 1,
    }));
  const inv = await openInventory(spec);
  await inv.add({
    profiles: [a72.new, a72.old, n1.new, n1.old],
    abis: [unpinned, a72Pinned, n1Pinned],
    hosts: [
      ...hosts("edge-a72", 2, a72.new),
      ...hosts("edge-n1", 2, n1.new),
      ...hosts("stable-a72", 2, a72.old),
      ...hosts("stable-n1", 1, n1.old),
    ],
    vms: [
      ...vms("web", "edge-a72", 2, 4, unpinned),
      ...vms("api", "edge-a72", 2, 2, a72Pinned),
      ...vms("batch", "edge-n1", 2, 2, unpinned),
      ...vms("cache", "edge-n1", 2, 3, n1Pinned),
      ...vms("db", "stable-a72", 2, 2, unpinned),
      ...vms("queue", "stable-n1", 1, 1, unpinned),
    ],
  });
  return inv;
}
