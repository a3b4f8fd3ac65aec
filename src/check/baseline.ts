/**
 * `guestabi baseline PROFILE...`: the richest ABI template every listed host can honour, then checked
 * against every host with checkAbi's rules (the same compiled forms): what each host gives up, and
 * what no single value can satisfy.
 *
 * How each part is chosen (the per-host acceptance is always the destination's compiled rule, asked
 * through value-rules.ts valueLevelOf, so a choice is exactly what the check will accept):
 * - vCPU features: those every host initialises (a probed configuration with the feature);
 * - registers: the intersection of the hosts' lists, plus the hypercall bitmaps some hosts lack;
 * - ID registers, field by field: candidates are the hosts' values and the policies' safe values; of
 *   those every host accepts, the richest by the field's ftr type (lowerSafe: the largest, i.e. the
 *   lowest host's; higherSafe: the smallest, i.e. the highest host's; higherOrZeroSafe: the smallest
 *   nonzero; exact: the common value, else the safe value; signed fields compared signed);
 * - PSCI_VERSION: the newest version every host accepts (kvm_arm_set_fw_reg);
 * - WORKAROUND_1/2/3: the lowest kernel level (get_kernel_wa_level: a lower level is always accepted);
 * - bitmaps: the services on by default everywhere (kvm_arm_init_hypercalls), intersected with what
 *   every host accepts (kvm_arm_set_fw_reg_bmap), and equal to the fixed services of a host without
 *   the register (its guest view);
 * - SVE vector lengths: the longest prefix of lengths every host has (set_sve_vls);
 * - the machine section (machine.ts chooseMachine): GICD_IIDR revision, ITS table ABI, PMU counters.
 */
import type { RegId } from "../regs/index.js";
import { formatId, ftrPolicies, sysregByEncoding, decodeId } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import type { CheckReport, Verdict } from "./check.js";
import { checkCompiled } from "./check.js";
import { ccsidrMinLine, clidrImplements, setCcsidrAccepts } from "../kvm/rules/cache.js";
import { CLIDR_ID } from "./cache-rules.js";
import { NO_FW_RULE, ruleText } from "./reasons.js";
import { featureBits, featureName, isReady } from "./config-view.js";
import type { HostProfile } from "../formats/profile.js";
import type { HostIdentity } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { CCSIDR_DEMUX_BASE, validateTemplate } from "../formats/template.js";
import type { CompiledConfig, CompiledHost, RuleName } from "./host.js";
import { compileHost, hostConfig } from "./host.js";
import { REGISTRY, bitsOf, hasBit, hex, hi32, hostValue, lo32 } from "./registry.js";
import { compileSubject } from "./requirements.js";
import { valueLevelOf } from "./value-rules.js";
import { chooseMachine } from "./machine.js";
import type { Grounds } from "./evidence.js";
import { MEASURED, NOT_MEASURED, RULE_FROM, ruleGrounds } from "./evidence.js";

export interface BaselineResult {
  template: AbiTemplate;
  giveUps: { host: string; verdicts: Verdict[] }[];
  unhonourable: Verdict[];
  /** The template's check against each host, in the order of `hosts`. */
  reports?: CheckReport[];
}

export interface BaselineOptions {
  /** How each host is named (default: release and CPU label). */
  names?: readonly string[];
  /** The template's name. */
  name?: string;
  /** provenance.createdAt (default: now). */
  now?: () => Date;
}

