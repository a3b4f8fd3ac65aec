/**
 * What a host shows a vCPU with some features (a ConfigView): the register list, reset values,
 * writable masks and time-varying marks the checker and the baseline compare against. It is the
 * profile's configuration with exactly those features, or a composite of the probed ones (the largest
 * probed subset as the base, plus the registers and ID-field differences each further feature's
 * configuration adds over its own base).
 *
 * Features no probed configuration covers are judged as kvm_vcpu_init_check_features /
 * system_supported_vcpu_features (arm.c) would: by KVM_VCPU_MAX_FEATURES and KVM_CHECK_EXTENSION.
 *
 * Writable masks a profile did not measure (imported evidence) are those of its rules' generation
 * (kvm_vm_ioctl_get_reg_writable_masks on its sys_reg_descs), inferred.
 */
import type { RegId } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import type { RegValue, VcpuFeatureName } from "../kvm/index.js";
import type { ConfigProfile, HostProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import { generationModel } from "../kvm/kernels/generations.js";
import type { GenerationModel } from "../kvm/kernels/model.js";
import { vcpuFeatureKnown } from "../kvm/rules/vcpu-init.js";
import { writableMaskDescs } from "../kvm/sim/visibility.js";
import type { Grounds } from "./evidence.js";
import { MEASURED, NOT_MEASURED, modelGrounds } from "./evidence.js";

// ---- vCPU features -------------------------------------------------------------------------------

const FEATURE_BY_NAME = VCPU_FEATURES as Readonly<Record<string, number>>;
export const featureBits = (names: readonly string[]): number[] =>
  names.map((n) => FEATURE_BY_NAME[n]!).sort((a, b) => a - b);

export function featureName(bit: number): string {
  const e = Object.entries(VCPU_FEATURES).find(([, b]) => b === bit);
  return e ? e[0] : `bit${bit}`;
}

/** The key of a feature set (POWER_OFF aside): compiled hosts keep one view per key. */
export const featureKey = (features: readonly number[]): string =>
  features.filter((f) => f !== VCPU_FEATURES.POWER_OFF).join(",");

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
  const a = profile.kvm?.caps[name];
  if (!a) return 0;
  const v = typeof a[1] === "number" ? a[1] : a[0];
  return typeof v === "number" ? v : 0;
}

/** A feature the destination initialises only in part (tolerated) or not at all (incompatible). */
export interface FeatureIssue {
  feature: number;
  level: "tolerated" | "incompatible";
  reason: string;
  grounds: Grounds;
}

// ---- a host's view of one vCPU feature set -------------------------------------------------------

/** A configuration that initialised, finalised and was read at reset. */
type ReadyConfig = ConfigProfile & { reset: NonNullable<ConfigProfile["reset"]> };

export const isReady = (c: ConfigProfile): c is ReadyConfig =>
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
  /** Where the masks come from: the profile, or (not measured) its rules' generation. */
  masksFrom: "measured" | "model";
  /** Time-varying bits, from the profile's marks. */
  tv: Map<RegId, bigint>;
  /** The configuration whose experiments and guest view stand for the view. */
  base: ConfigProfile;
  issues: FeatureIssue[];
}

const sameSet = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x) => b.includes(x));
const subset = (a: readonly number[], b: readonly number[]) => a.every((x) => b.includes(x));

interface Probed<C extends ConfigProfile = ConfigProfile> {
  c: C;
  bits: number[];
}
const byMostFeatures = (a: Probed, b: Probed) => b.bits.length - a.bits.length;

/**
 * Why a feature no probed configuration initialises with fails (or is only approximated): a probed
 * configuration with it failed (measured); the kernel's generation does not know it (inferred); the
 * KVM_CHECK_EXTENSION answer (measured; unknown where the profile has no answers).
 */
