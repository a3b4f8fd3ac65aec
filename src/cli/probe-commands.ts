/**
 * probe / restore-trial: measuring a host kernel's KVM. Both run on a backend (this host's /dev/kvm,
 * or with `openSim` the simulator of --sim) and write one JSON document to a file (atomically: a
 * reader never sees a half-written file) or to stdout with `--out -`; probe-actions.ts runs them.
 *
 * Exit codes (run-command.ts): 2 with one line for bad input or a host without KVM (the backend's own
 * message), 1 with one line when KVM itself fails mid-probe (the operation and errno), 0 otherwise.
 */
import type { Command } from "commander";
import { VCPU_CONFIGS } from "../probe/vcpu-configs.js";
import type { OpenSim } from "./backends.js";
import type { ProbeOptions, RestoreTrialOptions } from "./probe-actions.js";
import { STDOUT_PATH, command, optionParsers } from "./run-command.js";

const actions = () => import("./probe-actions.js");

export interface ProbeCommandsOptions {
  /** Opens the simulator for `--sim KERNEL[/CPU]`. When given, both commands take --sim. */
  openSim?: OpenSim;
}

export function registerProbeCommands(program: Command, opts: ProbeCommandsOptions = {}): void {
  const parse = optionParsers(program);
  const withSim = (cmd: Command): Command =>
    opts.openSim
      ? cmd.option("--sim <kernel[/cpu]>", "use the simulator of a kernel generation (and CPU)")
      : cmd;

  withSim(
    program
      .command("probe")
      .description("measure this host kernel's KVM and write its host profile (JSON)")
      .option("--out <file>", "write the profile to FILE atomically ('-': stdout)", STDOUT_PATH)
      .option(
        "--cpu-label <name>",
        "what the CPU is, recorded in the profile (e.g. cortex-a72)",
        parse("cpuLabelOption"),
      )
      .option(
        "--configs <list>",
        `comma-separated vCPU configurations (default: all the host supports of ${VCPU_CONFIGS.map((c) => c.name).join(", ")})`,
        parse("configsOption"),
      )
      .option("--quiet", "no progress lines on stderr")
      .option("--json", "accepted for uniformity: the output is always JSON"),
  ).action(command(async (o: ProbeOptions) => (await actions()).probe(o, opts.openSim)));

  withSim(
    program
      .command("restore-trial")
      .description("set the register state saved in other kernels' profiles on this kernel, and report")
      .requiredOption("--from <profile...>", "host profiles whose psci-0.2 after-run state to restore")
      .option("--out <file>", "write the result to FILE atomically ('-': stdout)", STDOUT_PATH)
      .option(
        "--cpu-label <name>",
        "what this host's CPU is, recorded in the result",
        parse("cpuLabelOption"),
      )
      .option("--json", "accepted for uniformity: the output is always JSON"),
  ).action(command(async (o: RestoreTrialOptions) => (await actions()).restoreTrial(o, opts.openSim)));
}