/** The richest template every host can honour. */
export function baseline(hosts: readonly HostProfile[], opts: BaselineOptions = {}): BaselineResult {
  if (hosts.length === 0) throw new RangeError("baseline needs at least one host profile");
  const compiled = hosts.map((p, k) => compileHost(p, opts.names?.[k]));
  const unhonourable: Verdict[] = [];
  const give: Give = (host, grounds, register, id, reason, field) =>
    unhonourable.push({
      register,
      id,
      level: "incompatible",
      reason: reason + grounds.note,
      evidence: grounds.evidence,
      host,
      ...(field !== undefined ? { field } : {}),
    });

  // vCPU features every host initialises.
  const okFeatures = compiled.map((h) => {
    const s = new Set<number>();
    for (const c of h.profile.configs) if (isReady(c)) for (const f of featureBits(c.features)) s.add(f);
    return s;
  });
  const allFeatures = new Set(okFeatures.flatMap((s) => [...s]));
  const features = [...allFeatures].filter((f) => okFeatures.every((s) => s.has(f))).sort((a, b) => a - b);
  // What a host offers that the template leaves out is a give-up of that host, not a conflict.
  const featureGiveUps = okFeatures.map((s) =>
    [...s]
      .filter((f) => !features.includes(f))
      .map((f): Verdict => ({
        register: "KVM_ARM_VCPU_INIT",
        id: "",
        field: featureName(f),
        level: "tolerated",
        reason: `this host initialises ${featureName(f)}; the template leaves it out (not every host does)`,
        evidence: "measured",
        kind: "feature",
      })),
  );

  const cfgs: (CompiledConfig | null)[] = compiled.map((h) => hostConfig(h, features));
  const live: Live = compiled.flatMap((h, k) => {
    const c = cfgs[k];
    return c ? [{ h, c }] : [];
  });
  compiled.forEach((h, k) => {
    if (!cfgs[k])
      give(
        h.name,
        NOT_MEASURED,
        "KVM_ARM_VCPU_INIT",
        "",
        `no probed configuration initialises with ${features.map(featureName).join(", ")}`,
      );
  });

  // Register sets.
  const count = new Map<number, number>();
  for (const { c } of live) for (const i of bitsOf(c.present)) count.set(i, (count.get(i) ?? 0) + 1);
  const common = [...count]
    .filter(([, n]) => n === live.length)
    .map(([i]) => i)
    .sort((a, b) => a - b);
  const partial = [...count].filter(([, n]) => n < live.length).map(([i]) => i);

  const idRegs = new Map<RegId, bigint>();
  const firmware = new Map<RegId, bigint>();
  const regs = new Set<RegId>(common.map((i) => REGISTRY.id(i)));

  for (const i of common) {
    const id = REGISTRY.id(i);
    const cls = REGISTRY.checkClass(i);
    if (cls === "id") idRegs.set(id, chooseId(i, live, give));
    else if (cls === "fw") firmware.set(id, chooseFw(i, live, features, give));
  }

  // Cache geometry: CLIDR_EL1 (an ID register, chosen above) decides which CCSIDR entries matter; for
  // each implemented one take the value every host honours: a pre-6.3 host's own (demux_c15_set: a
  // write must equal it), provided the 6.3+ hosts accept it (set_ccsidr), else any host's they accept.
  const clidr = idRegs.get(CLIDR_ID);
  const implemented = (i: number): boolean =>
    clidr === undefined || clidrImplements(clidr, Number(REGISTRY.id(i) & 0xffn));
  const ccsidr = new Map<number, bigint>();
  for (const i of common) {
    if (REGISTRY.checkClass(i) !== "demux" || !implemented(i)) continue;
    const id = REGISTRY.id(i);
    const sel = Number(id & 0xffn);
    const fixed = live.filter(({ c }) => c.rule[i] !== "ccsidr");
    const fixedValues = new Set(fixed.map(({ c }) => (c.lo[i] ?? 0) >>> 0));
    const accepts = (c: CompiledConfig, v: number): boolean => {
      if (c.rule[i] !== "ccsidr") return (c.lo[i] ?? 0) >>> 0 === v;
      return setCcsidrAccepts(v, 0, ccsidrMinLine(sel, c.ctr?.imin ?? 0, c.ctr?.dmin ?? 0));
    };
    const candidates = fixed.length > 0 ? [...fixedValues] : live.map(({ c }) => (c.lo[i] ?? 0) >>> 0);
    const v =
      fixedValues.size <= 1 ? candidates.find((x) => live.every(({ c }) => accepts(c, x))) : undefined;
    if (v !== undefined) {
      ccsidr.set(sel, BigInt(v));
      continue;
    }
    const values = [...new Set(live.map(({ c }) => (c.lo[i] ?? 0) >>> 0))];
    for (const { h, c } of live)
      if (candidates.some((x) => !accepts(c, x)))
        give(
          h.name,
          ruleGrounds(c, i),
          REGISTRY.name(i),
          formatId(id),
          c.rule[i] === "ccsidr"
            ? `CCSIDR differs between the hosts (${values.map((x) => hex(x)).join(", ")}) and set_ccsidr refuses the other hosts' value here; a template cannot fix it`
            : `CCSIDR differs between the hosts (${values.map((x) => hex(x)).join(", ")}) and is invariant here (demux_c15_set); a template cannot fix it`,
        );
  }

  // Bitmaps, including those some hosts lack.
  for (const i of [...common, ...partial]) {
    if (REGISTRY.checkClass(i) !== "bitmap") continue;
    const id = REGISTRY.id(i);
    const v = chooseBitmap(i, live, give);
    if (v === undefined) continue;
    firmware.set(id, v);
    regs.add(id);
  }

  // Registers only some hosts have: new on those, tolerable only at a "never knew" reset value.
  for (const i of partial) {
    if (REGISTRY.checkClass(i) === "bitmap") continue;
    // A cache level/type the chosen CLIDR_EL1 does not implement: UNKNOWN to the guest (get_ccsidr).
    if (REGISTRY.checkClass(i) === "demux" && !implemented(i)) continue;
    for (const { h, c } of live)
      if (hasBit(c.present, i) && !hasBit(c.newOk, i)) {
        const measured = c.ruleFrom[i] !== RULE_FROM.notMeasured;
        give(
          h.name,
          measured ? MEASURED : NOT_MEASURED,
          REGISTRY.name(i),
          formatId(REGISTRY.id(i)),
          `only some hosts list it and this one resets it to ${measured ? hex(hostValue(c, i)) : "a value that was not measured"}: a VM created elsewhere never had it, one created here cannot move`,
        );
      }
  }

  let sveVqs: number[] | undefined;
  if (features.includes(VCPU_FEATURES.SVE)) {
    sveVqs = chooseVqs(live, give);
    if (!sveVqs) {
      features.splice(features.indexOf(VCPU_FEATURES.SVE), 1);
      regs.delete(0x606000000015ffffn);
    }
  }

  // Guest ABI outside ONE_REG: vGIC and ITS revisions, PMU counters (machine.ts).
  const machinePart = chooseMachine(compiled, features.includes(VCPU_FEATURES.PMU_V3));
  for (const g of machinePart.giveUps) give(g.host, g.grounds, g.register, "", g.reason, g.field);
  const machine = Object.keys(machinePart.machine).length > 0 ? machinePart.machine : undefined;

  const now = (opts.now ?? (() => new Date()))();
  const template: AbiTemplate = {
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    idRegs,
    firmware,
    ...(ccsidr.size > 0 ? { ccsidr } : {}),
    features,
    ...(sveVqs ? { sveVqs } : {}),
    regs,
    ...(machine ? { machine } : {}),
    provenance: {
      derivedFrom: compiled.map((h) => identity(h.profile)),
      createdAt: now.toISOString(),
      note: `guestabi baseline of ${compiled.length} host${compiled.length === 1 ? "" : "s"}`,
    },
  };
  validateTemplate(template);
  const unimplementedCcsidr = (id: string): boolean => {
    if (id === "" || clidr === undefined) return false;
    const rid = BigInt(id);
    return (rid & ~0xffn) === CCSIDR_DEMUX_BASE && !clidrImplements(clidr, Number(rid & 0xffn));
  };
  const req = compileSubject(template, { label: "baseline" });
  const reports = compiled.map((h) => checkCompiled(req, h));
  return {
    template,
    giveUps: reports.map((r, k) => ({
      host: r.host,
      // A cache level/type the template's CLIDR_EL1 does not implement gives nothing up (get_ccsidr: UNKNOWN).
      verdicts: [
        ...(featureGiveUps[k] ?? []),
        ...r.verdicts.filter((v) => v.level !== "ok" && !unimplementedCcsidr(v.id)),
      ],
    })),
    unhonourable,
    reports,
  };
}

