/**
 * Registers one side lacks: a register the subject carries and the destination does not list (a
 * restore's KVM_SET_ONE_REG would get ENOENT), and one only the destination lists (the guest would
 * see its reset value). Either is tolerated only where the guest cannot tell: a value a VM that never
 * knew the register has, a time-varying register, a cache level the VM's CLIDR_EL1 does not
 * implement, the same hypercall services.
 */
import type { VerdictLevel } from "./check.js";
import type { CompiledConfig } from "./host.js";
import { UNIMPLEMENTED_CACHE, unimplementedCache } from "./cache-rules.js";
import { serviceDiff } from "./firmware-rules.js";
import { REGISTRY, and, bitsWhere, hasBit, hex, hostValue } from "./registry.js";
import type { VcpuRequirement } from "./requirements.js";
import { vqText } from "./sve-rules.js";
import type { Out, Verdicts } from "./verdicts.js";
import { fillError, registerValues } from "./restore-policy.js";
import { MEASURED, NOT_MEASURED, RULE_FROM } from "./evidence.js";

const LACKS = "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT)";

/** The destination's value of register `i` as reasons show it. */
export const shownValue = (cfg: CompiledConfig, i: number): string =>
  REGISTRY.checkClass(i) === "vls" ? `vector lengths ${vqText(cfg.vls)}` : hex(hostValue(cfg, i));

/** A register of the subject the destination does not list (`unexamined`: one the VMM never looks at). */
export function missingLevel(
  r: VcpuRequirement,
  cfg: CompiledConfig,
  i: number,
  out: Out,
  unexamined = false,
): VerdictLevel {
  const { policy } = cfg.host;
  const { missing, label } = policy;
  if (missing.action === "abort" && !unexamined && !missing.skipped?.has(REGISTRY.name(i))) {
    // A VMM that writes back every saved register stops at the first KVM_SET_ONE_REG it is refused.
    if (out) {
      const values = { ...registerValues(policy, REGISTRY.name(i), REGISTRY.id(i)), errno: "ENOENT" };
      const error = fillError(missing.error ?? "", values);
      out.vmm(
        REGISTRY.name(i),
        values.id,
        "missing",
        `${LACKS}; ${label} fails the restore (${missing.rule}): ${error}`,
        MEASURED,
        error,
      );
    }
    return "incompatible";
  }
  if (unimplementedCache(r, i)) {
    out?.reg(i, "tolerated", "missing", `${LACKS}; ${UNIMPLEMENTED_CACHE}`, MEASURED);
    return "tolerated";
  }
  if (hasBit(r.tv, i)) {
    out?.reg(
      i,
      "tolerated",
      "missing",
      `${LACKS}; time-varying, not compared by value: the restore skips it`,
      MEASURED,
    );
    return "tolerated";
  }
  const v = r.values.get(i);
  const id = REGISTRY.id(i);
  const fixed = cfg.ungated.get(id);
  if (REGISTRY.checkClass(i) === "bitmap" && typeof v === "bigint" && fixed !== undefined) {
    // No bitmap register: the kernel offers its services unconditionally (kvm_hvc_call_handler).
    const level = v === fixed ? "tolerated" : "incompatible";
    out?.reg(
      i,
      level,
      "missing",
      `${LACKS}; its services are fixed there: the guest probe saw ${hex(fixed)}, the VM has ${hex(v)}` +
        (level === "tolerated" ? "" : ` (${serviceDiff(id, v, fixed)})`),
      MEASURED,
    );
    return level;
  }
  if (v === undefined) {
    // A template register (no value): a VM of the template carries whatever its guest wrote.
    out?.reg(
      i,
      "incompatible",
      "missing",
      `${LACKS}; a VM of this template carries it, with whatever value its guest gave it`,
      MEASURED,
    );
    return "incompatible";
  }
  const shown = (): string => (typeof v === "bigint" ? hex(v) : "a wide value");
  const fromSource = r.resetFrom === "source profile";
  if (hasBit(r.atReset, i)) {
    out?.reg(
      i,
      "tolerated",
      "missing",
      `${LACKS}; the VM has ${shown()}, what a VM that never knew it has (${fromSource ? "the source profile's reset value" : "0 or reset_unknown's value"}): the restore skips it`,
      MEASURED,
    );
    return "tolerated";
  }
  out?.reg(
    i,
    "incompatible",
    "missing",
    `${LACKS}; the VM has ${shown()}, not what a VM that never knew it has (${fromSource ? "the source profile's reset value" : "assumed 0 or reset_unknown's value; --source-profile gives the source's reset values"})`,
    MEASURED,
  );
  return "incompatible";
}

