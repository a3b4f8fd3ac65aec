/**
 * Kernel generations as deltas: the oldest written in full, each later one as "its base plus named rows",
 * the way sys_regs.c adds ID_WRITABLE(reg, mask) / ID_FILTERED rows. Everything is validated when the
 * module loads: an unknown key, a value of the wrong type or a delta naming a generation not defined
 * before it throws, so a typo in generations.ts fails every test instead of silently meaning "unchanged".
 */
import { KERNEL_GENERATIONS } from "../../regs/catalog-types.js";
import type { CapValue, GenerationModel, IdRule, NewItems, SimGeneration } from "./model.js";
import { isSimGeneration } from "./model.js";

/** Where an ID rule row goes: next to the rule of `REG.FIELD` (a row for an existing field moves there). */
export type IdRuleRow = IdRule & { after?: string; before?: string };

/** Fields every generation states itself (never inherited). */
type OwnFields = "gen" | "release" | "notable" | "newHere" | "source" | "data";

/** The oldest generation: the whole model (source: the descriptor tables' source unless given). */
export type FullGeneration = Omit<GenerationModel, "source" | "newHere"> & {
  source?: string;
  newHere?: NewItems;
};

/**
 * A later generation: its base, the fields that change (replaced; `caps` merged answer by answer),
 * `idRules` as rows (one per REG.FIELD: replaced in place, or placed by after/before, or new at the end of
 * its register's rows), and its own release and notes. `data` defaults to `gen`, `newHere` to nothing.
 */
export type GenerationDelta = Partial<Omit<GenerationModel, OwnFields | "caps" | "idRules">> & {
  gen: SimGeneration;
  base: SimGeneration;
  release: string;
  notable: readonly string[];
  data?: GenerationModel["data"];
  source?: string;
  newHere?: NewItems;
  caps?: Readonly<Record<string, CapValue>>;
  idRules?: readonly IdRuleRow[];
};

export type GenerationEntry = FullGeneration | GenerationDelta;

type Check = (v: unknown) => boolean;
const str = (v: unknown): v is string => typeof v === "string";
const bool: Check = (v) => typeof v === "boolean";
const num: Check = (v) => typeof v === "number" && Number.isFinite(v);
const big: Check = (v) => typeof v === "bigint";
const oneOf =
  (...xs: readonly string[]): Check =>
  (v) =>
    typeof v === "string" && xs.includes(v);
