/**
 * export: a guestabi template or snapshot in a VMM's own terms, one subcommand per VMM artefact
 * (export-actions.ts runs them):
 *
 * - `export firecracker TEMPLATE [--hosts PROFILE...]`: the template as a Firecracker aarch64 custom CPU
 *   template (vmm/firecracker.ts) for the target hosts (their profiles; without --hosts the hosts the
 *   template records, by kernel generation); notes on stderr say what is left out or overridden. Exit 0
 *   written; 1 written, but Firecracker's rules refuse it on a target host (each refusal on stderr).
 *   `export-firecracker` is the same command under its older name.
 * - `export qemu TEMPLATE --hosts PROFILE... [--qemu VERSION]`: the `-cpu host,...` options of that
 *   QEMU (vmm/export-qemu.ts) that make every host load a VM of the template, or the registers no
 *   option of that version can fix. Exit 0 when every host can; 1 when some cannot.
 * - `export firecracker-remove-regs SNAPSHOT --host PROFILE`: the snapshot-editor command that drops the
 *   registers the destination does not list and the guest cannot miss, and those it would miss
 *   (vmm/firecracker-remove-regs.ts). Exit 0 when every missing register can go; 1 when some cannot.
 *
 * Bad input (a missing or wrong file, a refused --out): one line on stderr, exit 2, nothing written.
 */
import type { Command } from "commander";
import { QEMU_DEFAULT_VERSION, QEMU_VERSIONS } from "../vmm/vmm-names.js";
import type { FirecrackerOptions } from "./export-actions.js";
import { STDOUT_PATH, command, lazyCommand } from "./run-command.js";

const actions = () => import("./export-actions.js");

/**
 * Adds the arguments, options and action of the Firecracker template export to `cmd`; `label` prefixes
 * its stderr lines (the name it was called by: "export firecracker" or "export-firecracker").
 */
export function firecrackerExportCommand(cmd: Command, label: string): Command {
  return cmd
    .description("an ABI template as a Firecracker aarch64 custom CPU template (JSON)")
    .argument("<template>", "an ABI template")
    .option(
      "--hosts <profiles...>",
      "the target hosts' profiles (default: the hosts the template records, by kernel generation)",
    )
    .option("--out <file>", "write to FILE (atomically) instead of stdout ('-': stdout)", STDOUT_PATH)
    .option("--quiet", "no notes on stderr about what Firecracker cannot express")
    .option("--json", "accepted for uniformity: the output is always JSON")
    .action(
      command(async (file: string, o: FirecrackerOptions) => (await actions()).firecracker(label, file, o)),
    );
}

export function registerExportCommands(program: Command): void {
  const group = program
    .command("export")
    .description("a template or snapshot in a VMM's own terms (Firecracker, QEMU)");

  firecrackerExportCommand(group.command("firecracker"), "export firecracker");

  group
    .command("qemu")
    .description("the QEMU options that make every host load a VM of a template, or what stands in the way")
    .argument("<template>", "an ABI template")
    .requiredOption("--hosts <profiles...>", "the hosts' profiles")
    .addOption(
      group
        .createOption("--qemu <version>", "the QEMU version (Debian's)")
        .choices(QEMU_VERSIONS)
        .default(QEMU_DEFAULT_VERSION),
    )
    .option("--json", "print the result as JSON")
    .action(lazyCommand(actions, "qemu"));

  group
    .command("firecracker-remove-regs")
    .description(
      "the snapshot-editor command that drops the saved registers a host does not list, where the guest cannot tell",
    )
    .argument("<snapshot>", "a guestabi snapshot (binary or JSON) of the Firecracker VM")
    .requiredOption("--host <profile>", "the destination's host profile")
    .option("--source-profile <profile>", "the source host's profile (its reset values)")
    .option("--vmstate-path <path>", "the Firecracker vmstate file, for the printed command", "VMSTATE_PATH")
    .option("--output-path <path>", "where snapshot-editor writes, for the printed command", "OUTPUT_PATH")
    .option("--json", "print the plan as JSON")
    .action(lazyCommand(actions, "firecrackerRemoveRegs"));
}
