/**
 * kernels / cpus: the simulator's kernel generation models and host CPU models on the command line
 * (sim-actions.ts runs them).
 */
import type { Command } from "commander";
import { lazyCommand } from "./run-command.js";

const actions = () => import("./sim-actions.js");

export function registerSimCommands(program: Command): void {
  program
    .command("kernels")
    .description(
      "list the simulator's kernel generation models (upstream 5.10, 6.1, 6.12, 6.18, 7.2; Amazon's 5.10 and 6.1; the synthetic next)",
    )
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "kernels"));

  program
    .command("cpus")
    .description(
      "list the simulator's host CPU models: MIDR, what each is based on, whether the lab measured it",
    )
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "cpus"));
}
