/** `guestabi report`: what it does (report-command.ts registers it). */
import { labReport, renderMarkdown } from "../lab/lab-report.js";
import { LAB_CPU_MODELS } from "../kvm/sim/index.js";
import { readEach, readProfileFile, readRestoreTrialFile } from "./input-files.js";
import { formatTable, toJson } from "./output.js";
import type { CommandResult } from "./run-command.js";

export async function report(
  files: string[],
  opts: { restore?: string[]; markdown?: boolean; json?: boolean },
): Promise<CommandResult> {
  const profiles = await readEach(files, readProfileFile);
  const trials = await readEach(opts.restore ?? [], readRestoreTrialFile);
  const tables = labReport(profiles, trials, [...LAB_CPU_MODELS]);
  if (opts.json) return { stdout: toJson(tables) };
  if (opts.markdown) return { stdout: renderMarkdown(tables) + "\n" };
  return {
    stdout: tables.map((t) => `${t.title} (${t.note})\n${formatTable(t.headers, t.rows)}`).join("\n"),
  };
}
