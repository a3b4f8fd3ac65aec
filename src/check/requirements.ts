/**
 * The compiled forms behind `guestabi check`: a host profile compiled once into a compact, per vCPU
 * configuration form (typed arrays indexed by a process-wide register index), and a subject (snapshot
 * or ABI template) compiled once into its requirements (the registers it carries, as a bitset, and
 * the values the checker compares, as 32-bit halves). check.ts evaluates one (requirements, host)
 * pair with these in a tight loop; baseline.ts reads the same per-host views.
 *
 * Where a host's register list, values and rules come from, per vCPU feature set (configView):
 * the profile's configuration with exactly those features, or a composite of the probed ones (the
 * largest probed subset as the base, plus the registers and ID-field differences each further
 * feature's configuration adds over its own base).
 *
 * The kernel rules the compiled form applies, each with the function it follows (the acceptance itself
 * lives once in src/kvm/rules/, the per-generation facts in src/kvm/kernels/):
 * - firmware registers: kvm_arm_set_fw_reg (psci.c 5.10, hypercalls.c 6.1+), get_kernel_wa_level,
 *   kvm_arm_set_fw_reg_bmap;
 * - ID registers before 6.7: set_id_reg / __set_id_reg ("invariant: you can't change it"),
 *   set_id_aa64pfr0_el1 (CSV2, and CSV3 from 6.1), set_invariant_sys_reg (MIDR, REVIDR, AIDR, CTR,
 *   CLIDR), demux_c15_set (CCSIDR);
 * - ID registers from 6.7 (the profile has KVM_ARM_GET_REG_WRITABLE_MASKS): set_id_reg ->
 *   arm64_check_features with kvm_arm64_ftr_safe_value / arm64_ftr_safe_value, set_imp_id_reg (7.x,
 *   KVM_CAP_ARM_WRITABLE_IMP_ID_REGS), set_clidr, set_ccsidr;
 * - SVE vector lengths: set_sve_vls (guest.c);
 * - vCPU features: kvm_vcpu_init_check_features / system_supported_vcpu_features (arm.c).
 */
import type { FtrPolicy, KernelGeneration, RegId } from "../regs/index.js";
import { KERNEL_GENERATIONS, decodeId, ftrPolicies, fwRegByIndex, sysregByEncoding } from "../regs/index.js";
import { FW_REGS, VCPU_ATTR, VCPU_FEATURES, featureIdRangeIndex } from "../kvm/index.js";
import type { RegValue, VcpuFeatureName } from "../kvm/index.js";
import type { ConfigProfile, HostProfile } from "../formats/profile.js";
import { regName, requireGeneration } from "../formats/profile.js";
import type { HostIdentity, Snapshot, VcpuSnapshot, VmState } from "../formats/snapshot.js";
import { SVE_VLS_ID, vlsToVqs } from "../formats/snapshot.js";
import { ccsidrId } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { timeVaryingRule } from "../kvm/rules/time-varying.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { FTR_TYPE_CODE, FTR_TYPE_NAME, checkedFields, ftrSafe } from "../kvm/rules/id-fields.js";
import { psciVersionsAccepted } from "../kvm/rules/firmware.js";
import { IMP_ID_REGS } from "../kvm/rules/id-regs.js";
import { kvmTargetCpu, vcpuFeatureKnown } from "../kvm/rules/vcpu-init.js";

// ---- the process-wide register index ------------------------------------------------------------

/** What the checker does with a register, by its id alone. */
export const REG_CLASS = {
  /** Saved state (core, ordinary system registers, SVE slices): restored as saved; presence matters. */
  state: 0,
  fw: 1,
  bitmap: 2,
  /** CCSIDR by cache selector (KVM_REG_ARM_DEMUX_ID_CCSIDR). */
  demux: 3,
  vls: 4,
  /** The feature ID space (op0 3, op1 0/1/3, CRn 0, CRm 0..7), MPIDR_EL1 excepted. */
  id: 5,
} as const;

const MPIDR_EL1 = 0x603000000013c005n;

/** Interns register ids into small integers so that compiled forms can be typed arrays and bitsets. */
class Registry {
  readonly ids: RegId[] = [];
  readonly cls: number[] = [];
  readonly tvMask: (bigint | undefined)[] = [];
  private readonly index = new Map<RegId, number>();
  private readonly names: (string | undefined)[] = [];

  intern(id: RegId): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.cls.push(classOf(id));
      this.tvMask.push(timeVaryingRule(id)?.mask);
      this.index.set(id, i);
    }
    return i;
  }
  lookup(id: RegId): number | undefined {
    return this.index.get(id);
  }
  name(i: number): string {
    return (this.names[i] ??= regName(this.ids[i]!));
  }
  get size(): number {
    return this.ids.length;
  }
}