function identity(p: HostProfile): HostIdentity {
  return {
    release: p.host.release,
    generation: p.host.generation,
    cpuLabel: p.host.cpuLabel,
    backend: p.backend,
  };
}

type Live = { h: CompiledHost; c: CompiledConfig }[];
/** A value no choice lets host `host` honour: an unhonourable verdict, on `grounds`. */
type Give = (
  host: string,
  grounds: Grounds,
  register: string,
  id: string,
  reason: string,
  field?: string,
) => void;

// ---- ID registers -----------------------------------------------------------------------------------

interface Group {
  name: string;
  mask: bigint;
  shift: number;
  width: number;
  type?: string;
  signed: boolean;
  safe: bigint[];
}

/** Bit groups of an ID register that the hosts' rules treat independently: ftr fields, catalog fields. */
function groupsOf(i: number, live: Live): Group[] {
  const id = REGISTRY.id(i);
  const d = decodeId(id);
  const name = REGISTRY.name(i);
  const ranges: Group[] = [];
  const range = (
    n: string,
    shift: number,
    width: number,
    signed: boolean,
    type?: string,
    safe?: bigint,
  ): Group => ({
    name: n,
    mask: ((1n << BigInt(width)) - 1n) << BigInt(shift),
    shift,
    width,
    signed,
    safe: safe === undefined ? [] : [safe],
    ...(type !== undefined ? { type } : {}),
  });
  for (const gen of new Set(live.map(({ h }) => h.generation)))
    for (const p of ftrPolicies(gen, name) ?? [])
      ranges.push(range(p.field, p.shift, p.width, p.signed, p.type, p.safe));
  if (d.class === "sysreg")
    for (const f of sysregByEncoding(d)?.fields ?? [])
      ranges.push(range(f.name, f.lsb, f.msb - f.lsb + 1, f.kind === "signedEnum"));
  // Overlapping ranges (generations or layouts that split a field differently) become one group.
  ranges.sort((x, y) => x.shift - y.shift);
  const groups: Group[] = [];
  for (const r of ranges) {
    const last = groups[groups.length - 1];
    if (last && (last.mask & r.mask) !== 0n) {
      const exact = last.mask === r.mask;
      last.mask |= r.mask;
      last.width = last.mask.toString(2).length - last.shift;
      last.safe.push(...r.safe);
      if (!exact || (r.type !== undefined && last.type !== undefined && r.type !== last.type)) {
        if (!exact) delete last.type;
        else if (r.type !== last.type) delete last.type;
      } else if (r.type !== undefined) last.type = r.type;
      last.signed ||= r.signed && exact;
    } else groups.push({ ...r, safe: [...r.safe] });
  }
  const covered = groups.reduce((m, g) => m | g.mask, 0n);
  const rest = ~covered & 0xffffffffffffffffn;
  if (rest !== 0n)
    groups.push({ name: `bits ${hex(rest)}`, mask: rest, shift: 0, width: 64, signed: false, safe: [] });
  return groups;
}

