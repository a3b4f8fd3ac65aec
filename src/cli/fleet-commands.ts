/**
 * impact / plan / rollout: what a kernel rollback or an upgrade in waves does to a fleet's VMs, from the
 * hosts' profiles (src/fleet/analysis.ts). The fleet comes from one place, fleetModelFrom.
 *
 * Exit codes (run-command.ts): 2 with one line for bad input (an unreadable or invalid fleet or
 * template, an unknown group or kernel, an existing --out-dir file without --force); 1 with the report
 * on stdout when --fail-on says so (break: a VM as the fleet runs it would break; guest-change: would
 * break or see a change); 0 otherwise.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Option } from "commander";
import type { Command } from "commander";
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
import { DEFAULT_INVENTORY, POSTGRES_URL } from "../inventory/store.js";
import { checkNewOutput, checkOutDir, readFleetInput, readTemplateFile, writeOutput } from "./input-files.js";
import { dbSpec, inventoryModel } from "./inventory-source.js";
import type { DbOption } from "./inventory-source.js";
import { kernelOption, modeOption, withVmmOption } from "./options.js";
import { toJson } from "./output.js";
import { UsageError, command } from "./run-command.js";

type FailOn = "break" | "guest-change";
const FAIL_ON: readonly FailOn[] = ["break", "guest-change"];

function failOnOption(text: string): FailOn {
  if (!(FAIL_ON as readonly string[]).includes(text))
    throw new UsageError(`bad --fail-on '${text}' (${FAIL_ON.join(", ")})`);
  return text as FailOn;
}

function wavesOption(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 1000) throw new UsageError(`bad --waves '${text}' (1..1000)`);
  return n;
}

/** The options every fleet command shares: where the fleet comes from, --vmm, --json, --fail-on. */
interface FleetSourceOptions {
  fleet?: string;
  db?: DbOption;
  json?: boolean;
  vmm?: RestorePolicy;
  failOn?: FailOn;
}

function withFleetOptions(cmd: Command, fleetHelp: string): Command {
  return withVmmOption(
    cmd
      .option("--fleet <file>", fleetHelp)
      .option(
        "--db [spec]",
        `the fleet of an inventory: a SQLite file (alone: ${DEFAULT_INVENTORY}) or a postgres:// URL`,
      )
      .option("--json", "print JSON")
      .addOption(
        new Option(
          "--fail-on <what>",
          "exit 1 when a VM as the fleet runs it would break (break), or break or see a change (guest-change)",
        ).argParser(failOnOption),
      ),
    "each VM's own (its fleet entry's vmm, else guestabi)",
  );
}

/**
 * The fleet model a command analyses: the inventory of --db, the fleet file of --fleet, or the
 * built-in example fleet where the command has one (`example`); the one place a fleet command gets
 * its model. `inputs`: the files the command reads, which it must never write over.
 */
export async function fleetModelFrom(
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
function fails(failOn: FailOn | undefined, c: { breaks: number; changes: number }): boolean {
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

export function registerFleetCommands(program: Command): void {
  withFleetOptions(
    program
      .command("impact")
      .description("what rolling a host group's kernel back does to its VMs (from the hosts' profiles)")
      .requiredOption("--rollback <group>", "the host group rolled back")
      .requiredOption(
        "--to <kernel>",
        "the kernel it goes back to: a simulator kernel, a generation, or a release",
        kernelOption,
      )
      .option("--mode <mode>", "as-described (default), host-defaults, or pinned", modeOption, "as-described")
      .option(
        "--template <file>",
        "with --mode pinned: pin every VM to this template (default: each VM's baseline of the two kernels)",
      ),
    "fleet description (guestabi-fleet JSON)",
  ).action(
    command(
      async (
        o: FleetSourceOptions & { rollback: string; to: string; mode: ImpactMode; template?: string },
      ) => {
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
      },
    ),
  );

  withFleetOptions(
    program
      .command("plan")
      .description(
        "baselines, what each host group gives up, rollback impact with and without pinning, and what to pin",
      )
      .option("--out-dir <dir>", "write the baseline templates: <cpu>-<features>[-<kernels>].abi.json")
      .option("--force", "with --out-dir: replace existing templates"),
    "fleet description (default: the built-in example fleet)",
  ).action(
    command(async (o: FleetSourceOptions & { outDir?: string; force?: boolean }) => {
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
    }),
  );

  withFleetOptions(
    program
      .command("rollout")
      .description(
        "upgrading the hosts not on a kernel in waves, and rolling waves back, under each ABI policy side by side",
      )
      .requiredOption(
        "--to <kernel>",
        "the kernel every host goes to: a simulator kernel, a generation, or a release",
        kernelOption,
      )
      .requiredOption("--waves <n>", "how many waves (1..1000)", wavesOption),
    "fleet description (default: the built-in example fleet)",
  ).action(
    command(async (o: FleetSourceOptions & { to: string; waves: number }) => {
      const { model } = await fleetModelFrom(o, true);
      const r = rolloutOf(model, { to: o.to, waves: o.waves, ...(o.vmm ? { vmm: o.vmm } : {}) });
      return {
        stdout: o.json ? toJson(rolloutToJson(r)) : formatRollout(r),
        ok: !fails(o.failOn, rolloutFailCounts(r)),
      };
    }),
  );
}