function classOf(id: RegId): number {
  const d = decodeId(id);
  switch (d.class) {
    case "fw":
      return REG_CLASS.fw;
    case "fwBitmap":
      return REG_CLASS.bitmap;
    case "demux":
      return REG_CLASS.demux;
    case "sve":
      return d.kind === "vls" ? REG_CLASS.vls : REG_CLASS.state;
    case "sysreg":
      if (id === MPIDR_EL1) return REG_CLASS.state; // reset_mpidr, no set_user: any value restores
      try {
        featureIdRangeIndex(d);
        return REG_CLASS.id;
      } catch {
        return REG_CLASS.state;
      }
    default:
      return REG_CLASS.state;
  }
}

export const REGISTRY = new Registry();

// ---- small helpers -----------------------------------------------------------------------------

export const lo32 = (v: bigint): number => Number(v & 0xffffffffn) >>> 0;
export const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn) >>> 0;
export const join64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
export const hex = (v: bigint | number): string => "0x" + v.toString(16);

/** A bitset over REGISTRY indices. */
export function bitsetOf(indices: Iterable<number>): Uint32Array {
  let max = -1;
  const list = [...indices];
  for (const i of list) if (i > max) max = i;
  const out = new Uint32Array((max >> 5) + 1);
  for (const i of list) out[i >> 5]! |= 1 << (i & 31);
  return out;
}

export function hasBit(set: Uint32Array, i: number): boolean {
  const w = i >> 5;
  return w < set.length && (set[w]! & (1 << (i & 31))) !== 0;
}

/** The value KVM's reset_unknown() leaves in a register nobody wrote (arch/arm64/kvm/sys_regs.h). */
export const RESET_UNKNOWN = 0x1de7ec7edbadc0den;

/** A reading from a profile (value or errno) as the value, or undefined for an errno. */
const valueOf = (r: RegValue | string | undefined): RegValue | undefined =>
  typeof r === "string" ? undefined : r;

export function bytesToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

// ---- vCPU features -------------------------------------------------------------------------------

const FEATURE_BY_NAME = VCPU_FEATURES as Readonly<Record<string, number>>;
export const featureBits = (names: readonly string[]): number[] =>
  names.map((n) => FEATURE_BY_NAME[n]!).sort((a, b) => a - b);

export function featureName(bit: number): string {
  const e = Object.entries(VCPU_FEATURES).find(([, b]) => b === bit);
  return e ? e[0] : `bit${bit}`;
}

/** KVM_CHECK_EXTENSION answering for a feature (arm.c system_supported_vcpu_features). */
const FEATURE_CAP: Partial<Record<VcpuFeatureName, string>> = {
  EL1_32BIT: "KVM_CAP_ARM_EL1_32BIT",
  PSCI_0_2: "KVM_CAP_ARM_PSCI_0_2",
  PMU_V3: "KVM_CAP_ARM_PMU_V3",
  SVE: "KVM_CAP_ARM_SVE",
  PTRAUTH_ADDRESS: "KVM_CAP_ARM_PTRAUTH_ADDRESS",
  PTRAUTH_GENERIC: "KVM_CAP_ARM_PTRAUTH_GENERIC",
  HAS_EL2: "KVM_CAP_ARM_EL2",
  HAS_EL2_E2H0: "KVM_CAP_ARM_EL2_E2H0",
};

/** The part of a probe configuration's name that stands for a feature (session.ts VCPU_CONFIGS). */
const CONFIG_PART: Partial<Record<VcpuFeatureName, string>> = {
  PMU_V3: "pmu",
  SVE: "sve",
  PTRAUTH_ADDRESS: "ptrauth",
  PTRAUTH_GENERIC: "ptrauth",
};

/** A KVM_CHECK_EXTENSION answer of a profile (the VM's, else /dev/kvm's); 0 when absent or an errno. */
export function capValue(profile: HostProfile, name: string): number {
  const a = profile.kvm.caps[name];
  if (!a) return 0;
  const v = typeof a[1] === "number" ? a[1] : a[0];
  return typeof v === "number" ? v : 0;
}

export interface FeatureIssue {
  feature: number;
  level: 1 | 2;
  reason: string;
}

// ---- a host's view of one vCPU feature set -------------------------------------------------------

const configOk = (c: ConfigProfile): boolean =>
  c.init === "ok" && (c.finalize ?? "ok") === "ok" && c.reset !== undefined;

/** What a host shows a vCPU with some features: the data the checker and the baseline work on. */
export interface ConfigView {
  /** The profile configuration(s) it comes from, e.g. "psci-0.2+pmu" or "psci-0.2 + pmu + sve". */
  name: string;
  /** Register ids in list order, and their reset readings (value or errno). */
  ids: RegId[];
  reset: Map<RegId, RegValue | string>;
  /** KVM_ARM_GET_REG_WRITABLE_MASKS (nonzero ones), or undefined before 6.7 (an errno in the profile). */
  masks: Map<RegId, bigint> | undefined;
  /** Time-varying bits, from the profile's marks. */
  tv: Map<RegId, bigint>;
  /** The configuration whose experiments and guest view stand for the view. */
  base: ConfigProfile;
  issues: FeatureIssue[];
}

const sameSet = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x) => b.includes(x));
const subset = (a: readonly number[], b: readonly number[]) => a.every((x) => b.includes(x));

