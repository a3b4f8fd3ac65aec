#!/usr/bin/env node
/** The guestabi command line: the command groups, run through run-command.ts (exit codes, errors). */
import { registerAbiCommands } from "./abi-commands.js";
import { openSimBackend } from "./backends.js";
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
registerProbeCommands(program, { openSim: openSimBackend });
registerImportCommands(program);
registerInventoryCommands(program);
registerServeCommand(program);

await runCli(program, process.argv);
