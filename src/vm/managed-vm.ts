/**
 * The machinery every VM operation shares (pin.ts, vm.ts save/restore/migrate): the managed-VM record
 * of what a VMM set up and KVM does not report back, the one-line VmOpError, and kvmStep, which turns
 * a failed KVM operation into that error.
 */
import { describeId, formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { KvmError } from "../kvm/index.js";
import type { ErrnoName, Irqchip, KvmSystem, KvmVcpu, KvmVm, RegValue, VcpuInit } from "../kvm/index.js";
import type { Verdict } from "../check/check.js";
import { kernelGeneration } from "../formats/profile.js";
import type { DeviceAttr, HostIdentity, VmState } from "../formats/snapshot.js";

// ---- the managed VM: what a VMM set up, which KVM does not report back ----------------------------

export interface ManagedVcpu {
  vcpu: KvmVcpu;
  /** What KVM_ARM_VCPU_INIT was given (features normalized). */
  init: VcpuInit;
  /** SVE vector lengths the vCPU was given (vq), for SVE vCPUs. */
  sveVqs?: number[];
  /** vCPU device attributes set after init, in order (replayed by restore). */
  attrs: DeviceAttr[];
}

/**
 * A VM set up through guestabi, with what save() needs and KVM cannot tell: the KVM_CREATE_VM IPA size,
 * the capabilities enabled and VM attributes set (in order), and each vCPU's init and attributes.
 */
export interface ManagedVm {
  vm: KvmVm;
  vcpus: ManagedVcpu[];
  state: VmState;
  /** The vGICv3 (and ITS) built around the vCPUs (vm/machine.ts); absent on a host without one. */
  irqchip?: Irqchip;
  /** The host the VM runs on (KVM_GET_API... kernelRelease of its system); save() records it. */
  host?: HostIdentity;
  /** How the VM's ABI was chosen: pinned to a template, restored from a snapshot, or the host's defaults. */
  abi: "template" | "snapshot" | "host-defaults";
}

/** The identity of the host behind a KvmSystem (for snapshots' `source`); a failed read is a VmOpError. */
export function hostIdentityOf(
  system: KvmSystem,
  cpuLabel: string | null = null,
  stage: VmOpStage = "create",
): HostIdentity {
  const release = kvmStep(stage, { op: "uname (the host's kernel release)" }, () => system.kernelRelease());
  return { release, generation: kernelGeneration(release), cpuLabel, backend: system.backend };
}

/** Destroys a managed VM (and with it its vCPUs). Idempotent. */
export function destroyManagedVm(m: ManagedVm): void {
  m.vm.destroy();
}

// ---- errors -------------------------------------------------------------------------------------

export type VmOpStage = "create" | "pin" | "save" | "restore" | "migrate";

export type VmOpKind = "kvm" | "verify" | "refused" | "input";

/**
 * A pin/save/restore that failed: one line naming the stage, the vCPU, the operation, the register and
 * the errno (kind "kvm"), or the register whose read-back differs (kind "verify"), or the
 * compatibility verdicts that refused a restore (kind "refused").
 */
export class VmOpError extends Error {
  override name = "VmOpError";
  readonly stage: VmOpStage;
  readonly kind: VmOpKind;
  readonly op: string;
  readonly vcpu?: number;
  readonly register?: RegId;
  readonly errno?: ErrnoName;
  /** kind "refused": the incompatible verdicts of checkAbi. */
  readonly verdicts?: Verdict[];
  /** Whether the VM the operation worked on was destroyed (restore/createPinnedVm: always). */
  readonly vmDestroyed: boolean;
  /** The destroy of that VM failed too (destroyAfterFailure): its error, reported alongside this one. */
  readonly cleanupError?: string;

  constructor(
    stage: VmOpStage,
    kind: VmOpKind,
    message: string,
    d: {
      op?: string;
      vcpu?: number;
      register?: RegId;
      errno?: ErrnoName;
      verdicts?: Verdict[];
      vmDestroyed?: boolean;
      cleanupError?: string;
      cause?: unknown;
    } = {},
  ) {
    super(
      `${stage}: ${message}`.replace(/\s+/g, " ").trim(),
      d.cause !== undefined ? { cause: d.cause } : {},
    );
    this.stage = stage;
    this.kind = kind;
    this.op = d.op ?? "";
    if (d.vcpu !== undefined) this.vcpu = d.vcpu;
    if (d.register !== undefined) this.register = d.register;
    if (d.errno !== undefined) this.errno = d.errno;
    if (d.verdicts !== undefined) this.verdicts = d.verdicts;
    this.vmDestroyed = d.vmDestroyed ?? false;
    if (d.cleanupError !== undefined) this.cleanupError = d.cleanupError;
  }

  /** The same error, noting what happened to the VM afterwards (and a failed destroy's error). */
  withVm(destroyed: boolean, note?: string, cleanupError?: string): VmOpError {
    const e = new VmOpError(
      this.stage,
      this.kind,
      this.message.replace(/^\w+: /, "") + (note ? `; ${note}` : ""),
      {
        op: this.op,
        ...(this.vcpu !== undefined ? { vcpu: this.vcpu } : {}),
        ...(this.register !== undefined ? { register: this.register } : {}),
        ...(this.errno !== undefined ? { errno: this.errno } : {}),
        ...(this.verdicts !== undefined ? { verdicts: this.verdicts } : {}),
        vmDestroyed: destroyed,
        ...(cleanupError !== undefined ? { cleanupError } : {}),
        cause: this.cause,
      },
    );
    return e;
  }
}

/** "ID_AA64PFR0_EL1 (0x603000000013c020)". */
export function regLabel(id: RegId): string {
  return `${describeId(id).name} (${formatId(id)})`;
}

export function valueText(v: RegValue | string): string {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return "0x" + v.toString(16);
  return "0x" + Buffer.from(v).toString("hex") + " (LE bytes)";
}

/** Runs one KVM operation; a KvmError becomes a VmOpError naming the vCPU, register and errno. */
export function kvmStep<T>(stage: VmOpStage, where: KvmStepWhere, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    throw kvmFailure(stage, where, e);
  }
}