function masksOf(c: ConfigProfile): Map<RegId, bigint> | undefined {
  return Array.isArray(c.writableMasks) ? new Map(c.writableMasks) : undefined;
}

/**
 * The view of `profile` for a vCPU initialised with `features` (bit numbers). Features no probed
 * configuration covers are judged by KVM_CHECK_EXTENSION; features whose configuration failed to
 * initialise are issues of level 2.
 */
export function configView(profile: HostProfile, features: readonly number[]): ConfigView | undefined {
  const gen = requireGeneration(profile);
  const model = generationModel(gen);
  const want = features.filter((f) => f !== VCPU_FEATURES.POWER_OFF);
  const probed = profile.configs.map((c) => ({ c, bits: featureBits(c.features) }));
  const ok = probed.filter((p) => configOk(p.c));
  const issues: FeatureIssue[] = [];
  for (const f of want) {
    const name = featureName(f);
    if (!vcpuFeatureKnown(model, f)) {
      // kvm_vcpu_init_check_features: features & ~KVM_VCPU_VALID_FEATURES -> -ENOENT
      issues.push({ feature: f, level: 2, reason: `${name}: unknown to ${gen} (KVM_ARM_VCPU_INIT: ENOENT)` });
      continue;
    }
    if (ok.some((p) => p.bits.includes(f))) continue;
    const failed = probed.find((p) => p.bits.includes(f));
    if (failed) {
      const why =
        failed.c.init !== "ok"
          ? `KVM_ARM_VCPU_INIT: ${failed.c.init}`
          : `KVM_ARM_VCPU_FINALIZE: ${failed.c.finalize}`;
      issues.push({
        feature: f,
        level: 2,
        reason: `${name}: the destination refused it (${failed.c.name}, ${why})`,
      });
      continue;
    }
    const part = CONFIG_PART[name as VcpuFeatureName];
    const skipped = part ? profile.skipped.find((s) => s.name.includes(part)) : undefined;
    const cap = FEATURE_CAP[name as VcpuFeatureName];
    const capOn = cap ? capValue(profile, cap) > 0 : false;
    if (!cap || !capOn)
      // system_supported_vcpu_features: a feature the host lacks -> KVM_ARM_VCPU_INIT -EINVAL
      issues.push({
        feature: f,
        level: 2,
        reason: `${name}: ${cap ? `${cap} is 0` : "not supported"} on the destination (KVM_ARM_VCPU_INIT: EINVAL)${skipped ? `; probe skipped ${skipped.name}: ${skipped.why}` : ""}`,
      });
    else
      issues.push({
        feature: f,
        level: 1,
        reason: `${name}: ${cap} is ${capValue(profile, cap)} but no probed configuration has it; registers compared without it`,
      });
  }
  const usable = ok.filter((p) => subset(p.bits, want));
  if (usable.length === 0) return undefined;
  const exact = usable.find((p) => sameSet(p.bits, want));
  const by = (a: { bits: number[] }, b: { bits: number[] }) => b.bits.length - a.bits.length;
  const base = exact ?? [...usable].sort(by)[0]!;
  const view: ConfigView = {
    name: base.c.name,
    ids: [...base.c.reset!.map(([id]) => id)],
    reset: new Map(base.c.reset!),
    masks: masksOf(base.c),
    tv: new Map((base.c.timeVarying ?? []).map((t) => [t.id, t.mask])),
    base: base.c,
    issues,
  };
  if (exact) return view;
  // Composite: each further feature adds what its own configuration adds over that one's base.
  const covered = new Set(base.bits);
  for (const f of want) {
    if (covered.has(f)) continue;
    const withF = usable.filter((p) => p.bits.includes(f)).sort(by)[0];
    if (!withF) continue;
    const under = usable.filter((p) => p !== withF && subset(p.bits, withF.bits)).sort(by)[0];
    if (!under) continue;
    const fr = new Map(withF.c.reset!);
    const ur = new Map(under.c.reset!);
    for (const [id, v] of fr) {
      if (!ur.has(id)) {
        if (!view.reset.has(id)) view.ids.push(id);
        view.reset.set(id, v);
        continue;
      }
      // ID fields the feature changes (SVE, PMUVer, APA...): take them from its configuration.
      const u = ur.get(id);
      const mine = view.reset.get(id);
      if (typeof v === "bigint" && typeof u === "bigint" && typeof mine === "bigint" && v !== u)
        view.reset.set(id, (mine & ~(v ^ u)) | (v & (v ^ u)));
    }
    for (const t of withF.c.timeVarying ?? []) view.tv.set(t.id, t.mask);
    for (const b of withF.bits) covered.add(b);
    view.name += ` + ${withF.c.name}`;
  }
  return view;
}

// ---- guest view: hypercall services of a kernel without the bitmap registers ---------------------

const NOT_SUPPORTED = 0xffffffffffffffffn; // SMCCC_RET_NOT_SUPPORTED as x0

