#!/usr/bin/env node
/**
 * The guestabi command line: the command groups, run through run-command.ts (exit codes, errors).
 * A group's *-commands.ts registers its commands and options only; each command's code (its
 * *-actions.ts) is imported when it runs, so that start-up and --help load little besides commander.
 */
import { registerAbiCommands } from "./abi-commands.js";
import type { OpenSim } from "./backends.js";
import { registerExportCommands } from "./export-commands.js";
import { registerFleetCommands } from "./fleet-commands.js";
import { registerImportCommands } from "./import-commands.js";
import { registerInventoryCommands } from "./inventory-commands.js";
import { registerProbeCommands } from "./probe-commands.js";
import { registerRegsCommands } from "./regs-commands.js";
import { registerReportCommand } from "./report-command.js";
import { cliProgram, runCli } from "./run-command.js";
import { registerServeCommand } from "./serve-command.js";
import { registerSimCommands } from "./sim-commands.js";
import { registerVmCommands } from "./vm-commands.js";

/** The simulator behind probe's and restore-trial's --sim, loaded when one of them opens it. */
const openSim: OpenSim = async (spec) => (await import("./backends.js")).openSimBackend(spec);

const program = cliProgram(
  "guestabi",
  "keep a VM's guest ABI fixed across KVM/arm64 host kernel upgrades, rollbacks and migrations",
);
registerRegsCommands(program);
registerAbiCommands(program);
registerExportCommands(program);
registerReportCommand(program);
registerSimCommands(program);
registerVmCommands(program);
registerFleetCommands(program);
registerProbeCommands(program, { openSim });
registerImportCommands(program);
registerInventoryCommands(program);
registerServeCommand(program);

await runCli(program, process.argv);
