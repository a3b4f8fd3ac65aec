/**
 * A host profile compiled for the checker (CompiledHost), and per vCPU feature set its view compiled
 * into a CompiledConfig: arrays indexed by REGISTRY index holding, for each register the host lists,
 * its reset value (as 32-bit halves) and the rule the host's kernel applies to a write of it (a
 * RuleName). The rules are evaluated in value-rules.ts and the files it names, asking src/kvm/rules/
 * what KVM accepts; here each register only gets its rule, with the data the rule needs (writable
 * masks, ftr fields, PSCI versions, bitmap features, vector lengths, CTR_EL0).
 *
 * The kernel functions behind the rule choice:
 * - firmware registers: kvm_arm_set_fw_reg (psci.c 5.10, hypercalls.c 6.1+), get_kernel_wa_level,
 *   kvm_arm_set_fw_reg_bmap;
 * - ID registers before 6.7: set_id_reg / __set_id_reg ("invariant: you can't change it"),
 *   set_id_aa64pfr0_el1 (CSV2, and CSV3 from 6.1), set_invariant_sys_reg (MIDR, REVIDR, AIDR, CTR,
 *   CLIDR), demux_c15_set (CCSIDR);
 * - ID registers from 6.7 (the profile has KVM_ARM_GET_REG_WRITABLE_MASKS): set_id_reg ->
 *   arm64_check_features with kvm_arm64_ftr_safe_value / arm64_ftr_safe_value, set_imp_id_reg (7.x,
 *   KVM_CAP_ARM_WRITABLE_IMP_ID_REGS), set_clidr, set_ccsidr;
 * - SVE vector lengths: set_sve_vls (guest.c).
 *
 * Each register also records where its rule came from (ruleFrom, evidence.ts): measured (writable
 * masks, agreeing write experiments, readings), the generation's model, or a value not measured.
 */
