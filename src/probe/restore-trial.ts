/**
 * A restore trial: can this kernel take the register state a vCPU saved on kernel X? The saved state
 * is X's profile's psci-0.2 configuration after its first run (`afterRun.values`, every register of
 * KVM_GET_REG_LIST in list order). On this kernel: a VM and vCPU with the same features, then
 * KVM_SET_ONE_REG of every saved register in list order, as a VMM restoring a migrated or
 * rolled-back guest does (QEMU's write_list_to_kvmstate() walks its cpreg list the same way).
 * Recorded: ok or the errno per register, and which registers this kernel lists that the saved state
 * lacks (a guest restored from X runs with their reset values).
 *
 * The result is a small JSON document, "format": "guestabi-restore-trial".
 */
import * as z from "zod";
import { KERNEL_GENERATIONS } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { getRegList } from "../kvm/index.js";
import type { KvmSystem, VcpuFeatureName } from "../kvm/index.js";
import { formatJson } from "../formats/json-format.js";
import type { HostProfile } from "../formats/profile.js";
import { ProfileError, firstIssue, kernelGeneration, parseDocument, regName } from "../formats/profile.js";
import {
  BackendName,
  CpuLabel,
  Errno,
  OpResult,
  RegIdJson,
  ToolJson,
  text,
} from "../formats/schema-parts.js";
import { SAVED_STATE_CONFIG, attempt, destroySession, openSession } from "./session.js";
import { toolVersion } from "../formats/version.js";

export const RESTORE_TRIAL_FORMAT = "guestabi-restore-trial";
export const RESTORE_TRIAL_VERSION = 1;
const MAX_REGS = 8192;

/** Per saved register: "ok", the errno of KVM_SET_ONE_REG, or "not-saved" (its GET failed on X). */
const RestoreResult = z.union([z.literal("ok"), z.literal("not-saved"), Errno]);

const TrialJson = z.strictObject({
  from: z.strictObject({
    /** The profile file the state came from. */
    source: text(1024),
    release: text(128),
    generation: z.enum(KERNEL_GENERATIONS).nullable(),
    cpuLabel: CpuLabel.nullable(),
    probedAt: z.iso.datetime(),
    config: text(32),
  }),
  features: z.array(text(32)).max(16),
  /** KVM_ARM_VCPU_INIT (and KVM_ARM_VCPU_FINALIZE for SVE) on this kernel. */
  init: OpResult,
  /** [id, result] for every saved register, in the saved list order. */
  results: z.array(z.tuple([RegIdJson, RestoreResult])).max(MAX_REGS),
  /** Counts of `results` by result. */
  summary: z.record(z.string().regex(/^(ok|not-saved|E[A-Z0-9]{1,15})$/), z.number().int().min(0)),
  /** [id, name, errno] of each refused register, for reading at a glance. */
  refused: z.array(z.tuple([RegIdJson, text(64), Errno])).max(MAX_REGS),
  /** Registers this kernel lists that the saved state lacks: [id, name]. */
  missing: z.array(z.tuple([RegIdJson, text(64)])).max(MAX_REGS),
});
export type RestoreTrial = z.output<typeof TrialJson>;

export const RestoreTrialDocSchema = z
  .strictObject({
    format: z.literal(RESTORE_TRIAL_FORMAT),
    version: z.literal(RESTORE_TRIAL_VERSION),
    tool: ToolJson,
    backend: BackendName,
    ranAt: z.iso.datetime(),
    host: z.strictObject({
      release: text(128),
      generation: z.enum(KERNEL_GENERATIONS).nullable(),
      cpuLabel: CpuLabel.nullable(),
    }),
    trials: z.array(TrialJson).max(64),
  })
  .describe("guestabi restore trial: this kernel taking register state saved on another");
export type RestoreTrialDoc = z.output<typeof RestoreTrialDocSchema>;

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
      const result = typeof value === "string" ? "not-saved" : attempt(() => s.vcpu.setOneReg(id, value));
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

export function serializeRestoreTrial(doc: RestoreTrialDoc): string {
  const r = RestoreTrialDocSchema.safeEncode(doc);
  if (!r.success) throw new ProfileError(`restore trial does not match its schema: ${firstIssue(r.error)}`);
  return formatJson(r.data, 140);
}

export function readRestoreTrial(input: string, source = "restore trial"): RestoreTrialDoc {
  return parseDocument(input, source, {
    format: RESTORE_TRIAL_FORMAT,
    version: RESTORE_TRIAL_VERSION,
    schema: RestoreTrialDocSchema,
    maxBytes: 4 * 1024 * 1024,
  });
}
