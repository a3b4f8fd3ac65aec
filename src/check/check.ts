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
 * The rules live in requirements.ts (compiled forms) and here (evaluation); each names the kernel
 * function it follows. Two paths share one evaluator: checkLevel() (no verdicts, stops at the first
 * incompatibility: the fast path for fleets) and checkAbi()/checkCompiled() (every verdict with its
 * reason). A property test holds them equal.
 */
import type { RegId } from "../regs/index.js";
import { formatId, ftrPolicies, fwRegByIndex } from "../regs/index.js";
import { CAPS } from "../kvm/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { ccsidrMinLine, clidrImplements, setCcsidrAccepts, setClidrAccepts } from "../kvm/rules/cache.js";
import { bitmapAccepted, waAccepted, wa2Accepted, wa2Level } from "../kvm/rules/firmware.js";
import { ftrAccepts } from "../kvm/rules/id-fields.js";
import { pfr0CsvAccepted, pfr0CsvFields, setImpIdAccepts } from "../kvm/rules/id-regs.js";
import { vcpuTargetAccepted } from "../kvm/rules/vcpu-init.js";
import { IMMUTABLE_BEFORE_6_7, equalWhy } from "./reasons.js";
import type { HostProfile } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import type {
  CompiledConfig,
  CompiledHost,
  LayoutPlan,
  Requirements,
  VcpuRequirement,
} from "./requirements.js";
import {
  FIELD_STRIDE,
  REGISTRY,
  REG_CLASS,
  RULE,
  capValue,
  catalogFields,
  compileHost,
  compileSubject,
  featureName,
  fieldOf,
  hasBit,
  hex,
  hostConfig,
  join64,
  policyText,
  vqList,
} from "./requirements.js";

export type VerdictLevel = "ok" | "tolerated" | "incompatible";

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
  | "state";

export interface Verdict {
  register: string;
  /** The register id ("0x" + 16 hex digits); "" for verdicts about no register (features, VM). */
  id: string;
  field?: string;
  level: VerdictLevel;
  reason: string;
  kind?: VerdictKind;
  /** Snapshot vCPU ids the verdict is about, when the snapshot has more than one vCPU. */
  vcpus?: number[];
  /** The host, where verdicts of several hosts are listed together (baseline's unhonourable). */
  host?: string;
}

export interface CheckReport {
  host: string;
  compatible: boolean;
  verdicts: Verdict[];
  subject?: string;
  /** Verdict counts by level. */
  summary?: Record<VerdictLevel, number>;
}

export interface CheckOptions {
  /** The source host's profile: reset values and guest view of the kernel the subject came from. */
  sourceProfile?: HostProfile;
  /** How the destination is named in the report (default: its release and CPU label). */
  hostName?: string;
}

const LEVEL: readonly VerdictLevel[] = ["ok", "tolerated", "incompatible"];
export const levelRank = (l: VerdictLevel): number => LEVEL.indexOf(l);

// ---- public API ---------------------------------------------------------------------------------

/** Every verdict of `subject` on `host`. ProfileError for a profile of an unknown kernel generation. */
export function checkAbi(
  subject: Snapshot | AbiTemplate,
  host: HostProfile,
  opts: CheckOptions = {},
): CheckReport {
  const req = compileSubject(subject, opts.sourceProfile ? { sourceProfile: opts.sourceProfile } : {});
  return checkCompiled(req, compileHost(host, opts.hostName));
}

/** The full report on compiled forms. */
export function checkCompiled(req: Requirements, host: CompiledHost): CheckReport {
  const out: Verdict[] = [];
  const worst = evaluate(req, host, out);
  const order = (v: Verdict) => 2 - levelRank(v.level);
  const verdicts = out
    .map((v, i) => [v, i] as const)
    .sort((a, b) => order(a[0]) - order(b[0]) || a[1] - b[1])
    .map(([v]) => v);
  const summary = { ok: 0, tolerated: 0, incompatible: 0 };
  for (const v of verdicts) summary[v.level]++;
  return { host: host.name, compatible: worst < 2, verdicts, subject: req.label, summary };
}

/** The fast path: 0 ok, 1 tolerated, 2 incompatible, without building verdicts. */
export function checkLevel(req: Requirements, host: CompiledHost): 0 | 1 | 2 {
  return evaluate(req, host, null) as 0 | 1 | 2;
}

/** The worst level of a list of verdicts (0 ok, 1 tolerated, 2 incompatible). */
export function worstLevel(verdicts: readonly Verdict[]): number {
  let w = 0;
  for (const v of verdicts) w = Math.max(w, levelRank(v.level));
  return w;
}

// ---- evaluation ---------------------------------------------------------------------------------

type Out = Verdict[] | null;

function evaluate(req: Requirements, host: CompiledHost, out: Out): number {
  let worst = vmLevel(req, host, out);
  if (!out && worst === 2) return 2;
  const many = req.vcpuCount > 1;
  for (const r of req.classes) {
    worst = Math.max(worst, classLevel(r, host, out));
    if (!out && worst === 2) return 2;
    if (out && many) for (const v of out) if (v.vcpus === undefined && v.kind !== "vm") v.vcpus = r.vcpus;
  }
  return worst;
}

