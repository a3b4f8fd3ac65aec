/**
 * pin(vm, template): gives a new VM the guest ABI of an ABI template before its first KVM_RUN, in the
 * order KVM accepts it (write-order.ts: the WRITABLE_IMP_ID_REGS capability, vCPUs, init, vCPU
 * attributes, ID registers, firmware registers and bitmaps, SVE), then reads every value back and
 * compares (read-back.ts).
 *
 * With the host's profile (PinOptions.profile), pin first asks checkAbi(template, profile) (check.ts): an
 * incompatible template is refused before anything is created, and a template register the host does
 * not have (ENOENT) is skipped when the check tolerates it — baseline.ts keeps hypercall bitmaps some
 * hosts lack, at the value of the services those hosts offer unconditionally.
 *
 * ## Ownership
 *
 * - `pin(vm, template)`: the caller owns `vm` (a fresh KVM_CREATE_VM with no vCPU). pin creates the vCPUs
 *   and, on success, hands them back inside the ManagedVm (they live and die with the VM: KVM frees
 *   vCPUs only with their VM). On failure pin closes the vCPU handles it created and throws a VmOpError;
 *   it never destroys the caller's VM — which now holds vCPUs with partial state, must never be run,
 *   and is the caller's to destroy (the error says so).
 * - `createPinnedVm(system, template)`: creates the VM itself, so on failure it destroys it; on success
 *   the caller owns the returned VM.
 */
