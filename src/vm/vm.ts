/**
 * save / restore / migrate: a VM's complete register state from one host to another (or to the same
 * host after a kernel change), never leaving a vCPU with partial state.
 *
 * - save(vm): every register of every vCPU that KVM_GET_REG_LIST reports, bit-exact, ids guestabi does
 *   not know included (snapshot.ts captureVcpu), the VM-wide state KVM cannot report (IPA size, caps,
 *   attributes: recorded in the ManagedVm when the VM was set up) and the source host's identity.
 * - restore(snapshot, system, {profile}): first checkAbi(snapshot, destination profile) (check.ts); an
 *   incompatible verdict refuses the restore before anything is created, with the verdicts. Then the
 *   VM and vCPUs are created and every register written in the order of write-order.ts (ID registers,
 *   firmware registers, bitmaps, SVE VLS + finalize, then the rest, ascending), and every written
 *   register is read back and compared. Any failure stops the restore, destroys the destination VM and
 *   reports the register and errno (VmOpError, one line): restore never returns a VM with partial
 *   state, so no vCPU of it can run.
 *
 *   restore takes the destination KvmSystem, not a VM: the IPA size is an argument of KVM_CREATE_VM
 *   (KVM_VM_TYPE_ARM_IPA_SIZE -> kvm_init_stage2_mmu), and caps such as KVM_CAP_ARM_WRITABLE_IMP_ID_REGS
 *   must be enabled before the first vCPU exists (kvm_vm_ioctl_enable_cap), so only a restore that
 *   creates the VM can replay a snapshot faithfully. It owns that VM until it returns successfully.
 *
 *   What is not a failure: a register the destination refuses with ENOENT (it does not have it) is
 *   skipped when checkAbi's verdict for it is "tolerated" (e.g. 7.2's VENDOR_HYP_BMAP_2 = 0 on 6.1); a
 *   read-back that differs only as KVM documents (read-back.ts compareReadBack: WORKAROUND levels are
 *   checked, not stored; time-varying bits) is "adjusted". ID, firmware and bitmap registers already
 *   holding the saved value are not rewritten (write-order.ts setIfDifferent). Every skip and
 *   adjustment is in the report.
 * - migrate(vm, destination, {profile}) = save on the source's backend + restore on the destination's.
 *   The source VM is left as it was (a VMM destroys it once the destination runs).
 */
