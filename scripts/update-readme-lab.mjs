#!/usr/bin/env node
// Rewrites README.md's lab section (between the lab-report markers) from the committed lab profiles
// and restore trials: `guestabi report lab/profiles/*.json --restore lab/profiles/restore/*.json
// --markdown`. src/lab/readme-lab.test.ts fails when the README and the profiles disagree.
//   npm run build && node scripts/update-readme-lab.mjs
import fs from "node:fs";
import path from "node:path";
import { labMarkdown, replaceLabSection } from "../dist/lab/readme-lab.js";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const readme = path.join(repo, "README.md");
const updated = replaceLabSection(fs.readFileSync(readme, "utf8"), labMarkdown(repo));
fs.writeFileSync(`${readme}.tmp`, updated);
fs.renameSync(`${readme}.tmp`, readme);
console.log("update-readme-lab: README.md lab section regenerated from lab/profiles");