/**
 * The hypercall services a vCPU's guest saw, as the bitmap values that stand for them, from the guest
 * probe program's answers (config.firstRun). Used only for a kernel that lacks a bitmap register
 * (before 6.0, or VENDOR_HYP_BMAP_2 before 6.15), where the services are on or off unconditionally:
 * - STD_BMAP bit 0 (TRNG 1.0): TRNG_VERSION answers something other than NOT_SUPPORTED (kvm_trng_call);
 * - STD_HYP_BMAP bit 0 (PV time): SMCCC_ARCH_FEATURES(PV_TIME_FEATURES) answers 0
 *   (kvm_hvc_call_handler -> kvm_hypercall_pv_features);
 * - VENDOR_HYP_BMAP / _BMAP_2: KVM_FEATURES' x0 / x2 (kvm_smccc_call_handler,
 *   ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID: the function bits are the bitmap bits), none when
 *   the call is NOT_SUPPORTED.
 * A bitmap whose evidence is missing from the profile is left out.
 */
export function servicesFromGuestView(config: ConfigProfile): Map<RegId, bigint> {
  const out = new Map<RegId, bigint>();
  const items = new Map((config.firstRun?.items ?? []).map((i) => [i.name, i]));
  const x = (name: string) => {
    const it = items.get(name);
    return it?.outcome === "returned" && it.x ? it.x : undefined;
  };
  const trng = x("TRNG_VERSION");
  if (trng) out.set(FW_REGS.STD_BMAP, trng[0] !== NOT_SUPPORTED ? 1n : 0n);
  const pv = x("SMCCC_ARCH_FEATURES(PV_TIME_FEATURES)");
  if (pv) out.set(FW_REGS.STD_HYP_BMAP, pv[0] === 0n ? 1n : 0n);
  const kf = x("VENDOR_HYP_KVM_FEATURES");
  if (kf) {
    const on = kf[0] !== NOT_SUPPORTED;
    out.set(FW_REGS.VENDOR_HYP_BMAP, on ? kf[0] & 0xffffffffn : 0n);
    out.set(FW_REGS.VENDOR_HYP_BMAP_2, on ? kf[2] & 0xffffffffn : 0n);
  }
  return out;
}

// ---- compiled host ------------------------------------------------------------------------------

/** The rule a destination applies to one register (see the file comment for the kernel functions). */
export const RULE = {
  absent: 0,
  state: 1,
  /** Must equal the destination's value (immutable / invariant). */
  equal: 2,
  /** Before 6.7: ID_AA64PFR0_EL1, CSV2 (CSV3 from 6.1) may be lowered (set_id_aa64pfr0_el1). */
  pfr0Csv: 3,
  /** 6.7+: arm64_check_features against the writable mask and the ftr policies. */
  idCheck: 4,
  /** 7.x MIDR/REVIDR/AIDR: any value in the mask after KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg). */
  impId: 5,
  clidr: 6,
  ccsidr: 7,
  psci: 8,
  wa13: 9,
  wa2: 10,
  bitmap: 11,
  vls: 12,
  /** The destination listed it but could not read it in the probe. */
  unreadable: 13,
  /** A firmware register guestabi has no rule for: must be equal. */
  fwUnknown: 14,
} as const;

/** Field program entry: shift, width, signed, type code, safe value, policy index. */
export const FIELD_STRIDE = 6;

/** One vCPU configuration of a host, compiled: typed arrays indexed by REGISTRY index. */
export interface CompiledConfig {
  host: CompiledHost;
  view: ConfigView;
  /** Entries beyond `size` (registers interned later) are absent. */
  size: number;
  present: Uint32Array;
  rule: Uint8Array;
  lo: Uint32Array;
  hi: Uint32Array;
  /** Writable masks (idCheck, impId, clidr). */
  wLo: Uint32Array;
  wHi: Uint32Array;
  /** idCheck: the bits that must equal the destination's (outside writable policy fields). */
  fixLo: Uint32Array;
  fixHi: Uint32Array;
  fieldStart: Int32Array;
  fieldEnd: Int32Array;
  fields: Int32Array;
  /** The policies the field program entries refer to (reasons only). */
  policies: FtrPolicy[];
  /** Time-varying registers (the profile's marks and the kernel-source rules). */
  tv: Uint32Array;
  /** Registers that may be new to a VM (time-varying, or reset to 0 / reset_unknown's value). */
  newOk: Uint32Array;
  /** PSCI versions KVM_SET_ONE_REG(PSCI_VERSION) accepted; where the list came from. */
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
  /** Whether WORKAROUND_2 NOT_AVAIL may depend on the VM's ID_AA64PFR1_EL1.SSBS (6.12+). */
  wa2FromVm: boolean;
  /** Per subject layout (VcpuRequirement.layout): this view's data in the subject's order (check.ts). */
  plans: (LayoutPlan | undefined)[];
}

/**
 * A host view laid out for one subject layout (a register set): the registers the host lacks, the
 * ones only it has (with the level of those whose verdict depends on the host alone), and its rule
 * and value for each of the subject's compared registers, in the subject's order.
 */
export interface LayoutPlan {
  missing: Int32Array;
  added: Int32Array;
  addedBitmaps: Int32Array;
  addedLevel: number;
  rule: Uint8Array;
  lo: Uint32Array;
  hi: Uint32Array;
}