import { parseId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { VCPU_FEATURES, getRegList, normalizeVcpuInit, vcpuFeatureNames } from "../kvm/index.js";
import type { Irqchip, KvmSystem, KvmVcpu, KvmVm, RegValue } from "../kvm/index.js";
import { checkAbi } from "../check/check.js";
import type { CheckReport, Verdict } from "../check/check.js";
import type { HostProfile } from "../formats/profile.js";
import type { DeviceAttr, HostIdentity, Snapshot, VcpuSnapshot, VmState } from "../formats/snapshot.js";
import { SVE_VLS_ID, captureVcpu, sameIds, validateSnapshot, vqsToVls } from "../formats/snapshot.js";
import {
  VmOpError,
  destroyAfterFailure,
  getOneRegStep,
  hostIdentityOf,
  kvmStep,
  setOneRegStep,
} from "./managed-vm.js";
import type { ManagedVcpu, ManagedVm } from "./managed-vm.js";
import { buildMachine, machineStateOf, setMachineRevisions } from "./machine.js";
import { cmpId, groupByPhase, idWriteHint, readMasks, setIfDifferent, writePhase } from "./write-order.js";
import type { WritePhase } from "./write-order.js";
import { verifiedReadBack } from "./read-back.js";
import type { ReadBack } from "./read-back.js";
import type { PinStep } from "./pin.js";

// ---- a VM with the host's defaults -----------------------------------------------------------------

export interface DefaultVmOptions {
  /** vCPUs (ids 0..n-1). Default 1. */
  vcpus?: number;
  /** KVM_ARM_VCPU_INIT features. Default [PSCI_0_2]. */
  features?: readonly number[];
  ipaBits?: number;
  /** KVM_ARM_VCPU_PMU_V3_INIT on PMU_V3 vCPUs (no in-kernel irqchip). Default true. */
  initPmu?: boolean;
  cpuLabel?: string | null;
}

/**
 * A VM as a VMM that pins nothing makes it ("abi": "host-defaults"): created, every vCPU initialised
 * with the features, SVE finalized with the host's vector lengths, the PMU initialised. Whatever the
 * host kernel shows a new VM is what the guest gets. On failure the VM is destroyed.
 */
export function createDefaultVm(system: KvmSystem, opts: DefaultVmOptions = {}): ManagedVm {
  const n = opts.vcpus ?? 1;
  const ipaBits = opts.ipaBits ?? 0;
  const vm = kvmStep("create", { op: "KVM_CREATE_VM" }, () => system.createVm(ipaBits ? { ipaBits } : {}));
  try {
    const vcpus: KvmVcpu[] = [];
    for (let i = 0; i < n; i++)
      vcpus.push(kvmStep("create", { op: `KVM_CREATE_VCPU ${i}` }, () => vm.createVcpu(i)));
    const target = vm.preferredTarget().target;
    const init = normalizeVcpuInit({ target, features: opts.features ?? [VCPU_FEATURES.PSCI_0_2] });
    const managed: ManagedVcpu[] = vcpus.map((vcpu) => {
      kvmStep("create", { op: "KVM_ARM_VCPU_INIT", vcpu: vcpu.id }, () => vcpu.init(init));
      if (init.features.includes(VCPU_FEATURES.SVE))
        kvmStep("create", { op: "KVM_ARM_VCPU_FINALIZE(SVE)", vcpu: vcpu.id }, () =>
          vcpu.finalize(VCPU_FEATURES.SVE),
        );
      return { vcpu, init, attrs: [] };
    });
    const irqchip = buildMachine("create", vm, managed, { initPmu: opts.initPmu ?? true });
    return {
      vm,
      vcpus: managed,
      state: { ipaBits, caps: [], attrs: [] },
      ...(irqchip ? { irqchip } : {}),
      host: hostIdentityOf(system, opts.cpuLabel ?? null),
      abi: "host-defaults",
    };
  } catch (e) {
    throw destroyAfterFailure("create", vm, e, "the VM");
  }
}

// ---- save ---------------------------------------------------------------------------------------

export interface SaveOptions {
  /** The source host; default: what the ManagedVm recorded. */
  source?: HostIdentity;
  note?: string;
  /** ISO 8601 time to record; default now, false for none (reproducible snapshots). */
  createdAt?: string | false;
}

/** A snapshot of every vCPU's registers and the VM's state. The VM is not changed. */
export function save(m: ManagedVm, opts: SaveOptions = {}): Snapshot {
  const source = opts.source ?? m.host;
  if (!source) throw new VmOpError("save", "input", "the VM records no source host: give SaveOptions.source");
  const vcpus = m.vcpus.map((v) =>
    kvmStep("save", { op: "KVM_GET_REG_LIST/KVM_GET_ONE_REG", vcpu: v.vcpu.id }, () =>
      captureVcpu(v.vcpu, v.init, v.attrs.map(copyAttr)),
    ),
  );
  const createdAt = opts.createdAt === undefined ? new Date().toISOString() : opts.createdAt;
  return {
    source: { ...source },
    ...(createdAt !== false ? { createdAt } : {}),
    ...(opts.note !== undefined ? { note: opts.note } : {}),
    vm: { ...copyState(m.state), ...(m.irqchip ? { machine: machineStateOf(m.irqchip, "save") } : {}) },
    vcpus,
  };
}

const copyAttr = (a: DeviceAttr): DeviceAttr => ({
  group: a.group,
  attr: a.attr,
  data: Uint8Array.from(a.data),
});
/** The VM-wide state replayed before the vCPUs (the machine is read from the irqchip itself). */
const copyState = (s: VmState): VmState => ({
  ipaBits: s.ipaBits,
  caps: s.caps.map((c) => ({ cap: c.cap, flags: c.flags, args: [...c.args] })),
  attrs: s.attrs.map(copyAttr),
});

// ---- restore ------------------------------------------------------------------------------------

export interface RestoreOptions {
  /** The destination host's profile (probe.ts): checkAbi(snapshot, profile) must find it compatible. */
  profile: HostProfile;
  /** The source host's profile, if known: checkAbi then knows the source kernel's reset values. */
  sourceProfile?: HostProfile;
  cpuLabel?: string | null;
}

export interface RestoreReport {
  check: CheckReport;
  steps: PinStep[];
  /** Registers written (or, for ID/firmware/bitmap registers, found already equal: `unchanged`). */
  written: number;
  /** ID, firmware and bitmap registers that already held the snapshot's value (no write issued). */
  unchanged: number;
  /** Read-backs by outcome (ok, time-varying, adjusted). */
  readBacks: Record<"ok" | "time-varying" | "adjusted", number>;
  /** Read-backs KVM changed in a way the check or KVM's documented behaviour tolerates. */
  adjusted: ReadBack[];
  /** Snapshot registers the destination does not have (ENOENT), skipped because the check tolerates them. */
  skipped: { vcpu: number; id: RegId; reason: string }[];
  /** Registers the destination lists that the snapshot lacks: they keep KVM's reset values. */
  unsaved: RegId[];
}

export interface RestoreResult {
  vm: ManagedVm;
  report: RestoreReport;
}

/** checkAbi's verdicts by register id. */
function verdictsById(report: CheckReport): Map<RegId, Verdict[]> {
  const out = new Map<RegId, Verdict[]>();
  for (const v of report.verdicts) {
    let id: RegId;
    try {
      id = parseId(v.id);
    } catch {
      continue; // a verdict about something other than one register
    }
    out.set(id, [...(out.get(id) ?? []), v]);
  }
  return out;
}

/** Whether checkAbi tolerates a register's absence; the verdicts are indexed on the first question. */
function toleratedBy(report: CheckReport): (id: RegId) => boolean {
  let verdicts: Map<RegId, Verdict[]> | undefined;
  return (id) => {
    verdicts ??= verdictsById(report);
    return (verdicts.get(id) ?? []).some((v) => v.level === "tolerated");
  };
}

function refusal(report: CheckReport): string {
  const bad = report.verdicts.filter((v) => v.level === "incompatible");
  const names = [...new Set(bad.map((v) => `${v.register}${v.field ? "." + v.field : ""}`))];
  const list = names.slice(0, 6).join(", ") + (names.length > 6 ? `, +${names.length - 6} more` : "");
  return `${report.host} is incompatible with the snapshot (${bad.length} incompatible verdict${bad.length === 1 ? "" : "s"}: ${list}; first: ${bad[0]?.reason ?? ""})`;
}

/**
 * Restores a snapshot on the host behind `system` (see the top of this file). Throws VmOpError, never a
 * KvmError: kind "input" (an invalid snapshot, or one without vCPUs), "refused" (checkAbi said
 * incompatible; nothing was created), "kvm" (a KVM operation failed) or "verify" (a read-back
 * differs); in the last two the destination VM has been destroyed (destroyAfterFailure: a failing
 * destroy is reported alongside the error that stopped the restore).
 */
export function restore(snapshot: Snapshot, system: KvmSystem, opts: RestoreOptions): RestoreResult {
  try {
    validateSnapshot(snapshot);
  } catch (e) {
    throw new VmOpError("restore", "input", (e as Error).message);
  }
  // A VM without vCPUs has no register state: nothing of the snapshot could be restored or checked.
  if (snapshot.vcpus.length === 0)
    throw new VmOpError("restore", "input", "the snapshot has no vCPUs: there is nothing to restore");
  const check = checkAbi(
    snapshot,
    opts.profile,
    opts.sourceProfile ? { sourceProfile: opts.sourceProfile } : {},
  );
  if (!check.compatible)
    throw new VmOpError("restore", "refused", refusal(check), {
      verdicts: check.verdicts.filter((v) => v.level === "incompatible"),
    });
  const tolerated = toleratedBy(check);
  const steps: PinStep[] = [];
  const report: RestoreReport = {
    check,
    steps,
    written: 0,
    unchanged: 0,
    readBacks: { ok: 0, "time-varying": 0, adjusted: 0 },
    adjusted: [],
    skipped: [],
    unsaved: [],
  };
  // Read before the VM exists, so that its failure leaves nothing to clean up.
  const host = hostIdentityOf(system, opts.cpuLabel ?? null, "restore");
  const ipaBits = snapshot.vm.ipaBits;
  // KVM_CREATE_VM with the snapshot's IPA size (kvm_init_stage2_mmu checks it against the host's limit).
  const vm = kvmStep("restore", { op: `KVM_CREATE_VM(ipa ${ipaBits || 40})` }, () =>
    system.createVm(ipaBits ? { ipaBits } : {}),
  );
  try {
    const { managed, irqchip } = restoreInto(vm, snapshot, report, tolerated);
    return {
      vm: {
        vm,
        vcpus: managed,
        state: copyState(snapshot.vm),
        ...(irqchip ? { irqchip } : {}),
        host,
        abi: "snapshot",
      },
      report,
    };
  } catch (e) {
    throw destroyAfterFailure("restore", vm, e, "the destination VM");
  }
}

function restoreInto(
  vm: KvmVm,
  s: Snapshot,
  report: RestoreReport,
  tolerated: (id: RegId) => boolean,
): { managed: ManagedVcpu[]; irqchip: Irqchip | undefined } {
  const steps = report.steps;
  // Caps before any vCPU (kvm_vm_ioctl_enable_cap: WRITABLE_IMP_ID_REGS and MTE need !created_vcpus).
  for (const c of s.vm.caps)
    kvmStep("restore", { op: `KVM_ENABLE_CAP ${c.cap}` }, () => vm.enableCap(c.cap, c.args, c.flags));
  for (const a of s.vm.attrs)
    kvmStep(
      "restore",
      { op: `KVM_SET_DEVICE_ATTR(vm, group ${a.group}, attr 0x${a.attr.toString(16)})` },
      () => vm.setDeviceAttr(a.group, a.attr, a.data),
    );
  if (s.vm.caps.length || s.vm.attrs.length)
    steps.push({
      op: "KVM_ENABLE_CAP/KVM_SET_DEVICE_ATTR",
      detail: `${s.vm.caps.length} caps, ${s.vm.attrs.length} VM attributes`,
    });
  // Every vCPU before the first init (kvm_arch_vcpu_precreate).
  const vcpus = s.vcpus.map((v) =>
    kvmStep("restore", { op: `KVM_CREATE_VCPU ${v.id}` }, () => vm.createVcpu(v.id)),
  );
  steps.push({ op: "KVM_CREATE_VCPU", detail: `${vcpus.length} vCPUs` });
  // The destination's target, the snapshot's features: kvm_vcpu_set_target wants kvm_target_cpu() up to
  // 6.1, and the target is the host's CPU, not guest ABI.
  const target = kvmStep("restore", { op: "KVM_ARM_PREFERRED_TARGET" }, () => vm.preferredTarget()).target;
  const managed: ManagedVcpu[] = s.vcpus.map((sv, i) => {
    const vcpu = vcpus[i]!;
    const init = normalizeVcpuInit({ target, features: sv.init.features });
    kvmStep("restore", { op: "KVM_ARM_VCPU_INIT", vcpu: sv.id }, () => vcpu.init(init));
    return { vcpu, init, ...(sv.sveVqs ? { sveVqs: [...sv.sveVqs] } : {}), attrs: sv.attrs.map(copyAttr) };
  });
  steps.push({
    op: "KVM_ARM_VCPU_INIT",
    detail: `target ${target}; features ${featureSets(s).join(", ")}`,
  });
  // vCPU attributes right after init (kvm_arm_pmu_v3_set_attr; kvm_arm_set_pmu resets PMCR_EL0.N).
  let attrCount = 0;
  s.vcpus.forEach((sv, i) => {
    for (const a of sv.attrs) {
      kvmStep(
        "restore",
        { op: `KVM_SET_DEVICE_ATTR(group ${a.group}, attr 0x${a.attr.toString(16)})`, vcpu: sv.id },
        () => vcpus[i]!.setDeviceAttr(a.group, a.attr, a.data),
      );
      attrCount++;
    }
  });
  if (attrCount) steps.push({ op: "KVM_SET_DEVICE_ATTR", detail: `${attrCount} vCPU attributes` });
  // The snapshot's machine once every vCPU is initialised, its revisions before any register of the
  // guest's (vgic_mmio_uaccess_write_v3_misc needs CTRL_INIT done on 5.10-6.12).
  const m = s.vm.machine;
  let irqchip: Irqchip | undefined;
  if (m) {
    irqchip = buildMachine("restore", vm, managed, { spec: { nrIrqs: m.nrIrqs, its: m.its } });
    const changed = setMachineRevisions("restore", irqchip!, {
      gicdIidr: m.gicdIidr,
      ...(m.gitsIidr !== undefined ? { gitsIidr: m.gitsIidr } : {}),
    });
    steps.push({
      op: "KVM_CREATE_DEVICE",
      detail: `vGICv3 with ${m.nrIrqs} interrupts${m.its ? " and an ITS" : ""}${changed.length ? `; ${changed.join(", ")}` : ""}`,
    });
  }

  // The registers, phase by phase across vCPUs (write-order.ts: ID, firmware, bitmaps, VLS + finalize,
  // the rest).
  const masks = readMasks(vm);
  const groups = phaseGroups(s.vcpus);
  // Registers the destination refused with an ENOENT checkAbi tolerates, by vCPU index: not read back.
  const skipped = new Map<number, Set<RegId>>();
  // ID, firmware and bitmap registers are written only where they differ (write-order.ts
  // setIfDifferent: KVM's write of the current value is a no-op for them); every other register is written.
  const write = (i: number, id: RegId, value: RegValue, phase: WritePhase): void => {
    const vcpu = vcpus[i]!;
    try {
      if (phase === "other" || phase === "vls") setOneRegStep("restore", vcpu, id, value);
      else {
        // A refused ID register write is explained with KVM's current value and the writable mask.
        const hint =
          phase === "id" && typeof value === "bigint" ? idWriteHint(vcpu, masks, id, value) : undefined;
        if (!setIfDifferent("restore", vcpu, id, value, hint).wrote) report.unchanged++;
      }
    } catch (e) {
      if (e instanceof VmOpError && e.errno === "ENOENT" && tolerated(id)) {
        report.skipped.push({ vcpu: vcpu.id, id, reason: "not on this host; checkAbi tolerates it" });
        let refused = skipped.get(i);
        if (!refused) skipped.set(i, (refused = new Set()));
        refused.add(id);
        return;
      }
      throw e;
    }
    report.written++;
  };
  inWriteOrder(
    s,
    groups,
    (i, id, value, phase) => {
      write(i, id, value, phase);
      // SVE: VLS before KVM_ARM_VCPU_FINALIZE (set_sve_vls: EPERM once finalized).
      if (phase === "vls")
        kvmStep("restore", { op: "KVM_ARM_VCPU_FINALIZE(SVE)", vcpu: s.vcpus[i]!.id }, () =>
          vcpus[i]!.finalize(VCPU_FEATURES.SVE),
        );
    },
    (phase, count) =>
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail:
          phase === "other"
            ? `${count} other registers (core, system, timer, demux, SVE)`
            : `${count} ${PHASE_NAMES[phase]}`,
      }),
  );

  // Read every written register back, in the same order.
  let readBacks = 0;
  inWriteOrder(s, groups, (i, id, wrote) => {
    if (skipped.size && skipped.get(i)?.has(id)) return;
    const vcpu = vcpus[i]!;
    const read = getOneRegStep("restore", vcpu, id);
    const status = verifiedReadBack("restore", vcpu, id, wrote, read);
    readBacks++;
    if (status === "ok") report.readBacks.ok++;
    else if (status === "time-varying") report.readBacks["time-varying"]++;
    else {
      report.readBacks.adjusted++;
      report.adjusted.push({ vcpu: i, id, wrote, read, status });
    }
  });
  // What the destination has that the snapshot lacks (reset values): from every vCPU's list.
  const unsaved = new Set<RegId>();
  s.vcpus.forEach((sv, i) => {
    const listed = kvmStep("restore", { op: "KVM_GET_REG_LIST", vcpu: sv.id }, () => getRegList(vcpus[i]!));
    for (const id of listed) if (!sv.regs.has(id)) unsaved.add(id);
  });
  report.unsaved = [...unsaved].sort(cmpId);
  steps.push({
    op: "KVM_GET_ONE_REG",
    detail: `${readBacks} read-backs: ${report.readBacks.ok} equal, ${report.readBacks["time-varying"]} time-varying, ${report.readBacks.adjusted} adjusted`,
  });
  return { managed, irqchip };
}