/**
 * KVM_GET_ONE_REG as a kvmStep: save, restore and pin do it for every register, so without the
 * closure and the record kvmStep takes (they are made only for a failure).
 */
export function getOneRegStep(stage: VmOpStage, vcpu: KvmVcpu, id: RegId): RegValue {
  try {
    return vcpu.getOneReg(id);
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    throw kvmFailure(stage, { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id }, e);
  }
}

/** KVM_SET_ONE_REG as a kvmStep (see getOneRegStep); `hint` explains a refusal (idWriteHint). */
export function setOneRegStep(
  stage: VmOpStage,
  vcpu: KvmVcpu,
  id: RegId,
  value: RegValue,
  hint?: () => string | undefined,
): void {
  try {
    vcpu.setOneReg(id, value);
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    const where = { op: "KVM_SET_ONE_REG", vcpu: vcpu.id, register: id, value };
    throw kvmFailure(stage, hint ? { ...where, hint } : where, e);
  }
}

interface KvmStepWhere {
  op: string;
  vcpu?: number;
  register?: RegId;
  value?: RegValue;
  hint?: () => string | undefined;
}

function kvmFailure(stage: VmOpStage, where: KvmStepWhere, e: KvmError): VmOpError {
  const parts = [
    where.vcpu !== undefined ? `vCPU ${where.vcpu}:` : "",
    where.op,
    where.register !== undefined ? regLabel(where.register) : "",
    where.value !== undefined ? `= ${valueText(where.value)}` : "",
  ].filter((p) => p.length > 0);
  const hint = where.hint?.();
  return new VmOpError(stage, "kvm", `${parts.join(" ")}: ${e.errno}${hint ? `; ${hint}` : ""}`, {
    op: where.op,
    ...(where.vcpu !== undefined ? { vcpu: where.vcpu } : {}),
    ...(where.register !== undefined ? { register: where.register } : {}),
    errno: e.errno,
    cause: e,
  });
}

/**
 * The cleanup of an operation that created `vm` and failed with `e` (restore, createPinnedVm,
 * createDefaultVm): destroys the VM and returns the error to throw. `e` stays the error — a KvmError
 * that escaped every kvmStep becomes a VmOpError of `stage` — and notes that the VM was destroyed; a
 * destroy that fails too is noted alongside, never instead. The VM is gone either way: destroy is
 * close(2) of the VM's descriptors, which Linux releases even when close reports an error.
 */
export function destroyAfterFailure(stage: VmOpStage, vm: KvmVm, e: unknown, what: string): unknown {
  let cleanupError: string | undefined;
  try {
    vm.destroy();
  } catch (d) {
    cleanupError = d instanceof Error ? d.message : String(d);
  }
  const err = e instanceof KvmError ? kvmFailure(stage, { op: e.op }, e) : e;
  if (!(err instanceof VmOpError)) return err;
  const note =
    cleanupError === undefined
      ? `${what} was destroyed`
      : `${what} was destroyed, but its destroy reported: ${cleanupError}`;
  return err.withVm(true, note, cleanupError);
}
