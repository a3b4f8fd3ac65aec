/**
 * A VMM's restore rules, as data: which saved registers it writes back, what it does with a saved
 * register the destination does not list, whether a longer register list fails before any register is
 * looked at, what it does when KVM_SET_ONE_REG is refused, and whether it enables
 * KVM_CAP_ARM_WRITABLE_IMP_ID_REGS. check evaluates every (subject, host) pair under one policy; the
 * tables of real VMMs (QEMU by version, Firecracker, Cloud Hypervisor, crosvm) live in src/vmm/, each
 * rule citing the VMM source it follows. guestabi's own restore (src/vm/) is the default here.
 *
 * Error texts are templates: {reg} the register's catalog name, {vmmReg} the name the VMM prints for it
 * (registerName; the catalog name where it has none), {id} its id (0x + 16 hex digits), {errno} (ENOENT,
 * EINVAL), {value} the VM's value and {current} the destination's (hex digits without 0x, as printf's
 * %lx gives them), {count} the saved list's length, {limit} the destination's.
 */
import { COPROC, formatId } from "../regs/id.js";
import type { RegId } from "../regs/id.js";

export type ErrorTemplate = string;

/** What a VMM does with a saved register the destination does not list. */
export interface MissingRegisterRule {
  /**
   * "skip": the register is left out and the guest-view rules judge what the guest loses (tolerated
   * where the VM has the value a VM that never knew it has); "abort": the restore fails.
   */
  readonly action: "skip" | "abort";
  /** With "abort": registers the VMM skips all the same, by catalog name -> why (its source). */
  readonly skipped?: ReadonlyMap<string, string>;
  /**
   * With "abort": which saved registers the VMM looks at. "below-destination-last": its merge loop ends
   * with the destination's list, so saved registers above the destination's largest id are dropped
   * unseen, as if skipped (default "all").
   */
  readonly examined?: "all" | "below-destination-last";
  /** With "abort": the VMM's error. */
  readonly error?: ErrorTemplate;
  /** The VMM function that decides it. */
  readonly rule: string;
}

/** A register group the VMM never saves: a restore leaves it at the destination's reset value. */
export interface UnsavedGroup {
  /** KVM_REG_ARM_COPROC of the group (regs/id.ts COPROC). */
  readonly coproc: number;
  readonly why: string;
}

/** The saved list may not be longer than the destination's (QEMU: cpreg_vmstate_array_len). */
export interface CountRule {
  /** Register groups outside the counted list (synchronised by other means). */
  readonly excludedCoprocs: readonly number[];
  readonly error: ErrorTemplate;
  readonly rule: string;
}

/** A vCPU feature the VMM never requests, or refuses in its own configuration. */
export interface RefusedFeature {
  /** KVM_ARM_VCPU_* feature number (kvm/uapi.ts VCPU_FEATURES). */
  readonly feature: number;
  readonly error: ErrorTemplate;
  readonly rule: string;
}

export interface RestorePolicy {
  /** The `--vmm` name: "guestabi", "qemu@7.2", "firecracker", ... */
  readonly id: string;
  /** How reasons name it: "QEMU 7.2", "Firecracker". */
  readonly label: string;
  /** The VMM source its rules follow (repository and files), for the report. */
  readonly source: string;
  readonly unsaved: readonly UnsavedGroup[];
  readonly missing: MissingRegisterRule;
  readonly count?: CountRule;
  /** A KVM_SET_ONE_REG the kernel refuses (EINVAL, EPERM): the VMM's error. */
  readonly refused: { readonly error: ErrorTemplate; readonly rule: string };
  /** Whether it enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS on a new VM (MIDR/REVIDR/AIDR writable). */
  readonly writableImpIdRegs: boolean;
  readonly refusedFeatures: readonly RefusedFeature[];
  /**
   * Whether the restore checks first and refuses any incompatibility, a change the guest would see
   * included (guestabi's restore runs checkAbi before it creates the VM). Real VMMs do not.
   */
  readonly refusesIncompatible?: boolean;
  /**
   * The order its restore meets failures in: "saved", every saved register written in
   * KVM_GET_REG_LIST order, a missing one failing where it comes (Firecracker, Cloud Hypervisor,
   * crosvm); by default the lists are matched first (missing registers), then the writes by id (QEMU).
   */
  readonly writeOrder?: "saved" | "matched-first";
  /** How the VMM names a register in its messages ({vmmReg}); the catalog name where absent. */
  readonly registerName?: (id: RegId) => string;
}

/**
 * guestabi's own restore (vm/vm.ts restore): every register, those the destination lacks skipped when
 * the guest cannot tell, KVM_CAP_ARM_WRITABLE_IMP_ID_REGS enabled where the host offers it.
 */
export const GUESTABI_POLICY: RestorePolicy = {
  id: "guestabi",
  label: "guestabi",
  source: "src/vm/vm.ts (restore)",
  unsaved: [],
  missing: { action: "skip", rule: "restore (src/vm/vm.ts): skips what a VM that never knew it has" },
  refused: {
    error: "restore refused: KVM_SET_ONE_REG({reg}) failed with {errno}; nothing of the VM is kept",
    rule: "restore (src/vm/vm.ts)",
  },
  writableImpIdRegs: true,
  refusedFeatures: [],
  refusesIncompatible: true,
};

/** The values an error template may name. */
export interface ErrorValues {
  reg?: string;
  vmmReg?: string;
  id?: string;
  errno?: string;
  value?: string;
  current?: string;
  count?: number;
  limit?: number;
}

/** A placeholder of an error template; split keeps its name between the literal parts. */
const PLACEHOLDER = /\{(reg|vmmReg|id|errno|value|current|count|limit)\}/;
/** Templates split once (a report fills one per refused register): literal, name, literal, ... */
const templateParts = new Map<ErrorTemplate, string[]>();
const TEMPLATES_KEPT = 256;

/** Fills an error template; a placeholder without a value stays as it is. */
export function fillError(template: ErrorTemplate, values: ErrorValues): string {
  let parts = templateParts.get(template);
  if (!parts) {
    if (templateParts.size >= TEMPLATES_KEPT) templateParts.clear();
    templateParts.set(template, (parts = template.split(PLACEHOLDER)));
  }
  let out = parts[0] ?? "";
  for (let k = 1; k < parts.length; k += 2) {
    const key = parts[k] as keyof ErrorValues;
    const v = values[key];
    out += (v === undefined ? `{${key}}` : String(v)) + (parts[k + 1] ?? "");
  }
  return out;
}

/** The values of an error about register `id` under `policy`. */
export function registerValues(
  policy: RestorePolicy,
  name: string,
  id: RegId,
): { reg: string; vmmReg: string; id: string } {
  return {
    reg: name,
    vmmReg: policy.registerName?.(id) ?? name,
    id: formatId(id),
  };
}

/** Coprocessor groups most VMMs synchronise outside their register list (core registers, SVE). */
export const CORE_AND_SVE: readonly number[] = [COPROC.core, COPROC.sve];
