/**
 * Runs restore trials (the document: src/formats/restore-trial.ts): on this kernel, a VM and vCPU with
 * the saved state's features, then KVM_SET_ONE_REG of every saved register in list order.
 */
import type { RegId } from "../regs/index.js";
import { errnoOf, getRegList } from "../kvm/index.js";
import type { KvmSystem, VcpuFeatureName } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import { ProfileError, kernelGeneration, regName } from "../formats/profile.js";
import { RESTORE_TRIAL_FORMAT, RESTORE_TRIAL_VERSION } from "../formats/restore-trial.js";
import type { RestoreTrial, RestoreTrialDoc } from "../formats/restore-trial.js";
import { SAVED_STATE_CONFIG, destroySession, openSession } from "./session.js";
import { toolVersion } from "../formats/version.js";

export interface SavedStateSource {
  profile: HostProfile;
  /** Where the profile came from (a file name), for the report and errors. */
  source: string;
}

/** The saved state a profile carries; ProfileError when it has none. */
export function savedState(src: SavedStateSource): {
  features: VcpuFeatureName[];
  values: NonNullable<NonNullable<HostProfile["configs"][number]["afterRun"]>["values"]>;
} {
  const config = src.profile.configs.find((c) => c.name === SAVED_STATE_CONFIG);
  const values = config?.afterRun?.values;
  if (!config || !values)
    throw new ProfileError(
      `${src.source}: no saved state (the ${SAVED_STATE_CONFIG} configuration has no after-run values)`,
    );
  return { features: [...config.features], values };
}

function trialFor(system: KvmSystem, src: SavedStateSource): RestoreTrial {
  const { features, values } = savedState(src);
  const p = src.profile;
  const from = {
    source: src.source.slice(0, 1024),
    release: p.host.release,
    generation: p.host.generation,
    cpuLabel: p.host.cpuLabel,
    probedAt: p.probedAt,
    config: SAVED_STATE_CONFIG,
  };
  const s = openSession(system, { name: SAVED_STATE_CONFIG, features, needs: [] });
  try {
    const init = s.steps.init !== "ok" ? s.steps.init : (s.steps.finalize ?? "ok");
    const trial: RestoreTrial = { from, features, init, results: [], summary: {}, refused: [], missing: [] };
    if (!s.ready) return trial;
    const listed = getRegList(s.vcpu);
    for (const [id, value] of values) {
      const result = typeof value === "string" ? "not-saved" : errnoOf(() => s.vcpu.setOneReg(id, value));
      trial.results.push([id, result]);
      trial.summary[result] = (trial.summary[result] ?? 0) + 1;
      if (result !== "ok" && result !== "not-saved") trial.refused.push([id, regName(id), result]);
    }
    const saved = new Set<RegId>(values.map(([id]) => id));
    trial.missing = listed.filter((id) => !saved.has(id)).map((id) => [id, regName(id)]);
    return trial;
  } finally {
    destroySession(s);
  }
}

export interface RestoreTrialOptions {
  cpuLabel?: string | null;
  toolVersion?: string;
  now?: () => Date;
}

/** Restore trials of each source's saved state on the kernel behind `system` (left open). */
export function restoreTrial(
  system: KvmSystem,
  sources: readonly SavedStateSource[],
  opts: RestoreTrialOptions = {},
): RestoreTrialDoc {
  for (const src of sources) savedState(src); // every source checked before any VM is made
  const release = system.kernelRelease();
  return {
    format: RESTORE_TRIAL_FORMAT,
    version: RESTORE_TRIAL_VERSION,
    tool: { name: "guestabi", version: opts.toolVersion ?? toolVersion() },
    backend: system.backend,
    ranAt: (opts.now?.() ?? new Date()).toISOString(),
    host: { release, generation: kernelGeneration(release), cpuLabel: opts.cpuLabel ?? null },
    trials: sources.map((src) => trialFor(system, src)),
  };
}
