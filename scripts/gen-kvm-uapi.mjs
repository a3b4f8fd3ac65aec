#!/usr/bin/env node
// Generate src/kvm/generated/caps.json: the KVM_CAP_* capability table of KVM's uapi.
//   node scripts/gen-kvm-uapi.mjs [--check]
// Source of truth: every `#define KVM_CAP_<NAME> <number>` of 7.2's include/uapi/linux/kvm.h, from the
// kernel trees of scripts/kernel-sources.sh (${GUESTABI_CACHE:-~/.cache/guestabi}/ksrc/<gen>/).
// For each of the four generations (5.10 6.1 6.12 7.2) the table records whether that generation's
// header defines the capability at all ("defined") and whether an arm64 userspace build sees the
// definition ("arm64"): a few are under #ifdef __KVM_HAVE_PIT and the like, which only other
// architectures' asm/kvm.h define. A number that differs between generations is a hard error.
// --check: exit 1 if the committed file differs from what would be generated (for CI).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const GENS = ["5.10", "6.1", "6.12", "7.2"];
const SOURCE_GEN = "7.2";
const cache = process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
const ksrc = path.join(cache, "ksrc");
const out = path.join(path.dirname(new URL(import.meta.url).pathname), "../src/kvm/generated/caps.json");
const check = process.argv.includes("--check");

function die(msg) {
  console.error(`gen-kvm-uapi: ${msg}`);
  process.exit(1);
}

function read(gen, rel) {
  const file = path.join(ksrc, gen, rel);
  if (!fs.existsSync(file)) die(`${file} missing (run scripts/kernel-sources.sh ${gen})`);
  return fs.readFileSync(file, "utf8");
}

// Comments out, line continuations joined: enough for the preprocessor lines we look at.
function preprocessLines(src) {
  const noComments = src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/\/\/.*/g, "");
  return noComments.replace(/\\\n/g, " ").split("\n");
}

/** Macros an arm64 userspace build has defined before linux/kvm.h's body: asm/kvm.h's __KVM_HAVE_*. */
function arm64Defines(gen) {
  const defs = new Set();
  for (const line of preprocessLines(read(gen, "arch/arm64/include/uapi/asm/kvm.h"))) {
    const m = /^\s*#\s*define\s+(__KVM_\w+)/.exec(line);
    if (m) defs.add(m[1]);
  }
  return defs;
}

/**
 * Every KVM_CAP_* of one generation's linux/kvm.h with its number, the #ifdef conditions around it
 * (the include guard left out) and whether those hold for arm64 userspace (__KERNEL__ undefined).
 */
