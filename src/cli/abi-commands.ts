/**
 * check / baseline / certify / export-firecracker: guest ABI compatibility on the command line
 * (abi-actions.ts runs them).
 *
 * Exit codes: 0 compatible (check), every host honours the template (baseline), every host can run it
 * (certify), written (export-firecracker); 1 incompatible / some host cannot; 2 bad input (a missing
 * or corrupt file, a profile of a kernel generation guestabi does not model): one line on stderr,
 * nothing on stdout, nothing written. Files are written atomically (temp file, fsync, rename).
 */
import type { Command } from "commander";
import { DEFAULT_INVENTORY } from "../inventory/spec.js";
import { firecrackerExportCommand } from "./export-commands.js";
import { lazyCommand, optionParsers } from "./run-command.js";
import { withVmmOption } from "./shared-options.js";

const actions = () => import("./abi-actions.js");

/** What `check` exits 1 on: a refused restore, or also a restore the guest would see a change through. */
const FAIL_ON = ["refused", "guest-change"] as const;
export type CheckFailOn = (typeof FAIL_ON)[number];

export function registerAbiCommands(program: Command): void {
  const parse = optionParsers(program);
  withVmmOption(
    program
      .command("check")
      .description("can a snapshot or ABI template run on a host? a verdict per register and field")
      .argument(
        "<subject>",
        "a snapshot (binary or JSON), an ABI template, a QEMU migration stream, a Firecracker snapshot state file or a Cloud Hypervisor state.json",
      )
      .requiredOption("--host <profile>", "the destination's host profile")
      .option("--source-profile <profile>", "the source host's profile (its reset values and guest view)")
      .option("--all", "list the ok verdicts too")
      .option("--json", "print the report as JSON")
      .addOption(
        program
          .createOption(
            "--fail-on <what>",
            "exit 1 when the restore is refused, or also when it loads but the guest sees a change",
          )
          .choices(FAIL_ON)
          .default("refused"),
      ),
    parse,
    "the VMM that wrote the file; else guestabi",
  ).action(lazyCommand(actions, "check"));

  program
    .command("baseline")
    .description("the richest ABI template every listed host can honour, and what each host gives up")
    .argument("<profiles...>", "host profiles")
    .option(
      "--out <template>",
      "write the template to FILE (atomically; '-': stdout, the report's first line to stderr)",
    )
    .option("--name <name>", "the template's name")
    .option("--json", "print template, give-ups and conflicts as JSON")
    .action(lazyCommand(actions, "baseline"));

  withVmmOption(
    program
      .command("certify")
      .description("which hosts can run a snapshot or ABI template, and why not (grouped reasons)")
      .argument("<subject>", "a snapshot (binary or JSON) or an ABI template")
      .option("--hosts <profiles...>", "host profiles")
      .option(
        "--db [spec]",
        `the hosts of an inventory: a SQLite file (alone: ${DEFAULT_INVENTORY}) or a postgres:// URL`,
      )
      .option("--group <groups...>", "with --db: only these host groups")
      .option("--source-profile <profile>", "the source host's profile (its reset values and guest view)")
      .option("--json", "print the result as JSON"),
    parse,
  ).action(lazyCommand(actions, "certify"));

  // The older name of `export firecracker` (export-commands.ts).
  firecrackerExportCommand(program.command("export-firecracker"), "export-firecracker");
}
