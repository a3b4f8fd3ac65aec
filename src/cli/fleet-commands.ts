/**
 * impact / plan: what a host group's kernel rollback does to a fleet's VMs, on the simulator.
 * Exit codes (run-command.ts): 2 with one line for bad input (an unreadable or invalid fleet or
 * template, an unknown group or kernel), 0 otherwise.
 */
import type { Command } from "commander";
import type { SimGeneration } from "../kvm/sim/index.js";
import { formatImpact, why } from "../fleet/impact.js";
import type { ImpactMode } from "../fleet/impact.js";
import { formatPlan, plan, planToJson } from "../fleet/plan.js";
import { rollbackImpact } from "../fleet/sim-ops.js";
import { readFleetInput, readTemplateFile } from "./input-files.js";
import { kernelOption, modeOption, withVmmOption } from "./options.js";
import { toJson } from "./output.js";
import { UsageError, command } from "./run-command.js";
import type { RestorePolicy } from "../check/restore-policy.js";

export function registerFleetCommands(program: Command): void {
  withVmmOption(
    program
      .command("impact")
      .description("what rolling a host group's kernel back does to its VMs (on the simulator)")
      .requiredOption("--fleet <file>", "fleet description (guestabi-fleet JSON)")
      .requiredOption("--rollback <group>", "the host group rolled back")
      .requiredOption("--to <kernel>", "the kernel it goes back to", kernelOption)
      .option("--mode <mode>", "as-described (default), host-defaults, or pinned", modeOption, "as-described")
      .option(
        "--template <file>",
        "with --mode pinned: pin every VM to this template (default: each VM's baseline of the two kernels)",
      )
      .option("--json", "print JSON"),
  ).action(
    command(
      async (o: {
        fleet: string;
        rollback: string;
        to: SimGeneration;
        mode: ImpactMode;
        template?: string;
        json?: boolean;
        vmm?: RestorePolicy;
      }) => {
        const fleet = await readFleetInput(o.fleet);
        if (!fleet.groups.some((g) => g.name === o.rollback))
          throw new UsageError(
            `no group '${o.rollback}' in ${o.fleet} (groups: ${fleet.groups.map((g) => g.name).join(", ")})`,
          );
        if (o.template && o.mode !== "pinned") throw new UsageError("--template needs --mode pinned");
        const template = o.template ? await readTemplateFile(o.template) : undefined;
        const r = rollbackImpact(fleet, {
          rollback: o.rollback,
          to: o.to,
          mode: o.mode,
          template,
          vmm: o.vmm,
        });
        const json = {
          format: "guestabi-impact",
          version: 1,
          ...r,
          vms: r.vms.map((v) => ({ ...v, why: why(v) })),
        };
        return { stdout: o.json ? toJson(json) : formatImpact(r) };
      },
    ),
  );

  withVmmOption(
    program
      .command("plan")
      .description(
        "baselines, what each host group gives up, and rollback impact with and without pinning (simulator)",
      )
      .option("--fleet <file>", "fleet description (default: the built-in example fleet)")
      .option("--json", "print JSON"),
  ).action(
    command(async (o: { fleet?: string; json?: boolean; vmm?: RestorePolicy }) => {
      const r = plan(await readFleetInput(o.fleet), o.vmm ? { vmm: o.vmm } : {});
      return { stdout: o.json ? toJson(planToJson(r)) : formatPlan(r) };
    }),
  );
}
