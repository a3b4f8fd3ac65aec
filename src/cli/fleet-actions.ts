/** impact / plan / rollout: what they do (fleet-commands.ts registers them). */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { RestorePolicy } from "../check/restore-policy.js";
import { formatTemplateJson } from "../formats/template.js";
import type { ImpactMode } from "../fleet/analysis.js";
import { fleetFileModel } from "../fleet/analysis.js";
import { formatImpact, impactOf, impactToJson } from "../fleet/impact.js";
import type { ImpactCounts } from "../fleet/impact.js";
import type { FleetModel } from "../fleet/model.js";
import { formatPlan, planOf, planTemplates, planToJson } from "../fleet/plan.js";
import { formatRollout, rolloutOf, rolloutToJson } from "../fleet/rollout.js";
import type { RolloutReport } from "../fleet/rollout.js";
import { POSTGRES_URL } from "../inventory/spec.js";
import { checkNewOutput, checkOutDir, readFleetInput, readTemplateFile, writeOutput } from "./input-files.js";
import { dbSpec, inventoryModel } from "./inventory-source.js";
import type { DbOption } from "./inventory-source.js";
import type { FleetFailOn } from "./options.js";
import { toJson } from "./output.js";
import { UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** The options every fleet command shares: where the fleet comes from, --vmm, --json, --fail-on. */
interface FleetSourceOptions {
  fleet?: string;
  db?: DbOption;
  json?: boolean;
  vmm?: RestorePolicy;
  failOn?: FleetFailOn;
}

/**
 * The fleet model a command analyses: the inventory of --db, the fleet file of --fleet, or the
 * built-in example fleet where the command has one (`example`); the one place a fleet command gets
 * its model. `inputs`: the files the command reads, which it must never write over.
 */
async function fleetModelFrom(
  o: FleetSourceOptions,
  example: boolean,
): Promise<{ model: FleetModel; inputs: string[] }> {
  if (o.db !== undefined && o.fleet !== undefined) throw new UsageError("--db and --fleet: give one fleet");
  if (o.db !== undefined) {
    const spec = dbSpec(o.db);
    const { model } = await inventoryModel(spec);
    return { model, inputs: POSTGRES_URL.test(spec) ? [] : [spec] };
  }
  if (o.fleet === undefined && !example)
    throw new UsageError("--fleet FILE or --db [INVENTORY] is needed (a guestabi-fleet JSON, an inventory)");
  return { model: fleetFileModel(await readFleetInput(o.fleet)), inputs: o.fleet ? [o.fleet] : [] };
}

/** Whether counts of VMs as the fleet runs them fail --fail-on. */
function fails(failOn: FleetFailOn | undefined, c: { breaks: number; changes: number }): boolean {
  if (failOn === "break") return c.breaks > 0;
  if (failOn === "guest-change") return c.breaks + c.changes > 0;
  return false;
}

const impactFailCounts = (c: ImpactCounts) => ({
  breaks: c.breaks + c.cannotStart,
  changes: c.guestViewChanges,
});

/** The worst upgrade or rollback step of the rollout for VMs as described. */
function rolloutFailCounts(r: RolloutReport): { breaks: number; changes: number } {
  const t = r.totals["as-described"];
  return { breaks: t.breaks, changes: t.changes };
}

export async function impact(
  o: FleetSourceOptions & { rollback: string; to: string; mode: ImpactMode; template?: string },
): Promise<CommandResult> {
  if (o.template && o.mode !== "pinned") throw new UsageError("--template needs --mode pinned");
  const { model } = await fleetModelFrom(o, false);
  const template = o.template ? await readTemplateFile(o.template) : undefined;
  const r = impactOf(model, {
    group: o.rollback,
    to: o.to,
    mode: o.mode,
    ...(template ? { pinTo: template } : {}),
    ...(o.vmm ? { vmm: o.vmm } : {}),
  });
  return {
    stdout: o.json ? toJson(impactToJson(r)) : formatImpact(r),
    ok: !fails(o.failOn, impactFailCounts(r.counts)),
  };
}

export async function plan(
  o: FleetSourceOptions & { outDir?: string; force?: boolean },
): Promise<CommandResult> {
  if (o.force && !o.outDir) throw new UsageError("--force needs --out-dir");
  if (o.outDir) await checkOutDir(o.outDir);
  const { model, inputs } = await fleetModelFrom(o, true);
  const r = planOf(model, o.vmm ? { vmm: o.vmm } : {});
  const notes: string[] = [];
  if (o.outDir) {
    const files = planTemplates(r).map((t) => ({
      path: join(o.outDir!, t.file),
      text: formatTemplateJson(t.template),
    }));
    for (const f of files) await checkNewOutput(f.path, inputs, Boolean(o.force));
    await mkdir(o.outDir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot create ${o.outDir}: ${e.code ?? e.message}`);
    });
    for (const f of files) await writeOutput(f.path, f.text, inputs);
    notes.push(`wrote ${files.length} baseline templates to ${o.outDir}`);
  }
  const asDescribed = r.rollbacks.reduce(
    (c, x) => {
      const f = impactFailCounts(x.asDescribed.counts);
      return { breaks: c.breaks + f.breaks, changes: c.changes + f.changes };
    },
    { breaks: 0, changes: 0 },
  );
  return {
    stdout: o.json ? toJson(planToJson(r)) : formatPlan(r),
    notes,
    ok: !fails(o.failOn, asDescribed),
  };
}

export async function rollout(o: FleetSourceOptions & { to: string; waves: number }): Promise<CommandResult> {
  const { model } = await fleetModelFrom(o, true);
  const r = rolloutOf(model, { to: o.to, waves: o.waves, ...(o.vmm ? { vmm: o.vmm } : {}) });
  return {
    stdout: o.json ? toJson(rolloutToJson(r)) : formatRollout(r),
    ok: !fails(o.failOn, rolloutFailCounts(r)),
  };
}
