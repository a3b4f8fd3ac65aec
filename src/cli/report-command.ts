/** `guestabi report`: tables comparing host profiles and cross-kernel restore trials (report-action.ts runs it). */
import type { Command } from "commander";
import { lazyCommand } from "./run-command.js";

const actions = () => import("./report-action.js");

export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description("compare host profiles: registers, firmware registers, PSCI versions, writable ID fields")
    .argument("<profiles...>", "host profiles (guestabi probe)")
    .option(
      "--restore <trials...>",
      "restore-trial documents (guestabi restore-trial) for the restore matrix",
    )
    .option("--markdown", "print Markdown tables")
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "report"));
}