import { describeId, formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { KVM_CAP, VCPU_FEATURES, getRegList, normalizeVcpuInit, vcpuFeatureNames } from "../kvm/index.js";
import type { ErrnoName, KvmSystem, KvmVcpu, KvmVm } from "../kvm/index.js";
import { checkAbi } from "../check/check.js";
import type { CheckReport } from "../check/check.js";
import type { HostProfile } from "../formats/profile.js";
import type { EnabledCap, HostIdentity, VmState } from "../formats/snapshot.js";
import { SVE_VLS_ID, vqsToVls } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { ccsidrId, validateTemplate } from "../formats/template.js";
import { applyMachinePins, buildMachine } from "./machine.js";
import { VmOpError, destroyAfterFailure, hostIdentityOf, kvmStep } from "./managed-vm.js";
import type { ManagedVcpu, ManagedVm, VmOpStage } from "./managed-vm.js";
import { cmpId, readMasks, setIfDifferent, writeAbiRegisters } from "./write-order.js";
import type { PinChange } from "./write-order.js";
import { readBack } from "./read-back.js";
import type { ReadBack } from "./read-back.js";
import { IMP_ID_REG_IDS } from "../kvm/rules/id-regs.js";

export interface PinOptions {
  /** vCPUs to create (ids 0..n-1). Default 1. */
  vcpus?: number;
  /**
   * What the caller already did to the VM before handing it over (the KVM_CREATE_VM IPA size, caps,
   * VM attributes), recorded in the ManagedVm so that save() can replay it. Default: nothing.
   */
  vmState?: Partial<VmState>;
  /** The host, recorded for save(); createPinnedVm fills it in. */
  host?: HostIdentity;
  /**
   * This host's profile (probe.ts). When given, pin first runs checkAbi(template, profile): an
   * incompatible template is refused before anything is created (kind "refused", with the verdicts),
   * and a template register the host does not have (ENOENT) is skipped when the check tolerates it
   * (e.g. a hypercall bitmap of a kernel that offers the same services unconditionally).
   */
  profile?: HostProfile;
  /**
   * KVM_ARM_VCPU_PMU_V3_CTRL/INIT on PMU_V3 vCPUs (without an in-kernel irqchip, KVM_RUN fails with
   * EINVAL until it is done: kvm_arm_pmu_v3_enable). Default true.
   */
  initPmu?: boolean;
  /**
   * KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) before the vCPUs. Default false: the capability
   * becomes part of the VM (a snapshot carries it, and a host without it cannot take the VM:
   * kvm_vm_ioctl_enable_cap EINVAL), so it is enabled only when the template's MIDR/REVIDR/AIDR differ
   * from the host's — createPinnedVm finds that out on a scratch VM (needsWritableImpIdRegs).
   */
  writableImpIdRegs?: boolean;
}

export interface PinStep {
  op: string;
  detail: string;
}

export interface PinReport {
  /** What pin did, in order. */
  steps: PinStep[];
  /** Every template register read back on every vCPU. */
  readBacks: ReadBack[];
  /** KVM_ARM_GET_REG_WRITABLE_MASKS: nonzero masks by register, or the errno (before 6.7: EINVAL). */
  writableMasks: Map<RegId, bigint> | ErrnoName;
  /** The template registers that differed from this host's defaults, so pin wrote them (vCPU 0). */
  changed: PinChange[];
  /** Template registers this host does not have (ENOENT) that the check tolerates: not written. */
  skipped: RegId[];
  /** checkAbi(template, profile), when pin was given the host's profile. */
  check?: CheckReport;
  /** Registers vCPU 0 lists that the template does not allow (a snapshot would carry them). */
  listedNotInTemplate: RegId[];
  /** Registers of the template vCPU 0 does not list. */
  inTemplateNotListed: RegId[];
}

export interface PinResult {
  vm: ManagedVm;
  report: PinReport;
}

/**
 * With a host profile: checkAbi(template, profile) first. An incompatible template is refused before
 * anything is created (VmOpError kind "refused", with the verdicts); the registers the check tolerates
 * are those a restore or pin may find absent on this host (ENOENT) and skip.
 */
export function checkTemplateFirst(
  stage: VmOpStage,
  template: AbiTemplate,
  profile: HostProfile | undefined,
): { check?: CheckReport; tolerated: (id: RegId) => boolean } {
  if (!profile) return { tolerated: () => false };
  const check = checkAbi(template, profile);
  if (!check.compatible) {
    const bad = check.verdicts.filter((v) => v.level === "incompatible");
    const names = [...new Set(bad.map((v) => `${v.register}${v.field ? "." + v.field : ""}`))];
    throw new VmOpError(
      stage,
      "refused",
      `${check.host} cannot honour the template (${bad.length} incompatible verdict${bad.length === 1 ? "" : "s"}: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}; first: ${bad[0]?.reason ?? ""})`,
      { verdicts: bad },
    );
  }
  const ok = new Set<string>(check.verdicts.filter((v) => v.level === "tolerated" && v.id).map((v) => v.id));
  return { check, tolerated: (id) => ok.has(formatId(id)) };
}

/**
 * Applies a template to a fresh VM (no vCPUs yet) in the order of write-order.ts, then verifies. See the
 * top of this file for what it owns. Throws VmOpError (one line) on the first refusal or mismatch.
 */
export function pin(vm: KvmVm, template: AbiTemplate, opts: PinOptions = {}): PinResult {
  return applyTemplate(vm, template, opts, "caller");
}

function applyTemplate(
  vm: KvmVm,
  template: AbiTemplate,
  opts: PinOptions,
  owner: "caller" | "pin",
  checked?: ReturnType<typeof checkTemplateFirst>,
): PinResult {
  try {
    validateTemplate(template);
  } catch (e) {
    throw new VmOpError("pin", "input", (e as Error).message);
  }
  const n = opts.vcpus ?? 1;
  if (!Number.isInteger(n) || n < 1)
    throw new VmOpError("pin", "input", `vCPU count ${n} is not a positive integer`);
  // With a profile, the check decides first: nothing is created for a template the host cannot honour.
  const first = checked ?? checkTemplateFirst("pin", template, opts.profile);
  const steps: PinStep[] = [];
  if (first.check)
    steps.push({
      op: "checkAbi",
      detail: `compatible with ${first.check.host} (${first.check.verdicts.filter((v) => v.level === "tolerated").length} tolerated verdicts)`,
    });
  const state: VmState = {
    ipaBits: opts.vmState?.ipaBits ?? 0,
    caps: [...(opts.vmState?.caps ?? [])],
    attrs: [...(opts.vmState?.attrs ?? [])],
  };
  const created: KvmVcpu[] = [];
  try {
    // 0. KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, before any vCPU (kvm_vm_ioctl_enable_cap: !kvm->created_vcpus).
    if (opts.writableImpIdRegs && !state.caps.some((c) => c.cap === KVM_CAP.ARM_WRITABLE_IMP_ID_REGS)) {
      const cap: EnabledCap = { cap: KVM_CAP.ARM_WRITABLE_IMP_ID_REGS, flags: 0, args: [] };
      kvmStep("pin", { op: "KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS)" }, () => vm.enableCap(cap.cap));
      state.caps.push(cap);
      steps.push({
        op: "KVM_ENABLE_CAP",
        detail: "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (the template's MIDR/REVIDR/AIDR differ from the host's)",
      });
    }
    // 1. every vCPU first.
    for (let i = 0; i < n; i++)
      created.push(kvmStep("pin", { op: `KVM_CREATE_VCPU ${i}` }, () => vm.createVcpu(i)));
    steps.push({ op: "KVM_CREATE_VCPU", detail: `${n} vCPU${n > 1 ? "s" : ""}` });
    // 2. init with the template's features and this host's preferred target.
    const target = kvmStep("pin", { op: "KVM_ARM_PREFERRED_TARGET" }, () => vm.preferredTarget()).target;
    const init = normalizeVcpuInit({ target, features: template.features });
    for (const v of created) kvmStep("pin", { op: "KVM_ARM_VCPU_INIT", vcpu: v.id }, () => v.init(init));
    steps.push({
      op: "KVM_ARM_VCPU_INIT",
      detail: `target ${target}, features ${vcpuFeatureNames(init.features).join(", ") || "none"}`,
    });
    // 3. the machine: the vGICv3 (and ITS) once every vCPU is initialised, each PMU wired to it and
    // initialised (kvm_arm_pmu_v3_init needs CTRL_INIT); without a vGICv3 each PMU's INIT alone.
    const managed: ManagedVcpu[] = created.map((vcpu) => ({
      vcpu,
      init,
      ...(template.sveVqs ? { sveVqs: [...template.sveVqs] } : {}),
      attrs: [],
    }));
    const irqchip = buildMachine("pin", vm, managed, { initPmu: opts.initPmu ?? true });
    const pmus = init.features.includes(VCPU_FEATURES.PMU_V3) && (opts.initPmu ?? true);
    steps.push({
      op: irqchip ? "KVM_CREATE_DEVICE" : "KVM_SET_DEVICE_ATTR",
      detail: irqchip
        ? `vGICv3 with ${irqchip.nrIrqs} interrupts${irqchip.its ? " and an ITS" : ""}${pmus ? ", the PMUs on PPI 23" : ""}`
        : pmus
          ? "no vGICv3 on this host: KVM_ARM_VCPU_PMU_V3_INIT on every vCPU"
          : "no vGICv3 on this host",
    });
    if (template.machine) {
      const done = applyMachinePins("pin", vm, managed, irqchip, template.machine);
      steps.push({
        op: "machine",
        detail: done.length ? done.join("; ") : "the template's machine pins hold already",
      });
    }
    // 4. ID registers (with the writable masks for the messages), 5. firmware registers and bitmaps.
    const masks = readMasks(vm);
    const { ids, fw, changed, skipped } = writeAbiRegisters(
      "pin",
      created,
      template.idRegs,
      template.firmware,
      masks,
      first.tolerated,
    );
    // Cache geometry after CLIDR_EL1 (an ID register, written above): from 6.3 set_ccsidr checks each
    // value against CTR_EL0 and the CLIDR; before 6.3 demux_c15_set takes only the host's value, which
    // setIfDifferent then does not write. Levels the CLIDR does not implement are not in the template.
    const geometry = [...(template.ccsidr ?? [])]
      .sort((a, b) => a[0] - b[0])
      .map(([sel, v]) => [ccsidrId(sel), v] as const);
    created.forEach((v, i) => {
      for (const [id, want] of geometry) {
        const r = setIfDifferent("pin", v, id, want);
        if (r.wrote && i === 0)
          changed.push({ id, before: typeof r.before === "bigint" ? r.before : undefined, after: want });
      }
    });
    if (geometry.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `cache geometry: ${geometry.filter(([id]) => changed.some((c) => c.id === id)).length} of ${geometry.length} CCSIDR values differ`,
      });
    const changedIn = (list: RegId[]) => list.filter((id) => changed.some((c) => c.id === id)).length;
    steps.push({
      op: "KVM_SET_ONE_REG",
      detail: `ID registers: ${changedIn(ids)} of ${ids.length} differ from this host's defaults (${typeof masks === "string" ? `no writable masks: ${masks}` : `${masks.size} writable masks`})`,
    });
    if (fw.firmware.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `firmware registers: ${changedIn(fw.firmware)} of ${fw.firmware.length} differ`,
      });
    if (fw.bitmap.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `hypercall bitmaps: ${changedIn(fw.bitmap)} of ${fw.bitmap.length} differ`,
      });
    if (skipped.length)
      steps.push({
        op: "KVM_SET_ONE_REG",
        detail: `${skipped.length} not on this host (ENOENT), skipped as checkAbi tolerates: ${skipped.map((id) => describeId(id).name).join(", ")}`,
      });
    // 6. SVE vector lengths, then finalize.
    if (init.features.includes(VCPU_FEATURES.SVE)) {
      const vls = vqsToVls(template.sveVqs ?? []);
      for (const v of created) {
        kvmStep("pin", { op: "KVM_SET_ONE_REG", vcpu: v.id, register: SVE_VLS_ID, value: vls }, () =>
          v.setOneReg(SVE_VLS_ID, vls),
        );
        kvmStep("pin", { op: "KVM_ARM_VCPU_FINALIZE(SVE)", vcpu: v.id }, () => v.finalize(VCPU_FEATURES.SVE));
      }
      steps.push({ op: "KVM_ARM_VCPU_FINALIZE", detail: `SVE with vq ${template.sveVqs?.join(",")}` });
    }
    // 8. read everything back.
    const readBacks: ReadBack[] = [];
    created.forEach((v, i) => {
      for (const id of ids) readBacks.push(readBack("pin", i, v, id, template.idRegs.get(id)!));
      for (const id of [...fw.firmware, ...fw.bitmap])
        readBacks.push(readBack("pin", i, v, id, template.firmware.get(id)!));
      for (const [id, want] of geometry) readBacks.push(readBack("pin", i, v, id, want));
      if (template.sveVqs) readBacks.push(readBack("pin", i, v, SVE_VLS_ID, vqsToVls(template.sveVqs)));
    });
    const listed = new Set(
      kvmStep("pin", { op: "KVM_GET_REG_LIST", vcpu: 0 }, () => getRegList(created[0]!)),
    );
    steps.push({ op: "KVM_GET_ONE_REG", detail: `${readBacks.length} read-backs compared` });
    return {
      vm: {
        vm,
        vcpus: managed,
        state,
        ...(irqchip ? { irqchip } : {}),
        ...(opts.host ? { host: opts.host } : {}),
        abi: "template",
      },
      report: {
        steps,
        readBacks,
        changed,
        skipped,
        ...(first.check ? { check: first.check } : {}),
        writableMasks: masks,
        listedNotInTemplate: [...listed].filter((id) => !template.regs.has(id)).sort(cmpId),
        inTemplateNotListed: [...template.regs].filter((id) => !listed.has(id)).sort(cmpId),
      },
    };
  } catch (e) {
    for (const v of created) v.destroy();
    if (e instanceof VmOpError && owner === "caller")
      throw e.withVm(
        false,
        created.length
          ? `the VM (the caller's) now holds ${created.length} vCPU(s) with partial state: destroy it, never run it`
          : undefined,
      );
    throw e;
  }
}

