/** The READMEs' lab sections (README.md, lab/README.md): tables over the committed lab data, between two markers. */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { LAB_CPU_MODELS } from "../kvm/sim/index.js";
import { labKernelsTable, labReport, renderMarkdown } from "./lab-report.js";
import type { LabKernel } from "./lab-report.js";
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

const LabKernelJson = z.strictObject({
  name: z.string().min(1),
  suite: z.string().min(1),
  package: z.string().min(1),
  version: z.string().min(1),
  release: z.string().min(1),
});

/** A kernel record lab/run.mjs wrote (lab/profiles/kernels/<name>.json); throws naming the file if malformed. */
export function readLabKernel(text: string, file: string): LabKernel {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const r = LabKernelJson.safeParse(doc);
  if (!r.success) throw new Error(`${file}: not a lab kernel record (${r.error.issues[0]!.message})`);
  return r.data;
}

function labData(repo: string) {
  const dir = path.join(repo, "lab/profiles");
  return {
    profiles: jsonFiles(dir).map((f) => readProfile(fs.readFileSync(f, "utf8"), f)),
    trials: jsonFiles(path.join(dir, "restore")).map((f) => readRestoreTrial(fs.readFileSync(f, "utf8"), f)),
    kernels: jsonFiles(path.join(dir, "kernels")).map((f) => readLabKernel(fs.readFileSync(f, "utf8"), f)),
  };
}

/** lab/README.md's lab section: the table of the kernels the lab measured (lab/profiles/kernels). */
export function labKernelsMarkdown(repo: string): string {
  const { profiles, kernels } = labData(repo);
  return renderMarkdown([labKernelsTable(kernels, profiles, [...LAB_CPU_MODELS])]);
}

/** README.md's lab section: the kernels the lab measured, then the report over its profiles and restore trials. */
export function labMarkdown(repo: string): string {
  const { profiles, trials, kernels } = labData(repo);
  return renderMarkdown([
    labKernelsTable(kernels, profiles, [...LAB_CPU_MODELS]),
    ...labReport(profiles, trials, [...LAB_CPU_MODELS]),
  ]);
}

export function labSection(readme: string): string | undefined {
  const begin = readme.indexOf(LAB_BEGIN);
  const end = readme.indexOf(LAB_END);
  return begin < 0 || end < begin ? undefined : readme.slice(begin + LAB_BEGIN.length, end).trim();
}

export function replaceLabSection(readme: string, markdown: string): string {
  const begin = readme.indexOf(LAB_BEGIN);
  const end = readme.indexOf(LAB_END);
  if (begin < 0 || end < begin) throw new Error(`no ${LAB_BEGIN} ... ${LAB_END} section`);
  return `${readme.slice(0, begin + LAB_BEGIN.length)}\n\n${markdown}\n\n${readme.slice(end)}`;
}
