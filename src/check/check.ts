/**
 * `guestabi check`: can a VM (a snapshot) or an ABI template run on a host (its profile) with the guest
 * ABI it had — and if not, why, register by register and field by field, each reason naming the
 * kernel rule. Levels:
 *
 * - ok: the guest sees exactly what it saw (equal values; state registers restore as saved);
 * - tolerated: it works, with a difference the kernel allows and a VMM handles: the restore writes a
 *   value other than the destination's default (a lowered ID field, an older PSCI version, fewer
 *   hypercall services), a register one side lacks at a value a VM that never knew it has, a
 *   higher workaround level, a vCPU target to substitute;
 * - incompatible: the restore fails (ENOENT, EINVAL) or the guest would lose or gain something.
 *
 * Each verdict also says what it rests on (evidence.ts): measured on this host, inferred from a kernel
 * generation's rules, or unknown (never "ok").
 *
 * How it is built (a newcomer's map of src/check):
 * - requirements.ts compiles the subject (once), host.ts the host and per feature set its view
 *   (config-view.ts), both over the register index of registry.ts;
 * - evaluate.ts walks one (requirements, host) pair; the rules it applies live by family:
 *   vm-rules.ts (features, target, VM-wide state), presence.ts (registers one side lacks),
 *   value-rules.ts (the value rule of each RuleName) naming id-rules.ts, firmware-rules.ts,
 *   cache-rules.ts and sve-rules.ts. What KVM accepts is asked of src/kvm/rules/; the wording shared
 *   with baseline.ts is in reasons.ts;
 * - evidence.ts defines the evidence levels; host.ts records per register where its rule came from;
 * - verdicts.ts holds the levels and the verdict list; every rule gives its level and, for the full
 *   report, its verdicts, so the fast path (checkLevel) and the report (checkCompiled) run the same
 *   rules. A property test (check.test.ts) holds them equal on random VMs x hosts of every generation.
 * - level-memo.ts remembers the fast path's level per host for subjects the rules cannot tell apart
 *   (their signature, requirements.ts); compileHost keeps each profile's compiled form (host.ts).
 * - baseline.ts and certify.ts build on the same compiled forms.
 */
import type { HostProfile } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { evaluate } from "./evaluate.js";
import { rememberedLevel } from "./level-memo.js";
import type { CompiledHost } from "./host.js";
import { compileHost } from "./host.js";
import type { Requirements } from "./requirements.js";
import { compileSubject } from "./requirements.js";
import { Verdicts, levelRank } from "./verdicts.js";
import type { RestorePolicy } from "./restore-policy.js";
import type { ErrorValues } from "./restore-policy.js";
import { fillError, registerValues } from "./restore-policy.js";
import { REGISTRY, hostValue } from "./registry.js";
import { COPROC, coprocOf } from "../regs/index.js";
import type { RegId } from "../regs/index.js";

export type VerdictLevel = "ok" | "tolerated" | "incompatible";

/** What a verdict rests on (evidence.ts): measured on this host, inferred from a generation, unknown. */
export type Evidence = "measured" | "inferred" | "unknown";
export const EVIDENCE_LEVELS: readonly Evidence[] = ["measured", "inferred", "unknown"];

/** What a verdict is about (for grouping; `register` and `reason` say the rest). */
export type VerdictKind =
  | "feature"
  | "target"
  | "vm"
  | "missing"
  | "new"
  | "id"
  | "cache"
  | "psci"
  | "workaround"
  | "bitmap"
  | "sve"
  | "firmware"
  | "state"
  | "machine"
  | "vmm";

export interface Verdict {
  register: string;
  /** The register id ("0x" + 16 hex digits); "" for verdicts about no register (features, VM). */
  id: string;
  field?: string;
  level: VerdictLevel;
  reason: string;
  evidence: Evidence;
  kind?: VerdictKind;
  /** Snapshot vCPU ids the verdict is about, when the snapshot has more than one vCPU. */
  vcpus?: number[];
  /** The host, where verdicts of several hosts are listed together (baseline's unhonourable). */
  host?: string;
  /** Where the VMM's restore fails on this verdict: the error its user sees (restore-policy.ts). */
  vmmError?: string;
}

/** What the VMM's restore does with the subject on the host (restore-policy.ts). */
export interface RestoreOutcome {
  /** The policy's `--vmm` name and label. */
  vmm: string;
  label: string;
  /**
   * Whether the restore goes through. A VMM that does not check first may load a VM whose guest then
   * sees a change (an incompatible verdict with `loads` true); guestabi's own restore refuses those.
   */
  loads: boolean;
  /** The first failure in the VMM's order: the register (or VMM, KVM_ARM_VCPU_INIT) and its error. */
  register?: string;
  error?: string;
}

export interface CheckReport {
  host: string;
  compatible: boolean;
  restore: RestoreOutcome;
  verdicts: Verdict[];
  subject?: string;
  /** Verdict counts by level. */
  summary?: Record<VerdictLevel, number>;
  /** Verdict counts by evidence. */
  byEvidence?: Record<Evidence, number>;
}

export interface CheckOptions {
  /** The source host's profile: reset values and guest view of the kernel the subject came from. */
  sourceProfile?: HostProfile;
  /** How the destination is named in the report (default: its release and CPU label). */
  hostName?: string;
  /** How the subject is named in the report (a file name; default: what the subject says of itself). */
  subjectLabel?: string;
  /** The VMM that restores it (default: guestabi's own restore). */
  vmm?: RestorePolicy;
}