function capsOf(gen) {
  const defined = arm64Defines(gen);
  const caps = new Map();
  const stack = []; // { cond: string, holds: boolean }
  let sawGuard = false;
  for (const line of preprocessLines(read(gen, "include/uapi/linux/kvm.h"))) {
    let m;
    if ((m = /^\s*#\s*(ifdef|ifndef)\s+(\w+)/.exec(line))) {
      if (!sawGuard && m[1] === "ifndef" && m[2] === "__LINUX_KVM_H") {
        sawGuard = true;
        stack.push({ cond: null, holds: true });
        continue;
      }
      const isDef = defined.has(m[2]);
      stack.push({ cond: (m[1] === "ifdef" ? "" : "!") + m[2], holds: m[1] === "ifdef" ? isDef : !isDef });
    } else if (/^\s*#\s*if\b/.test(line)) {
      // Plain #if expressions do not occur around KVM_CAP_* definitions; treat as unknown-but-true.
      stack.push({ cond: line.trim().replace(/^#\s*if\s+/, ""), holds: true });
    } else if (/^\s*#\s*else\b/.test(line)) {
      const top = stack.at(-1);
      if (!top) die(`${gen}: #else without #if`);
      top.cond = top.cond === null ? null : `!(${top.cond})`;
      top.holds = !top.holds;
    } else if (/^\s*#\s*elif\b/.test(line)) {
      die(`${gen}: #elif in linux/kvm.h is not handled`);
    } else if (/^\s*#\s*endif\b/.test(line)) {
      if (!stack.pop()) die(`${gen}: #endif without #if`);
    } else if ((m = /^\s*#\s*define\s+(__KVM_\w+)\s*$/.exec(line))) {
      if (stack.every((s) => s.holds)) defined.add(m[1]);
    } else if ((m = /^\s*#\s*define\s+(KVM_CAP_\w+)\s+(\S.*?)\s*$/.exec(line))) {
      const [, name, value] = m;
      if (!/^\d+$/.test(value)) die(`${gen}: ${name} is not a plain number: '${value}'`);
      if (caps.has(name)) die(`${gen}: ${name} defined twice`);
      const conds = stack.map((s) => s.cond).filter((c) => c !== null);
      caps.set(name, {
        number: Number(value),
        guard: conds.length ? conds.join(" && ") : null,
        arm64: stack.every((s) => s.holds),
      });
    }
  }
  if (stack.length) die(`${gen}: unbalanced #if/#endif in linux/kvm.h`);
  if (caps.size < 100) die(`${gen}: only ${caps.size} KVM_CAP_* found; is the header complete?`);
  return caps;
}

const sources = {};
const perGen = {};
for (const gen of GENS) {
  sources[gen] = read(gen, "SOURCE").trim();
  perGen[gen] = capsOf(gen);
}

const table = {};
for (const [name, cap] of perGen[SOURCE_GEN]) {
  const entry = { number: cap.number, guard: cap.guard, defined: {}, arm64: {} };
  for (const gen of GENS) {
    const c = perGen[gen].get(name);
    if (c && c.number !== cap.number)
      die(`${name} is ${c.number} in ${gen} but ${cap.number} in ${SOURCE_GEN}`);
    entry.defined[gen] = Boolean(c);
    entry.arm64[gen] = Boolean(c?.arm64);
  }
  table[name] = entry;
}
const byNumber = new Map();
for (const [name, cap] of Object.entries(table)) {
  if (byNumber.has(cap.number)) die(`${name} and ${byNumber.get(cap.number)} share number ${cap.number}`);
  byNumber.set(cap.number, name);
}
const dropped = [];
for (const gen of GENS)
  for (const name of perGen[gen].keys()) if (!(name in table)) dropped.push(`${name} (${gen})`);
if (dropped.length)
  console.error(`gen-kvm-uapi: note: not in ${SOURCE_GEN}, left out: ${dropped.join(", ")}`);

// One capability per line keeps diffs between regenerations readable.
const names = Object.keys(table).sort((a, b) => table[a].number - table[b].number);
const lines = names.map(
  (n, i) => `    ${JSON.stringify(n)}: ${JSON.stringify(table[n])}${i < names.length - 1 ? "," : ""}`,
);
const text =
  "{\n" +
  `  "generator": "scripts/gen-kvm-uapi.mjs",\n` +
  `  "source": ${JSON.stringify(`include/uapi/linux/kvm.h of ${sources[SOURCE_GEN]}`)},\n` +
  `  "generations": ${JSON.stringify(sources)},\n` +
  `  "caps": {\n${lines.join("\n")}\n  }\n}\n`;
JSON.parse(text); // sanity

if (check) {
  const old = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "";
  if (old !== text)
    die(`${path.relative(process.cwd(), out)} is out of date; run node scripts/gen-kvm-uapi.mjs`);
  console.log(`gen-kvm-uapi: ${names.length} capabilities, up to date`);
} else {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out + ".tmp", text);
  fs.renameSync(out + ".tmp", out);
  const counts = GENS.map((g) => `${g}: ${names.filter((n) => table[n].defined[g]).length}`).join(", ");
  console.log(
    `gen-kvm-uapi: ${names.length} capabilities -> ${path.relative(process.cwd(), out)} (${counts})`,
  );
}
