/**
 * ID registers: what the host kernel makes of the CPU's raw values (cpufeature.c: one CPU, so the
 * sanitised value is the raw value restricted to the fields arm64_ftr_regs describes), what KVM shows
 * the guest (the generation's idRules, from read_id_reg / __kvm_read_sanitised_id_reg). Whether KVM
 * accepts a userspace write is src/kvm/rules/id-fields.ts (arm64_check_features), with policiesOf's policies.
 */
import { ftrPolicies } from "../../regs/catalog.js";
import { ftrMask } from "../rules/id-fields.js";
import type { FtrPolicy, KernelGeneration } from "../../regs/catalog-types.js";
import type { CpuModel } from "./cpus.js";
import { getField, hasField, setField } from "./descs.js";
import { spectreState } from "./spectre.js";
import type { GenerationModel } from "../kernels/model.js";

export interface VcpuFeatureSet {
  sve: boolean;
  ptrauth: boolean;
  pmu: boolean;
  mte: boolean;
}

const policyCache = new Map<string, FtrPolicy[] | undefined>();
export function policies(gen: KernelGeneration, reg: string): FtrPolicy[] | undefined {
  const key = `${gen}/${reg}`;
  if (!policyCache.has(key)) policyCache.set(key, ftrPolicies(gen, reg));
  return policyCache.get(key);
}

/** policiesOf's merged tables, made once per model and register (checkFeatures compiles per table). */
const mergedPolicies = new WeakMap<GenerationModel, Map<string, FtrPolicy[]>>();

/** The policies of a generation model: its data generation's, plus the model's own additions. */
export function policiesOf(model: GenerationModel, reg: string): FtrPolicy[] | undefined {
  const base = policies(model.data, reg);
  const extra = model.extraPolicies?.[reg];
  if (!extra) return base;
  let byReg = mergedPolicies.get(model);
  if (!byReg) mergedPolicies.set(model, (byReg = new Map()));
  let merged = byReg.get(reg);
  if (!merged) {
    const have = new Set((base ?? []).map((p) => p.field));
    byReg.set(reg, (merged = [...(base ?? []), ...extra.filter((p) => !have.has(p.field))]));
  }
  return merged;
}

/**
 * The AArch32 ID registers cpufeature.c's init_32bit_cpu_features (5.10: the block in init_cpu_features)
 * initialises, and cpuinfo.c's __cpuinfo_store_cpu_32bit reads, only when the CPU has AArch32 at EL0
 * (id_aa64pfr0_32bit_el0): otherwise their sanitised value stays 0.
 */
export const AA32_ID_REGS: ReadonlySet<string> = new Set([
  "ID_DFR0_EL1",
  "ID_DFR1_EL1",
  "ID_ISAR0_EL1",
  "ID_ISAR1_EL1",
  "ID_ISAR2_EL1",
  "ID_ISAR3_EL1",
  "ID_ISAR4_EL1",
  "ID_ISAR5_EL1",
  "ID_ISAR6_EL1",
  "ID_MMFR0_EL1",
  "ID_MMFR1_EL1",
  "ID_MMFR2_EL1",
  "ID_MMFR3_EL1",
  "ID_MMFR4_EL1",
  "ID_MMFR5_EL1",
  "ID_PFR0_EL1",
  "ID_PFR1_EL1",
  "ID_PFR2_EL1",
  "MVFR0_EL1",
  "MVFR1_EL1",
  "MVFR2_EL1",
]);

/** id_aa64pfr0_32bit_el0 / kvm_supports_32bit_el0(): ID_AA64PFR0_EL1.EL0 says AArch32 (2). */
export function cpuHas32bitEl0(cpu: CpuModel): boolean {
  return getField(cpu.id.ID_AA64PFR0_EL1 ?? 0n, "ID_AA64PFR0_EL1", "EL0") === 2;
}

/**
 * read_cpuid_effective_cachetype (asm/cache.h; __cpuinfo_store_cpu keeps it as the CPU's CTR_EL0): IDC reads
 * as 1 when the CPU's CLIDR_EL1 needs no data cache clean to the PoU (LoC = 0, or LoUIS = LoUU = 0).
 */