const list =
  (item: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(item);
const obj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const shape =
  (fields: Record<string, Check>, optional: readonly string[] = []): Check =>
  (v) =>
    obj(v) &&
    Object.keys(v).every((k) => k in fields) &&
    Object.entries(fields).every(([k, c]) => (v[k] === undefined ? optional.includes(k) : c(v[k])));
const capValue: Check = (v) =>
  num(v) ||
  oneOf(
    "ipa",
    "el1_32",
    "sve",
    "ptrauth",
    "pmu",
    "mte",
    "ras",
    "onlineCpus",
    "brps",
    "wrps",
    "vmOnly0",
    "cacheablePfnmap",
  )(v);
const caps: Check = (v) => obj(v) && Object.values(v).every(capValue);
const regField = shape({ reg: str, field: str });
const idRule: Check = (v) =>
  obj(v) &&
  str(v.reg) &&
  str(v.field) &&
  (v.after === undefined || str(v.after)) &&
  (v.before === undefined || str(v.before)) &&
  (v.op === "clear"
    ? v.unless === undefined || oneOf("sve", "ptrauth", "mte", "pmu")(v.unless)
    : v.op === "set" || v.op === "force"
      ? num(v.value) &&
        (v.when === undefined
          ? v.op === "force"
          : oneOf("v2Unaffected", "meltdownUnaffected", "gicv3")(v.when))
      : v.op === "limit"
        ? num(v.value) && (v.pmu === undefined || v.pmu === "zeroWithoutPmu")
        : v.op === "pmuver" && num(v.value) && (v.perfmon === undefined || bool(v.perfmon))) &&
  Object.keys(v).every((k) =>
    ["reg", "field", "op", "unless", "value", "when", "pmu", "perfmon", "after", "before"].includes(k),
  );
const service = shape(
  {
    service: num,
    name: str,
    revisions: list(big),
    mandatory: bool,
    bits: list(shape({ id: big, bit: num, since: big, defaultOn: bool })),
  },
  ["mandatory"],
);
const newItems = shape({
  services: list(num),
  revisions: list(shape({ service: num, revision: big })),
  idFields: list(regField),
  regs: list(str),
});

/** Every field of a model, with its type. */
const FIELDS: Record<keyof GenerationModel, Check> = {
  gen: (v) => str(v) && isSimGeneration(v),
  data: (v) => str(v) && (KERNEL_GENERATIONS as readonly string[]).includes(v),
  synthetic: bool,
  source: str,
  release: str,
  caps,
  ipaLpa2: bool,
  ptrauthOneAlgorithm: bool,
  validFeatures: list(num),
  vcpuTarget: oneOf("exact", "genericOrCpu"),
  powerOffEphemeral: bool,
  psciVersions: list(big),
  fwRegs: list(big),
  bitmaps: list(shape({ id: big, features: big, reset: big })),
  timerRegs: list(big),
  trng: bool,
  vendorHyp: bool,
  vendorFeaturesX2: bool,
  idRegs: oneOf("immutable", "writable"),
  pfr0CsvWritable: list(str),
  writableImpIdRegs: bool,
  writableMasks: bool,
  smcccFilter: bool,
  smcccFilterRejectsEmpty: bool,
  pfr0KeepsAArch64: bool,
  mteFracAsyncIsNi: bool,
  pmuCtrlMaxAttr: num,
  pmuFilterLockedAfterRun: bool,
  counterOffset: bool,
  vgic: shape({
    iidrRevision: num,
    iidrWritable: (v) => v === "exact" || v === "ignored" || list(num)(v),
    iidrSetAt: oneOf("init", "create"),
    rdCtlrRev3Bits: bool,
    uaccessTyperLast: bool,
    idFieldsWithV3: oneOf("kept", "setAtCreate", "forced"),
    addrCheck: oneOf("ioaddr", "iorange"),
    rdInvalidateRegs: bool,
    itsAbis: list(num),
    itsUnknownCtrl: oneOf("ok", "ENXIO"),
  }),
  timerCtrlMaxAttr: num,
  firstRunClearsWithoutVgic: list(regField),
  idRules: list(idRule),
  wa2SsbsFromVm: bool,
  pvTimeGated: bool,
  psciLatest: big,
  pmcrReset: oneOf("host", "lc"),
  pmevtyperMask: oneOf("evtype", "vm"),
  pmuReloadClearsPmcrCP: bool,
  cacheIds: oneOf("host", "kvm"),
  ctrTrap: oneOf("tid2", "tid4WithEvt"),
  hwSysregs: list(str),
  services: list(service),
  newHere: newItems,
  descPatches: (v) => typeof v === "function",
  extraPolicies: (v) => obj(v) && Object.values(v).every((p) => Array.isArray(p) && p.every(obj)),
  notable: list(str),
};
const OPTIONAL = new Set<string>(["descPatches", "extraPolicies"]);

const NOTHING_NEW: NewItems = { services: [], revisions: [], idFields: [], regs: [] };

function fail(gen: unknown, why: string): never {
  throw new TypeError(`kernel generation ${String(gen)}: ${why}`);
}

function validate(gen: unknown, entry: Record<string, unknown>, delta: boolean): void {
  for (const [k, v] of Object.entries(entry)) {
    if (delta && k === "base") continue;
    const check = FIELDS[k as keyof GenerationModel];
    if (!check) fail(gen, `unknown key '${k}'`);
    if (!(delta && k === "caps" ? caps(v) : check(v))) fail(gen, `'${k}' has the wrong type`);
  }
}

const key = (r: { reg: string; field: string }): string => `${r.reg}.${r.field}`;

/** The base's ID rules with the delta's rows applied, in order. */
function applyIdRows(gen: SimGeneration, base: readonly IdRule[], rows: readonly IdRuleRow[]): IdRule[] {
  const out = base.slice();
  for (const { after, before, ...rule } of rows) {
    const at = out.findIndex((r) => key(r) === key(rule));
    const anchor = after ?? before;
    if (anchor === undefined) {
      if (at >= 0) out[at] = rule as IdRule;
      else {
        let last = -1;
        out.forEach((r, k) => r.reg === rule.reg && (last = k));
        out.splice(last < 0 ? out.length : last + 1, 0, rule as IdRule);
      }
      continue;
    }
    if (at >= 0) out.splice(at, 1);
    const a = out.findIndex((r) => key(r) === anchor);
    if (a < 0) fail(gen, `ID rule row ${key(rule)} placed next to ${anchor}, which has no rule`);
    out.splice(after !== undefined ? a + 1 : a, 0, rule as IdRule);
  }
  return out;
}

/**
 * The models of `entries` (the first one full, each later one a delta on one defined before it), checked
 * field by field. `sourceOf` names a data generation's descriptor source.
 */
export function resolveGenerations(
  entries: readonly GenerationEntry[],
  sourceOf: (data: string) => string,
): Map<SimGeneration, GenerationModel> {
  const out = new Map<SimGeneration, GenerationModel>();
  for (const e of entries) {
    const raw = e as unknown as Record<string, unknown>;
    if (!obj(raw)) fail("?", "not an object");
    const gen = raw.gen;
    if (!str(gen) || !isSimGeneration(gen)) fail(gen, "not a known generation name");
    if (out.has(gen)) fail(gen, "defined twice");
    let model: GenerationModel;
    if ("base" in raw) {
      const d = e as GenerationDelta;
      validate(gen, raw, true);
      const base = out.get(d.base);
      if (!base) fail(gen, `base '${String(d.base)}' is not defined before it`);
      const fields: Record<string, unknown> = { ...raw };
      delete fields.base; // caps and idRules are replaced below
      model = {
        ...base,
        ...(fields as Partial<GenerationModel>),
        data: d.data ?? (gen as GenerationModel["data"]),
        source: d.source ?? sourceOf(d.data ?? gen),
        newHere: d.newHere ?? NOTHING_NEW,
        caps: d.caps ? { ...base.caps, ...d.caps } : base.caps,
        idRules: d.idRules ? applyIdRows(gen, base.idRules, d.idRules) : base.idRules,
      };
      // Patches are to the entry's own data tables: never inherited.
      if (!d.descPatches) delete model.descPatches;
      if (!d.extraPolicies) delete model.extraPolicies;
    } else {
      validate(gen, raw, false);
      const f = e as FullGeneration;
      model = { ...f, source: f.source ?? sourceOf(f.data), newHere: f.newHere ?? NOTHING_NEW };
    }
    for (const k of Object.keys(FIELDS))
      if (model[k as keyof GenerationModel] === undefined && !OPTIONAL.has(k)) fail(gen, `'${k}' is missing`);
    validate(gen, model as unknown as Record<string, unknown>, false);
    out.set(gen, model);
  }
  return out;
}