/** Whether host `c` accepts its own value with `group` set as in `value`. */
function groupAccepted(c: CompiledConfig, i: number, g: Group, value: bigint): boolean {
  const own = hostValue(c, i);
  const t = (own & ~g.mask) | (value & g.mask);
  return valueLevelOf(c, i, lo32(t), hi32(t)) !== "incompatible";
}

/** Rules that judge the register as a whole (set_clidr's IDC condition, set_imp_id_reg's mask). */
const WHOLE = new Set<RuleName>(["clidr", "impId"]);

function chooseId(i: number, live: Live, give: Give): bigint {
  const values = live.map(({ c }) => hostValue(c, i));
  if (values.every((v) => v === values[0])) return values[0]!;
  const name = REGISTRY.name(i);
  const whole =
    live.some(({ c }) => WHOLE.has(c.rule[i] ?? "absent")) ||
    live.every(({ h }) => (ftrPolicies(h.generation, name) ?? []).length === 0);
  const groups: Group[] = whole
    ? [{ name: "", mask: 0xffffffffffffffffn, shift: 0, width: 64, signed: false, safe: [] }]
    : groupsOf(i, live);
  let out = 0n;
  const given = new Set<string>();
  const giveOnce: Give = (host, grounds, register, id, reason, field) => {
    given.add(host);
    give(host, grounds, register, id, reason, field === "" ? undefined : field);
  };
  for (const g of groups) {
    const fieldOfValue = (v: bigint) => v & g.mask;
    const candidates = new Set<bigint>(values.map(fieldOfValue));
    for (const s of g.safe) if (g.width < 64) candidates.add((s << BigInt(g.shift)) & g.mask);
    candidates.add(0n);
    const accepted = [...candidates].filter((cand) => live.every(({ c }) => groupAccepted(c, i, g, cand)));
    const num = (v: bigint) => {
      const raw = v >> BigInt(g.shift);
      return g.signed && g.width < 64 && raw & (1n << BigInt(g.width - 1))
        ? raw - (1n << BigInt(g.width))
        : raw;
    };
    const hostVals = values.map(fieldOfValue);
    const rank = (v: bigint): number => {
      // Higher is richer.
      const n = Number(num(v));
      switch (g.type) {
        case "lowerSafe":
          return n;
        case "higherSafe":
          return -n;
        case "higherOrZeroSafe":
          return n === 0 ? -Infinity : -n;
        default:
          return (
            hostVals.filter((x) => x === v).length * 1e6 +
            (g.safe.some((s) => s << BigInt(g.shift) === v) ? 1 : 0)
          );
      }
    };
    if (accepted.length > 0) {
      out |= accepted.sort((a, b) => rank(b) - rank(a))[0]!;
      continue;
    }
    // Nothing suits every host: keep the value most hosts accept, and name the others.
    const best = [...candidates].sort(
      (a, b) =>
        live.filter(({ c }) => groupAccepted(c, i, g, b)).length -
          live.filter(({ c }) => groupAccepted(c, i, g, a)).length || rank(b) - rank(a),
    )[0]!;
    out |= best;
    const shown = live.map(({ h }, k) => `${h.name}: ${hex(num(hostVals[k]!))}`).join(", ");
    for (const { h, c } of live)
      if (!groupAccepted(c, i, g, best))
        giveOnce(
          h.name,
          ruleGrounds(c, i),
          name,
          formatId(REGISTRY.id(i)),
          `no single value suits every host (${shown}); this host cannot be made to show ${hex(num(best))} (${ruleText(c, i)})`,
          g.name,
        );
  }
  // Fields chosen one by one must also pass together.
  for (const { h, c } of live)
    if (!given.has(h.name) && valueLevelOf(c, i, lo32(out), hi32(out)) === "incompatible")
      giveOnce(
        h.name,
        ruleGrounds(c, i),
        name,
        formatId(REGISTRY.id(i)),
        `the fields every host accepts one by one do not pass together here (${ruleText(c, i)}): ${hex(out)}`,
      );
  return out;
}