/** A verdict about register index `i` (or none: i < 0). */
function push(
  out: Verdict[],
  i: number,
  level: number,
  kind: VerdictKind,
  reason: string,
  field?: string,
): void {
  const v: Verdict = {
    register: i >= 0 ? REGISTRY.name(i) : kind === "feature" ? "KVM_ARM_VCPU_INIT" : "VM",
    id: i >= 0 ? formatId(REGISTRY.ids[i]!) : "",
    level: LEVEL[level]!,
    reason,
    kind,
  };
  if (field !== undefined) v.field = field;
  out.push(v);
}

function classLevel(r: VcpuRequirement, host: CompiledHost, out: Out): number {
  const cfg = host.configs.get(r.featureKey) ?? hostConfig(host, r.features, r.featureKey);
  if (!cfg) {
    if (out)
      push(
        out,
        -1,
        2,
        "feature",
        `no probed vCPU configuration of the destination initialises with the features ${r.features.map(featureName).join(", ") || "none"} (KVM_ARM_VCPU_INIT)`,
      );
    return 2;
  }
  let worst = 0;
  for (const issue of cfg.view.issues) {
    worst = Math.max(worst, issue.level);
    if (out) push(out, -1, issue.level, "feature", issue.reason, featureName(issue.feature));
  }
  if (out) {
    const bad = new Set(cfg.view.issues.map((i) => i.feature));
    for (const f of r.features)
      if (!bad.has(f))
        push(
          out,
          -1,
          0,
          "feature",
          `initialises on the destination (compared with its ${cfg.view.name} configuration)`,
          featureName(f),
        );
  }
  if (r.target !== undefined) worst = Math.max(worst, targetLevel(r.target, host, out));
  if (!out && worst === 2) return 2;

  // The destination's data laid out in the subject's order, computed once per (layout, host view).
  const plan = cfg.plans[r.layout] ?? buildPlan(r, cfg);

  // Presence: registers the destination lacks, and registers only the destination has.
  const missing = plan.missing;
  for (let m = 0; m < missing.length; m++) {
    worst = Math.max(worst, missingLevel(r, cfg, missing[m]!, out));
    if (!out && worst === 2) return 2;
  }
  if (out) for (let m = 0; m < plan.added.length; m++) newLevel(r, cfg, plan.added[m]!, out);
  else {
    worst = Math.max(worst, plan.addedLevel);
    for (let m = 0; m < plan.addedBitmaps.length; m++)
      worst = Math.max(worst, newLevel(r, cfg, plan.addedBitmaps[m]!, null));
    if (worst === 2) return 2;
  }
  if (out) worst = Math.max(worst, worstLevel(out.filter((v) => v.kind === "new")));

  // Values of the registers both have.
  const checked = r.checked;
  const rules = plan.rule;
  const hlo = plan.lo;
  const hhi = plan.hi;
  const clo = r.cLo;
  const chi = r.cHi;
  for (let k = 0; k < checked.length; k++) {
    const rule = rules[k]!;
    if (rule === RULE.absent) continue;
    const lo = clo[k]!;
    const hi = chi[k]!;
    if (lo === hlo[k] && hi === hhi[k] && rule < RULE.vls && r.cKnown[k] === 1) {
      if (out) push(out, checked[k]!, 0, kindOf(rule), `equal (${hex(join64(lo, hi))})`);
      continue;
    }
    const i = checked[k]!;
    if (r.cKnown[k] === 0) {
      // A template register without a value: the template does not fix it. Cache geometry (CCSIDR)
      // has no place in a template at all: the guest always gets the destination's.
      const level = REGISTRY.cls[i] === REG_CLASS.demux ? 0 : 1;
      worst = Math.max(worst, level);
      if (out)
        push(
          out,
          i,
          level,
          kindOf(rule),
          level === 0
            ? `cache geometry is not part of a template: the guest sees the destination's ${shownValue(cfg, i)}`
            : `the template does not fix its value: the guest sees the destination's ${shownValue(cfg, i)}`,
        );
      continue;
    }
    if (rule === RULE.vls || rule === RULE.unreadable || lo !== hlo[k] || hi !== hhi[k]) {
      const level = valueLevel(rule, r, cfg, i, lo, hi, out);
      worst = Math.max(worst, level);
      if (!out && worst === 2) return 2;
    } else if (out) push(out, i, 0, kindOf(rule), `equal (${hex(join64(lo, hi))})`);
  }
  if (out) stateVerdicts(r, cfg, out);
  return worst;
}

/** The destination's side of a (subject layout, host view) pair: what the per-pair loop reads. */
function buildPlan(r: VcpuRequirement, cfg: CompiledConfig): LayoutPlan {
  const sp = r.present;
  const hp = cfg.present;
  const missing: number[] = [];
  const added: number[] = [];
  const addedBitmaps: number[] = [];
  let addedLevel = 0;
  const words = Math.max(sp.length, hp.length);
  for (let w = 0; w < words; w++) {
    const s = w < sp.length ? sp[w]! : 0;
    const h = w < hp.length ? hp[w]! : 0;
    let m = s & ~h;
    while (m !== 0) {
      const b = 31 - Math.clz32(m & -m);
      m &= m - 1;
      missing.push((w << 5) | b);
    }
    let a = h & ~s;
    while (a !== 0) {
      const b = 31 - Math.clz32(a & -a);
      a &= a - 1;
      const i = (w << 5) | b;
      added.push(i);
      // A new bitmap's level depends on the subject's source services, a new CCSIDR's on the subject's
      // CLIDR; every other one only on the host.
      if (REGISTRY.cls[i] === REG_CLASS.bitmap || REGISTRY.cls[i] === REG_CLASS.demux) addedBitmaps.push(i);
      else addedLevel = Math.max(addedLevel, newLevel(r, cfg, i, null));
    }
  }
  const n = r.checked.length;
  const plan: LayoutPlan = {
    missing: Int32Array.from(missing),
    added: Int32Array.from(added),
    addedBitmaps: Int32Array.from(addedBitmaps),
    addedLevel,
    rule: new Uint8Array(n),
    lo: new Uint32Array(n),
    hi: new Uint32Array(n),
  };
  for (let k = 0; k < n; k++) {
    const i = r.checked[k]!;
    if (i >= cfg.size) continue;
    plan.rule[k] = cfg.rule[i]!;
    plan.lo[k] = cfg.lo[i]!;
    plan.hi[k] = cfg.hi[i]!;
  }
  cfg.plans[r.layout] = plan;
  return plan;
}

