/**
 * Every difference between two host profiles, field by field: how a simulator is held to a real
 * kernel (the conformance test) and how the committed lab profiles are held to a fresh real run. The
 * first profile is the reference; time-varying bits (either profile's timeVarying masks) and the
 * time-varying items of the guest program (KVM_PTP) are compared only by what does not move.
 */
import { steadyBits } from "../kvm/rules/time-varying.js";
import { formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import type { ConfigProfile, ExperimentGroup, HostProfile } from "../formats/profile.js";
import { regName } from "../formats/profile.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";

export interface ProfileDifference {
  /** Where, e.g. "psci-0.2: reset ID_AA64PFR0_EL1". */
  where: string;
  expected: string;
  actual: string;
}

type Value = bigint | Uint8Array | string;

const show = (v: unknown): string =>
  v === undefined
    ? "(absent)"
    : typeof v === "bigint"
      ? "0x" + v.toString(16)
      : v instanceof Uint8Array
        ? Buffer.from(v).toString("hex")
        : typeof v === "string"
          ? v
          : JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? "0x" + x.toString(16) : x));

function sameValue(a: Value | undefined, b: Value | undefined, ignoreMask = 0n): boolean {
  if (typeof a === "bigint" && typeof b === "bigint") return (a & ~ignoreMask) === (b & ~ignoreMask);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  return a === b;
}

class Collector {
  readonly out: ProfileDifference[] = [];
  constructor(private readonly prefix = "") {}
  scope(name: string): Collector {
    const c = new Collector(this.prefix + name + ": ");
    (c as { out: ProfileDifference[] }).out = this.out;
    return c;
  }
  add(where: string, expected: unknown, actual: unknown): void {
    this.out.push({ where: this.prefix + where, expected: show(expected), actual: show(actual) });
  }
  /** Records a difference when the two differ as JSON (for small structured values). */
  same(where: string, expected: unknown, actual: unknown): void {
    if (show(expected) !== show(actual)) this.add(where, expected, actual);
  }
}

/** Bits each register moves on its own, by id, from both profiles' configurations of one name. */
function timeVaryingMasks(...configs: ConfigProfile[]): Map<RegId, bigint> {
  const masks = new Map<RegId, bigint>();
  for (const c of configs)
    for (const t of c.timeVarying ?? []) masks.set(t.id, (masks.get(t.id) ?? 0n) | t.mask);
  return masks;
}

function diffReadings(
  c: Collector,
  what: string,
  expected: readonly (readonly [RegId, Value])[] | undefined,
  actual: readonly (readonly [RegId, Value])[] | undefined,
  masks: Map<RegId, bigint>,
): void {
  if (!expected || !actual) return c.same(`${what} present`, expected !== undefined, actual !== undefined);
  const e = new Map(expected.map(([id, v]) => [id, v]));
  const a = new Map(actual.map(([id, v]) => [id, v]));
  for (const id of e.keys())
    if (!a.has(id)) c.add(`${what} ${regName(id)} (${formatId(id)})`, "listed", "not listed");
  for (const id of a.keys())
    if (!e.has(id)) c.add(`${what} ${regName(id)} (${formatId(id)})`, "not listed", "listed");
  for (const [id, v] of e) {
    const w = a.get(id);
    // bits that move on their own, except those both readings pin (a CTL's ISTATUS while CVAL is 0)
    const mask = (masks.get(id) ?? 0n) & ~(steadyBits(id, (x) => e.get(x)) & steadyBits(id, (x) => a.get(x)));
    if (w !== undefined && !sameValue(v, w, mask)) c.add(`${what} ${regName(id)}`, v, w);
  }
  const common = (list: readonly (readonly [RegId, Value])[], other: Map<RegId, Value>) =>
    list.filter(([id]) => other.has(id)).map(([id]) => formatId(id));
  if (common(expected, a).join() !== common(actual, e).join())
    c.add(`${what} order`, "kernel order", "another order");
}

const experimentKey = (g: ExperimentGroup) => `${regName(g.id)} ${g.phase}`;

