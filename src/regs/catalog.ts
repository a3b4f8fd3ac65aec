/**
 * The register catalog: system registers with their fields, ID-register sanitisation policies per
 * kernel generation, firmware registers and KVM's timer-name quirks. The data is generated from
 * Debian's kernel sources by scripts/gen-catalog.mjs and committed under ./generated.
 *
 * Naming a register needs only the small files (names and encodings); the field layouts and the
 * policies (0.6 MB) are read on first use, so that naming ids (`guestabi decode`) never parses them.
 * The lookups are synchronous, so the files are read with readFileSync rather than imported.
 */
import { readFileSync } from "node:fs";
import type { FieldDef, FtrPolicy, FwRegDef, KernelGeneration, SysregDef } from "./catalog-types.js";
import { KERNEL_GENERATIONS } from "./catalog-types.js";

export * from "./catalog-types.js";

/** The generated files' shapes: bigints are hex strings in JSON. */
interface RawValue {
  value: string;
  name: string;
  since?: KernelGeneration;
}
type Raw<T, K extends keyof T> = Omit<T, K> & { [P in K]: RawValue[] | undefined };
type RawField = Raw<FieldDef, "values">;
type RawPolicy = Omit<FtrPolicy, "safe"> & { safe: string };

// Each file's `typeof import` keeps it in the program, so that tsc copies it next to this module.
interface SysregsFile {
  generatedFrom: (typeof import("./generated/sysregs.json"))["generatedFrom"];
  registers: Omit<SysregDef, "fields">[];
}
interface SysregFieldsFile {
  generatedFrom: (typeof import("./generated/sysreg-fields.json"))["generatedFrom"];
  fields: Record<string, RawField[] | undefined>;
}
interface FtrPolicyFile {
  generatedFrom: (typeof import("./generated/ftr-policy.json"))["generatedFrom"];
  generations: Record<string, Record<string, RawPolicy[] | undefined> | undefined>;
}
interface FwRegsFile {
  generatedFrom: (typeof import("./generated/fw-regs.json"))["generatedFrom"];
  registers: Raw<FwRegDef, "values">[];
}
type TimerNamesFile = typeof import("./generated/kvm-timer-names.json");

const readGenerated = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(`./generated/${file}`, import.meta.url), "utf8")) as T;

const sysregsJson = readGenerated<SysregsFile>("sysregs.json");
const fwRegsJson = readGenerated<FwRegsFile>("fw-regs.json");
const timerNamesJson = readGenerated<TimerNamesFile>("kvm-timer-names.json");
let sysregFieldsFile: SysregFieldsFile | undefined;
let ftrPolicyFile: FtrPolicyFile | undefined;
const sysregFieldsData = () => (sysregFieldsFile ??= readGenerated<SysregFieldsFile>("sysreg-fields.json"));
const ftrPolicyData = () => (ftrPolicyFile ??= readGenerated<FtrPolicyFile>("ftr-policy.json"));

interface Encoding {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}

/** A register KVM names through its own uapi macro rather than by the encoding's architectural name. */
export interface KvmTimerName extends Encoding {
  name: string;
  /** The architectural register at this encoding. */
  architecturalName: string;
  /** The architectural register whose value KVM exposes through this id. */
  holds: string;
  since: KernelGeneration;
  /** What each generation's get-reg-list.c selftest calls the id, where it gives it a name. */
  selftestNames?: Partial<Record<KernelGeneration, string>>;
}

function toValues(values: RawValue[] | undefined) {
  return values?.map((v) => ({ ...v, value: BigInt(v.value) }));
}

/**
 * An encoding as one number, op0:op1:CRn:CRm:op2 in 2+3+4+4+3 bits as the id carries them: the lookup
 * key (formatting a text key per register costs milliseconds at start-up).
 */
const encodingKey = (e: Encoding) => (((e.op0 * 8 + e.op1) * 16 + e.crn) * 16 + e.crm) * 8 + e.op2;

function fieldsOf(name: string): FieldDef[] {
  const raw = sysregFieldsData().fields[name] ?? [];
  return raw.map((f) => ({ ...f, values: toValues(f.values) }));
}

/**
 * A system register whose fields are read from sysreg-fields.json when first asked for. A class: a
 * thousand instances sharing one getter are built in well under a millisecond, object literals with
 * their own getter take ten times longer.
 */
