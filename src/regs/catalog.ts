/**
 * The register catalog: system registers with their fields, ID-register sanitisation policies per
 * kernel generation, firmware registers and KVM's timer-name quirks. The data is generated from
 * Debian's kernel sources by scripts/gen-catalog.mjs and committed under ./generated.
 */
import sysregsJson from "./generated/sysregs.json" with { type: "json" };
import ftrPolicyJson from "./generated/ftr-policy.json" with { type: "json" };
import fwRegsJson from "./generated/fw-regs.json" with { type: "json" };
import timerNamesJson from "./generated/kvm-timer-names.json" with { type: "json" };
import type { FieldDef, FtrPolicy, FwRegDef, KernelGeneration, SysregDef } from "./catalog-types.js";
import { KERNEL_GENERATIONS } from "./catalog-types.js";
import { sysregEncodingName } from "./id.js";

export * from "./catalog-types.js";

/** The generated files' shapes: bigints are hex strings in JSON. */
interface RawValue {
  value: string;
  name: string;
  since?: KernelGeneration;
}
type Raw<T, K extends keyof T> = Omit<T, K> & { [P in K]: RawValue[] | undefined };
type RawSysreg = Omit<SysregDef, "fields"> & { fields: Raw<FieldDef, "values">[] };
type RawPolicy = Omit<FtrPolicy, "safe"> & { safe: string };

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

const encodingKey = (e: Encoding) => sysregEncodingName(e);

export const SYSREGS: readonly SysregDef[] = (sysregsJson.registers as unknown as RawSysreg[]).map((r) => ({
  ...r,
  fields: r.fields.map((f) => ({ ...f, values: toValues(f.values) })),
}));

export const FW_REGS: readonly FwRegDef[] = (
  fwRegsJson.registers as unknown as Raw<FwRegDef, "values">[]
).map((r) => ({ ...r, values: toValues(r.values) }));

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

const sysregByKey = new Map<string, SysregDef>();
const sysregByUpperName = new Map<string, SysregDef>();
for (const r of SYSREGS) {
  // tools/sysreg wins over sysreg.h, and the first name listed for an encoding is the primary one.
  if (!sysregByKey.has(encodingKey(r))) sysregByKey.set(encodingKey(r), r);
  sysregByUpperName.set(r.name.toUpperCase(), r);
}
const timerByKey = new Map(KVM_TIMER_NAMES.map((t) => [encodingKey(t), t]));
const timerByName = new Map(KVM_TIMER_NAMES.map((t) => [t.name.toUpperCase(), t]));
const fwByName = new Map(FW_REGS.map((r) => [r.name.toUpperCase(), r]));

export function sysregByEncoding(e: Encoding): SysregDef | undefined {
  return sysregByKey.get(encodingKey(e));
}

export function sysregByName(name: string): SysregDef | undefined {
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
  const table = (ftrPolicyJson.generations as unknown as Record<string, Record<string, RawPolicy[]>>)[
    generation
  ];
  const entries = table?.[regName];
  return entries?.map((p) => ({ ...p, safe: BigInt(p.safe) }));
}

export function isKernelGeneration(s: string): s is KernelGeneration {
  return (KERNEL_GENERATIONS as readonly string[]).includes(s);
}

export const CATALOG_SOURCES = {
  sysregs: sysregsJson.generatedFrom,
  ftrPolicy: ftrPolicyJson.generatedFrom,
  fwRegs: fwRegsJson.generatedFrom,
};
