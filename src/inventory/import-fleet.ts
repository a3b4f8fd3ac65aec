/**
 * A fleet file's fleet (fleet/fleet.ts) as inventory rows: each group's hosts become hosts
 * `<group>-1` .. `<group>-<hosts>`, all with the group's simulated profile (SimHosts, probed with the
 * configurations the fleet's VMs use); each VM entry of count c becomes VMs `<name>-1` .. `<name>-c`,
 * dealt round-robin over its group's hosts (a group's entries continuing where the one before
 * stopped), with the entry's ABI, VMM and vCPUs.
 */
import { SimHosts, vmFeatures } from "../fleet/fleet.js";
import type { Fleet, FleetVm } from "../fleet/fleet.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { StoredAbi } from "../fleet/model.js";
import type { HostRow, VmRow } from "./backend.js";
import type { BatchResult, Inventory, InventoryBatch } from "./store.js";

function storedAbi(v: FleetVm): StoredAbi {
  switch (v.abi.kind) {
    case "host-defaults":
      return { kind: "host-defaults", features: v.abi.features };
    case "template":
      return { kind: "template", template: v.abi.template };
    case "snapshot":
      return { kind: "snapshot", snapshot: v.abi.snapshot };
  }
}

/** The rows `fleet` comes to, profiles probed on `sim` (by default: covering the fleet's VM features). */
export function fleetBatch(fleet: Fleet, sim = new SimHosts(fleet.vms.map(vmFeatures))): InventoryBatch {
  // Groups of one kernel and CPU share a profile (SimHosts probes each once): hashed once each.
  const groupProfiles = fleet.groups.map((g) => sim.profile(g.kernel, g.cpu));
  const profiles = [...new Set(groupProfiles)];
  const hashes = new Map(profiles.map((p) => [p, profileHash(p)]));
  const abis = fleet.vms.map(storedAbi);
  const abiHashes = abis.map(abiHash);
  const hosts: HostRow[] = fleet.groups.flatMap((g, i) =>
    Array.from({ length: g.hosts }, (_, n) => ({
      name: `${g.name}-${n + 1}`,
      group: g.name,
      profile: hashes.get(groupProfiles[i]!)!,
    })),
  );
  const dealt = new Map<string, number>(); // VMs placed so far in each group
  const vms: VmRow[] = fleet.vms.flatMap((v, i) => {
    const group = fleet.groups.find((g) => g.name === v.group)!;
    const first = dealt.get(group.name) ?? 0;
    dealt.set(group.name, first + v.count);
    return Array.from({ length: v.count }, (_, n) => ({
      name: `${v.name}-${n + 1}`,
      host: `${group.name}-${((first + n) % group.hosts) + 1}`,
      abi: abiHashes[i]!,
      vmm: v.vmm,
      vcpus: v.vcpus,
    }));
  });
  return { profiles, abis, hosts, vms };
}

/** Adds `fleet` to `inv` in one transaction (hosts and VMs of the same names replaced). */
export function importFleet(inv: Inventory, fleet: Fleet): Promise<BatchResult> {
  return inv.add(fleetBatch(fleet));
}