function kindOf(rule: number): VerdictKind {
  switch (rule) {
    case RULE.psci:
      return "psci";
    case RULE.wa13:
    case RULE.wa2:
      return "workaround";
    case RULE.bitmap:
      return "bitmap";
    case RULE.vls:
      return "sve";
    case RULE.ccsidr:
      return "cache";
    case RULE.fwUnknown:
      return "firmware";
    case RULE.state:
      return "state";
    default:
      return "id";
  }
}

const shownValue = (cfg: CompiledConfig, i: number): string =>
  REGISTRY.cls[i] === REG_CLASS.vls
    ? `vector lengths ${vqText(cfg.vls)}`
    : hex(join64(cfg.lo[i]!, cfg.hi[i]!));

function stateVerdicts(r: VcpuRequirement, cfg: CompiledConfig, out: Verdict[]): void {
  const sp = r.present;
  for (let w = 0; w < sp.length; w++) {
    let both = sp[w]! & (w < cfg.present.length ? cfg.present[w]! : 0);
    while (both !== 0) {
      const b = 31 - Math.clz32(both & -both);
      both &= both - 1;
      const i = (w << 5) | b;
      if (REGISTRY.cls[i] !== REG_CLASS.state) continue;
      if (hasBit(r.tv, i) || hasBit(cfg.tv, i))
        push(out, i, 0, "state", "time-varying: restored as saved, not compared by value");
      else push(out, i, 0, "state", "state: restored as saved (KVM_SET_ONE_REG)");
    }
  }
}

// ---- registers one side lacks -------------------------------------------------------------------------

const LACKS = "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT)";

/** CLIDR_EL1 (op0 3, op1 1, CRn 0, CRm 0, op2 1). */
export const CLIDR_ID = 0x603000000013c801n;

const UNIMPLEMENTED_CACHE =
  "a cache level/type the VM's CLIDR_EL1 does not implement: its CCSIDR is UNKNOWN (get_ccsidr), the guest cannot rely on it";

/** A CCSIDR demux entry of a level/type the subject's CLIDR_EL1 value does not implement. */
function unimplementedCache(r: VcpuRequirement, i: number): boolean {
  if (REGISTRY.cls[i] !== REG_CLASS.demux) return false;
  const clidr = r.values.get(REGISTRY.intern(CLIDR_ID));
  return typeof clidr === "bigint" && !clidrImplements(clidr, Number(REGISTRY.ids[i]! & 0xffn));
}

function missingLevel(r: VcpuRequirement, cfg: CompiledConfig, i: number, out: Out): number {
  const lacks = LACKS;
  if (unimplementedCache(r, i)) {
    if (out) push(out, i, 1, "missing", `${lacks}; ${UNIMPLEMENTED_CACHE}`);
    return 1;
  }
  if (hasBit(r.tv, i)) {
    if (out)
      push(out, i, 1, "missing", `${lacks}; time-varying, not compared by value: the restore skips it`);
    return 1;
  }
  const v = r.values.get(i);
  const id = REGISTRY.ids[i]!;
  if (REGISTRY.cls[i] === REG_CLASS.bitmap && typeof v === "bigint") {
    const u = cfg.ungated.get(id);
    if (u !== undefined) {
      // No bitmap register: the kernel offers its services unconditionally (kvm_hvc_call_handler).
      const level = v === u ? 1 : 2;
      if (out)
        push(
          out,
          i,
          level,
          "missing",
          `${lacks}; its services are fixed there: the guest probe saw ${hex(u)}, the VM has ${hex(v)}` +
            (level === 1 ? "" : ` (${serviceDiff(id, v, u)})`),
        );
      return level;
    }
  }
  if (v === undefined) {
    // A template register (no value): a VM of the template carries whatever its guest wrote.
    if (out)
      push(
        out,
        i,
        2,
        "missing",
        `${lacks}; a VM of this template carries it, with whatever value its guest gave it`,
      );
    return 2;
  }
  const shown = (): string => (typeof v === "bigint" ? hex(v) : "a wide value");
  if (hasBit(r.atReset, i)) {
    if (out)
      push(
        out,
        i,
        1,
        "missing",
        `${lacks}; the VM has ${shown()}, what a VM that never knew it has (${r.resetFrom === "source profile" ? "the source profile's reset value" : "0 or reset_unknown's value"}): the restore skips it`,
      );
    return 1;
  }
  if (out)
    push(
      out,
      i,
      2,
      "missing",
      `${lacks}; the VM has ${shown()}, not what a VM that never knew it has (${r.resetFrom === "source profile" ? "the source profile's reset value" : "assumed 0 or reset_unknown's value; --source-profile gives the source's reset values"})`,
    );
  return 2;
}