// ---- firmware -----------------------------------------------------------------------------------------

function chooseFw(i: number, live: Live, features: number[], give: Give): bigint {
  const id = REGISTRY.id(i);
  const name = REGISTRY.name(i);
  const levels = live.map(({ c }) => (c.lo[i] ?? 0) & 0xf);
  if (id === FW_REGS.PSCI_VERSION) {
    // kvm_arm_set_fw_reg: the newest version every host accepts.
    const wants02 = features.includes(VCPU_FEATURES.PSCI_0_2);
    const sets = live.map(({ c }) => c.psci.filter((v) => (wants02 ? v !== 1 : v === 1)));
    const common = sets[0]!.filter((v) => sets.every((s) => s.includes(v)));
    if (common.length > 0) return BigInt(Math.max(...common));
    const pick = Math.min(...sets.map((s) => Math.max(...s, 0)));
    for (const { h, c } of live)
      if (!c.psci.includes(pick))
        give(
          h.name,
          ruleGrounds(c, i),
          name,
          formatId(id),
          `no PSCI version is accepted by every host; this one accepts ${c.psci.map(hex).join(", ")}`,
        );
    return BigInt(pick);
  }
  if (
    id === FW_REGS.SMCCC_ARCH_WORKAROUND_1 ||
    id === FW_REGS.SMCCC_ARCH_WORKAROUND_3 ||
    id === FW_REGS.SMCCC_ARCH_WORKAROUND_2
  )
    // get_kernel_wa_level: kvm_arm_set_fw_reg accepts any level up to the kernel's.
    return BigInt(Math.min(...levels));
  const values = live.map(({ c }) => hostValue(c, i));
  if (values.some((v) => v !== values[0]))
    for (const { h, c } of live)
      give(
        h.name,
        ruleGrounds(c, i),
        name,
        formatId(id),
        `${NO_FW_RULE}, with different values on the hosts (${values.map(hex).join(", ")})`,
      );
  return values[0]!;
}

