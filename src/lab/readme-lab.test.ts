import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { labMarkdown, labSection } from "./readme-lab.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

describe("README lab section", () => {
  it("is the report over the committed lab profiles (regenerate: scripts/update-readme-lab.mjs)", () => {
    const section = labSection(fs.readFileSync(`${repo}/README.md`, "utf8"));
    assert.ok(section !== undefined, "README.md has no lab-report section");
    assert.equal(section, labMarkdown(repo));
  });
});
