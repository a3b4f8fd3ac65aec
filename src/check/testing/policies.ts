/** Restore policies of test VMMs: what check does under rules other than guestabi's own. */
import { COPROC } from "../../regs/index.js";
import { VCPU_FEATURES } from "../../kvm/index.js";
import type { RestorePolicy } from "../restore-policy.js";
import { CORE_AND_SVE, GUESTABI_POLICY } from "../restore-policy.js";

/** A strict restorer: every saved register written back in order, the first refusal fatal. */
export const STRICT: RestorePolicy = {
  id: "strict",
  label: "Strict VMM",
  source: "a test table",
  unsaved: [],
  missing: { action: "abort", error: "set {reg} ({id}): {errno}", rule: "restore_all" },
  refused: { error: "set {reg} ({id}): {errno}", rule: "restore_all" },
  writableImpIdRegs: false,
  refusedFeatures: [{ feature: VCPU_FEATURES.PMU_V3, error: "no {reg} here", rule: "vcpu_init" }],
  refusesIncompatible: false,
};
export const COUNTING: RestorePolicy = {
  ...STRICT,
  id: "counting",
  label: "Counting VMM",
  count: { excludedCoprocs: CORE_AND_SVE, error: "list of {count} > {limit}", rule: "post_load" },
};
export const NO_BITMAPS: RestorePolicy = {
  ...GUESTABI_POLICY,
  refusesIncompatible: false,
  id: "no-bitmaps",
  label: "Bitmap-less VMM",
  unsaved: [{ coproc: COPROC.fwBitmap, why: "not in its register list" }],
};