/** Every verdict of `subject` on `host`. */
export function checkAbi(
  subject: Snapshot | AbiTemplate,
  host: HostProfile,
  opts: CheckOptions = {},
): CheckReport {
  const req = compileSubject(subject, {
    ...(opts.sourceProfile ? { sourceProfile: opts.sourceProfile } : {}),
    ...(opts.subjectLabel !== undefined ? { label: opts.subjectLabel } : {}),
  });
  return checkCompiled(req, compileHost(host, opts.hostName, opts.vmm));
}

/** The full report on compiled forms: verdicts sorted incompatible first, else in rule order. */
export function checkCompiled(req: Requirements, host: CompiledHost): CheckReport {
  const out = new Verdicts();
  const worst = evaluate(req, host, out);
  const verdicts = out.list
    .map((v, k) => [v, k] as const)
    .sort((a, b) => levelRank(b[0].level) - levelRank(a[0].level) || a[1] - b[1])
    .map(([v]) => v);
  const summary = { ok: 0, tolerated: 0, incompatible: 0 };
  const byEvidence = { measured: 0, inferred: 0, unknown: 0 };
  for (const v of verdicts) {
    summary[v.level]++;
    byEvidence[v.evidence]++;
  }
  return {
    host: host.name,
    compatible: worst !== "incompatible",
    restore: restoreOutcome(out.list, host.policy, (id, values) => addWrittenValues(req, host, id, values)),
    verdicts,
    subject: req.label,
    summary,
    byEvidence,
  };
}

/**
 * The fast path: the rank (levelRank) of the worst level the full report would give, 0 ok,
 * 1 tolerated, 2 incompatible, without building verdicts. Subjects the rules cannot tell apart get
 * one evaluation per host, remembered there (level-memo.ts).
 */
export function checkLevel(req: Requirements, host: CompiledHost): 0 | 1 | 2 {
  return rememberedLevel(req, host);
}

/** Verdict kinds whose incompatibility is a KVM_SET_ONE_REG the kernel refuses (the value rules). */
const REFUSED_WRITE_KINDS: ReadonlySet<VerdictKind> = new Set([
  "id",
  "cache",
  "psci",
  "workaround",
  "bitmap",
  "sve",
  "firmware",
]);
/** Kinds whose incompatibility fails before any register: the vCPU or the VM cannot be created. */
const CREATION_KINDS: ReadonlySet<VerdictKind> = new Set(["feature", "target", "vm"]);

/** Where KVM_GET_REG_LIST puts a register group (kvm_arm_copy_reg_indices): core, SVE, firmware, bitmaps, demux, sysregs. */
const REG_LIST_RANK: Readonly<Record<number, number>> = {
  [COPROC.core]: 0,
  [COPROC.sve]: 1,
  [COPROC.fw]: 2,
  [COPROC.fwBitmap]: 3,
  [COPROC.demux]: 4,
  [COPROC.sysreg]: 5,
};

/** A failure's place in the VMM's restore: before the registers (the list, the vCPU), then by register. */
function restoreStep(v: Verdict, policy: RestorePolicy): [number, number, bigint] {
  if (v.id === "") return [v.kind === "vmm" ? 0 : 1, 0, 0n];
  const id = BigInt(v.id);
  if (policy.writeOrder === "saved") return [2, REG_LIST_RANK[coprocOf(id)] ?? 6, id];
  // Registers the destination lacks are found while the lists are matched, before any write.
  return [v.kind === "missing" ? 2 : 3, 0, id];
}

const stepBefore = (a: [number, number, bigint], b: [number, number, bigint]): boolean =>
  a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];

/**
 * The first verdict the VMM's restore fails on, in its own order (restoreStep). A refused value gets
 * the VMM's refused-write error; guestabi's restore refuses any incompatibility.
 */
function restoreOutcome(
  verdicts: readonly Verdict[],
  policy: RestorePolicy,
  addWritten: (id: RegId, values: ErrorValues) => void,
): RestoreOutcome {
  const outcome: RestoreOutcome = { vmm: policy.id, label: policy.label, loads: true };
  let first: [number, number, bigint] | undefined;
  for (const v of verdicts) {
    if (v.level !== "incompatible") continue;
    if (v.vmmError === undefined && v.kind !== undefined && REFUSED_WRITE_KINDS.has(v.kind) && v.id !== "") {
      const id = BigInt(v.id);
      const values: ErrorValues = registerValues(policy, v.register, id);
      addWritten(id, values);
      values.errno = "EINVAL";
      v.vmmError = fillError(policy.refused.error, values);
    }
    const creation = v.kind !== undefined && CREATION_KINDS.has(v.kind);
    if (!policy.refusesIncompatible && v.vmmError === undefined && !creation) continue;
    // A restore that refuses any incompatibility fails on the first; the others in the VMM's order.
    if (policy.refusesIncompatible && first !== undefined) continue;
    const step = policy.refusesIncompatible
      ? ([0, 0, 0n] as [number, number, bigint])
      : restoreStep(v, policy);
    if (first === undefined || stepBefore(step, first)) {
      first = step;
      outcome.loads = false;
      outcome.register = v.register;
      outcome.error =
        policy.refusesIncompatible || v.vmmError === undefined ? `${v.register}: ${v.reason}` : v.vmmError;
    }
  }
  return outcome;
}

/**
 * Adds to an error's values the value the restore writes to register `id` (the subject's first vCPU
 * class) and the destination's.
 */
function addWrittenValues(req: Requirements, host: CompiledHost, id: RegId, values: ErrorValues): void {
  const r = req.classes[0];
  if (!r) return;
  const i = REGISTRY.intern(id);
  const v = r.values.get(i);
  if (typeof v === "bigint") values.value = v.toString(16);
  const cfg = host.configs.get(r.featureKey);
  if (cfg && i < cfg.size) values.current = hostValue(cfg, i).toString(16);
}
