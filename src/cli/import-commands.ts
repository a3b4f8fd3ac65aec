/**
 * import: host profiles from evidence users already have (vmm/profile-import.ts): Firecracker
 * `fingerprint dump` and `template dump` files, and host profiles of other guestabi versions. Each
 * FILE becomes DIR/<FILE's base name without .json>.profile.json.
 *
 * Every file is read and converted, and every output checked, before the first is written: a bad
 * input, two inputs with the same output, or an existing output without --force is one line, exit 2,
 * and nothing written. Outputs are written atomically and never replace an input. import-actions.ts
 * runs it.
 */
import type { Command } from "commander";
import { lazyCommand, optionParsers } from "./run-command.js";

const actions = () => import("./import-actions.js");

export function registerImportCommands(program: Command): void {
  const parse = optionParsers(program);
  program
    .command("import")
    .description(
      "host profiles from Firecracker fingerprint or template dumps, or other guestabi versions' profiles",
    )
    .argument("<files...>", "Firecracker fingerprint dumps, template dumps, guestabi host profiles")
    .option("--out-dir <dir>", "write each FILE's profile to DIR/<FILE without .json>.profile.json", ".")
    .option(
      "--cpu-label <name>",
      "what the CPU is, recorded in every profile (e.g. neoverse-n1)",
      parse("cpuLabelOption"),
    )
    .option(
      "--release <release>",
      "the kernel of template dumps ('uname -r' on their host)",
      parse("releaseOption"),
    )
    .option("--force", "replace existing output files (never an input)")
    .option("--json", "print what was written as JSON")
    .action(lazyCommand(actions, "importProfiles"));
}
