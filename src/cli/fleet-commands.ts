/**
 * impact / plan / rollout: what a kernel rollback or an upgrade in waves does to a fleet's VMs, from the
 * hosts' profiles (src/fleet/analysis.ts); fleet-actions.ts runs them. The fleet comes from one place,
 * fleet-actions.ts's fleetModelFrom.
 *
 * Exit codes (run-command.ts): 2 with one line for bad input (an unreadable or invalid fleet or
 * template, an unknown group or kernel, an existing --out-dir file without --force); 1 with the report
 * on stdout when --fail-on says so (break: a VM as the fleet runs it would break; guest-change: would
 * break or see a change); 0 otherwise.
 */
import type { Command } from "commander";
import { DEFAULT_INVENTORY } from "../inventory/spec.js";
import { lazyCommand, optionParsers } from "./run-command.js";
import { withVmmOption } from "./shared-options.js";
import type { Parsers } from "./shared-options.js";

const actions = () => import("./fleet-actions.js");

function withFleetOptions(cmd: Command, parse: Parsers, fleetHelp: string): Command {
  return withVmmOption(
    cmd
      .option("--fleet <file>", fleetHelp)
      .option(
        "--db [spec]",
        `the fleet of an inventory: a SQLite file (alone: ${DEFAULT_INVENTORY}) or a postgres:// URL`,
      )
      .option("--json", "print JSON")
      .addOption(
        cmd
          .createOption(
            "--fail-on <what>",
            "exit 1 when a VM as the fleet runs it would break (break), or break or see a change (guest-change)",
          )
          .argParser(parse("fleetFailOnOption")),
      ),
    parse,
    "each VM's own (its fleet entry's vmm, else guestabi)",
  );
}

export function registerFleetCommands(program: Command): void {
  const parse = optionParsers(program);
  withFleetOptions(
    program
      .command("impact")
      .description("what rolling a host group's kernel back does to its VMs (from the hosts' profiles)")
      .requiredOption("--rollback <group>", "the host group rolled back")
      .requiredOption(
        "--to <kernel>",
        "the kernel it goes back to: a simulator kernel, a generation, or a release",
        parse("kernelOption"),
      )
      .option(
        "--mode <mode>",
        "as-described (default), host-defaults, or pinned",
        parse("modeOption"),
        "as-described",
      )
      .option(
        "--template <file>",
        "with --mode pinned: pin every VM to this template (default: each VM's baseline of the two kernels)",
      ),
    parse,
    "fleet description (guestabi-fleet JSON)",
  ).action(lazyCommand(actions, "impact"));

  withFleetOptions(
    program
      .command("plan")
      .description(
        "baselines, what each host group gives up, rollback impact with and without pinning, and what to pin",
      )
      .option("--out-dir <dir>", "write the baseline templates: <cpu>-<features>[-<kernels>].abi.json")
      .option("--force", "with --out-dir: replace existing templates"),
    parse,
    "fleet description (default: the built-in example fleet)",
  ).action(lazyCommand(actions, "plan"));

  withFleetOptions(
    program
      .command("rollout")
      .description(
        "upgrading the hosts not on a kernel in waves, and rolling waves back, under each ABI policy side by side",
      )
      .requiredOption(
        "--to <kernel>",
        "the kernel every host goes to: a simulator kernel, a generation, or a release",
        parse("kernelOption"),
      )
      .requiredOption("--waves <n>", "how many waves (1..1000)", parse("wavesOption")),
    parse,
    "fleet description (default: the built-in example fleet)",
  ).action(lazyCommand(actions, "rollout"));
}