/** Register sets, interned: subjects with the same set share a layout (and the hosts' plans for it). */
const layouts = new Map<string, number>();
function internLayout(present: Uint32Array): number {
  let end = present.length;
  while (end > 0 && present[end - 1] === 0) end--;
  const key = Array.from(present.subarray(0, end), (w) => (w >>> 0).toString(36)).join(",");
  let id = layouts.get(key);
  if (id === undefined) {
    id = layouts.size;
    layouts.set(key, id);
  }
  return id;
}

export interface CompiledHost {
  name: string;
  profile: HostProfile;
  generation: KernelGeneration;
  /** 6.7+: the profile carries writable masks (ID registers writable). */
  writableIds: boolean;
  writableImpIdRegs: boolean;
  preferredTarget: number | undefined;
  /** kvm_target_cpu() of the host (from its MIDR_EL1). */
  targetCpu: number;
  /** Compiled views by feature key (featureKey()). */
  configs: Map<string, CompiledConfig | null>;
}

export const featureKey = (features: readonly number[]): string =>
  features.filter((f) => f !== VCPU_FEATURES.POWER_OFF).join(",");

/**
 * kvm_target_cpu (guest.c): KVM_ARM_TARGET_* of the host's MIDR part, from the profile's MIDR_EL1
 * reading; GENERIC_V8 (5) for anything but the Arm AEM/Foundation models, Cortex-A53/A57, X-Gene.
 */
export function kvmTargetCpuOf(p: HostProfile): number {
  const midr = p.configs.flatMap((c) => c.reset ?? []).find(([id]) => id === 0x603000000013c000n)?.[1];
  return kvmTargetCpu(typeof midr === "bigint" ? midr : 0n);
}

export function hostLabel(p: HostProfile): string {
  return p.host.cpuLabel ? `${p.host.release} (${p.host.cpuLabel})` : p.host.release;
}

