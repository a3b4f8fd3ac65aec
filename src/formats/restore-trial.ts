/**
 * A restore trial: can this kernel take the register state a vCPU saved on kernel X? The saved state
 * is X's profile's psci-0.2 configuration after its first run (`afterRun.values`, every register of
 * KVM_GET_REG_LIST in list order). On this kernel: a VM and vCPU with the same features, then
 * KVM_SET_ONE_REG of every saved register in list order, as a VMM restoring a migrated or
 * rolled-back guest does (QEMU's write_list_to_kvmstate() walks its cpreg list the same way).
 * Recorded: ok or the errno per register, and which registers this kernel lists that the saved state
 * lacks (a guest restored from X runs with their reset values).
 *
 * This file is the document; src/probe/restore-trial.ts runs a trial. The result is a small JSON document, "format": "guestabi-restore-trial".
 */
import * as z from "zod";
import { KERNEL_GENERATIONS } from "../regs/index.js";
import { formatJson } from "./json-format.js";
import { ProfileError, firstIssue, parseDocument } from "./profile.js";
import { BackendName, CpuLabel, Errno, OpResult, RegIdJson, ToolJson, text } from "./schema-parts.js";

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