function diffExperiments(
  c: Collector,
  expected: ExperimentGroup[] = [],
  actual: ExperimentGroup[] = [],
): void {
  const a = new Map(actual.map((g) => [experimentKey(g), g]));
  const e = new Map(expected.map((g) => [experimentKey(g), g]));
  for (const key of e.keys()) if (!a.has(key)) c.add(`experiments ${key}`, "run", "not run");
  for (const key of a.keys()) if (!e.has(key)) c.add(`experiments ${key}`, "not run", "run");
  for (const [key, g] of e) {
    const h = a.get(key);
    if (!h) continue;
    c.same(`experiments ${key} original`, g.original, h.original);
    const trialKey = (t: ExperimentGroup["trials"][number]) =>
      `${t.kind}${t.field ? " " + t.field : ""} ${show(t.value)}`;
    const ht = new Map(h.trials.map((t) => [trialKey(t), t]));
    for (const t of g.trials) {
      const u = ht.get(trialKey(t));
      const where = `experiments ${key} ${trialKey(t)}`;
      if (!u) c.add(where, t.result, "not tried");
      else c.same(where, [t.enableCap, t.result, t.read], [u.enableCap, u.result, u.read]);
    }
    for (const t of h.trials)
      if (!g.trials.some((x) => trialKey(x) === trialKey(t)))
        c.add(`experiments ${key} ${trialKey(t)}`, "not tried", t.result);
    g.bits?.forEach((b, i) => c.same(`experiments ${key} bit ${i}`, b, h.bits?.[i]));
  }
}

function diffConfig(c: Collector, e: ConfigProfile, a: ConfigProfile): void {
  c.same("features", [...e.features].sort(), [...a.features].sort());
  c.same("init", e.init, a.init);
  c.same("finalize", e.finalize, a.finalize);
  c.same("pmu init", e.pmuInit, a.pmuInit);
  const masks = timeVaryingMasks(e, a);
  diffReadings(c, "reset", e.reset, a.reset, masks);
  const wm = (m: ConfigProfile["writableMasks"]) =>
    Array.isArray(m) ? new Map(m.map(([id, v]) => [id, v])) : m;
  const [ew, aw] = [wm(e.writableMasks), wm(a.writableMasks)];
  if (ew instanceof Map && aw instanceof Map) {
    for (const id of new Set([...ew.keys(), ...aw.keys()]))
      if (ew.get(id) !== aw.get(id))
        c.add(`writable mask ${regName(id)}`, ew.get(id) ?? 0n, aw.get(id) ?? 0n);
  } else c.same("writable masks", ew, aw);
  const [er, ar] = [e.firstRun, a.firstRun];
  if (er && ar) {
    c.same(
      "first run",
      [er.completed, er.end.kind, er.exits, er.hypercalls, er.unexpected],
      [ar.completed, ar.end.kind, ar.exits, ar.hypercalls, ar.unexpected],
    );
    er.items.forEach((item, i) => {
      const other = ar.items[i];
      const seen = (x: typeof item | undefined) =>
        x &&
        (x.timeVarying
          ? [x.name, x.outcome]
          : [
              x.name,
              x.outcome,
              x.x,
              x.value,
              x.exception && [x.exception.esr, x.exception.elr, x.exception.vector],
            ]);
      c.same(`guest ${item.name}`, seen(item), seen(other));
    });
    if (ar.items.length > er.items.length) c.add("guest items", er.items.length, ar.items.length);
  } else c.same("first run present", er !== undefined, ar !== undefined);
  const [ea, aa] = [e.afterRun, a.afterRun];
  if (ea && aa) {
    const changed = (x: typeof ea) => x.changed.map(([id, b, v]) => [id, b, v] as const);
    c.same(
      "after run: changed",
      changed(ea)
        .map(([id]) => regName(id))
        .sort(),
      changed(aa)
        .map(([id]) => regName(id))
        .sort(),
    );
    c.same(
      "after run: listed",
      [ea.listAdded.map(formatId), ea.listRemoved.map(formatId)],
      [aa.listAdded.map(formatId), aa.listRemoved.map(formatId)],
    );
    diffReadings(c, "after run", ea.values, aa.values, masks);
  } else c.same("after run present", ea !== undefined, aa !== undefined);
  diffExperiments(c, e.experiments, a.experiments);
  diffMachine(c.scope("machine"), e.machine, a.machine);
}

