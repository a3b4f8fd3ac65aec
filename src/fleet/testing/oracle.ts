/**
 * The ORACLE of the fleet analysis (conformance.test.ts): impact by simulating every VM entry, as
 * guestabi answered before the analysis read profiles (issue 13). For each VM of the rolled-back group
 * on the simulator:
 *
 * - migrate: its state on the group's kernel (a VM started with its ABI there and saved, or its
 *   snapshot file) checked against the rolled-back hosts' profile (check.ts checkAbi), under the VMM's
 *   restore rules: the VMM refuses it (restore.loads false): "breaks";
 * - restart: the guest ABI fingerprint (src/kvm/sim guestAbiFingerprint: the guest probe program's
 *   view) of its ABI on the group's kernel against the same on the older one; different, or loaded by
 *   a VMM despite an incompatibility: "guest-view-changes". An ABI the older kernel refuses (pin.ts
 *   fails) "breaks" too: the VM cannot even start there; one the group's kernel refuses "cannot-start".
 *
 * The fingerprint is taken over the VMs' conduit (HVC unless told otherwise); what changes only through
 * the other one (across 6.4 handle_smc's: SMC #0 became an SMCCC call) is apart and changes no status.
 * About 5 ms a VM entry (each builds and saves a simulated VM): a reference, not a path of the tool.
 */
import { DEFAULT_CONDUIT } from "../../kvm/sim/fingerprint.js";
import type { Conduit, GuestAbiFingerprint } from "../../kvm/sim/fingerprint.js";
import type { SimGeneration } from "../../kvm/sim/index.js";
import { SIM_GENERATIONS } from "../../kvm/sim/index.js";
import { checkAbi } from "../../check/check.js";
import type { Verdict } from "../../check/check.js";
import type { RestorePolicy } from "../../check/restore-policy.js";
import { baseline } from "../../check/baseline.js";
import type { Fleet, FleetVm, HostGroup, VmAbi } from "../fleet.js";
import { FleetError, SimHosts, configsFor, groupOf, vmFeatures } from "../fleet.js";
import type { VmStatus } from "../analysis.js";
import { VmOpError } from "../../vm/managed-vm.js";
import { createPinnedVm } from "../../vm/pin.js";
import type { Snapshot } from "../../formats/snapshot.js";
import type { AbiTemplate } from "../../formats/template.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff, otherConduitDiff } from "../../vm/guest-abi.js";
import { createDefaultVm, save } from "../../vm/vm.js";

export type OracleMode = "as-described" | "host-defaults" | "pinned";

export interface OracleOptions {
  /** The host group rolled back. */
  rollback: string;
  /** The kernel generation it goes back to. */
  to: SimGeneration;
  /** Default "as-described". */
  mode?: OracleMode;
  /**
   * Mode "pinned": the template every VM is pinned to (default: each VM's baseline of its group's
   * kernel and `to`, over the two simulated profiles reduced to the VM's probe configuration).
   */
  pinTo?: AbiTemplate;
  /** Simulated hosts and their cached profiles (shared across calls to save probing). */
  hosts?: SimHosts;
  /** The conduit the VMs' firmware tables name (default HVC): the guest view is compared over it. */
  conduit?: Conduit;
  /** The VMM that migrates the VMs (default: guestabi's own restore). */
  vmm?: RestorePolicy;
}

export interface OracleVm {
  vm: string;
  group: string;
  count: number;
  abi: VmAbi["kind"];
  status: VmStatus;
  /** checkAbi of the VM's state on the current kernel against the rolled-back hosts. */
  migrate: { compatible: boolean; loads: boolean; incompatible: Verdict[] } | { error: string };
  /**
   * Guest ABI fingerprints on the current and the rolled-back kernel, the lines that differ, and
   * whether every difference is one no register can pin (unpinnableCause).
   */
  restart: {
    /** The guest view's differences, over the VMs' conduit. */
    differences: [string, string][];
    /** Differences only through the other conduit, which the guest never uses: no change it sees. */
    otherConduitDifferences?: [string, string][];
    error?: string;
  };
}