const NEW = `new on the destination (the subject does not carry it)`;

/** A register only the destination lists. */
export function newLevel(r: VcpuRequirement, cfg: CompiledConfig, i: number, out: Out): VerdictLevel {
  if (unimplementedCache(r, i)) {
    out?.reg(i, "tolerated", "new", `${NEW}; ${UNIMPLEMENTED_CACHE}`, MEASURED);
    return "tolerated";
  }
  if (hasBit(cfg.tv, i)) {
    out?.reg(i, "tolerated", "new", `${NEW}; time-varying, not compared by value`, MEASURED);
    return "tolerated";
  }
  if (cfg.ruleFrom[i] === RULE_FROM.notMeasured) {
    out?.reg(
      i,
      "tolerated",
      "new",
      `${NEW}; its reset value was not measured, so whether the guest sees a value it never had is unknown`,
      NOT_MEASURED,
    );
    return "tolerated";
  }
  if (REGISTRY.checkClass(i) === "bitmap") return newBitmapLevel(r, cfg, i, out);
  if (hasBit(cfg.newOk, i)) {
    out?.reg(
      i,
      "tolerated",
      "new",
      `${NEW}; it resets to ${shownValue(cfg, i)}, what a VM that never knew it sees`,
      MEASURED,
    );
    return "tolerated";
  }
  out?.reg(
    i,
    "incompatible",
    "new",
    `${NEW}; it resets to ${shownValue(cfg, i)}, not 0 / reset_unknown's value: the guest would see a value it never had`,
    MEASURED,
  );
  return "incompatible";
}

/** A new bitmap register: its default services against the ones the guest saw at the source. */
function newBitmapLevel(r: VcpuRequirement, cfg: CompiledConfig, i: number, out: Out): VerdictLevel {
  const id = REGISTRY.id(i);
  const d = hostValue(cfg, i);
  // The subject carries it only where the VMM does not save it: the guest saw the VM's value.
  const carried = r.values.get(i);
  const g = typeof carried === "bigint" ? carried : (r.sourceServices.get(id) ?? 0n);
  const level = d === g ? "tolerated" : "incompatible";
  if (out) {
    const features = BigInt(cfg.bitmapFeatures.get(i) ?? 0);
    const pin =
      (g & ~features) === 0n
        ? `; writable to ${hex(g)} before the first run (kvm_arm_set_fw_reg_bmap): pin it`
        : "";
    out.reg(
      i,
      level,
      "new",
      `${NEW}; it resets to ${hex(d)} (kvm_arm_init_hypercalls), the guest saw ${hex(g)} (${typeof carried === "bigint" ? `the VM's value, which ${cfg.host.policy.label} does not save` : r.sourceServices.has(id) ? "the source's guest view" : "assumed: no source profile"})` +
        (level === "tolerated" ? "" : ` (${serviceDiff(id, g, d)})${pin}`),
      MEASURED,
    );
  }
  return level;
}

/** The ok verdicts of the state registers both sides have: restored as saved. */
export function stateVerdicts(r: VcpuRequirement, cfg: CompiledConfig, out: Verdicts): void {
  const unsaved = new Set(cfg.host.policy.unsaved.map((g) => g.coproc));
  for (const i of bitsWhere(r.present, cfg.present, and)) {
    if (REGISTRY.checkClass(i) !== "state" || unsaved.has(REGISTRY.coproc(i))) continue;
    if (hasBit(r.tv, i) || hasBit(cfg.tv, i))
      out.reg(i, "ok", "state", "time-varying: restored as saved, not compared by value", MEASURED);
    else out.reg(i, "ok", "state", "state: restored as saved (KVM_SET_ONE_REG)", MEASURED);
  }
}
