/** The value rule of the SVE vector lengths (KVM_REG_ARM64_SVE_VLS): set_sve_vls (guest.c). */
import type { VerdictLevel } from "./check.js";
import { vlsToVqs } from "../formats/snapshot.js";
import type { CompiledConfig } from "./host.js";
import { leBytes64 } from "./requirements.js";
import type { SubjectFacts } from "./requirements.js";
import type { Out } from "./verdicts.js";

/** Vector lengths (a bitmask of vq - 1) as "{128, 256} bits". */
export const vqText = (m: bigint | undefined): string =>
  m === undefined
    ? "(unknown)"
    : `{${vlsToVqs(leBytes64(m))
        .map((q) => q * 128)
        .join(", ")}} bits`;

/** set_sve_vls: max vq <= the host's, and every vq up to it present exactly when the host has it. */
export function vlsRule(
  cfg: CompiledConfig,
  i: number,
  _lo: number,
  _hi: number,
  out: Out,
  subject: SubjectFacts,
): VerdictLevel {
  const s = subject.vqs;
  const a = cfg.vls;
  let level: VerdictLevel;
  if (s === undefined || a === undefined) level = "incompatible";
  else if (s === a) level = "ok";
  else {
    const max = s === 0n ? 0 : s.toString(2).length;
    const upTo = (1n << BigInt(max)) - 1n;
    level = max > a.toString(2).length || (a & upTo) !== s ? "incompatible" : "tolerated";
  }
  if (out)
    out.rule(
      cfg,
      i,
      level,
      "sve",
      level === "ok"
        ? `equal: vector lengths ${vqText(s)}`
        : level === "tolerated"
          ? `the VM has vector lengths ${vqText(s)}; the destination offers ${vqText(a)}: the restore caps the maximum (set_sve_vls accepts a prefix)`
          : `the VM has vector lengths ${vqText(s)}; the destination offers ${vqText(a)}: set_sve_vls accepts only every available length up to the maximum (EINVAL)`,
    );
  return level;
}
