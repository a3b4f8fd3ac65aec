#!/usr/bin/env node
// Rewrites the lab sections (between the lab-report markers) from the committed lab data: README.md's
// is `guestabi report lab/profiles/*.json --restore lab/profiles/restore/*.json --markdown` after the
// table of the kernels the lab measured (lab/profiles/kernels/); lab/README.md's is that table alone.
// src/lab/readme-lab.test.ts fails when a README and the lab data disagree.
//   npm run build && node scripts/update-readme-lab.mjs
import fs from "node:fs";
import path from "node:path";
import { labKernelsMarkdown, labMarkdown, replaceLabSection } from "../dist/lab/readme-lab.js";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
for (const [file, markdown] of [
  ["README.md", labMarkdown(repo)],
  ["lab/README.md", labKernelsMarkdown(repo)],
]) {
  const readme = path.join(repo, file);
  let updated;
  try {
    updated = replaceLabSection(fs.readFileSync(readme, "utf8"), markdown);
  } catch (e) {
    console.error(`update-readme-lab: ${file}: ${e.message}`);
    process.exit(2);
  }
  fs.writeFileSync(`${readme}.tmp`, updated);
  fs.renameSync(`${readme}.tmp`, readme);
}
console.log("update-readme-lab: README.md and lab/README.md lab sections regenerated from lab/profiles");