function newLevel(r: VcpuRequirement, cfg: CompiledConfig, i: number, out: Out): number {
  const here = `new on the destination (the subject does not carry it)`;
  if (unimplementedCache(r, i)) {
    if (out) push(out, i, 1, "new", `${here}; ${UNIMPLEMENTED_CACHE}`);
    return 1;
  }
  if (hasBit(cfg.tv, i)) {
    if (out) push(out, i, 1, "new", `${here}; time-varying, not compared by value`);
    return 1;
  }
  if (REGISTRY.cls[i] === REG_CLASS.bitmap) {
    const id = REGISTRY.ids[i]!;
    const d = join64(cfg.lo[i]!, cfg.hi[i]!);
    const g = r.sourceServices.get(id) ?? 0n;
    const level = d === g ? 1 : 2;
    if (out) {
      const features = BigInt(cfg.bitmapFeatures.get(i) ?? 0);
      const pin =
        (g & ~features) === 0n
          ? `; writable to ${hex(g)} before the first run (kvm_arm_set_fw_reg_bmap): pin it`
          : "";
      push(
        out,
        i,
        level,
        "new",
        `${here}; it resets to ${hex(d)} (kvm_arm_init_hypercalls), the guest saw ${hex(g)} (${r.sourceServices.has(id) ? "the source's guest view" : "assumed: no source profile"})` +
          (level === 1 ? "" : ` (${serviceDiff(id, g, d)})${pin}`),
      );
    }
    return level;
  }
  if (hasBit(cfg.newOk, i)) {
    if (out)
      push(
        out,
        i,
        1,
        "new",
        `${here}; it resets to ${shownValue(cfg, i)}, what a VM that never knew it sees`,
      );
    return 1;
  }
  if (out)
    push(
      out,
      i,
      2,
      "new",
      `${here}; it resets to ${shownValue(cfg, i)}, not 0 / reset_unknown's value: the guest would see a value it never had`,
    );
  return 2;
}

/** "loses KVM vendor hypervisor: PTP; gains ..." for bitmap values `had` -> `gets`. */
function serviceDiff(id: RegId, had: bigint, gets: bigint): string {
  const parts: string[] = [];
  const lost = had & ~gets;
  const gained = gets & ~had;
  if (lost) parts.push(`loses ${bitNames(id, lost)}`);
  if (gained) parts.push(`gains ${bitNames(id, gained)}`);
  return parts.join("; ");
}

function bitNames(id: RegId, bits: bigint): string {
  const names: string[] = [];
  for (let b = 0; b < 64; b++) if ((bits >> BigInt(b)) & 1n) names.push(bitmapBitName(id, b));
  return names.join(", ");
}

function bitmapBitName(id: RegId, bit: number): string {
  const def = fwRegByIndex("fwBitmap", Number(id & 0xffffn));
  const b = def?.bits?.find((x) => x.bit === bit);
  return b ? `${b.service} (bit ${bit})` : `bit ${bit}`;
}

// ---- values ---------------------------------------------------------------------------------------