/** The vCPUs' distinct feature sets by name ("PSCI_0_2+PMU_V3"), in the order the vCPUs have them. */
function featureSets(s: Snapshot): string[] {
  const byBits = new Map<string, string>(); // a VM's vCPUs nearly always share one: named once
  for (const v of s.vcpus) {
    const bits = v.init.features.join(",");
    if (!byBits.has(bits)) byBits.set(bits, vcpuFeatureNames(v.init.features).join("+") || "none");
  }
  return [...new Set(byBits.values())];
}

/**
 * Visits a snapshot's registers in the write order (write-order.ts): the ID registers of every vCPU,
 * then their firmware registers, their bitmaps, each SVE vCPU's VLS, then every vCPU's other registers;
 * `phaseDone` follows each phase but VLS with the number of registers visited. Restore walks it twice:
 * to write, then to read back.
 */
function inWriteOrder(
  s: Snapshot,
  groups: readonly Record<WritePhase, readonly RegId[]>[],
  visit: (i: number, id: RegId, value: RegValue, phase: WritePhase) => void,
  phaseDone: (phase: Exclude<WritePhase, "vls">, count: number) => void = () => {},
): void {
  for (const phase of ["id", "firmware", "bitmap"] as const) {
    let count = 0;
    s.vcpus.forEach((sv, i) => {
      for (const id of groups[i]![phase]) {
        visit(i, id, sv.regs.get(id)!, phase);
        count++;
      }
    });
    phaseDone(phase, count);
  }
  s.vcpus.forEach((sv, i) => {
    if (sv.init.features.includes(VCPU_FEATURES.SVE))
      visit(i, SVE_VLS_ID, sv.regs.get(SVE_VLS_ID) ?? vqsToVls(sv.sveVqs ?? []), "vls");
  });
  // The rest, ascending: core, system registers, timers, demux, SVE Z/P/FFR.
  let rest = 0;
  s.vcpus.forEach((sv, i) => {
    for (const id of groups[i]!.other) {
      visit(i, id, sv.regs.get(id)!, "other");
      rest++;
    }
  });
  phaseDone("other", rest);
}