/**
 * Whether pinning `template` on this host needs KVM_CAP_ARM_WRITABLE_IMP_ID_REGS: the template sets
 * MIDR/REVIDR/AIDR to values the host's vCPUs do not show, and the kernel offers the capability (7.2).
 * The host's values come from a scratch VM with one vCPU (what QEMU's kvm_arm_create_scratch_host_vcpu
 * does), destroyed before returning.
 */
export function needsWritableImpIdRegs(system: KvmSystem, template: AbiTemplate): boolean {
  const wanted = [...template.idRegs].filter(([id]) => IMP_ID_REG_IDS.has(id));
  if (wanted.length === 0 || system.checkExtension(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS) <= 0) return false;
  const scratch = kvmStep("pin", { op: "KVM_CREATE_VM (scratch)" }, () => system.createVm());
  try {
    const v = kvmStep("pin", { op: "KVM_CREATE_VCPU (scratch)" }, () => scratch.createVcpu(0));
    const target = scratch.preferredTarget().target;
    kvmStep("pin", { op: "KVM_ARM_VCPU_INIT (scratch)" }, () => v.init({ target, features: [] }));
    return wanted.some(([id, value]) => {
      try {
        return v.getOneReg(id) !== value;
      } catch {
        return true;
      }
    });
  } finally {
    scratch.destroy();
  }
}