export interface OracleCounts {
  /** VMs of the group (weighted by count). */
  vms: number;
  breaks: number;
  guestViewChanges: number;
  safe: number;
  cannotStart: number;
}

export interface OracleReport {
  fleet: string;
  rollback: { group: string; cpu: string; hosts: number; from: SimGeneration; to: SimGeneration };
  mode: OracleMode;
  vms: OracleVm[];
  counts: OracleCounts;
  /** VMs of the other groups (weighted): they never run on the rolled-back hosts. */
  unaffected: number;
}

/**
 * The baseline a VM is pinned to by default: of its group's kernel and `to`, over the two simulated
 * profiles reduced to the probe configuration of exactly its features (what plan pinned before).
 */
function pairBaseline(hosts: SimHosts, group: HostGroup, vm: FleetVm, to: SimGeneration): AbiTemplate {
  const f = vmFeatures(vm);
  const key = [...f].sort((a, b) => a - b).join();
  const config = configsFor([f]).find((c) => c !== "psci-0.2" || key === "2");
  if (!config) throw new FleetError(`no probe configuration for VM '${vm.name}'`);
  const kernels = [...new Set([group.kernel, to])].sort(
    (a, b) => SIM_GENERATIONS.indexOf(a) - SIM_GENERATIONS.indexOf(b),
  );
  const profiles = kernels.map((k) => {
    const p = hosts.profile(k, group.cpu);
    return { ...p, configs: p.configs.filter((c) => c.name === config) };
  });
  return baseline(profiles, { names: kernels, now: () => new Date(0) }).template;
}

/** What impact needs from a VM: its ABI as run (possibly overridden by the mode). */
function effectiveAbi(vm: FleetVm, mode: OracleMode, pinTo: () => AbiTemplate): VmAbi {
  if (mode === "host-defaults") return { kind: "host-defaults", features: vmFeatures(vm) };
  if (mode === "pinned") return { kind: "template", path: "(pinned)", template: pinTo() };
  return vm.abi;
}

const fingerprintCache = new WeakMap<SimHosts, Map<string, GuestAbiFingerprint | VmOpError>>();
const templateKeys = new WeakMap<object, number>();
let nextKey = 0;
const keyOf = (o: object): number => {
  let k = templateKeys.get(o);
  if (k === undefined) templateKeys.set(o, (k = nextKey++));
  return k;
};

/** The fingerprint of an ABI on (kernel, CPU), cached per SimHosts; a refused pin is returned, not thrown. */
function fingerprintOn(
  hosts: SimHosts,
  kernel: SimGeneration,
  cpu: string,
  abi: VmAbi,
  conduit: Conduit,
): GuestAbiFingerprint | VmOpError {
  let cache = fingerprintCache.get(hosts);
  if (!cache) fingerprintCache.set(hosts, (cache = new Map()));
  const what =
    abi.kind === "host-defaults"
      ? `d:${abi.features.join()}`
      : abi.kind === "template"
        ? `t:${keyOf(abi.template)}`
        : `s:${keyOf(abi.snapshot)}`;
  const key = `${kernel}/${cpu}/${conduit}/${what}`;
  let fp = cache.get(key);
  if (!fp) {
    const sys = hosts.system(kernel, cpu);
    try {
      const t =
        abi.kind === "template" ? abi.template : abi.kind === "snapshot" ? abiOfSnapshot(abi.snapshot) : null;
      fp = t
        ? abiFingerprint(sys, t, t.features, hosts.profile(kernel, cpu), conduit)
        : abiFingerprint(
            sys,
            "host-defaults",
            abi.kind === "host-defaults" ? abi.features : [],
            undefined,
            conduit,
          );
    } catch (e) {
      if (!(e instanceof VmOpError)) throw e;
      fp = e;
    } finally {
      sys.close();
    }
    cache.set(key, fp);
  }
  return fp;
}

