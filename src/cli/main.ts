#!/usr/bin/env node
/** The guestabi command line. Usage errors: one line on stderr, exit code 2, nothing on stdout. */
import { Command, CommanderError } from "commander";
import { RegIdError } from "../regs/index.js";
import { registerAbiCommands } from "./abi-commands.js";
import { UsageError } from "./output.js";
import { registerProbeCommands } from "./probe-commands.js";
import { registerRegsCommands } from "./regs-commands.js";
import { registerReportCommand } from "./report-command.js";
import { registerSimCommands } from "./sim-commands.js";
import { openSimSpec } from "./sim-spec.js";
import { registerVmCommands } from "./vm-commands.js";

const EXIT_USAGE = 2;

function fail(message: string): never {
  process.stderr.write(`guestabi: ${message.split("\n")[0]}\n`);
  process.exit(EXIT_USAGE);
}

const program = new Command("guestabi")
  .description("keep a VM's guest ABI fixed across KVM/arm64 host kernel upgrades, rollbacks and migrations")
  .exitOverride()
  .configureOutput({ writeErr: () => undefined, outputError: () => undefined });
registerRegsCommands(program);
registerAbiCommands(program);
registerReportCommand(program);
registerSimCommands(program);
registerVmCommands(program);
registerProbeCommands(program, { openSim: async (spec) => ({ system: openSimSpec(spec), hostFacts: null }) });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) process.exit(0); // --help, --version
    if (e.code === "commander.help") fail("no command given (see 'guestabi --help')");
    fail(e.message.replace(/^error: /, ""));
  }
  if (e instanceof UsageError || e instanceof RegIdError) fail(e.message);
  throw e;
}