/** Options of createPinnedVm: pin's, plus the KVM_CREATE_VM IPA size. */
export interface CreatePinnedOptions extends Omit<PinOptions, "vmState" | "host"> {
  ipaBits?: number;
  cpuLabel?: string | null;
}

/** Creates a VM and pins it; on any failure the VM is destroyed (it was ours). */
export function createPinnedVm(
  system: KvmSystem,
  template: AbiTemplate,
  opts: CreatePinnedOptions = {},
): PinResult {
  const ipaBits = opts.ipaBits ?? 0;
  try {
    validateTemplate(template);
  } catch (e) {
    throw new VmOpError("pin", "input", (e as Error).message);
  }
  const checked = checkTemplateFirst("pin", template, opts.profile); // refuses before any VM exists
  const vm = kvmStep("pin", { op: "KVM_CREATE_VM" }, () => system.createVm(ipaBits ? { ipaBits } : {}));
  try {
    const host = hostIdentityOf(system, opts.cpuLabel ?? null, "pin");
    const writableImpIdRegs = opts.writableImpIdRegs ?? needsWritableImpIdRegs(system, template);
    return applyTemplate(
      vm,
      template,
      { ...opts, vmState: { ipaBits }, host, writableImpIdRegs },
      "pin",
      checked,
    );
  } catch (e) {
    throw destroyAfterFailure("pin", vm, e, "the VM");
  }
}