export function effectiveCtr(cpu: CpuModel): bigint {
  const clidr = cpu.cache.clidr;
  const loc = (clidr >> 24n) & 7n;
  const louis = (clidr >> 21n) & 7n;
  const louu = (clidr >> 27n) & 7n;
  const idc = 1n << 28n;
  return !(cpu.ctr & idc) && (loc === 0n || (louis === 0n && louu === 0n)) ? cpu.ctr | idc : cpu.ctr;
}

/** hostSanitised's answers by CPU model, data generation and register (the ID space is asked often). */
const sanitisedCache = new WeakMap<CpuModel, Map<KernelGeneration, Map<string, bigint>>>();

/** read_sanitised_ftr_reg on a one-CPU host: fields arm64_ftr_regs does not describe read as 0. */
export function hostSanitised(model: GenerationModel, cpu: CpuModel, reg: string): bigint {
  let byGen = sanitisedCache.get(cpu);
  if (!byGen) sanitisedCache.set(cpu, (byGen = new Map()));
  let byReg = byGen.get(model.data);
  if (!byReg) byGen.set(model.data, (byReg = new Map()));
  let v = byReg.get(reg);
  if (v === undefined) byReg.set(reg, (v = readSanitised(model, cpu, reg)));
  return v;
}

function readSanitised(model: GenerationModel, cpu: CpuModel, reg: string): bigint {
  if (AA32_ID_REGS.has(reg) && !cpuHas32bitEl0(cpu)) return 0n;
  const raw = reg === "CTR_EL0" ? effectiveCtr(cpu) : reg === "DCZID_EL0" ? cpu.dczid : (cpu.id[reg] ?? 0n);
  const pol = policies(model.data, reg); // the host kernel's cpufeature.c (a model's extras are KVM-only)
  if (!pol) return 0n;
  let mask = 0n;
  for (const p of pol) mask |= ftrMask(p);
  return raw & mask;
}

/** KVM's guest view of an ID register before any userspace write (the generation's idRules). */
export function kvmIdValue(
  model: GenerationModel,
  cpu: CpuModel,
  reg: string,
  f: VcpuFeatureSet,
  hostValue = hostSanitised(model, cpu, reg),
): bigint {
  let v = hostValue;
  for (const r of model.idRules) {
    if (r.reg !== reg || !hasField(reg, r.field)) continue;
    switch (r.op) {
      case "clear":
        if (!r.unless || !f[r.unless]) v = setField(v, reg, r.field, 0);
        break;
      case "set":
        if (cond(r.when, cpu, model.data)) v = setField(v, reg, r.field, r.value);
        break;
      case "force":
        v = setField(v, reg, r.field, !r.when || cond(r.when, cpu, model.data) ? r.value : 0);
        break;
      case "pmuver": {
        // kvm_arm_pmu_get_pmuver_limit: the host's PMUVer, IMP_DEF (0xf) as none, at most r.value
        const host = getField(hostSanitised(model, cpu, "ID_AA64DFR0_EL1"), "ID_AA64DFR0_EL1", "PMUVer");
        const limit = host === 0xf ? 0 : Math.min(host, r.value);
        // pmuver_to_perfmon: IMP (PMUv3) is PerfMon 3, IMP_DEF stays 0xf, anything newer keeps its number
        const perfmon = limit === 1 ? 3 : limit;
        v = setField(v, reg, r.field, f.pmu ? (r.perfmon ? perfmon : limit) : 0);
        break;
      }
      case "limit": {
        const cur = getField(v, reg, r.field);
        // cpuid_feature_cap_perfmon_field: 0xf (IMP DEF) counts as 0.
        let lim = r.value;
        if (r.pmu === "zeroWithoutPmu" && !f.pmu) lim = 0;
        const eff = r.field === "PMUVer" || r.field === "PerfMon" ? (cur === 0xf ? 0 : cur) : cur;
        if (eff > lim || r.pmu === "zeroWithoutPmu") v = setField(v, reg, r.field, Math.min(eff, lim));
        break;
      }
    }
  }
  return v;
}

function cond(
  when: "v2Unaffected" | "meltdownUnaffected" | "gicv3",
  cpu: CpuModel,
  gen: KernelGeneration,
): boolean {
  if (when === "v2Unaffected") return spectreState(gen, cpu).v2 === "UNAFFECTED";
  if (when === "meltdownUnaffected") return spectreState(gen, cpu).meltdown === "UNAFFECTED";
  return cpu.gicv3;
}