function valueLevel(
  rule: number,
  r: VcpuRequirement,
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Out,
): number {
  const dlo = cfg.lo[i]!;
  const dhi = cfg.hi[i]!;
  switch (rule) {
    case RULE.equal:
    case RULE.fwUnknown:
      if (out) explainEqual(rule, cfg, i, lo, hi, out);
      return 2;
    case RULE.pfr0Csv:
      return pfr0Csv(cfg, i, lo, hi, out);
    case RULE.idCheck:
      return idCheck(cfg, i, lo, hi, out);
    case RULE.impId: {
      // set_imp_id_reg: any value within the writable mask, once the VMM enabled the capability.
      const level = setImpIdAccepts(lo, hi, cfg.wLo[i]!, cfg.wHi[i]!) ? 1 : 2;
      if (out)
        push(
          out,
          i,
          level,
          "id",
          level === 1
            ? `the VM has ${hex(join64(lo, hi))}, the destination shows ${hex(join64(dlo, dhi))}: writable after KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) on the new VM (set_imp_id_reg); without it KVM_SET_ONE_REG fails with EINVAL`
            : `the VM has ${hex(join64(lo, hi))}: outside the writable mask ${hex(join64(cfg.wLo[i]!, cfg.wHi[i]!))} (set_imp_id_reg: EINVAL)`,
        );
      return level;
    }
    case RULE.clidr: {
      // set_clidr: no RES0 bits (outside the writable mask), and IDC-implied levels need CTR_EL0.IDC.
      const level = setClidrAccepts(lo, hi, cfg.wLo[i]!, cfg.wHi[i]!, cfg.ctr?.idc ?? false) ? 1 : 2;
      const res0 = !setClidrAccepts(lo, hi, cfg.wLo[i]!, cfg.wHi[i]!, true);
      if (out)
        push(
          out,
          i,
          level,
          "cache",
          level === 1
            ? `the VM has ${hex(join64(lo, hi))}, the destination shows ${hex(join64(dlo, dhi))}: the restore writes it (set_clidr accepts it)`
            : res0
              ? `the VM has ${hex(join64(lo, hi))}: RES0 bits set (set_clidr: EINVAL)`
              : `the VM's cache levels imply IDC but the destination's CTR_EL0.IDC is 0 (set_clidr: EINVAL)`,
        );
      return level;
    }
    case RULE.ccsidr: {
      // set_ccsidr: no RES0 bits; LineSize + 4 >= get_min_cache_line_size (CTR_EL0 IminLine/DminLine + 2).
      const csselr = Number(REGISTRY.ids[i]! & 0xffn);
      const minLine = ccsidrMinLine(csselr, cfg.ctr?.imin ?? 0, cfg.ctr?.dmin ?? 0);
      const line = (lo & 7) + 4;
      const level = setCcsidrAccepts(lo, hi, minLine) ? 1 : 2;
      const res0 = !setCcsidrAccepts(lo, hi, 0);
      if (out)
        push(
          out,
          i,
          level,
          "cache",
          level === 1
            ? `the VM has ${hex(lo >>> 0)}, the destination shows ${hex(dlo >>> 0)}: the restore writes it (set_ccsidr accepts it)`
            : res0
              ? `the VM has ${hex(lo >>> 0)}: RES0 bits set (set_ccsidr: EINVAL)`
              : `the VM's line size 2^${line} is below the destination's minimum 2^${minLine} (set_ccsidr / get_min_cache_line_size: EINVAL)`,
        );
      return level;
    }
    case RULE.psci:
      return psciLevel(cfg, i, lo, hi, out);
    case RULE.wa13: {
      // kvm_arm_set_fw_reg: level bits only, and get_kernel_wa_level(regid) >= val.
      const d = dlo & 0xf;
      const level = waAccepted(lo, hi, d) ? 1 : 2;
      if (out)
        push(
          out,
          i,
          level,
          "workaround",
          level === 2
            ? hi !== 0 || (lo & ~0xf) !== 0
              ? `the VM has ${hex(join64(lo, hi))}: bits beyond the level (kvm_arm_set_fw_reg: EINVAL)`
              : `the guest relies on ${waName(i, lo)}; the destination's kernel level is only ${waName(i, d)} (get_kernel_wa_level < val: kvm_arm_set_fw_reg EINVAL)`
            : `the guest saw ${waName(i, lo)}; the destination is at ${waName(i, d)}, a higher level: KVM accepts the write (kvm_arm_set_fw_reg) and the guest's workaround calls keep working`,
        );
      return level;
    }
    case RULE.wa2: {
      const want = wa2Level(lo, hi);
      const d = dlo & 0xf;
      const level = wa2Accepted(lo, hi, d) ? 1 : 2;
      if (out) {
        const ssbsNote =
          cfg.wa2FromVm && d === 0
            ? r.ssbs === 0
              ? "; on 6.12+ the level depends on the VM's ID_AA64PFR1_EL1.SSBS (kvm_has_feat in get_kernel_wa_level): this VM hides SSBS, so a mitigated host may report NOT_REQUIRED, which the profile (default SSBS) cannot show"
              : ""
            : "";
        push(
          out,
          i,
          level,
          "workaround",
          want < 0
            ? `the VM has ${hex(join64(lo, hi))}: not a value kvm_arm_set_fw_reg accepts (ENABLED only with AVAIL, levels 0..3)`
            : level === 2
              ? `the guest saw ${wa2Name(lo)}, which KVM maps to NOT_REQUIRED; the destination's level is ${wa2Name(d)} ("We can deal with NOT_AVAIL on NOT_REQUIRED, but not the other way around": kvm_arm_set_fw_reg EINVAL)${ssbsNote}`
              : `the guest saw ${wa2Name(lo)}; the destination is at ${wa2Name(d)}: kvm_arm_set_fw_reg maps ${want === 0 ? "NOT_AVAIL/UNKNOWN to NOT_AVAIL" : "AVAIL/NOT_REQUIRED to NOT_REQUIRED"} and accepts it`,
        );
      }
      return level;
    }
    case RULE.bitmap: {
      // kvm_arm_set_fw_reg_bmap: val & ~features -> EINVAL; any subset is accepted before the first run.
      const f = cfg.bitmapFeatures.get(i) ?? 0;
      const level = bitmapAccepted(lo, hi, f) ? 1 : 2;
      if (out) bitmapVerdicts(cfg, i, lo, hi, f, level, out);
      return level;
    }
    case RULE.vls:
      return vlsLevel(r, cfg, i, out);
    case RULE.unreadable:
      if (out)
        push(
          out,
          i,
          1,
          kindOf(REGISTRY.cls[i] === REG_CLASS.fw ? RULE.fwUnknown : RULE.equal),
          "the destination lists it but could not read it in the probe: not compared",
        );
      return 1;
    default:
      return 0;
  }
}

function explainEqual(
  rule: number,
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  out: Verdict[],
): void {
  const s = join64(lo, hi);
  const d = join64(cfg.lo[i]!, cfg.hi[i]!);
  const cls = REGISTRY.cls[i];
  const why = equalWhy(rule, REGISTRY.cls[i]!, REGISTRY.name(i), cfg.host.writableIds);
  push(
    out,
    i,
    2,
    kindOf(rule),
    `the VM has ${hex(s)}, the destination shows ${hex(d)} and cannot be changed: ${why}`,
  );
  if (cls === REG_CLASS.id) fieldDiffVerdicts(i, cfg, s, d, s ^ d, why, out);
}