/** The machine facts, field by field (every one is a value or a short list of trials). */
function diffMachine(c: Collector, e: ConfigProfile["machine"], a: ConfigProfile["machine"]): void {
  if (!e || !a) return c.same("present", e !== undefined, a !== undefined);
  const keys = new Set([...Object.keys(e), ...Object.keys(a)] as (keyof typeof e)[]);
  for (const key of keys) {
    if (key === "regs") {
      const [er, ar] = [new Map(e.regs ?? []), new Map(a.regs ?? [])];
      for (const name of new Set([...er.keys(), ...ar.keys()])) c.same(name, er.get(name), ar.get(name));
    } else c.same(key, e[key], a[key]);
  }
}

/** Every difference of `actual` from the reference `expected`, in a stable order; [] when they agree. */
export function diffProfiles(expected: HostProfile, actual: HostProfile): ProfileDifference[] {
  const c = new Collector();
  const k = c.scope("kvm");
  const ek = expected.kvm;
  const ak = actual.kvm;
  if (!ek || !ak) k.same("measured", ek !== null, ak !== null);
  else {
    k.same("api version", ek.apiVersion, ak.apiVersion);
    k.same("max IPA bits", ek.maxIpaBits, ak.maxIpaBits);
    k.same("preferred target", ek.preferredTarget, ak.preferredTarget);
    for (const cap of new Set([...Object.keys(ek.caps), ...Object.keys(ak.caps)]))
      k.same(cap, ek.caps[cap], ak.caps[cap]);
    k.same("SMCCC filter attribute", ek.smcccFilter, ak.smcccFilter);
    k.same("KVM_ARM_SET_COUNTER_OFFSET", ek.counterOffset, ak.counterOffset);
  }
  c.same(
    "skipped configurations",
    expected.skipped.map((s) => s.name).sort(),
    actual.skipped.map((s) => s.name).sort(),
  );
  const byName = new Map(actual.configs.map((cfg) => [cfg.name, cfg]));
  for (const cfg of expected.configs) {
    const other = byName.get(cfg.name);
    if (other) diffConfig(c.scope(cfg.name), cfg, other);
    else c.add(`configuration ${cfg.name}`, "probed", "absent");
  }
  for (const cfg of actual.configs)
    if (!expected.configs.some((x) => x.name === cfg.name))
      c.add(`configuration ${cfg.name}`, "absent", "probed");
  return c.out;
}

export function formatDifferences(diffs: readonly ProfileDifference[], max = 200): string {
  const lines = diffs.slice(0, max).map((d) => `${d.where}: expected ${d.expected}, got ${d.actual}`);
  if (diffs.length > max) lines.push(`... and ${diffs.length - max} more`);
  return lines.join("\n");
}

/**
 * Every difference between two restore-trial documents of one kernel: per saved state (by the
 * generation it was saved on), the vCPU init, each register's KVM_SET_ONE_REG result and the
 * registers the saved state lacks.
 */
export function diffRestoreTrials(expected: RestoreTrialDoc, actual: RestoreTrialDoc): ProfileDifference[] {
  const c = new Collector();
  const key = (t: RestoreTrialDoc["trials"][number]) =>
    `from ${t.from.generation ?? t.from.release}/${t.from.cpuLabel ?? "?"}`;
  const others = new Map(actual.trials.map((t) => [key(t), t]));
  for (const t of expected.trials) {
    const u = others.get(key(t));
    if (!u) {
      c.add(key(t), "tried", "not tried");
      continue;
    }
    const s = c.scope(key(t));
    s.same("init", t.init, u.init);
    const results = new Map(u.results.map(([id, r]) => [id, r]));
    for (const [id, r] of t.results) if (results.get(id) !== r) s.add(regName(id), r, results.get(id));
    for (const [id] of u.results)
      if (!t.results.some(([x]) => x === id)) s.add(regName(id), "not saved", results.get(id));
    s.same("missing", t.missing.map(([, n]) => n).sort(), u.missing.map(([, n]) => n).sort());
  }
  for (const k of others.keys())
    if (!expected.trials.some((t) => key(t) === k)) c.add(k, "not tried", "tried");
  return c.out;
}
