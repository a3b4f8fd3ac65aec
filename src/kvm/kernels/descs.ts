/**
 * The generated sys_regs.c descriptor tables of each kernel generation (generated/sysreg-descs.json, by
 * scripts/gen-sim-sysregs.mjs), and a generation model's view of them (its data generation's, patched).
 */
import type { KernelGeneration } from "../../regs/catalog-types.js";
import { sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import type { GenerationModel } from "./model.js";
import descsJson from "./generated/sysreg-descs.json" with { type: "json" };

export interface SysregDesc {
  name: string;
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
  /** The sys_regs.c macro that produced the entry (ID_SANITISED, ID_WRITABLE, PTRAUTH_KEY, SYS_DESC, ...). */
  outer: string;
  access?: string;
  reset?: string;
  reg?: string;
  /** .val: reset value, or for ID registers the writable mask (6.7+); hex or an unevaluated expression. */
  val?: string | { expr: string };
  getUser?: string;
  setUser?: string;
  visibility?: string;
  /** walk_one_sys_reg: .reg or .get_user set (before visibility). */
  listed: boolean;
  id: RegId;
  valBig: bigint;
  invariant: boolean;
}

type RawDesc = Omit<SysregDesc, "id" | "valBig" | "invariant">;
interface RawFile {
  generatedFrom: Record<string, string>;
  generations: Record<string, { descs: RawDesc[]; invariant: RawDesc[] }>;
}

const raw = descsJson as unknown as RawFile;

function cook(d: RawDesc, invariant: boolean): SysregDesc {
  return {
    ...d,
    listed: d.listed || invariant, // kvm_arm_copy_sys_reg_indices lists every invariant register
    id: sysregId(d.op0, d.op1, d.crn, d.crm, d.op2),
    valBig: typeof d.val === "string" ? BigInt(d.val) : 0n,
    invariant,
  };
}

const cache = new Map<KernelGeneration, SysregDesc[]>();

/** Descriptors of a generation: invariant_sys_regs first (listed first by kvm_arm_copy_sys_reg_indices), then sys_reg_descs. */
export function sysregDescs(gen: KernelGeneration): SysregDesc[] {
  let d = cache.get(gen);
  if (!d) {
    const g = raw.generations[gen]!;
    d = [...g.invariant.map((x) => cook(x, true)), ...g.descs.map((x) => cook(x, false))];
    cache.set(gen, d);
  }
  return d;
}

export const SYSREG_DESCS_SOURCES: Readonly<Record<string, string>> = raw.generatedFrom;

interface ModelDescs {
  list: SysregDesc[];
  byName: Map<string, SysregDesc>;
  byId: Map<RegId, SysregDesc>;
}
const modelCache = new Map<string, ModelDescs>();

function modelDescs(model: GenerationModel): ModelDescs {
  let m = modelCache.get(model.gen);
  if (!m) {
    const base = sysregDescs(model.data);
    const list = model.descPatches ? model.descPatches(base.slice()) : base;
    const byName = new Map<string, SysregDesc>();
    const byId = new Map<RegId, SysregDesc>();
    // invariant_sys_regs come first: a name/encoding in both tables resolves to the invariant entry, as
    // kvm_arm_sys_reg_get_reg looks there first (5.10-6.12).
    for (const d of list) {
      if (!byName.has(d.name)) byName.set(d.name, d);
      if (!byId.has(d.id)) byId.set(d.id, d);
    }
    m = { list, byName, byId };
    modelCache.set(model.gen, m);
  }
  return m;
}

/** The descriptors of a generation model: its data generation's, with the model's patches. */
export function descsOf(model: GenerationModel): SysregDesc[] {
  return modelDescs(model).list;
}

export function descByName(model: GenerationModel, name: string): SysregDesc | undefined {
  return modelDescs(model).byName.get(name);
}

export function descById(model: GenerationModel, id: RegId): SysregDesc | undefined {
  return modelDescs(model).byId.get(id);
}
