/**
 * The layering of src/ARCHITECTURE.md, enforced: every relative import of every source file (tests
 * included) points to its own layer or a lower one. A `testing/` folder (test helpers) belongs to its
 * parent's layer.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** Lowest first. A module may import from its own layer and the layers before it. */
const LAYERS: readonly (readonly string[])[] = [
  ["regs"],
  ["kvm"], // the interface: types, uapi, errors, values, helpers
  ["kvm/kernels"],
  ["kvm/rules"],
  ["kvm/guest", "kvm/linux"],
  ["kvm/sim", "kvm/index.ts"],
  ["formats"],
  ["probe"],
  ["check"],
  ["vm"],
  ["vmm"],
  ["fleet"],
  ["inventory"],
  ["serve"],
  ["lab", "fuzz"], // fuzz: the reader fuzzers, seeded by probe, check and fleet
  ["cli"],
  ["bench"],
  ["index.ts", "architecture.test.ts"],
];

/** The layer of a file under src/ (a path relative to src/, with "/" separators). */
function layerOf(rel: string): number {
  const parts = rel.split("/").filter((p) => p !== "testing" && p !== "generated");
  // The longest matching prefix wins: "kvm/sim/x.ts" is kvm/sim, "kvm/x.ts" is kvm.
  for (let n = parts.length; n > 0; n--) {
    const key = parts.slice(0, n).join("/");
    const i = LAYERS.findIndex((l) => l.includes(key));
    if (i >= 0) return i;
  }
  return -1;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

describe("architecture", () => {
  it("assigns every folder a layer: kvm/sim/vcpu.ts is kvm/sim, kvm/values.ts is kvm, cli/testing.ts is cli", () => {
    assert.equal(layerOf("kvm/sim/vcpu.ts"), 5);
    assert.equal(layerOf("kvm/values.ts"), 1);
    assert.equal(layerOf("kvm/index.ts"), 5);
    assert.equal(layerOf("check/testing/sim-profiles.ts"), 8);
    assert.equal(layerOf("cli/testing.ts"), 15);
    assert.equal(layerOf("kvm/sim/testing/scripted-guest.ts"), 5);
    assert.equal(layerOf("nowhere/x.ts"), -1);
  });

  it("no import points from a lower layer to a higher one", () => {
    const files = sourceFiles(SRC).map((f) => path.relative(SRC, f).split(path.sep).join("/"));
    assert.ok(files.length > 100, `found only ${files.length} source files under ${SRC}`);
    const problems: string[] = [];
    for (const rel of files) {
      const from = layerOf(rel);
      if (from < 0) problems.push(`${rel}: in no layer of LAYERS`);
      const text = fs.readFileSync(path.join(SRC, rel), "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1]!));
        const to = layerOf(target.replace(/\.js$/, ".ts"));
        if (to > from)
          problems.push(
            `${rel} imports ${m[1]} (layer ${LAYERS[to]?.join("|")} above ${LAYERS[from]?.join("|")})`,
          );
      }
    }
    assert.deepEqual(problems, []);
  });
});