/** Incompatible verdicts for every catalog field (and leftover bits) within `bits` of s ^ d. */
function fieldDiffVerdicts(
  i: number,
  cfg: CompiledConfig,
  s: bigint,
  d: bigint,
  bits: bigint,
  why: string,
  out: Verdict[],
): void {
  let left = bits;
  for (const f of catalogFields(REGISTRY.ids[i]!)) {
    const m = ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
    if ((left & m) === 0n) continue;
    left &= ~m;
    const sv = (s & m) >> BigInt(f.lsb);
    const dv = (d & m) >> BigInt(f.lsb);
    const pol = policyOf(cfg, REGISTRY.name(i), f.lsb, f.msb - f.lsb + 1);
    push(
      out,
      i,
      2,
      "id",
      `the guest saw ${hex(sv)}, the destination shows ${hex(dv)}${pol ? ` (${pol}: ${direction(pol, sv, dv)})` : ""}: ${why}`,
      f.name,
    );
  }
  if (left !== 0n)
    push(out, i, 2, "id", `bits ${hex(left)} differ outside any known field: ${why}`, `bits ${hex(left)}`);
}

function policyOf(cfg: CompiledConfig, reg: string, shift: number, width: number): string | undefined {
  const p = ftrPolicies(cfg.host.generation, reg)?.find((x) => x.shift === shift && x.width === width);
  return p ? `${p.type}${p.signed ? " signed" : ""}` : undefined;
}

function direction(pol: string, s: bigint, d: bigint): string {
  if (pol.startsWith("lowerSafe"))
    return s < d ? "the destination offers more" : "the guest relies on more than the destination offers";
  if (pol.startsWith("higherSafe"))
    return s > d ? "the destination offers more" : "the guest relies on more than the destination offers";
  return "values differ";
}

/** Before 6.7, set_id_aa64pfr0_el1: only CSV2 (and CSV3 from 6.1) may differ, each <= 1 and <= the kernel's. */
function pfr0Csv(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): number {
  const dlo = cfg.lo[i]!;
  const dhi = cfg.hi[i]!;
  const csv3 = pfr0CsvFields(generationModel(cfg.host.generation)).includes("CSV3");
  const csvMaskHi = csv3 ? 0xff000000 : 0x0f000000; // CSV3 63:60, CSV2 59:56
  let level = (lo ^ dlo) !== 0 || ((hi ^ dhi) & ~csvMaskHi) !== 0 ? 2 : 1;
  const fields: [string, number][] = csv3
    ? [
        ["CSV2", 24],
        ["CSV3", 28],
      ]
    : [["CSV2", 24]];
  const fieldLevels: [string, number, number, number][] = [];
  for (const [name, sh] of fields) {
    const s = (hi >>> sh) & 0xf;
    const d = (dhi >>> sh) & 0xf;
    if (s === d) continue;
    const l = pfr0CsvAccepted(s, d) ? 1 : 2;
    level = Math.max(level, l);
    fieldLevels.push([name, s, d, l]);
  }
  if (out) {
    const s = join64(lo, hi);
    const d = join64(dlo, dhi);
    push(
      out,
      i,
      level,
      "id",
      `the VM has ${hex(s)}, the destination shows ${hex(d)}; before 6.7 only ${csv3 ? "CSV2/CSV3" : "CSV2"} may differ (set_id_aa64pfr0_el1)`,
    );
    for (const [name, sv, dv, l] of fieldLevels)
      push(
        out,
        i,
        l,
        "id",
        l === 1
          ? `the guest saw ${sv}, the destination shows ${dv}: lowered by the restore (set_id_aa64pfr0_el1 accepts 0..the kernel's value)`
          : `the guest saw ${sv}, the destination shows ${dv}: set_id_aa64pfr0_el1 refuses ${name} above the kernel's (it would promise an unmitigated CPU)`,
        name,
      );
    const other = (s ^ d) & ~(BigInt(csvMaskHi >>> 0) << 32n);
    if (other !== 0n)
      fieldDiffVerdicts(
        i,
        cfg,
        s,
        d,
        other,
        `${IMMUTABLE_BEFORE_6_7} (set_id_aa64pfr0_el1: anything but CSV2/CSV3 must equal)`,
        out,
      );
  }
  return level;
}

