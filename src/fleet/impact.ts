/**
 * impact(fleet, {rollback: GROUP, to: KERNEL}): what rolling a host group's kernel back does to the VMs
 * running there, on the simulator. For each VM of the group:
 *
 * - migrate: can it still live-migrate within its group once hosts run the older kernel? Its state on
 *   the group's current kernel (a snapshot: a VM started with its ABI there and saved, or its snapshot
 *   file) is checked against the rolled-back hosts' profile (check.ts checkAbi). Incompatible: the VM
 *   "breaks" (it can only move by rebooting).
 * - restart: does the guest see a different ABI when it runs on the rolled-back kernel? The guest ABI
 *   fingerprint (src/kvm/sim guestAbiFingerprint: the guest probe program's view) of its ABI on the
 *   current kernel against the same on the older one. Different: "guest-view-changes". A pinned ABI the
 *   older kernel refuses (pin.ts fails) is a "breaks" too: the VM cannot even start there.
 * - "safe" otherwise; VMs of other groups are "unaffected" (they never run on the group's hosts).
 *
 * Every VM, and the fingerprint's probe VM, has the vGICv3 VMMs build (kvm/machine.ts), so the GIC ID
 * fields and GICD_IIDR are what a real VM's guest reads. The fingerprint is taken over the VMs' conduit
 * (HVC unless the options say otherwise): what
 * changes only through the other one (across 6.4 handle_smc's: SMC #0 became an SMCCC call) is
 * reported apart (restart.otherConduitDifferences) and changes no VM's status.
 *
 * Modes: "as-described" (each VM's own ABI choice), "host-defaults" (every VM unpinned), "pinned"
 * (every VM pinned to one template, e.g. the fleet's baseline).
 */
