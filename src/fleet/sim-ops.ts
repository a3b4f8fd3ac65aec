/**
 * The VMM side on simulated hosts, as the `pin`, `save`, `restore` and `migrate` commands run
 * it: each host is a simulator the caller opened (and closes), checked against its host profile
 * (probed on the simulator by SimHosts). KVM refusing an operation is a VmOpError; a restore or
 * migration that does not arrive is an outcome, not an error.
 */
import type { KvmSystem } from "../kvm/index.js";
import { DEFAULT_CONDUIT } from "../kvm/sim/fingerprint.js";
import type { Conduit, GuestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff, otherConduitDiff } from "../vm/guest-abi.js";
import { VmOpError } from "../vm/managed-vm.js";
import type { ManagedVm } from "../vm/managed-vm.js";
import { createPinnedVm } from "../vm/pin.js";
import type { PinReport } from "../vm/pin.js";
import { createDefaultVm, restore, save } from "../vm/vm.js";
import type { RestoreReport } from "../vm/vm.js";
import { SimHosts } from "./fleet.js";

/** A simulated host the caller opened: its system and the kernel generation and CPU it models. */
export interface SimHost {
  system: KvmSystem;
  generation: SimGeneration;
  cpu: string;
}

/** The VM to start: pinned to a template (its features), or with the host's defaults and `features`. */
export interface VmSpec {
  template?: AbiTemplate | undefined;
  vcpus: number;
  features: number[];
  /** The conduit the VMM's firmware tables name (default HVC): the guest view is compared over it. */
  conduit?: Conduit;
}

/** A new VM pinned to `template`, checked against the host's profile first. */
export function pinOnSim(host: SimHost, template: AbiTemplate, vcpus: number): PinReport {
  return startVm(host, new SimHosts([template.features]), { template, vcpus, features: template.features })
    .pin!;
}

/** Starts a VM as `spec` says and saves it. */
export function saveOnSim(host: SimHost, spec: VmSpec, note: string): Snapshot {
  const { vm } = startVm(host, new SimHosts([spec.template?.features ?? spec.features]), spec);
  return save(vm, { note });
}

/** A restore or migration's end: the VM arrived (and its report), or it did not (the VmOpError). */
export type Arrival =
  { arrived: true; vm: ManagedVm; report: RestoreReport } | { arrived: false; error: VmOpError };

/** Restores a snapshot on a simulated host: check, write, read back. */
export function restoreOnSim(snapshot: Snapshot, host: SimHost): Arrival {
  const hosts = new SimHosts(snapshot.vcpus.slice(0, 1).map((v) => v.init.features));
  return arrive(() =>
    restore(snapshot, host.system, { profile: hosts.profile(host.generation, host.cpu), cpuLabel: host.cpu }),
  );
}

export interface SimMigration {
  /** The vCPU features the VM runs with. */
  features: number[];
  /** Pinned to a template: how many registers the pin changed from the source host's defaults. */
  pinned?: { changed: number };
  saved: { vcpus: number; registers: number };
  /** The guest ABI fingerprint on the source (on a throwaway VM of the same simulated host). */
  before: GuestAbiFingerprint;
  arrival: Arrival;
  /**
   * Arrived: the fingerprint on the destination, what differs from the source's in the guest view
   * (over the VMM's conduit), and what differs only through the other conduit, which the guest never uses.
   */
  after?: {
    fingerprint: GuestAbiFingerprint;
    diff: [string, string][];
    otherConduitDiff: [string, string][];
  };
}

/**
 * Starts a VM on `from`, saves it and restores it on `to`. A VM that cannot start on the source throws
 * VmOpError; a restore that is refused or fails is the outcome's `arrival`.
 */
export function migrateOnSim(from: SimHost, to: SimHost, spec: VmSpec): SimMigration {
  const features = spec.template?.features ?? spec.features;
  const hosts = new SimHosts([features]);
  const started = startVm(from, hosts, { ...spec, features });
  const snapshot = save(started.vm);
  const fingerprint = (host: SimHost, abi: AbiTemplate | "host-defaults") =>
    abiFingerprint(
      host.system,
      abi,
      features,
      abi === "host-defaults" ? undefined : hosts.profile(host.generation, host.cpu),
      spec.conduit ?? DEFAULT_CONDUIT,
    );
  const before = fingerprint(from, spec.template ?? "host-defaults");
  const arrival = arrive(() =>
    restore(snapshot, to.system, {
      profile: hosts.profile(to.generation, to.cpu),
      sourceProfile: hosts.profile(from.generation, from.cpu),
      cpuLabel: to.cpu,
    }),
  );
  const m: SimMigration = {
    features,
    ...(started.pin ? { pinned: { changed: started.pin.changed.length } } : {}),
    saved: {
      vcpus: snapshot.vcpus.length,
      registers: snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0),
    },
    before,
    arrival,
  };
  if (arrival.arrived) {
    const after = fingerprint(to, abiOfSnapshot(save(arrival.vm, { createdAt: false })));
    m.after = {
      fingerprint: after,
      diff: fingerprintDiff(before, after),
      otherConduitDiff: otherConduitDiff(before, after),
    };
  }
  return m;
}

/** A VM on a simulated host: pinned to a template (checked against the host's profile) or with host defaults. */
function startVm(host: SimHost, hosts: SimHosts, spec: VmSpec): { vm: ManagedVm; pin?: PinReport } {
  if (spec.template) {
    const r = createPinnedVm(host.system, spec.template, {
      vcpus: spec.vcpus,
      cpuLabel: host.cpu,
      profile: hosts.profile(host.generation, host.cpu),
    });
    return { vm: r.vm, pin: r.report };
  }
  return {
    vm: createDefaultVm(host.system, { vcpus: spec.vcpus, features: spec.features, cpuLabel: host.cpu }),
  };
}

/** A restore's end as an Arrival; a snapshot that is bad input (kind "input") is thrown, not an outcome. */
function arrive(run: () => { vm: ManagedVm; report: RestoreReport }): Arrival {
  try {
    const r = run();
    return { arrived: true, vm: r.vm, report: r.report };
  } catch (e) {
    if (e instanceof VmOpError && e.kind !== "input") return { arrived: false, error: e };
    throw e;
  }
}

/**
 * The cause of a fingerprint difference no register can pin, when it is the one the kernels have: the
 * SMC conduit (handle_smc: up to 6.1 an SMC returns -1 in x0; from 6.4 SMC #0 is an SMCCC call like
 * HVC; in a guest view only when the VMM's conduit is SMC). Undefined for any other difference.
 */
export function unpinnableCause(a: string, b: string): string | undefined {
  return / via smc:/.test(a) && / via smc:/.test(b) ? "the SMC conduit (handle_smc)" : undefined;
}