/** 6.7+: set_id_reg -> arm64_check_features. */
function idCheck(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): number {
  const dlo = cfg.lo[i]!;
  const dhi = cfg.hi[i]!;
  const fixedBad = ((lo ^ dlo) & cfg.fixLo[i]!) !== 0 || ((hi ^ dhi) & cfg.fixHi[i]!) !== 0;
  let level = fixedBad ? 2 : 1;
  if (fixedBad && !out) return 2;
  const fieldVerdicts: Verdict[] = [];
  const prog = cfg.fields;
  const end = cfg.fieldEnd[i]! * FIELD_STRIDE;
  for (let p = cfg.fieldStart[i]! * FIELD_STRIDE; p < end; p += FIELD_STRIDE) {
    const shift = prog[p]!;
    const width = prog[p + 1]!;
    const signed = prog[p + 2] === 1;
    const v = fieldOf(lo, hi, shift, width, signed);
    const lim = fieldOf(dlo, dhi, shift, width, signed);
    if (v === lim) continue;
    const ok = ftrAccepts(prog[p + 3]!, prog[p + 4]!, v, lim);
    if (!ok) {
      level = 2;
      if (!out) return 2;
    }
    if (out) {
      const pol = cfg.policies[prog[p + 5]!]!;
      const text = policyText(prog[p + 3]!, signed, prog[p + 4]!);
      push(
        fieldVerdicts,
        i,
        ok ? 1 : 2,
        "id",
        ok
          ? `the guest saw ${v}, the destination shows ${lim}: the restore writes ${v} (${text}${pol.kvmOverride ? ", KVM's own policy" : ""}: arm64_check_features accepts it)`
          : `the guest saw ${v}, the destination offers ${lim}: ${text} refuses it (arm64_check_features: E2BIG, KVM_SET_ONE_REG EINVAL)`,
        pol.field,
      );
    }
  }
  if (out) {
    const s = join64(lo, hi);
    const d = join64(dlo, dhi);
    const fixed = join64(cfg.fixLo[i]!, cfg.fixHi[i]!);
    push(
      out,
      i,
      level,
      "id",
      `the VM has ${hex(s)}, the destination shows ${hex(d)} (writable mask ${hex(join64(cfg.wLo[i]!, cfg.wHi[i]!))}): ${level === 1 ? "the restore writes it (arm64_check_features accepts every field)" : "KVM_SET_ONE_REG fails with EINVAL (arm64_check_features)"}`,
    );
    out.push(...fieldVerdicts);
    const fixedDiff = (s ^ d) & fixed;
    if (fixedDiff !== 0n)
      fieldDiffVerdicts(
        i,
        cfg,
        s,
        d,
        fixedDiff,
        "not writable on this kernel: outside the writable mask or without an ftr policy, it must equal the limit (arm64_check_features)",
        out,
      );
  }
  return level;
}

/**
 * The level the destination's rule gives a value of a register both sides have (no verdicts): what
 * baseline() asks when it chooses values. Not for SVE_VLS (vector lengths are not a 64-bit value).
 */
export function valueLevelOf(cfg: CompiledConfig, i: number, lo: number, hi: number, ssbs?: number): number {
  const rule = i < cfg.size ? cfg.rule[i]! : RULE.absent;
  if (rule === RULE.absent || rule === RULE.state) return 0;
  if (rule !== RULE.unreadable && lo === cfg.lo[i] && hi === cfg.hi[i]) return 0;
  const r = { vqs: undefined, ssbs } as unknown as VcpuRequirement;
  return valueLevel(rule, r, cfg, i, lo, hi, null);
}

function psciLevel(cfg: CompiledConfig, i: number, lo: number, hi: number, out: Out): number {
  // kvm_arm_set_fw_reg: the PSCI versions the kernel knows, 0.1 only without PSCI_0_2 and vice versa.
  const ok = hi === 0 && cfg.psci.includes(lo >>> 0);
  const level = ok ? 1 : 2;
  if (out) {
    const list = cfg.psci.map(psciName).join(", ");
    push(
      out,
      i,
      level,
      "psci",
      ok
        ? `the guest saw PSCI ${psciName(lo)}; the destination defaults to ${psciName(cfg.lo[i]!)} and accepts ${psciName(lo)} (kvm_arm_set_fw_reg): the restore pins it`
        : `the guest saw PSCI ${psciName(hi ? -1 : lo)}; the destination accepts ${list} (kvm_arm_set_fw_reg${cfg.psciFrom === "experiments" ? ", as the probe's writes showed" : ""}): EINVAL`,
    );
  }
  return level;
}

const psciName = (v: number): string => (v < 0 ? "?" : `${v >>> 16}.${v & 0xffff}`);

const WA_NAMES = ["NOT_AVAIL", "AVAIL", "NOT_REQUIRED"];
const waName = (_i: number, v: number): string => `${WA_NAMES[v] ?? `level ${v}`} (${v})`;
const WA2_NAMES = ["NOT_AVAIL", "UNKNOWN", "AVAIL", "NOT_REQUIRED"];
const wa2Name = (v: number): string =>
  `${WA2_NAMES[v & 0xf] ?? `level ${v & 0xf}`}${v & 0x10 ? "+ENABLED" : ""} (${hex(v >>> 0)})`;

function bitmapVerdicts(
  cfg: CompiledConfig,
  i: number,
  lo: number,
  hi: number,
  f: number,
  level: number,
  out: Verdict[],
): void {
  const id = REGISTRY.ids[i]!;
  const s = join64(lo, hi);
  const d = join64(cfg.lo[i]!, cfg.hi[i]!);
  const feats = BigInt(f >>> 0);
  const missing = s & ~feats;
  push(
    out,
    i,
    level,
    "bitmap",
    level === 1
      ? `the VM has ${hex(s)}, the destination defaults to ${hex(d)} (${serviceDiff(id, s, d)} by default): the restore writes ${hex(s)} before the first run (kvm_arm_set_fw_reg_bmap)`
      : `the guest uses services the destination does not offer (${bitNames(id, missing)}): kvm_arm_set_fw_reg_bmap refuses unknown bits (EINVAL)`,
  );
  for (let b = 0; b < 64; b++) {
    const bit = 1n << BigInt(b);
    if ((s & bit) === (d & bit)) continue;
    const used = (s & bit) !== 0n;
    const lvl = used && !(feats & bit) ? 2 : 1;
    push(
      out,
      i,
      lvl,
      "bitmap",
      used
        ? lvl === 2
          ? `used by the guest; the destination lacks it (kvm_arm_set_fw_reg_bmap: EINVAL)`
          : `used by the guest; off by default on the destination, enabled by the restore`
        : `not used by the guest; on by default on the destination, disabled by the restore`,
      bitmapBitName(id, b),
    );
  }
}