import { DEFAULT_CONDUIT } from "../kvm/sim/fingerprint.js";
import type { Conduit, GuestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { SIM_GENERATIONS } from "../kvm/sim/index.js";
import { checkAbi } from "../check/check.js";
import type { Verdict } from "../check/check.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import type { Fleet, FleetVm, HostGroup, VmAbi } from "./fleet.js";
import { FleetError, SimHosts, groupOf, vmFeatures } from "./fleet.js";
import { VmOpError } from "../vm/managed-vm.js";
import { createPinnedVm } from "../vm/pin.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff, otherConduitDiff } from "../vm/guest-abi.js";
import { createDefaultVm, save } from "../vm/vm.js";

export type ImpactMode = "as-described" | "host-defaults" | "pinned";
export type VmStatus = "breaks" | "guest-view-changes" | "safe" | "cannot-start";
export const VM_STATUSES: readonly VmStatus[] = ["breaks", "guest-view-changes", "safe", "cannot-start"];

export interface ImpactOptions {
  /** The host group rolled back. */
  rollback: string;
  /** The kernel generation it goes back to. */
  to: SimGeneration;
  /** Default "as-described". */
  mode?: ImpactMode;
  /** Mode "pinned": the template every VM is pinned to, or a VM's template (e.g. its domain's baseline). */
  pinTo?: AbiTemplate | ((vm: FleetVm) => AbiTemplate);
  /** Simulated hosts and their cached profiles (shared across calls to save probing). */
  hosts?: SimHosts;
  /** The conduit the VMs' firmware tables name (default HVC): the guest view is compared over it. */
  conduit?: Conduit;
  /** The VMM that migrates the VMs (default: guestabi's own restore). */
  vmm?: RestorePolicy;
}

export interface VmImpact {
  vm: string;
  group: string;
  count: number;
  abi: VmAbi["kind"];
  status: VmStatus;
  /** checkAbi of the VM's state on the current kernel against the rolled-back hosts. */
  migrate: { compatible: boolean; incompatible: Verdict[]; tolerated: number } | { error: string };
  /**
   * Guest ABI fingerprints on the current and the rolled-back kernel, the lines that differ, and
   * whether every difference is one no register can pin (unpinnableCause).
   */
  restart: {
    before: string;
    after?: string;
    /** The guest view's differences, over the VMs' conduit. */
    differences: [string, string][];
    /** Differences only through the other conduit, which the guest never uses: no change it sees. */
    otherConduitDifferences?: [string, string][];
    unpinnableOnly?: boolean;
    error?: string;
  };
}

export interface ImpactCounts {
  /** VMs of the group (weighted by count). */
  vms: number;
  breaks: number;
  guestViewChanges: number;
  /** Of guestViewChanges: VMs whose every difference is one no register pins (unpinnableCause). */
  unpinnableOnly: number;
  safe: number;
  cannotStart: number;
}

export interface ImpactReport {
  fleet: string;
  rollback: { group: string; cpu: string; hosts: number; from: SimGeneration; to: SimGeneration };
  mode: ImpactMode;
  vms: VmImpact[];
  counts: ImpactCounts;
  /** VMs of the other groups (weighted): they never run on the rolled-back hosts. */
  unaffected: number;
}

/** What impact needs from a VM: its ABI as run (possibly overridden by the mode). */
function effectiveAbi(vm: FleetVm, mode: ImpactMode, pinTo: ImpactOptions["pinTo"]): VmAbi {
  if (mode === "host-defaults") return { kind: "host-defaults", features: vmFeatures(vm) };
  if (mode === "pinned")
    return { kind: "template", path: "(plan)", template: typeof pinTo === "function" ? pinTo(vm) : pinTo! };
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
export function impact(fleet: Fleet, opts: ImpactOptions): ImpactReport {
  const group = groupOf(fleet, opts.rollback);
  const mode = opts.mode ?? "as-described";
  if (!(SIM_GENERATIONS as readonly string[]).includes(opts.to))
    throw new FleetError(`unknown kernel '${opts.to}' (known: ${SIM_GENERATIONS.join(", ")})`);
  if (mode === "pinned" && !opts.pinTo) throw new FleetError("impact mode 'pinned' needs a template (pinTo)");
  const pinFeatures = opts.pinTo && typeof opts.pinTo !== "function" ? [opts.pinTo.features] : [];
  const hosts = opts.hosts ?? new SimHosts(fleet.vms.map(vmFeatures).concat(pinFeatures));
  const target = hosts.profile(opts.to, group.cpu);
  const vms: VmImpact[] = [];
  for (const vm of fleet.vms.filter((v) => v.group === group.name)) {
    const abi = effectiveAbi(vm, mode, opts.pinTo);
    const base = { vm: vm.name, group: vm.group, count: vm.count, abi: abi.kind };
    const state = stateOn(group, vm, abi, hosts);
    if (state instanceof VmOpError) {
      vms.push({
        ...base,
        status: "cannot-start",
        migrate: { error: state.message },
        restart: { before: "", differences: [], error: state.message },
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
      incompatible: report.verdicts.filter((v) => v.level === "incompatible"),
      tolerated: report.verdicts.filter((v) => v.level === "tolerated").length,
    };
    const conduit = opts.conduit ?? DEFAULT_CONDUIT;
    const before = fingerprintOn(hosts, group.kernel, group.cpu, abi, conduit);
    const after = fingerprintOn(hosts, opts.to, group.cpu, abi, conduit);
    let restart: VmImpact["restart"];
    if (before instanceof VmOpError) restart = { before: "", differences: [], error: before.message };
    else if (after instanceof VmOpError)
      restart = { before: before.sha256, differences: [], error: after.message };
    else {
      const differences = fingerprintDiff(before, after);
      restart = {
        before: before.sha256,
        after: after.sha256,
        differences,
        otherConduitDifferences: otherConduitDiff(before, after),
        unpinnableOnly:
          differences.length > 0 && differences.every(([a, b]) => unpinnableCause(a, b) !== undefined),
      };
    }
    const status: VmStatus =
      !migrate.compatible || restart.error !== undefined
        ? "breaks"
        : restart.differences.length
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
      unpinnableOnly: vms
        .filter((v) => v.status === "guest-view-changes" && v.restart.unpinnableOnly)
        .reduce((n, v) => n + v.count, 0),
      safe: sum("safe"),
      cannotStart: sum("cannot-start"),
    },
    unaffected: fleet.vms.filter((v) => v.group !== group.name).reduce((n, v) => n + v.count, 0),
  };
}

/**
 * "40 break, 20 guest view changes (all unpinnable), 0 safe" (+ cannot start when any); "unpinnable":
 * differences no register can pin (unpinnableCause).
 */
export function countsText(c: ImpactCounts): string {
  const unpinnable =
    c.guestViewChanges && c.unpinnableOnly === c.guestViewChanges
      ? " (all unpinnable)"
      : c.unpinnableOnly
        ? ` (${c.unpinnableOnly} unpinnable)`
        : "";
  const parts = [
    `${c.breaks} break`,
    `${c.guestViewChanges} guest view changes${unpinnable}`,
    `${c.safe} safe`,
  ];
  if (c.cannotStart) parts.push(`${c.cannotStart} cannot start`);
  return parts.join(", ");
}

/** The human report of one impact run. */
export function formatImpact(r: ImpactReport): string {
  const rb = r.rollback;
  const lines = [
    `rollback of group ${rb.group} (${rb.hosts} hosts, ${rb.cpu}) from ${rb.from} to ${rb.to}, VMs ${r.mode === "as-described" ? "as described" : r.mode === "pinned" ? "pinned to the template" : "with host defaults"}`,
    `  ${r.counts.vms} VMs: ${countsText(r.counts)}; ${r.unaffected} VMs of other groups unaffected`,
    "",
  ];
  const w = Math.max(2, ...r.vms.map((v) => v.vm.length));
  lines.push(`  ${"VM".padEnd(w)}  COUNT  ABI            STATUS              WHY`);
  for (const v of r.vms) {
    lines.push(
      `  ${v.vm.padEnd(w)}  ${String(v.count).padStart(5)}  ${v.abi.padEnd(13)}  ${v.status.padEnd(18)}  ${why(v)}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** A short reason for a VM's status. */
export function why(v: VmImpact): string {
  if ("error" in v.migrate) return v.migrate.error;
  if (!v.migrate.compatible) {
    const bad = v.migrate.incompatible;
    const names = [...new Set(bad.map((x) => `${x.register}${x.field ? "." + x.field : ""}`))];
    return `migration refused: ${names.slice(0, 4).join(", ")}${names.length > 4 ? `, +${names.length - 4}` : ""}`;
  }
  if (v.restart.error) return `restart refused: ${v.restart.error}`;
  if (v.restart.differences.length) {
    const names = [...new Set(v.restart.differences.map(([a]) => a.split(":")[0]!))];
    const causes = [...new Set(v.restart.differences.map(([a, b]) => unpinnableCause(a, b) ?? "?"))];
    const tail = causes.includes("?") ? "" : ` (no register pins it: ${causes.join("; ")})`;
    return `guest sees: ${names.slice(0, 4).join(", ")}${names.length > 4 ? `, +${names.length - 4}` : ""}${tail}`;
  }
  return "";
}

/**
 * The cause of a fingerprint difference no register can pin, when it is the one the kernels have: the
 * SMC conduit (handle_smc: up to 6.1 an SMC returns -1 in x0; from 6.4 SMC #0 is an SMCCC call like
 * HVC; in a guest view only when the VMM's conduit is SMC). Undefined for any other difference.
 */
export function unpinnableCause(a: string, b: string): string | undefined {
  return / via smc:/.test(a) && / via smc:/.test(b) ? "the SMC conduit (handle_smc)" : undefined;
}