/** Compiles a profile (ProfileError for one of an unknown kernel generation). Views compile lazily. */
export function compileHost(profile: HostProfile, name?: string): CompiledHost {
  const generation = requireGeneration(profile, name);
  const writableIds = profile.configs.some((c) => Array.isArray(c.writableMasks));
  const pt = profile.kvm.preferredTarget;
  return {
    name: name ?? hostLabel(profile),
    profile,
    generation,
    writableIds,
    writableImpIdRegs: capValue(profile, "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS") > 0,
    preferredTarget: typeof pt === "string" ? undefined : pt.target,
    targetCpu: kvmTargetCpuOf(profile),
    configs: new Map(),
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

function beforeRunGroup(c: ConfigProfile, id: RegId) {
  return c.experiments?.find((g) => g.id === id && g.phase === "before-run");
}

function compileView(host: CompiledHost, view: ConfigView): CompiledConfig {
  const gen = host.generation;
  const idx = view.ids.map((id) => REGISTRY.intern(id));
  const size = REGISTRY.size;
  const cfg: CompiledConfig = {
    host,
    view,
    size,
    present: bitsetOf(idx),
    rule: new Uint8Array(size),
    lo: new Uint32Array(size),
    hi: new Uint32Array(size),
    wLo: new Uint32Array(size),
    wHi: new Uint32Array(size),
    fixLo: new Uint32Array(size),
    fixHi: new Uint32Array(size),
    fieldStart: new Int32Array(size),
    fieldEnd: new Int32Array(size),
    fields: new Int32Array(0),
    policies: [],
    tv: new Uint32Array(0),
    newOk: new Uint32Array(0),
    psci: [],
    psciFrom: "kernel",
    bitmapFeatures: new Map(),
    ungated: new Map(),
    vls: undefined,
    ctr: undefined,
    wa2FromVm: generationModel(gen).wa2SsbsFromVm,
    plans: [],
  };
  const prog: number[] = [];
  const tv: number[] = [];
  const newOk: number[] = [];
  const ctrReading = view.reset.get(0x603000000013d801n); // CTR_EL0
  if (typeof ctrReading === "bigint")
    cfg.ctr = {
      imin: Number(ctrReading & 0xfn),
      dmin: Number((ctrReading >> 16n) & 0xfn),
      idc: ((ctrReading >> 28n) & 1n) === 1n,
    };
  view.ids.forEach((id, k) => {
    const i = idx[k]!;
    const reading = view.reset.get(id);
    const value = valueOf(reading);
    if (typeof value === "bigint") {
      cfg.lo[i] = lo32(value);
      cfg.hi[i] = hi32(value);
    }
    const tvMask = view.tv.get(id) ?? REGISTRY.tvMask[i];
    if (tvMask !== undefined) tv.push(i);
    // A register new to a VM is tolerable when it resets to what a VM that never knew it sees.
    if (
      tvMask !== undefined ||
      value === 0n ||
      value === RESET_UNKNOWN ||
      (value instanceof Uint8Array && value.every((b) => b === 0))
    )
      if (REGISTRY.cls[i] !== REG_CLASS.bitmap) newOk.push(i);
    const cls = REGISTRY.cls[i]!;
    let rule: number = RULE.state;
    if (reading === undefined || typeof reading === "string")
      rule = cls === REG_CLASS.state ? RULE.state : RULE.unreadable;
    else if (cls === REG_CLASS.fw) {
      const n = Number(id & 0xffffn);
      rule = n === 0 ? RULE.psci : n === 1 || n === 3 ? RULE.wa13 : n === 2 ? RULE.wa2 : RULE.fwUnknown;
    } else if (cls === REG_CLASS.bitmap) {
      rule = RULE.bitmap;
      cfg.bitmapFeatures.set(i, bitmapFeaturesOf(view.base, id, gen));
    } else if (cls === REG_CLASS.vls) {
      rule = RULE.vls;
      if (value instanceof Uint8Array) cfg.vls = bytesToBigint(value);
    } else if (cls === REG_CLASS.demux) rule = view.masks ? RULE.ccsidr : RULE.equal;
    else if (cls === REG_CLASS.id) {
      const name = REGISTRY.name(i);
      const mask = view.masks?.get(id) ?? 0n;
      cfg.wLo[i] = lo32(mask);
      cfg.wHi[i] = hi32(mask);
      if (IMP_ID_REGS.has(name)) rule = host.writableImpIdRegs && view.masks ? RULE.impId : RULE.equal;
      else if (name === "CLIDR_EL1") rule = view.masks ? RULE.clidr : RULE.equal;
      else if (!view.masks) rule = name === "ID_AA64PFR0_EL1" ? RULE.pfr0Csv : RULE.equal;
      else {
        rule = RULE.idCheck;
        // arm64_check_features: ftr fields entirely inside the writable mask are checked by policy;
        // every other bit must equal the limit (the destination's value).
        const { fields, fixed } = checkedFields(ftrPolicies(gen, name) ?? [], mask);
        cfg.fieldStart[i] = prog.length / FIELD_STRIDE;
        for (const p of fields) {
          cfg.policies.push(p);
          prog.push(
            p.shift,
            p.width,
            p.signed ? 1 : 0,
            FTR_TYPE_CODE[p.type],
            ftrSafe(p),
            cfg.policies.length - 1,
          );
        }
        cfg.fieldEnd[i] = prog.length / FIELD_STRIDE;
        cfg.fixLo[i] = lo32(fixed);
        cfg.fixHi[i] = hi32(fixed);
      }
    }
    cfg.rule[i] = rule;
  });
  cfg.fields = Int32Array.from(prog);
  cfg.tv = bitsetOf(tv);
  cfg.newOk = bitsetOf(newOk);
  const psciGroup = beforeRunGroup(view.base, FW_REGS.PSCI_VERSION);
  if (psciGroup) {
    const accepted = new Set<number>();
    for (const t of psciGroup.trials) if (t.result === "ok") accepted.add(Number(t.value));
    psciGroup.bits?.forEach((r, bit) => {
      if (typeof r === "bigint" && bit < 32) accepted.add(2 ** bit);
    });
    cfg.psci = [...accepted].sort((a, b) => a - b);
    cfg.psciFrom = "experiments";
  } else {
    const wants02 = featureBits(view.base.features).includes(VCPU_FEATURES.PSCI_0_2);
    cfg.psci = psciVersionsAccepted(generationModel(gen), wants02).map(Number);
  }
  const services = servicesFromGuestView(view.base);
  for (const bm of [
    FW_REGS.STD_BMAP,
    FW_REGS.STD_HYP_BMAP,
    FW_REGS.VENDOR_HYP_BMAP,
    FW_REGS.VENDOR_HYP_BMAP_2,
  ])
    if (!view.reset.has(bm) && services.has(bm)) cfg.ungated.set(bm, services.get(bm)!);
  return cfg;
}

/** The bits kvm_arm_set_fw_reg_bmap accepts: the probe's bit writes, else the catalog's bits of `gen`. */
function bitmapFeaturesOf(base: ConfigProfile, id: RegId, gen: KernelGeneration): number {
  const g = beforeRunGroup(base, id);
  let m = 0;
  if (g?.bits) {
    g.bits.forEach((r, bit) => {
      if (typeof r === "bigint" && bit < 32) m |= 1 << bit;
    });
    return m >>> 0;
  }
  const def = fwRegByIndex("fwBitmap", Number(id & 0xffffn));
  const at = KERNEL_GENERATIONS.indexOf(gen);
  for (const b of def?.bits ?? [])
    if (KERNEL_GENERATIONS.indexOf(b.since) <= at && b.bit < 32) m |= 1 << b.bit;
  return m >>> 0;
}

// ---- requirements of a subject -------------------------------------------------------------------

/** One class of identical vCPUs (or the template's one vCPU), compiled. */
export interface VcpuRequirement {
  /** The snapshot's vCPU ids in this class (empty for a template). */
  vcpus: number[];
  /** The interned register set (present): hosts keep a plan per layout. */
  layout: number;
  features: number[];
  featureKey: string;
  target: number | undefined;
  present: Uint32Array;
  /** The registers whose values are compared (firmware, ID space, CCSIDR, VLS), sorted by index. */
  checked: Int32Array;
  cLo: Uint32Array;
  cHi: Uint32Array;
  /** 0: the subject does not fix this register's value (a template without one). */
  cKnown: Uint8Array;
  /** Every known value, by index (reasons, missing registers, VLS). */
  values: Map<number, RegValue>;
  /** Registers at "never knew" values: what a VM that never touched them has (see atReset). */
  atReset: Uint32Array;
  /** Time-varying registers (kernel-source rules and the source profile's marks). */
  tv: Uint32Array;
  /** SVE vector lengths (bitmask of vq - 1), when the vCPU has SVE. */
  vqs: bigint | undefined;
  /** Bitmap id -> the services the guest saw for a bitmap the source kernel lacked (source profile). */
  sourceServices: Map<RegId, bigint>;
  /** How `atReset` was decided: from the source profile's reset values, or 0 / reset_unknown. */
  resetFrom: "source profile" | "assumed";
  /** The subject's ID_AA64PFR1_EL1.SSBS (WORKAROUND_2 on 6.12+), when known. */
  ssbs: number | undefined;
}

export interface Requirements {
  kind: "snapshot" | "template";
  label: string;
  sources: HostIdentity[];
  vm: VmState | undefined;
  /** A vCPU sets KVM_ARM_VCPU_PVTIME_CTRL (stolen time). */
  pvTime: boolean;
  /** vCPUs of a snapshot (1 for a template). */
  vcpuCount: number;
  classes: VcpuRequirement[];
}

export interface CompileSubjectOptions {
  /** The source host's profile: its reset values decide which registers a VM never touched. */
  sourceProfile?: HostProfile;
  label?: string;
}

export function isSnapshot(s: Snapshot | AbiTemplate): s is Snapshot {
  return "vcpus" in s;
}

const PFR1 = 0x603000000013c021n;

interface RawClass {
  vcpus: number[];
  features: number[];
  target: number | undefined;
  sveVqs: number[] | undefined;
  present: RegId[];
  values: Map<RegId, RegValue>;
}

/** Compiles a snapshot or template into its requirements (once; check them against many hosts). */
export function compileSubject(
  subject: Snapshot | AbiTemplate,
  opts: CompileSubjectOptions = {},
): Requirements {
  const raws: RawClass[] = [];
  let label: string;
  let sources: HostIdentity[];
  let vm: VmState | undefined;
  if (isSnapshot(subject)) {
    label = opts.label ?? `snapshot from ${subject.source.release}`;
    sources = [subject.source];
    vm = subject.vm;
    const byKey = new Map<string, RawClass>();
    for (const v of subject.vcpus) {
      const key = classKey(v);
      const known = byKey.get(key);
      if (known) known.vcpus.push(v.id);
      else {
        const r: RawClass = {
          vcpus: [v.id],
          features: [...v.init.features],
          target: v.init.target,
          sveVqs: v.sveVqs,
          present: [...v.regs.keys()],
          values: v.regs,
        };
        byKey.set(key, r);
        raws.push(r);
      }
    }
  } else {
    label = opts.label ?? `template${subject.name ? ` ${subject.name}` : ""}`;
    sources = subject.provenance.derivedFrom;
    const values = new Map<RegId, RegValue>([...subject.idRegs, ...subject.firmware]);
    for (const [sel, v] of subject.ccsidr ?? []) values.set(ccsidrId(sel), v);
    const present = new Set(subject.regs);
    if (subject.sveVqs) {
      let m = 0n;
      for (const q of subject.sveVqs) m |= 1n << BigInt(q - 1);
      const bytes = new Uint8Array(64);
      for (let b = 0; b < 64; b++) bytes[b] = Number((m >> BigInt(8 * b)) & 0xffn);
      values.set(SVE_VLS_ID, bytes);
      present.add(SVE_VLS_ID);
    }
    raws.push({
      vcpus: [],
      features: [...subject.features],
      target: undefined,
      sveVqs: subject.sveVqs,
      present: [...present],
      values,
    });
  }
  const pvTime =
    isSnapshot(subject) &&
    subject.vcpus.some((v) => v.attrs.some((a) => a.group === VCPU_ATTR.PVTIME_CTRL.group));
  return {
    kind: isSnapshot(subject) ? "snapshot" : "template",
    label,
    sources,
    vm,
    pvTime,
    vcpuCount: isSnapshot(subject) ? subject.vcpus.length : 1,
    classes: raws.map((r) => compileClass(r, opts)),
  };
}

/** vCPUs differ in state (MPIDR, pc...): a class groups the ones equal in everything checked. */
function classKey(v: VcpuSnapshot): string {
  const parts = [v.init.features.join(","), String(v.init.target), (v.sveVqs ?? []).join(",")];
  const ids = [...v.regs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of ids) {
    const cls = REGISTRY.cls[REGISTRY.intern(id)]!;
    const val = v.regs.get(id)!;
    if (cls === REG_CLASS.state) {
      // State values matter only as "never touched" for registers a destination may lack.
      const at = typeof val === "bigint" ? val === 0n || val === RESET_UNKNOWN : val.every((b) => b === 0);
      parts.push(`${id.toString(16)}${at ? "" : "*"}`);
    } else
      parts.push(
        `${id.toString(16)}=${typeof val === "bigint" ? val.toString(16) : Buffer.from(val).toString("hex")}`,
      );
  }
  return parts.join(";");
}

function compileClass(r: RawClass, opts: CompileSubjectOptions): VcpuRequirement {
  const src = opts.sourceProfile ? configView(opts.sourceProfile, r.features) : undefined;
  const srcReset = src?.reset;
  const checked: number[] = [];
  const values = new Map<number, RegValue>();
  const atReset: number[] = [];
  const tv: number[] = [];
  const indices: number[] = [];
  for (const id of r.present) {
    const i = REGISTRY.intern(id);
    indices.push(i);
    const v = r.values.get(id);
    if (v !== undefined) values.set(i, v);
    if (REGISTRY.cls[i] !== REG_CLASS.state) checked.push(i);
    if (REGISTRY.tvMask[i] !== undefined || src?.tv.has(id)) tv.push(i);
    if (v === undefined) continue;
    // "Never knew" value: the source's own reset value when its profile is given, else 0 or the
    // value reset_unknown() leaves (what a VM that never touched the register has).
    const s = srcReset?.get(id);
    const never =
      srcReset && s !== undefined && typeof s !== "string"
        ? sameValue(v, s)
        : typeof v === "bigint"
          ? v === 0n || v === RESET_UNKNOWN
          : v.every((b) => b === 0);
    if (never) atReset.push(i);
  }
  checked.sort((a, b) => a - b);
  const cLo = new Uint32Array(checked.length);
  const cHi = new Uint32Array(checked.length);
  const cKnown = new Uint8Array(checked.length);
  checked.forEach((i, k) => {
    const v = values.get(i);
    if (typeof v === "bigint") {
      cLo[k] = lo32(v);
      cHi[k] = hi32(v);
      cKnown[k] = 1;
    } else if (v instanceof Uint8Array) cKnown[k] = 1;
  });
  const sourceServices = new Map<RegId, bigint>();
  if (src)
    for (const [bm, val] of servicesFromGuestView(src.base))
      if (!src.reset.has(bm)) sourceServices.set(bm, val);
  let vqs: bigint | undefined;
  if (r.sveVqs) {
    vqs = 0n;
    for (const q of r.sveVqs) vqs |= 1n << BigInt(q - 1);
  } else {
    const vls = r.values.get(SVE_VLS_ID);
    if (vls instanceof Uint8Array) vqs = bytesToBigint(vls);
  }
  const pfr1 = r.values.get(PFR1);
  const present = bitsetOf(indices);
  return {
    vcpus: r.vcpus,
    layout: internLayout(present),
    features: r.features,
    featureKey: featureKey(r.features),
    target: r.target,
    present,
    checked: Int32Array.from(checked),
    cLo,
    cHi,
    cKnown,
    values,
    atReset: bitsetOf(atReset),
    tv: bitsetOf(tv),
    vqs,
    sourceServices,
    resetFrom: srcReset ? "source profile" : "assumed",
    ssbs: typeof pfr1 === "bigint" ? Number((pfr1 >> 4n) & 0xfn) : undefined,
  };
}

function sameValue(a: RegValue, b: RegValue): boolean {
  if (typeof a === "bigint" || typeof b === "bigint") return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** VLS helpers for reasons. */
export const vqList = (m: bigint): number[] => vlsToVqs(leBytes64(m));
function leBytes64(m: bigint): Uint8Array {
  const out = new Uint8Array(64);
  for (let b = 0; b < 64; b++) out[b] = Number((m >> BigInt(8 * b)) & 0xffn);
  return out;
}

// ---- shared primitive rules (the fast path and the reasons both use these) --------------------------

/** A field of a value given as 32-bit halves (width <= 32), sign-extended when `signed`. */
export function fieldOf(lo: number, hi: number, shift: number, width: number, signed: boolean): number {
  let v: number;
  if (shift >= 32) v = hi >>> (shift - 32);
  else if (shift + width <= 32) v = lo >>> shift;
  else v = (lo >>> shift) | (hi << (32 - shift));
  v = width >= 32 ? v >>> 0 : v & ((1 << width) - 1);
  if (signed && width < 32 && v & (1 << (width - 1))) v -= 1 << width;
  return v;
}

/** A policy's name for reasons: "lowerSafe", "exact (safe 0x0)", with "signed". */
export function policyText(type: number, signed: boolean, safe: number): string {
  return `${FTR_TYPE_NAME[type]}${type === 0 ? ` safe=0x${safe.toString(16)}` : ""}${signed ? " signed" : ""}`;
}

/** The catalog fields of an ID register, for naming bits in reasons. */
export function catalogFields(id: RegId): { name: string; msb: number; lsb: number }[] {
  const d = decodeId(id);
  if (d.class !== "sysreg") return [];
  return (sysregByEncoding(d)?.fields ?? []).map((f) => ({ name: f.name, msb: f.msb, lsb: f.lsb }));
}