/** The VM's state on (kernel, CPU) before its first run, as a snapshot; a refused pin is returned. */
function stateOn(group: HostGroup, vm: FleetVm, abi: VmAbi, hosts: SimHosts): Snapshot | VmOpError {
  if (abi.kind === "snapshot") return abi.snapshot;
  const sys = hosts.system(group.kernel, group.cpu);
  try {
    const m =
      abi.kind === "host-defaults"
        ? createDefaultVm(sys, { vcpus: vm.vcpus, features: abi.features, cpuLabel: group.cpu })
        : createPinnedVm(sys, abi.template, {
            vcpus: vm.vcpus,
            cpuLabel: group.cpu,
            profile: hosts.profile(group.kernel, group.cpu),
          }).vm;
    return save(m, { createdAt: false });
  } catch (e) {
    if (e instanceof VmOpError) return e;
    throw e;
  } finally {
    sys.close();
  }
}

/** The rollback impact of one group (see the top of this file). */
export function simulateImpact(fleet: Fleet, opts: OracleOptions): OracleReport {
  const group = groupOf(fleet, opts.rollback);
  const mode = opts.mode ?? "as-described";
  if (!(SIM_GENERATIONS as readonly string[]).includes(opts.to))
    throw new FleetError(`unknown kernel '${opts.to}' (known: ${SIM_GENERATIONS.join(", ")})`);
  const hosts =
    opts.hosts ?? new SimHosts(fleet.vms.map(vmFeatures).concat(opts.pinTo ? [opts.pinTo.features] : []));
  const target = hosts.profile(opts.to, group.cpu);
  const vms: OracleVm[] = [];
  for (const vm of fleet.vms.filter((v) => v.group === group.name)) {
    const abi = effectiveAbi(vm, mode, () => opts.pinTo ?? pairBaseline(hosts, group, vm, opts.to));
    const base = { vm: vm.name, group: vm.group, count: vm.count, abi: abi.kind };
    const state = stateOn(group, vm, abi, hosts);
    if (state instanceof VmOpError) {
      vms.push({
        ...base,
        status: "cannot-start",
        migrate: { error: state.message },
        restart: { differences: [], error: state.message },
      });
      continue;
    }
    // The source kernel's reset values make the check exact for registers only one side lists.
    const source = abi.kind === "snapshot" ? undefined : hosts.profile(group.kernel, group.cpu);
    const report = checkAbi(state, target, {
      ...(source ? { sourceProfile: source } : {}),
      ...(opts.vmm ? { vmm: opts.vmm } : {}),
    });
    const migrate = {
      compatible: report.compatible,
      loads: report.restore.loads,
      incompatible: report.verdicts.filter((v) => v.level === "incompatible"),
    };
    const conduit = opts.conduit ?? DEFAULT_CONDUIT;
    const before = fingerprintOn(hosts, group.kernel, group.cpu, abi, conduit);
    const after = fingerprintOn(hosts, opts.to, group.cpu, abi, conduit);
    let restart: OracleVm["restart"];
    if (before instanceof VmOpError) restart = { differences: [], error: before.message };
    else if (after instanceof VmOpError) restart = { differences: [], error: after.message };
    else
      restart = {
        differences: fingerprintDiff(before, after),
        otherConduitDifferences: otherConduitDiff(before, after),
      };
    // A VMM that loads an incompatible VM (no check first) changes what its guest sees.
    const status: VmStatus =
      !migrate.loads || restart.error !== undefined
        ? "breaks"
        : restart.differences.length || !migrate.compatible
          ? "guest-view-changes"
          : "safe";
    vms.push({ ...base, status, migrate, restart });
  }
  const sum = (s: VmStatus) => vms.filter((v) => v.status === s).reduce((n, v) => n + v.count, 0);
  return {
    fleet: fleet.name,
    rollback: { group: group.name, cpu: group.cpu, hosts: group.hosts, from: group.kernel, to: opts.to },
    mode,
    vms,
    counts: {
      vms: vms.reduce((n, v) => n + v.count, 0),
      breaks: sum("breaks"),
      guestViewChanges: sum("guest-view-changes"),
      safe: sum("safe"),
      cannotStart: sum("cannot-start"),
    },
    unaffected: fleet.vms.filter((v) => v.group !== group.name).reduce((n, v) => n + v.count, 0),
  };
}