function chooseBitmap(i: number, live: Live, give: Give): bigint | undefined {
  const id = REGISTRY.id(i);
  const name = REGISTRY.name(i);
  const haves = live.filter(({ c }) => hasBit(c.present, i));
  const lacks = live.filter(({ c }) => !hasBit(c.present, i));
  let value = ~0n & 0xffffffffffffffffn;
  for (const { c } of haves) value &= hostValue(c, i) & BigInt(c.bitmapFeatures.get(i) ?? 0);
  // A host without the register has fixed services (its guest view), or none known: 0.
  const fixed = new Set(lacks.map(({ c }) => c.ungated.get(id) ?? 0n));
  if (fixed.size === 0) return value;
  if (fixed.size === 1) {
    const u = [...fixed][0]!;
    const bad = haves.filter(({ c }) => (u & ~BigInt(c.bitmapFeatures.get(i) ?? 0)) !== 0n);
    for (const { h, c } of bad)
      give(
        h.name,
        ruleGrounds(c, i),
        name,
        formatId(id),
        `hosts without the register offer services ${hex(u)} unconditionally; this host cannot offer them all`,
      );
    return u;
  }
  const list = lacks.map(({ h, c }) => `${h.name}: ${hex(c.ungated.get(id) ?? 0n)}`).join(", ");
  for (const { h } of lacks)
    give(
      h.name,
      MEASURED,
      name,
      formatId(id),
      `hosts without the register offer different fixed services (${list})`,
    );
  return [...fixed][0]!;
}

function chooseVqs(live: Live, give: Give): number[] | undefined {
  // set_sve_vls: every available length up to the chosen maximum, on every host.
  const maps = live.map(({ c }) => c.vls ?? 0n);
  const out: number[] = [];
  for (let vq = 1; vq <= 512; vq++) {
    const bit = 1n << BigInt(vq - 1);
    const has = maps.map((m) => (m & bit) !== 0n);
    if (has.every((x) => x)) out.push(vq);
    else if (has.some((x) => x)) break;
    else if (maps.every((m) => m < bit)) break;
  }
  if (out.length > 0) return out;
  for (const { h } of live)
    give(
      h.name,
      MEASURED,
      "KVM_REG_ARM64_SVE_VLS",
      formatId(0x606000000015ffffn),
      "no SVE vector length is common to every host: SVE left out",
    );
  return undefined;
}