function featureIssue(
  profile: HostProfile,
  model: GenerationModel,
  f: number,
  probed: readonly Probed[],
): FeatureIssue {
  const name = featureName(f);
  const failed = probed.find((p) => p.bits.includes(f));
  if (failed) {
    const why =
      failed.c.init !== "ok"
        ? `KVM_ARM_VCPU_INIT: ${failed.c.init}`
        : `KVM_ARM_VCPU_FINALIZE: ${failed.c.finalize}`;
    return {
      feature: f,
      level: "incompatible",
      reason: `${name}: the destination refused it (${failed.c.name}, ${why})`,
      grounds: MEASURED,
    };
  }
  if (!vcpuFeatureKnown(model, f))
    // kvm_vcpu_init_check_features: features & ~KVM_VCPU_VALID_FEATURES -> -ENOENT
    return {
      feature: f,
      level: "incompatible",
      reason: `${name}: unknown to ${model.gen} (KVM_ARM_VCPU_INIT: ENOENT)`,
      grounds: modelGrounds(profile),
    };
  const cap = FEATURE_CAP[name as VcpuFeatureName];
  if (cap && !profile.kvm)
    return {
      feature: f,
      level: "tolerated",
      reason: `${name}: no probed configuration has it and ${cap} was not measured; registers compared without it`,
      grounds: NOT_MEASURED,
    };
  const part = CONFIG_PART[name as VcpuFeatureName];
  const skipped = part ? profile.skipped.find((s) => s.name.includes(part)) : undefined;
  if (!cap || capValue(profile, cap) <= 0)
    // system_supported_vcpu_features: a feature the host lacks -> KVM_ARM_VCPU_INIT -EINVAL
    return {
      feature: f,
      level: "incompatible",
      reason: `${name}: ${cap ? `${cap} is 0` : "not supported"} on the destination (KVM_ARM_VCPU_INIT: EINVAL)${skipped ? `; probe skipped ${skipped.name}: ${skipped.why}` : ""}`,
      grounds: cap ? MEASURED : modelGrounds(profile),
    };
  return {
    feature: f,
    level: "tolerated",
    reason: `${name}: ${cap} is ${capValue(profile, cap)} but no probed configuration has it; registers compared without it`,
    grounds: MEASURED,
  };
}

/**
 * The view of `profile` for a vCPU initialised with `features` (bit numbers), or undefined when no
 * probed configuration initialises with a subset of them. Features no probed configuration covers
 * are judged by KVM_CHECK_EXTENSION; features whose configuration failed to initialise are
 * incompatible issues.
 */
export function configView(profile: HostProfile, features: readonly number[]): ConfigView | undefined {
  const model = generationModel(profileRules(profile).generation);
  const want = features.filter((f) => f !== VCPU_FEATURES.POWER_OFF);
  const probed: Probed[] = profile.configs.map((c) => ({ c, bits: featureBits(c.features) }));
  const ok = probed.flatMap((p): Probed<ReadyConfig>[] => (isReady(p.c) ? [{ c: p.c, bits: p.bits }] : []));
  // A configuration that initialised with a feature is measured: it outranks the generation's model.
  const issues = want
    .filter((f) => !ok.some((p) => p.bits.includes(f)))
    .map((f) => featureIssue(profile, model, f, probed));
  const usable = ok.filter((p) => subset(p.bits, want));
  const exact = usable.find((p) => sameSet(p.bits, want));
  const base = exact ?? [...usable].sort(byMostFeatures)[0];
  if (!base) return undefined;
  const measuredMasks = base.c.writableMasks;
  const reset = new Map(base.c.reset);
  const view: ConfigView = {
    name: base.c.name,
    // Ids imported evidence left out are listed all the same (their values were not measured).
    ids: [...base.c.reset.map(([id]) => id), ...(base.c.omitted ?? [])],
    reset,
    masks: Array.isArray(measuredMasks)
      ? new Map(measuredMasks)
      : measuredMasks === undefined && model.writableMasks
        ? generationMasks(model, reset)
        : undefined,
    masksFrom: measuredMasks === undefined ? "model" : "measured",
    tv: new Map((base.c.timeVarying ?? []).map((t) => [t.id, t.mask])),
    base: base.c,
    issues,
  };
  if (!exact) addFeatures(view, want, base, usable);
  return view;
}

const PFR0 = 0x603000000013c020n;

/**
 * The writable masks a kernel of `model` reports (kvm_vm_ioctl_get_reg_writable_masks), nonzero ones, for
 * a host whose ID_AA64PFR0_EL1 reads as in `reset` (EL0 = 2: AArch32 at EL0, kvm_supports_32bit_el0).
 */
function generationMasks(
  model: GenerationModel,
  reset: ReadonlyMap<RegId, RegValue | string>,
): Map<RegId, bigint> {
  const pfr0 = reset.get(PFR0);
  const has32bitEl0 = typeof pfr0 === "bigint" && (pfr0 & 0xfn) === 2n;
  const masks = new Map<RegId, bigint>();
  for (const d of writableMaskDescs(model, has32bitEl0)) if (d.valBig !== 0n) masks.set(d.id, d.valBig);
  return masks;
}

/** Composite: each further feature adds what its own configuration adds over that one's base. */
function addFeatures(
  view: ConfigView,
  want: readonly number[],
  base: Probed,
  usable: readonly Probed<ReadyConfig>[],
): void {
  const covered = new Set(base.bits);
  for (const f of want) {
    if (covered.has(f)) continue;
    const withF = usable.filter((p) => p.bits.includes(f)).sort(byMostFeatures)[0];
    if (!withF) continue;
    const under = usable.filter((p) => p !== withF && subset(p.bits, withF.bits)).sort(byMostFeatures)[0];
    if (!under) continue;
    const ur = new Map(under.c.reset);
    for (const [id, v] of withF.c.reset) {
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
