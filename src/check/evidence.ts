/**
 * What a verdict rests on: its evidence level, one of
 *
 * - measured: the facts that decide it were measured on this host: a register's presence or absence
 *   (its KVM_GET_REG_LIST), values (its readings), write acceptance from its
 *   KVM_ARM_GET_REG_WRITABLE_MASKS (the idCheck, impId, clidr and ccsidr rules with measured masks) or
 *   from the write experiments the profile has for that register (before-run trials and bit sweeps that
 *   the rule agrees with), PSCI versions from those experiments, vCPU features from a probed
 *   configuration, capabilities and the IPA limit from its KVM_CHECK_EXTENSION answers;
 * - inferred: the rule comes from a kernel generation's model (its tables and ftr policies, the PSCI
 *   versions and bitmap bits it knows, "immutable before 6.7" where no experiment measured the
 *   register, the workaround ordering, the vCPU targets it accepts). When the profile's kernel is not
 *   of a modelled generation (profileRules basis "assumed"), the reason ends with
 *   "(assumed: <generation> rule)";
 * - unknown: the fact was not measured and nothing stands in for it: a kernel no modelled generation
 *   covers (basis "unknown") where the rule would be inferred, a value imported evidence left out or the
 *   probe could not read, KVM's answers of a profile without them (kvm null).
 *
 * An unknown verdict is never "ok": it is raised to "tolerated", its reason saying what was not
 * measured (raised()). Rules give their level through raised() too, so the fast path (checkLevel) and
 * the full report agree.
 *
 * Per register, the compiled view (host.ts) records where its rule came from (RULE_FROM), so a verdict
 * finds its grounds by index, without recomputing anything.
 */
import type { HostProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import type { Evidence, VerdictLevel } from "./check.js";
import type { CompiledConfig } from "./host.js";

/** A verdict's evidence, and what its reason adds to say so (empty when nothing). */
export interface Grounds {
  readonly evidence: Evidence;
  readonly note: string;
}

/** Measured on this host. */
export const MEASURED: Grounds = { evidence: "measured", note: "" };

/** A fact the profile does not have (the reason says which). */
export const NOT_MEASURED: Grounds = { evidence: "unknown", note: "" };

/** Where a compiled register's rule came from (CompiledConfig.ruleFrom). */
export const RULE_FROM = {
  /** Measured: masks, agreeing experiments, readings, presence. */
  measured: 0,
  /** The generation model: the host's Grounds for it (inferred, or unknown for a kernel nothing covers). */
  model: 1,
  /** The register is listed but its value was not measured (omitted by imported evidence, unreadable). */
  notMeasured: 2,
} as const;

/**
 * The grounds of a rule taken from the generation model of `profile`'s kernel: inferred for a modelled
 * generation (exact) or the nearest older one (assumed, said in the reason), unknown for a kernel older
 * than every modelled generation or a release that does not parse.
 */
export function modelGrounds(profile: HostProfile): Grounds {
  const { generation, basis } = profileRules(profile);
  switch (basis) {
    case "exact":
      return { evidence: "inferred", note: "" };
    case "assumed":
      return { evidence: "inferred", note: ` (assumed: ${generation} rule)` };
    case "unknown":
      return {
        evidence: "unknown",
        note: ` (no modelled kernel covers ${profile.host.release}; assumed: ${generation} rule)`,
      };
  }
}

/** The grounds of KVM's answers (capabilities, IPA limit, preferred target): absent when kvm is null. */
export const kvmGrounds = (profile: HostProfile): Grounds => (profile.kvm ? MEASURED : NOT_MEASURED);

/** A level on `grounds`: unknown evidence is never ok. */
export const raised = (level: VerdictLevel, grounds: Grounds): VerdictLevel =>
  level === "ok" && grounds.evidence === "unknown" ? "tolerated" : level;

/** The grounds of the destination's rule for register index `i` of a compiled view. */
export function ruleGrounds(cfg: CompiledConfig, i: number): Grounds {
  switch (cfg.ruleFrom[i]) {
    case RULE_FROM.model:
      return cfg.host.model;
    case RULE_FROM.notMeasured:
      return NOT_MEASURED;
    default:
      return MEASURED;
  }
}
