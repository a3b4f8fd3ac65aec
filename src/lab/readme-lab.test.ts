import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { labKernelsMarkdown, labMarkdown, labSection } from "./readme-lab.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

describe("README lab sections (regenerate: scripts/update-readme-lab.mjs)", () => {
  it("README.md: the report over the committed lab profiles", () => {
    const section = labSection(fs.readFileSync(`${repo}/README.md`, "utf8"));
    assert.ok(section !== undefined, "README.md has no lab-report section");
    assert.equal(section, labMarkdown(repo));
  });
  it("lab/README.md: the kernels the lab measured", () => {
    const section = labSection(fs.readFileSync(`${repo}/lab/README.md`, "utf8"));
    assert.ok(section !== undefined, "lab/README.md has no lab-report section");
    assert.equal(section, labKernelsMarkdown(repo));
  });
});