import type { KernelGeneration, RegId } from "../regs/index.js";
import { KERNEL_GENERATIONS, ftrPolicies, fwRegByIndex } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import type { ConfigProfile, ExperimentGroup, HostProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { psciVersionsAccepted } from "../kvm/rules/firmware.js";
import { checkedFields } from "../kvm/rules/id-fields.js";
import type { FtrField } from "../kvm/rules/id-fields.js";
import { IMP_ID_REGS } from "../kvm/rules/id-regs.js";
import { kvmTargetCpu } from "../kvm/rules/vcpu-init.js";
import type { VerdictKind, VerdictLevel } from "./check.js";
import type { ConfigView } from "./config-view.js";
import type { SEEN_ONCE, SignatureLevels } from "./level-memo.js";
import { guestCtrOf } from "./cache-rules.js";
import type { GuestCtr } from "./cache-rules.js";
import type { ValueRule } from "./value-rules.js";
import { valueLevelOf } from "./value-rules.js";
import { capValue, configView, featureBits, featureKey, servicesFromGuestView } from "./config-view.js";
import type { Grounds } from "./evidence.js";
import { RULE_FROM, kvmGrounds, modelGrounds } from "./evidence.js";
import type { CheckClass } from "./registry.js";
import { REGISTRY, bitsetOf, bytesToBigint, hi32, isUntouched, join64, lo32 } from "./registry.js";
import type { RestorePolicy } from "./restore-policy.js";
import { GUESTABI_POLICY } from "./restore-policy.js";

/**
 * The rule a destination applies to a write of one register (value-rules.ts evaluates each):
 * - absent: the destination does not list it (judged as a missing register, not by value);
 * - state: saved state, restored as saved;
 * - equal: must equal the destination's value (immutable / invariant);
 * - pfr0Csv: before 6.7, ID_AA64PFR0_EL1, where CSV2 (CSV3 from 6.1) may be lowered (set_id_aa64pfr0_el1);
 * - idCheck: 6.7+, arm64_check_features against the writable mask and the ftr policies;
 * - impId: 7.x MIDR/REVIDR/AIDR, any value in the mask after KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg);
 * - clidr, ccsidr: set_clidr, set_ccsidr (6.3+);
 * - psci: KVM_REG_ARM_PSCI_VERSION (kvm_arm_set_fw_reg);
 * - wa13, wa2: SMCCC_ARCH_WORKAROUND_1/3 and _2 (kvm_arm_set_fw_reg, get_kernel_wa_level);
 * - bitmap: a hypercall service bitmap (kvm_arm_set_fw_reg_bmap);
 * - vls: the SVE vector lengths (set_sve_vls);
 * - unreadable: the destination lists it but could not read it in the probe;
 * - fwUnknown: a firmware register guestabi has no rule for: must be equal.
 */
export type RuleName =
  | "absent"
  | "state"
  | "equal"
  | "pfr0Csv"
  | "idCheck"
  | "impId"
  | "clidr"
  | "ccsidr"
  | "psci"
  | "wa13"
  | "wa2"
  | "bitmap"
  | "vls"
  | "unreadable"
  | "fwUnknown";

/** An ftr field arm64_check_features checks by policy (one entirely inside the writable mask). */
export type IdField = FtrField;

/** One vCPU configuration of a host, compiled: arrays indexed by REGISTRY index. */
export interface CompiledConfig {
  host: CompiledHost;
  view: ConfigView;
  /** Registers interned after compilation (index >= size) are absent. */
  size: number;
  present: Uint32Array;
  /** Each register's rule ("absent" where the view does not list it) and reset value, as 32-bit halves. */
  rule: RuleName[];
  /** Where each listed register's rule came from (evidence.ts RULE_FROM; 0, measured, where unlisted). */
  ruleFrom: Uint8Array;
  lo: Uint32Array;
  hi: Uint32Array;
  /** Writable masks (idCheck, impId, clidr). */
  wLo: Uint32Array;
  wHi: Uint32Array;
  /** idCheck: the bits that must equal the destination's (outside the writable policy fields). */
  fixLo: Uint32Array;
  fixHi: Uint32Array;
  /** idCheck: the fields checked by policy. */
  idFields: (IdField[] | undefined)[];
  /** Time-varying registers (the profile's marks and the kernel-source rules). */
  tv: Uint32Array;
  /** Registers that may be new to a VM (time-varying, or reset to 0 / reset_unknown's value). */
  newOk: Uint32Array;
  /** PSCI versions KVM_SET_ONE_REG(PSCI_VERSION) accepts; where the list came from. */
  psci: number[];
  psciFrom: "experiments" | "kernel";
  /** Bitmap register index -> the bits KVM_SET_ONE_REG accepts (kvm_arm_set_fw_reg_bmap). */
  bitmapFeatures: Map<number, number>;
  /** Bitmap id -> services the guest has without the register (only where the register is absent). */
  ungated: Map<RegId, bigint>;
  /** SVE vector lengths available (the VLS reset value), as a bitmask of vq - 1. */
  vls: bigint | undefined;
  /** CTR_EL0 as the destination's KVM shows it: IminLine, DminLine, IDC (set_ccsidr, set_clidr). */
  ctr: { imin: number; dmin: number; idc: boolean } | undefined;
  /** What decides the CTR_EL0 the guest reads (cache-rules.ts guestCtrLevel). */
  guestCtr: GuestCtr | undefined;
  /** Whether WORKAROUND_2 NOT_AVAIL may depend on the VM's ID_AA64PFR1_EL1.SSBS (6.12+). */
  wa2FromVm: boolean;
  /** Per subject layout (VcpuRequirement.layout): this view's data in the subject's order (evaluate.ts). */
  plans: (LayoutPlan | undefined)[];
}

/**
 * A host view laid out for one subject layout (a register set): the registers the host lacks, the
 * ones only it has (with the level of those whose verdict depends on the host alone), and its rule
 * and value for each of the subject's compared registers, in the subject's order.
 */
export interface LayoutPlan {
  missing: number[];
  added: number[];
  /** Added registers whose level depends on the subject too (bitmaps, CCSIDR). */
  addedBySubject: number[];
  addedLevel: VerdictLevel;
  /** Per compared register of the subject: the destination's rule's evaluator (undefined when it lacks it)... */
  judge: (ValueRule | undefined)[];
  /** ...the kind of verdict the rule gives (value-rules.ts RULE_KIND)... */
  kind: VerdictKind[];
  /** ...1 when equal 64-bit values settle it (value-rules.ts byValue)... */
  byValue: Uint8Array;
  /** ...and the destination's value. */
  lo: Uint32Array;
  hi: Uint32Array;
  /** Where the VMM counts the saved list against the destination's (CountRule) and it is longer. */
  countExcess: { count: number; limit: number } | undefined;
  /** Missing registers the VMM never looks at (MissingRegisterRule.examined): skipped as if tolerated. */
  unexamined: Set<number>;
}

export interface CompiledHost {
  name: string;
  profile: HostProfile;
  /** The generation whose rules stand in for what the profile did not measure (profileRules). */
  generation: KernelGeneration;
  /** The grounds of a rule from that generation's model: inferred, or unknown (evidence.ts). */
  model: Grounds;
  /** The grounds of KVM's answers (capabilities, IPA limit, preferred target). */
  kvm: Grounds;
  /** 6.7+: the profile carries writable masks (ID registers writable). */
  writableIds: boolean;
  writableImpIdRegs: boolean;
  preferredTarget: number | undefined;
  /** kvm_target_cpu() of the host (from its MIDR_EL1). */
  targetCpu: number;
  /** Compiled views by feature key (featureKey()). */
  configs: Map<string, CompiledConfig | null>;
  /** The VMM whose restore rules the verdicts follow (restore-policy.ts). */
  policy: RestorePolicy;
  /** checkLevel's memo (level-memo.ts): levels by subject signature (Requirements.signature). */
  levels: Map<number, SignatureLevels | typeof SEEN_ONCE>;
}

const MIDR_EL1 = 0x603000000013c000n;

/** kvm_target_cpu() of the host, from the profile's MIDR_EL1 reading (kvm/rules/vcpu-init.ts). */
export function kvmTargetCpuOf(p: HostProfile): number {
  for (const c of p.configs) {
    const midr = c.reset?.find(([id]) => id === MIDR_EL1)?.[1];
    if (midr !== undefined) return kvmTargetCpu(typeof midr === "bigint" ? midr : 0n);
  }
  return kvmTargetCpu(0n);
}

export function hostLabel(p: HostProfile): string {
  return p.host.cpuLabel ? `${p.host.release} (${p.host.cpuLabel})` : p.host.release;
}

/**
 * Compiled hosts by profile (the profile object: a profile is read-only once read), VMM and name:
 * each compiles once, and its views and layout plans with it. Weak on the profile and the policy, so
 * a long-running service keeps them only as long as it keeps the profile.
 */
const compiledHosts = new WeakMap<HostProfile, WeakMap<RestorePolicy, Map<string, CompiledHost>>>();
/** Names kept per (profile, VMM): a caller naming one profile many ways starts over past this. */
const NAMES_KEPT = 64;

/**
 * Compiles a profile of any kernel (its rules: profileRules) for a restore by `policy`'s VMM, once per
 * (profile, policy, name). Views compile lazily.
 */
export function compileHost(
  profile: HostProfile,
  name?: string,
  policy: RestorePolicy = GUESTABI_POLICY,
): CompiledHost {
  let byPolicy = compiledHosts.get(profile);
  if (!byPolicy) compiledHosts.set(profile, (byPolicy = new WeakMap()));
  let byName = byPolicy.get(policy);
  if (!byName) byPolicy.set(policy, (byName = new Map()));
  const label = name ?? hostLabel(profile);
  let host = byName.get(label);
  if (!host) {
    if (byName.size >= NAMES_KEPT) byName.clear();
    byName.set(label, (host = compileHostOnce(profile, label, policy)));
  }
  return host;
}

function compileHostOnce(profile: HostProfile, name: string, policy: RestorePolicy): CompiledHost {
  const generation = profileRules(profile).generation;
  const model = generationModel(generation);
  const pt = profile.kvm?.preferredTarget ?? "ENODATA";
  return {
    name,
    profile,
    generation,
    model: modelGrounds(profile),
    kvm: kvmGrounds(profile),
    // Masks the profile did not measure are its generation's (config-view.ts).
    writableIds: profile.configs.some(
      (c) => Array.isArray(c.writableMasks) || (c.writableMasks === undefined && model.writableMasks),
    ),
    // The capability is the VMM's to enable (set_imp_id_reg): without it MIDR/REVIDR/AIDR are invariant.
    writableImpIdRegs:
      policy.writableImpIdRegs &&
      (profile.kvm ? capValue(profile, "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS") > 0 : model.writableImpIdRegs),
    preferredTarget: typeof pt === "string" ? undefined : pt.target,
    targetCpu: kvmTargetCpuOf(profile),
    configs: new Map(),
    policy,
    levels: new Map(),
  };
}

/** The compiled view of a host for a feature set (null when no probed configuration fits). */
export function hostConfig(
  host: CompiledHost,
  features: readonly number[],
  key = featureKey(features),
): CompiledConfig | null {
  let c = host.configs.get(key);
  if (c === undefined) {
    const view = configView(host.profile, features);
    c = view ? compileView(host, view) : null;
    host.configs.set(key, c);
  }
  return c;
}

// ---- compiling a view ----------------------------------------------------------------------------

/** The KVM_REG_ARM_FW register numbers (an id's low 16 bits) guestabi has rules for. */
const FW_NUMBER = {
  PSCI_VERSION: 0,
  SMCCC_ARCH_WORKAROUND_1: 1,
  SMCCC_ARCH_WORKAROUND_2: 2,
  SMCCC_ARCH_WORKAROUND_3: 3,
} as const;

const CTR_EL0 = 0x603000000013d801n;
const BITMAPS = [FW_REGS.STD_BMAP, FW_REGS.STD_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP_2];

/** The before-run write experiments of a configuration, by register. */
function beforeRunGroups(c: ConfigProfile): Map<RegId, ExperimentGroup> {
  const out = new Map<RegId, ExperimentGroup>();
  for (const g of c.experiments ?? []) if (g.phase === "before-run") out.set(g.id, g);
  return out;
}

/** A reading from a profile (value or errno) as the value, or undefined for an errno. */
const valueOf = (r: RegValue | string | undefined): RegValue | undefined =>
  typeof r === "string" ? undefined : r;

function compileView(host: CompiledHost, view: ConfigView): CompiledConfig {
  const gen = host.generation;
  const idx = view.ids.map((id) => REGISTRY.intern(id));
  const size = REGISTRY.size;
  const cfg: CompiledConfig = {
    host,
    view,
    size,
    present: bitsetOf(idx),
    rule: new Array<RuleName>(size).fill("absent"),
    ruleFrom: new Uint8Array(size),
    lo: new Uint32Array(size),
    hi: new Uint32Array(size),
    wLo: new Uint32Array(size),
    wHi: new Uint32Array(size),
    fixLo: new Uint32Array(size),
    fixHi: new Uint32Array(size),
    idFields: [],
    tv: new Uint32Array(0),
    newOk: new Uint32Array(0),
    psci: [],
    psciFrom: "kernel",
    bitmapFeatures: new Map(),
    ungated: new Map(),
    vls: undefined,
    ctr: undefined,
    guestCtr: guestCtrOf(view, gen),
    wa2FromVm: generationModel(gen).wa2SsbsFromVm,
    plans: [],
  };
  const ctr = view.reset.get(CTR_EL0);
  if (typeof ctr === "bigint")
    cfg.ctr = {
      imin: Number(ctr & 0xfn),
      dmin: Number((ctr >> 16n) & 0xfn),
      idc: ((ctr >> 28n) & 1n) === 1n,
    };
  const groups = beforeRunGroups(view.base);
  compilePsci(cfg, groups);
  const tv: number[] = [];
  const newOk: number[] = [];
  for (const i of idx) {
    const id = REGISTRY.id(i);
    const reading = view.reset.get(id);
    const value = valueOf(reading);
    if (typeof value === "bigint") {
      cfg.lo[i] = lo32(value);
      cfg.hi[i] = hi32(value);
    }
    const cls = REGISTRY.checkClass(i);
    const tvMask = view.tv.get(id) ?? REGISTRY.tvMask(i);
    if (tvMask !== undefined) tv.push(i);
    // A register new to a VM is tolerable when it resets to what a VM that never knew it sees.
    if ((tvMask !== undefined || (value !== undefined && isUntouched(value))) && cls !== "bitmap")
      newOk.push(i);
    if (value === undefined) {
      cfg.rule[i] = cls === "state" ? "state" : "unreadable";
      cfg.ruleFrom[i] = RULE_FROM.notMeasured;
    } else {
      cfg.rule[i] = ruleOf(cfg, i, cls, value, groups);
      cfg.ruleFrom[i] = ruleSource(cfg, i, groups);
    }
  }
  cfg.tv = bitsetOf(tv);
  cfg.newOk = bitsetOf(newOk);
  const services = servicesFromGuestView(view.base);
  for (const bm of BITMAPS) {
    const s = services.get(bm);
    if (!view.reset.has(bm) && s !== undefined) cfg.ungated.set(bm, s);
  }
  return cfg;
}

/** The rule of a register the view reads `value` for, with the data the rule needs. */
function ruleOf(
  cfg: CompiledConfig,
  i: number,
  cls: CheckClass,
  value: RegValue,
  groups: ReadonlyMap<RegId, ExperimentGroup>,
): RuleName {
  const { view, host } = cfg;
  const id = REGISTRY.id(i);
  switch (cls) {
    case "state":
      return "state";
    case "fw":
      switch (REGISTRY.low16(i)) {
        case FW_NUMBER.PSCI_VERSION:
          return "psci";
        case FW_NUMBER.SMCCC_ARCH_WORKAROUND_1:
        case FW_NUMBER.SMCCC_ARCH_WORKAROUND_3:
          return "wa13";
        case FW_NUMBER.SMCCC_ARCH_WORKAROUND_2:
          return "wa2";
        default:
          return "fwUnknown";
      }
    case "bitmap":
      cfg.bitmapFeatures.set(i, bitmapFeaturesOf(groups.get(id), id, host.generation));
      return "bitmap";
    case "vls":
      if (value instanceof Uint8Array) cfg.vls = bytesToBigint(value);
      return "vls";
    case "demux":
      return view.masks ? "ccsidr" : "equal";
    case "id": {
      const name = REGISTRY.name(i);
      const mask = view.masks?.get(id) ?? 0n;
      cfg.wLo[i] = lo32(mask);
      cfg.wHi[i] = hi32(mask);
      if (IMP_ID_REGS.has(name)) return host.writableImpIdRegs && view.masks ? "impId" : "equal";
      if (name === "CLIDR_EL1") return view.masks ? "clidr" : "equal";
      if (!view.masks) return name === "ID_AA64PFR0_EL1" ? "pfr0Csv" : "equal";
      compileIdFields(cfg, i, name, mask);
      return "idCheck";
    }
  }
}

/**
 * arm64_check_features: ftr fields entirely inside the writable mask are checked by policy; every
 * other bit must equal the limit (the destination's value).
 */
function compileIdFields(cfg: CompiledConfig, i: number, name: string, mask: bigint): void {
  const { fields, fixed } = checkedFields(ftrPolicies(cfg.host.generation, name) ?? [], mask);
  cfg.idFields[i] = fields;
  cfg.fixLo[i] = lo32(fixed);
  cfg.fixHi[i] = hi32(fixed);
}

/** The PSCI versions kvm_arm_set_fw_reg accepts: the probe's writes, else the kernel's by generation. */
function compilePsci(cfg: CompiledConfig, groups: ReadonlyMap<RegId, ExperimentGroup>): void {
  const { view, host } = cfg;
  const group = groups.get(FW_REGS.PSCI_VERSION);
  if (group) {
    const accepted = new Set<number>();
    for (const t of group.trials) if (t.result === "ok") accepted.add(Number(t.value));
    group.bits?.forEach((r, bit) => {
      if (typeof r === "bigint" && bit < 32) accepted.add(2 ** bit);
    });
    cfg.psci = [...accepted].sort((a, b) => a - b);
    cfg.psciFrom = "experiments";
  } else {
    const wants02 = featureBits(view.base.features).includes(VCPU_FEATURES.PSCI_0_2);
    cfg.psci = psciVersionsAccepted(generationModel(host.generation), wants02).map(Number);
  }
}

/** The bits kvm_arm_set_fw_reg_bmap accepts: the probe's bit writes (`g`), else the catalog's bits of `gen`. */
function bitmapFeaturesOf(g: ExperimentGroup | undefined, id: RegId, gen: KernelGeneration): number {
  let m = 0;
  if (g?.bits) {
    g.bits.forEach((r, bit) => {
      if (typeof r === "bigint" && bit < 32) m |= 1 << bit;
    });
    return m >>> 0;
  }
  const at = KERNEL_GENERATIONS.indexOf(gen);
  const def = fwRegByIndex("fwBitmap", Number(id & 0xffffn));
  for (const b of def?.bits ?? [])
    if (KERNEL_GENERATIONS.indexOf(b.since) <= at && b.bit < 32) m |= 1 << b.bit;
  return m >>> 0;
}

// ---- where a rule came from ---------------------------------------------------------------------

/**
 * Where the rule of register `i` (which the view read) came from: measured, or the generation's
 * model. Needs the register's rule and data compiled.
 */
function ruleSource(cfg: CompiledConfig, i: number, groups: ReadonlyMap<RegId, ExperimentGroup>): number {
  const { measured, model, notMeasured } = RULE_FROM;
  const rule = cfg.rule[i] ?? "absent";
  switch (rule) {
    case "absent":
    case "state":
    case "vls":
      return measured; // presence; the vector lengths read
    case "unreadable":
      return notMeasured;
    case "idCheck":
    case "impId":
    case "clidr":
    case "ccsidr":
      return cfg.view.masksFrom === "measured" ? measured : model;
    case "psci":
      return cfg.psciFrom === "experiments" ? measured : model;
    case "bitmap":
      return groups.get(REGISTRY.id(i))?.bits ? measured : model;
    case "equal":
    case "pfr0Csv":
    case "wa13":
    case "wa2":
    case "fwUnknown":
      if (experimentsAgree(cfg, i, groups.get(REGISTRY.id(i)))) return measured;
      return rule === "fwUnknown" ? notMeasured : model;
  }
}

/**
 * Whether the before-run write experiments of register `i` measured its rule: some value other than
 * the reading was tried, and for every value tried (trials, bit sweep) the rule accepts exactly what
 * KVM accepted. imp-id-writable trials ran on a VM with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which the
 * rule of a register without it does not describe.
 */
function experimentsAgree(cfg: CompiledConfig, i: number, g: ExperimentGroup | undefined): boolean {
  if (!g) return false;
  const ownLo = cfg.lo[i] ?? 0;
  const ownHi = cfg.hi[i] ?? 0;
  const own = join64(ownLo, ownHi);
  const rule = cfg.rule[i];
  // equal / fwUnknown accept exactly the destination's value (asked directly: a probe tries hundreds).
  const exact = rule === "equal" || rule === "fwUnknown";
  let informative = false;
  const agrees = (lo: number, hi: number, accepted: boolean): boolean => {
    const same = lo === ownLo && hi === ownHi;
    if (!same) informative = true;
    return (exact ? same : valueLevelOf(cfg, i, lo, hi) !== "incompatible") === accepted;
  };
  for (const t of g.trials) {
    if (t.kind === "imp-id-writable") continue;
    if (exact) {
      if (t.value !== own) informative = true;
      if ((t.value === own) !== (t.result === "ok")) return false;
    } else if (!agrees(lo32(t.value), hi32(t.value), t.result === "ok")) return false;
  }
  if (g.bits)
    for (let b = 0; b < 64; b++) {
      const bit = (1 << (b & 31)) >>> 0;
      if (!agrees(b < 32 ? bit : 0, b < 32 ? 0 : bit, typeof g.bits[b] === "bigint")) return false;
    }
  return informative;
}