class CatalogSysreg implements SysregDef {
  readonly name: string;
  readonly op0: number;
  readonly op1: number;
  readonly crn: number;
  readonly crm: number;
  readonly op2: number;
  readonly source: SysregDef["source"];
  declare readonly fieldsSource?: string;
  #fields: FieldDef[] | undefined;

  constructor(r: Omit<SysregDef, "fields">) {
    this.name = r.name;
    this.op0 = r.op0;
    this.op1 = r.op1;
    this.crn = r.crn;
    this.crm = r.crm;
    this.op2 = r.op2;
    this.source = r.source;
    if (r.fieldsSource !== undefined) this.fieldsSource = r.fieldsSource;
  }

  get fields(): FieldDef[] {
    return (this.#fields ??= fieldsOf(this.name));
  }
}

export const SYSREGS: readonly SysregDef[] = sysregsJson.registers.map((r) => new CatalogSysreg(r));

export const FW_REGS: readonly FwRegDef[] = fwRegsJson.registers.map((r) => ({
  ...r,
  values: toValues(r.values),
}));

export const KVM_TIMER_NAMES: readonly KvmTimerName[] = timerNamesJson.registers as KvmTimerName[];

/** The name the selftests use for a timer id besides its KVM name, and the generations that use it. */
export function timerSelftestAlias(
  t: KvmTimerName,
): { name: string; kernels: KernelGeneration[] } | undefined {
  const uses = KERNEL_GENERATIONS.filter((g) => {
    const n = t.selftestNames?.[g];
    return n !== undefined && n !== t.name;
  });
  return uses.length ? { name: t.selftestNames![uses[0]!]!, kernels: uses } : undefined;
}

/** Made on the first lookup by name: naming ids (`guestabi decode`) looks registers up by encoding only. */
let sysregByUpperName: Map<string, SysregDef> | undefined;
const timerByKey = new Map(KVM_TIMER_NAMES.map((t) => [encodingKey(t), t]));
const timerByName = new Map(KVM_TIMER_NAMES.map((t) => [t.name.toUpperCase(), t]));
const fwByName = new Map(FW_REGS.map((r) => [r.name.toUpperCase(), r]));

/**
 * A binary search: SYSREGS is in encoding order (gen-catalog.mjs sorts it), so that no index is built
 * at start-up. Of the names an encoding has, the first in that order is the primary one.
 */
export function sysregByEncoding(e: Encoding): SysregDef | undefined {
  const key = encodingKey(e);
  let lo = 0;
  let hi = SYSREGS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (encodingKey(SYSREGS[mid]!) < key) lo = mid + 1;
    else hi = mid;
  }
  const r = SYSREGS[lo];
  return r !== undefined && encodingKey(r) === key ? r : undefined;
}

export function sysregByName(name: string): SysregDef | undefined {
  sysregByUpperName ??= new Map(SYSREGS.map((r) => [r.name.toUpperCase(), r]));
  return sysregByUpperName.get(name.toUpperCase());
}

export function kvmTimerByEncoding(e: Encoding): KvmTimerName | undefined {
  return timerByKey.get(encodingKey(e));
}

export function kvmTimerByName(name: string): KvmTimerName | undefined {
  return timerByName.get(name.toUpperCase());
}

export function fwRegByIndex(cls: FwRegDef["class"], index: number): FwRegDef | undefined {
  return FW_REGS.find((r) => r.class === cls && r.index === index);
}

export function fwRegByName(name: string): FwRegDef | undefined {
  return fwByName.get(name.toUpperCase());
}

/** The ID-register field policies a kernel generation applies, or undefined for a non-ID register. */
export function ftrPolicies(generation: KernelGeneration, regName: string): FtrPolicy[] | undefined {
  const entries = ftrPolicyData().generations[generation]?.[regName];
  return entries?.map((p) => ({ ...p, safe: BigInt(p.safe) }));
}

export function isKernelGeneration(s: string): s is KernelGeneration {
  return (KERNEL_GENERATIONS as readonly string[]).includes(s);
}

export const CATALOG_SOURCES = {
  sysregs: sysregsJson.generatedFrom,
  get sysregFields() {
    return sysregFieldsData().generatedFrom;
  },
  get ftrPolicy() {
    return ftrPolicyData().generatedFrom;
  },
  fwRegs: fwRegsJson.generatedFrom,
};
