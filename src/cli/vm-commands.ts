/**
 * pin / save / restore / migrate: the VMM side, on the simulator (`--sim KERNEL[/CPU]`, like
 * 7.2/neoverse-n1; the CPU defaults to options.ts's); vm-actions.ts runs them.
 *
 * Exit codes (run-command.ts): 2 with one line on stderr and nothing on stdout for bad input (unknown
 * kernel, unreadable template or snapshot file); for pin and save, 1 with one line when KVM refuses
 * (the register and errno); for restore and migrate, the outcome on stdout either way, exit code 1
 * when the VM did not arrive (refused by the check, or a KVM failure: the destination VM is
 * destroyed), and for migrate also when it arrived but its guest sees a difference over the VMM's
 * conduit (MIGRATED WITH GUEST-VIEW CHANGES); 0 otherwise.
 */
import type { Command } from "commander";
import { lazyCommand, optionParsers } from "./run-command.js";
import { vmOptions } from "./shared-options.js";

const actions = () => import("./vm-actions.js");

export function registerVmCommands(program: Command): void {
  const parse = optionParsers(program);
  program
    .command("pin")
    .description("pin a new simulated VM to an ABI template and print the read-back verification")
    .requiredOption("--template <file>", "ABI template (guestabi-abi-template JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated host, e.g. 7.2/neoverse-n1", parse("parseSimSpec"))
    .option("--vcpus <n>", "vCPUs to create", parse("vcpusOption"), 1)
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "pin"));

  vmOptions(
    program
      .command("save")
      .description(
        "start a VM on the simulator (host defaults, or pinned to a template) and write its snapshot",
      )
      .requiredOption("--sim <kernel[/cpu]>", "the simulated host", parse("parseSimSpec"))
      .requiredOption(
        "--out <file>",
        "snapshot file to write (atomically; '-': stdout, the report to stderr)",
      )
      .option("--template <file>", "pin the VM to this ABI template (default: the host's defaults)"),
    parse,
  )
    .option("--format <encoding>", "binary or json", "binary")
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "save"));

  program
    .command("restore")
    .description("restore a snapshot file on the simulator: check, write, read back; print the outcome")
    .requiredOption("--snapshot <file>", "snapshot file (binary or JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated destination", parse("parseSimSpec"))
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "restore"));

  vmOptions(
    program
      .command("migrate")
      .description(
        "on the simulator: start a VM on one host, save it, restore it on another; print the outcome",
      )
      .requiredOption("--from <kernel[/cpu]>", "the source host", parse("parseSimSpec"))
      .requiredOption("--to <kernel[/cpu]>", "the destination host", parse("parseSimSpec"))
      .option("--template <file>", "pin the VM to this ABI template (default: the source host's defaults)"),
    parse,
  )
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "migrate"));
}
