/** kernels / cpus: what they do (sim-commands.ts registers them). */
import { CPU_MODELS, LAB_CPU_MODELS, SIM_GENERATIONS, generationModel } from "../kvm/sim/index.js";
import type { CpuModel, GenerationModel } from "../kvm/sim/index.js";
import { formatTable, toJson } from "./output.js";
import type { CommandResult } from "./run-command.js";

/** A PSCI/SMCCC version word as "major.minor". */
export const versionText = (v: bigint): string => `${v >> 16n}.${v & 0xffffn}`;

export interface KernelInfo {
  generation: string;
  synthetic: boolean;
  /** The kernel source package the generation's tables come from. */
  source: string;
  release: string;
  /** KVM_CHECK_EXTENSION capabilities the model answers nonzero (some only on capable hosts). */
  capabilities: number;
  caps: Record<string, number | string>;
  /** PSCI versions of a PSCI_0_2 vCPU (kvm_arm_set_fw_reg); a vCPU without it is 0.1. */
  psciVersions: string[];
  psciDefault: string;
  /** Hypercall services and their revisions (proposal (a)'s identity registers). */
  services: { name: string; revisions: string[] }[];
  notable: string[];
}

export function kernelInfo(m: GenerationModel): KernelInfo {
  const caps = Object.fromEntries(Object.entries(m.caps).filter(([, v]) => v !== 0));
  return {
    generation: m.gen,
    synthetic: m.synthetic,
    source: m.source,
    release: m.release,
    capabilities: Object.keys(caps).length,
    caps,
    psciVersions: m.psciVersions.map(versionText),
    psciDefault: versionText(m.psciLatest),
    services: m.services.map((s) => ({ name: s.name, revisions: s.revisions.map(versionText) })),
    notable: [...m.notable],
  };
}

export interface CpuInfo {
  name: string;
  kind: CpuModel["kind"];
  midr: string;
  /** Where the values come from. */
  basedOn: string;
  measured: boolean;
  lab: boolean;
  sveMaxVq: number;
  pmuCounters: number;
  gicv3: boolean;
}

export function cpuInfo(c: CpuModel): CpuInfo {
  return {
    name: c.name,
    kind: c.kind,
    midr: "0x" + c.midr.toString(16).padStart(8, "0"),
    basedOn: c.source,
    measured: c.measured,
    lab: (LAB_CPU_MODELS as readonly string[]).includes(c.name),
    sveMaxVq: c.sveMaxVq,
    pmuCounters: c.pmuCounters,
    gicv3: c.gicv3,
  };
}

export function kernels(opts: { json?: boolean }): CommandResult {
  const rows = SIM_GENERATIONS.map((g) => kernelInfo(generationModel(g)));
  if (opts.json) return { stdout: toJson(rows) };
  const table = formatTable(
    ["GENERATION", "SOURCE", "CAPS", "PSCI (PSCI_0_2)", "DEFAULT"],
    rows.map((k) => [
      k.generation + (k.synthetic ? " (synthetic)" : ""),
      k.source.replace(/^synthetic: .*/, "synthetic, from 7.2's tables"),
      String(k.capabilities),
      k.psciVersions.join(" "),
      k.psciDefault,
    ]),
  );
  const width = Math.max(...rows.map((k) => k.generation.length));
  const notable = rows.flatMap((k) => k.notable.map((n) => `  ${k.generation.padEnd(width)} ${n}\n`));
  return { stdout: table + "\nNotable rules:\n" + notable.join("") };
}

export function cpus(opts: { json?: boolean }): CommandResult {
  const rows = Object.values(CPU_MODELS).map(cpuInfo);
  if (opts.json) return { stdout: toJson(rows) };
  return {
    stdout: formatTable(
      ["NAME", "MIDR", "KIND", "MEASURED", "BASED ON"],
      rows.map((c) => [c.name, c.midr, c.kind, c.measured ? "yes" : "no", c.basedOn]),
    ),
  };
}
