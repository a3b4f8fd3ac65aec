/**
 * Options several command groups register, with their help: --vmm, and --features and --vcpus of a VM
 * started with the host's defaults. Their parsers (options.ts) are reached through optionParsers, so
 * registering them loads neither the parsers nor the tables they check against.
 */
import type { Command } from "commander";
import type { VcpuFeatureName } from "../kvm/uapi.js";
import { VMM_NAMES } from "../vmm/vmm-names.js";
import type { optionParsers } from "./run-command.js";

/** A registration's option parsers, by name (run-command.ts's optionParsers). */
export type Parsers = ReturnType<typeof optionParsers>;

/** --features and --vcpus of a VM started with the host's defaults. */
export function vmOptions(cmd: Command, parse: Parsers): Command {
  const defaultFeatures: VcpuFeatureName[] = ["PSCI_0_2"];
  return cmd
    .addOption(
      cmd
        .createOption("--features <list>", "vCPU features of an unpinned VM")
        .argParser(parse("featuresOption"))
        .default(defaultFeatures, defaultFeatures.join(",")),
    )
    .option("--vcpus <n>", "vCPUs", parse("vcpusOption"), 1);
}

/**
 * Adds --vmm to a command; without it the command uses `defaultText`'s VMM. The option parses to a name
 * (checked against VMM_NAMES); the command's action gets that VMM's RestorePolicy (vmm/policies.ts,
 * loaded only then: its tables are not needed to parse or to print help).
 */
export function withVmmOption(cmd: Command, parse: Parsers, defaultText = "guestabi"): Command {
  return cmd
    .addOption(
      cmd
        .createOption(
          "--vmm <name>",
          `the VMM that restores: ${VMM_NAMES.join(", ")} (default: ${defaultText})`,
        )
        .argParser(parse("vmmOption")),
    )
    .hook("preAction", async (_cmd, action) => {
      const name = action.getOptionValue("vmm") as string | undefined;
      if (name !== undefined)
        action.setOptionValue("vmm", (await import("../vmm/policies.js")).vmmPolicy(name));
    });
}
