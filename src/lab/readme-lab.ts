/** README.md's lab section: the report over the committed lab profiles, between two markers. */
import fs from "node:fs";
import path from "node:path";
import { LAB_CPU_MODELS } from "../kvm/sim/index.js";
import { labReport, renderMarkdown } from "./lab-report.js";
import { readProfile } from "../formats/profile.js";
import { readRestoreTrial } from "../formats/restore-trial.js";

export const LAB_BEGIN = "<!-- lab-report:begin (scripts/update-readme-lab.mjs writes this section) -->";
export const LAB_END = "<!-- lab-report:end -->";

const jsonFiles = (dir: string) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => path.join(dir, f))
    : [];

/** The Markdown tables of the repository's lab/profiles (and lab/profiles/restore). */
export function labMarkdown(repo: string): string {
  const dir = path.join(repo, "lab/profiles");
  const profiles = jsonFiles(dir).map((f) => readProfile(fs.readFileSync(f, "utf8"), f));
  const trials = jsonFiles(path.join(dir, "restore")).map((f) =>
    readRestoreTrial(fs.readFileSync(f, "utf8"), f),
  );
  return renderMarkdown(labReport(profiles, trials, [...LAB_CPU_MODELS]));
}

export function labSection(readme: string): string | undefined {
  const begin = readme.indexOf(LAB_BEGIN);
  const end = readme.indexOf(LAB_END);
  return begin < 0 || end < begin ? undefined : readme.slice(begin + LAB_BEGIN.length, end).trim();
}

export function replaceLabSection(readme: string, markdown: string): string {
  const begin = readme.indexOf(LAB_BEGIN);
  const end = readme.indexOf(LAB_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${LAB_BEGIN} ... ${LAB_END} section`);
  return `${readme.slice(0, begin + LAB_BEGIN.length)}\n\n${markdown}\n\n${readme.slice(end)}`;
}
