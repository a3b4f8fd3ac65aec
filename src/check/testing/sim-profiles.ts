/**
 * TEST HELPER: realistic inputs for the checker — host profiles of the simulator (probe(openSimKvm(...)))
 * memoised per process, and snapshots made from a profile's saved state (the psci-0.2 configuration's
 * after-run values, what a VM looks like after its first run).
 */
import { openSimKvm } from "../../kvm/sim/index.js";
import type { SimGeneration } from "../../kvm/sim/index.js";
import type { RegId } from "../../regs/index.js";
import type { RegValue } from "../../kvm/index.js";
import { probe } from "../../probe/probe.js";
import type { HostProfile } from "../../formats/profile.js";
import { featureBits } from "../config-view.js";
import type { Snapshot } from "../../formats/snapshot.js";

const cache = new Map<string, HostProfile>();

/** The simulator's profile of a kernel generation on a CPU model (memoised; pass configs to keep it quick). */
export function simProfile(gen: SimGeneration, cpu: string, configs?: readonly string[]): HostProfile {
  const key = `${gen}/${cpu}/${configs?.join(",") ?? "*"}`;
  let p = cache.get(key);
  if (!p) {
    const system = openSimKvm({ generation: gen, cpu });
    try {
      p = probe(system, {
        cpuLabel: cpu,
        ...(configs ? { configs } : {}),
        toolVersion: "test",
        now: () => new Date("2030-01-02T03:04:05.000Z"),
        clock: () => 0,
      });
    } finally {
      system.close();
    }
    cache.set(key, p);
  }
  return p;
}

/** The checker tests' usual host: a simulated Neoverse N1 with and without a PMU (two configurations keep the probes quick). */
export const PSCI_PMU_CONFIGS = ["psci-0.2", "psci-0.2+pmu"] as const;
export const n1Profile = (gen: SimGeneration): HostProfile =>
  simProfile(gen, "neoverse-n1", PSCI_PMU_CONFIGS);

/** A one-vCPU snapshot of the profile's saved state (psci-0.2 after its first run). */
export function savedSnapshot(p: HostProfile): Snapshot {
  const c = p.configs.find((x) => x.name === "psci-0.2");
  const values = c?.afterRun?.values;
  if (!c || !values) throw new Error(`${p.host.release}: no saved state`);
  const regs = new Map<RegId, RegValue>();
  for (const [id, v] of values) if (typeof v !== "string") regs.set(id, v);
  const pt = p.kvm?.preferredTarget;
  const target = pt === undefined || typeof pt === "string" ? 5 : pt.target;
  return {
    source: {
      release: p.host.release,
      generation: p.host.generation,
      cpuLabel: p.host.cpuLabel,
      backend: "sim",
    },
    vm: { ipaBits: 0, caps: [], attrs: [] },
    vcpus: [{ id: 0, init: { target, features: featureBits(c.features) }, attrs: [], regs }],
  };
}

/** A copy of a snapshot with register `id` of every vCPU set (or, with `undefined`, removed). */
export function withReg(s: Snapshot, id: RegId, value: RegValue | undefined): Snapshot {
  return {
    ...s,
    vcpus: s.vcpus.map((v) => {
      const regs = new Map(v.regs);
      if (value === undefined) regs.delete(id);
      else regs.set(id, value);
      return { ...v, regs };
    }),
  };
}

/** A deep copy of a profile (structuredClone keeps bigints and byte arrays). */
export function cloneProfile(p: HostProfile): HostProfile {
  return structuredClone(p);
}

/**
 * A copy of a profile as if a kernel of another release had answered (host.generation null: its rules
 * come from profileRules), optionally without its write experiments (as imported evidence has none).
 */
export function relabelled(p: HostProfile, release: string, opts: { experiments: boolean }): HostProfile {
  const q = cloneProfile(p);
  q.host.release = release;
  q.host.generation = null;
  if (!opts.experiments) for (const c of q.configs) delete c.experiments;
  return q;
}

/** A copy of a profile whose every configuration lists `id` without its value (as imported evidence may). */
export function withOmitted(p: HostProfile, id: RegId): HostProfile {
  const q = cloneProfile(p);
  for (const c of q.configs) {
    if (!c.reset?.some(([x]) => x === id)) continue;
    c.reset = c.reset.filter(([x]) => x !== id);
    c.omitted = [...(c.omitted ?? []), id];
  }
  return q;
}
