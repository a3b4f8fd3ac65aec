/** `guestabi report`: tables comparing host profiles and cross-kernel restore trials. */
import type { Command } from "commander";
import { labReport, renderMarkdown } from "../lab/lab-report.js";
import { LAB_CPU_MODELS } from "../kvm/sim/index.js";
import { readEach, readProfileFile, readRestoreTrialFile } from "./input-files.js";
import { formatTable, toJson } from "./output.js";
import { command } from "./run-command.js";

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
    .action(
      command(async (files: string[], opts: { restore?: string[]; markdown?: boolean; json?: boolean }) => {
        const profiles = await readEach(files, readProfileFile);
        const trials = await readEach(opts.restore ?? [], readRestoreTrialFile);
        const tables = labReport(profiles, trials, [...LAB_CPU_MODELS]);
        if (opts.json) return { stdout: toJson(tables) };
        if (opts.markdown) return { stdout: renderMarkdown(tables) + "\n" };
        return {
          stdout: tables.map((t) => `${t.title} (${t.note})\n${formatTable(t.headers, t.rows)}`).join("\n"),
        };
      }),
    );
}