/**
 * writePhase of the ids restores met lately: every restore asks it of every register, and a host's
 * snapshots hold the same few hundred ids. Emptied when it reaches PHASE_MEMO_LIMIT ids (a snapshot
 * may hold any ids, e.g. a fuzzed one).
 */
const phaseMemo = new Map<RegId, WritePhase>();
const PHASE_MEMO_LIMIT = 8192;

function phaseOf(id: RegId): WritePhase {
  let p = phaseMemo.get(id);
  if (p === undefined) {
    if (phaseMemo.size >= PHASE_MEMO_LIMIT) phaseMemo.clear();
    phaseMemo.set(id, (p = writePhase(id)));
  }
  return p;
}

/**
 * Each vCPU's snapshot registers by write phase (groupByPhase). A VM's vCPUs nearly always have the
 * same registers: a vCPU with the same ids as the last one grouped (in the same order) shares its groups.
 */
function phaseGroups(vcpus: readonly VcpuSnapshot[]): Record<WritePhase, readonly RegId[]>[] {
  return vcpus.map((v) => {
    if (!sameIds(v.regs, lastGroupedIds)) {
      lastGroupedIds = [...v.regs.keys()];
      lastGroups = groupByPhase(lastGroupedIds, phaseOf);
    }
    return lastGroups;
  });
}

/** The ids phaseGroups grouped last (in this restore or an earlier one: a host's snapshots repeat them). */
let lastGroupedIds: RegId[] = [];
let lastGroups: Record<WritePhase, readonly RegId[]> = groupByPhase([]);

const PHASE_NAMES = {
  id: "ID registers",
  firmware: "firmware registers",
  bitmap: "hypercall bitmaps",
} as const;

// ---- migrate ------------------------------------------------------------------------------------

export interface MigrateOptions extends RestoreOptions, SaveOptions {}

export interface MigrateResult extends RestoreResult {
  snapshot: Snapshot;
}

/** save() on the source, restore() on the destination. The source VM is left untouched. */
export function migrate(source: ManagedVm, destination: KvmSystem, opts: MigrateOptions): MigrateResult {
  const snapshot = save(source, opts);
  const r = restore(snapshot, destination, opts);
  return { ...r, snapshot };
}