function vlsLevel(r: VcpuRequirement, cfg: CompiledConfig, i: number, out: Out): number {
  // set_sve_vls (guest.c): max vq <= the host's, and every vq up to it present exactly when the host has it.
  const s = r.vqs;
  const a = cfg.vls;
  let level: number;
  if (s === undefined || a === undefined) level = 2;
  else if (s === a) level = 0;
  else {
    const max = s === 0n ? 0 : s.toString(2).length;
    const upTo = (1n << BigInt(max)) - 1n;
    level = max > a.toString(2).length || (a & upTo) !== s ? 2 : 1;
  }
  if (out)
    push(
      out,
      i,
      level,
      "sve",
      level === 0
        ? `equal: vector lengths ${vqText(s)}`
        : level === 1
          ? `the VM has vector lengths ${vqText(s)}; the destination offers ${vqText(a)}: the restore caps the maximum (set_sve_vls accepts a prefix)`
          : `the VM has vector lengths ${vqText(s)}; the destination offers ${vqText(a)}: set_sve_vls accepts only every available length up to the maximum (EINVAL)`,
    );
  return level;
}

const vqText = (m: bigint | undefined): string =>
  m === undefined
    ? "(unknown)"
    : `{${vqList(m)
        .map((q) => q * 128)
        .join(", ")}} bits`;

// ---- target and VM-wide state ------------------------------------------------------------------------

function targetLevel(target: number, host: CompiledHost, out: Out): number {
  const pt = host.preferredTarget;
  if (pt === undefined) return 0;
  // kvm_vcpu_set_target; where KVM_ARM_PREFERRED_TARGET is kvm_target_cpu() ("exact"), the profile's says it.
  const model = generationModel(host.generation);
  const cpu = model.vcpuTarget === "exact" ? pt : host.targetCpu;
  const accepted = target === pt || vcpuTargetAccepted(model, target, cpu);
  const level = accepted ? 0 : 1;
  if (out)
    push(
      out,
      -1,
      level,
      "target",
      accepted
        ? `KVM_ARM_VCPU_INIT target ${target} is accepted`
        : `the saved target ${target} is refused (kvm_vcpu_set_target): the restore must use the destination's KVM_ARM_PREFERRED_TARGET ${pt}; the target selects no guest-visible state`,
      "target",
    );
  return level;
}

function vmLevel(req: Requirements, host: CompiledHost, out: Out): number {
  const vm = req.vm;
  if (!vm) return 0;
  let worst = 0;
  const p = host.profile;
  if (vm.ipaBits > 0) {
    // kvm_arm_setup_stage2: IPA size above KVM_CAP_ARM_VM_IPA_SIZE -> KVM_CREATE_VM EINVAL
    const level = vm.ipaBits > p.kvm.maxIpaBits ? 2 : 0;
    worst = Math.max(worst, level);
    if (out)
      push(
        out,
        -1,
        level,
        "vm",
        level
          ? `the VM uses a ${vm.ipaBits}-bit IPA space; the destination allows ${p.kvm.maxIpaBits} (kvm_arm_setup_stage2: EINVAL)`
          : `${vm.ipaBits}-bit IPA space available`,
        "ipaBits",
      );
  }
  for (const c of vm.caps) {
    const info = [...CAPS.values()].find((x) => x.number === c.cap);
    const on = info ? capValue(p, info.name) > 0 : false;
    const level = on ? 0 : 2;
    worst = Math.max(worst, level);
    if (out)
      push(
        out,
        -1,
        level,
        "vm",
        on
          ? "the destination supports it"
          : `${info ? `${info.name} is 0 on the destination` : "a capability guestabi does not know"}: KVM_ENABLE_CAP would fail (kvm_vm_ioctl_enable_cap: EINVAL)`,
        `KVM_ENABLE_CAP(${info?.name ?? c.cap})`,
      );
  }
  if (vm.attrs.length > 0) {
    // kvm_arch_vm_ioctl KVM_SET_DEVICE_ATTR (the SMCCC filter, 6.4+) answers only with KVM_CAP_VM_ATTRIBUTES.
    const on = capValue(p, "KVM_CAP_VM_ATTRIBUTES") > 0;
    const level = on ? 0 : 2;
    worst = Math.max(worst, level);
    if (out)
      push(
        out,
        -1,
        level,
        "vm",
        on
          ? "VM device attributes supported"
          : "the VM sets device attributes (SMCCC filter); KVM_CAP_VM_ATTRIBUTES is 0 on the destination",
        "KVM_SET_DEVICE_ATTR",
      );
  }
  if (req.pvTime) {
    // A vCPU's stolen-time IPA (KVM_ARM_VCPU_PVTIME_CTRL) needs KVM_CAP_STEAL_TIME (kvm_arm_pvtime_has_attr).
    const on = capValue(p, "KVM_CAP_STEAL_TIME") > 0;
    const level = on ? 0 : 2;
    worst = Math.max(worst, level);
    if (out)
      push(
        out,
        -1,
        level,
        "vm",
        on
          ? "stolen time supported"
          : "a vCPU sets its stolen-time IPA; KVM_CAP_STEAL_TIME is 0 on the destination (ENXIO)",
        "KVM_ARM_VCPU_PVTIME_CTRL",
      );
  }
  return worst;
}
