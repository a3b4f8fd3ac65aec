#!/usr/bin/env node
// Generates src/kvm/kernels/generated/sysreg-descs.json: KVM's system register descriptor tables
// (arch/arm64/kvm/sys_regs.c: sys_reg_descs[] and, before 6.15, invariant_sys_regs[]) of each kernel
// generation, as the simulator needs them: encoding, access/reset functions, the vcpu_sysreg index
// (whether the register is saved), reset value (.val), user accessors, visibility function, and the
// outer macro that produced the entry (ID_SANITISED, ID_WRITABLE, ID_HIDDEN, ID_UNALLOCATED, ...).
// For ID registers .val is the writable mask (ID_WRITABLE/ID_FILTERED/AA32_ID_WRITABLE, 6.7+).
//
//   run: node scripts/gen-sim-sysregs.mjs [--check]
//
// The table is macro-expanded with the kernel's own macros (sys_regs.c, sys_regs.h, asm/sysreg.h and
// the tools/sysreg definitions), through the shared preprocessor (scripts/lib/kernel-cpp.mjs).
// An entry is in KVM_GET_REG_LIST when it has .reg or .get_user and its visibility does not hide it
// (walk_one_sys_reg); the simulator applies the visibility functions.
import fs from "node:fs";
import path from "node:path";
import {
  GENS,
  ROOT,
  GenError,
  checkSources,
  decodeSysReg,
  evalTokens,
  expand,
  fail,
  hasSource,
  newMacros,
  preprocess,
  readSource,
  sysregOf,
  tokenize,
  splitTop,
} from "./lib/kernel-cpp.mjs";

const OUT = path.join(ROOT, "src/kvm/kernels/generated/sysreg-descs.json");
const catalog = JSON.parse(fs.readFileSync(path.join(ROOT, "src/regs/generated/sysregs.json"), "utf8"));
const nameByEnc = new Map();
for (const r of catalog.registers) {
  const k = `${r.op0},${r.op1},${r.crn},${r.crm},${r.op2}`;
  if (!nameByEnc.has(k)) nameByEnc.set(k, r.name);
}

function macrosOf(gen) {
  const macros = newMacros();
  const parsed = sysregOf(gen);
  if (parsed) {
    preprocess(parsed.defines, macros);
    // gen-sysreg.awk also defines <REG>_RES0/_RES1 (the union of the Res0/Res1 fields).
    const extra = [];
    for (const r of parsed.regs) {
      const fields = r.fields?.length ? r.fields : (parsed.fieldSets.get(r.fieldsRef) ?? []);
      for (const kind of ["res0", "res1"]) {
        let mask = 0n;
        for (const f of fields)
          if (f.kind === kind) mask |= ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
        const name = `${r.name}_${kind.toUpperCase()}`;
        if (!macros.has(name)) extra.push(`#define ${name} 0x${mask.toString(16)}`);
      }
    }
    preprocess(extra.join("\n"), macros);
  }
  preprocess(readSource(gen, "arch/arm64/include/asm/sysreg.h"), macros);
  preprocess(readSource(gen, "arch/arm64/include/asm/cpufeature.h"), macros);
  preprocess(readSource(gen, "arch/arm64/kvm/sys_regs.h"), macros);
  const { text } = preprocess(readSource(gen, "arch/arm64/kvm/sys_regs.c"), macros);
  return { macros, text };
}

/** The initializer text of `static ... <name>[] ... = { ... };` in preprocessed sys_regs.c. */
function tableBody(text, name) {
  const re = new RegExp(`\\b${name}\\s*\\[\\s*\\]\\s*(?:__ro_after_init\\s*)?=\\s*\\{`);
  const m = re.exec(text);
  if (!m) return null;
  let depth = 1;
  let i = m.index + m[0].length;
  const start = i;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
  }
  return text.slice(start, i - 1);
}

const text = (toks) => toks.map((t) => t.v).join(" ");
const POSITIONAL = ["access", "reset", "reg", "val", "get_user", "set_user", "visibility"];

function tryEval(toks) {
  try {
    return evalTokens(toks);
  } catch (e) {
    if (e instanceof GenError) return undefined;
    throw e;
  }
}

function parseEntry(toks, macros, outer, gen) {
  // toks: the inside of one { ... } initializer.
  const items = splitTop(toks);
  const entry = { outer };
  let pos = -1; // index into POSITIONAL of the last field set
  for (const it of items) {
    if (it[0].v === "SYS_DESC" && it[1]?.v === "(") {
      const argToks = it.slice(2, -1);
      const enc = tryEval(expand(argToks, macros));
      if (enc === undefined) fail(`${gen}: cannot evaluate SYS_DESC(${text(argToks)})`);
      Object.assign(entry, decodeSysReg(enc, macros));
      pos = -1;
      continue;
    }
    if (it[0].v === "." && it[2]?.v === "=") {
      const field = it[1].v;
      const enc = { Op0: "op0", Op1: "op1", CRn: "crn", CRm: "crm", Op2: "op2" }[field];
      if (enc) {
        entry[enc] = Number(tryEval(expand(it.slice(3), macros)) ?? fail(`${gen}: ${text(it)}`));
        pos = -1;
        continue;
      }
      entry[field] = it.slice(3);
      pos = POSITIONAL.indexOf(field);
      continue;
    }
    if (it[0].t === "op" && it[0].v === ".") continue; // .name = "..." and the like
    pos++;
    if (pos >= POSITIONAL.length) fail(`${gen}: too many positional fields in ${text(toks)}`);
    entry[POSITIONAL[pos]] = it;
  }
  if (entry.op0 === undefined) fail(`${gen}: entry without SYS_DESC: ${text(toks)}`);
  const key = `${entry.op0},${entry.op1},${entry.crn},${entry.crm},${entry.op2}`;
  const out = {
    name: nameByEnc.get(key) ?? `S${entry.op0}_${entry.op1}_C${entry.crn}_C${entry.crm}_${entry.op2}`,
    op0: entry.op0,
    op1: entry.op1,
    crn: entry.crn,
    crm: entry.crm,
    op2: entry.op2,
    outer,
  };
  for (const f of ["access", "reset", "get_user", "set_user", "visibility"]) {
    const v = entry[f] ?? entry[`__${f}`];
    if (v && text(v) !== "NULL")
      out[f === "get_user" ? "getUser" : f === "set_user" ? "setUser" : f] = text(v);
  }
  if (entry.reg && text(entry.reg) !== "0") out.reg = text(entry.reg);
  if (entry.val) {
    const v = tryEval(expand(entry.val, macros));
    out.val = v === undefined ? { expr: text(entry.val) } : "0x" + BigInt.asUintN(64, v).toString(16);
  }
  out.listed = Boolean(out.reg || out.getUser);
  return out;
}

function parseTable(gen, macros, body) {
  const outerItems = splitTop(tokenize(body));
  const entries = [];
  for (const item of outerItems) {
    const outer = item[0].v === "{" ? (item[1]?.v === "SYS_DESC" ? "SYS_DESC" : item[1].v) : item[0].v;
    const expanded = expand(item, macros);
    for (const sub of splitTop(expanded)) {
      if (sub[0].v !== "{" || sub.at(-1).v !== "}") fail(`${gen}: unexpected table item '${text(sub)}'`);
      entries.push(parseEntry(sub.slice(1, -1), macros, outer, gen));
    }
  }
  return entries;
}

function build(gen) {
  const { macros, text: src } = macrosOf(gen);
  macros.delete("SYS_DESC");
  const descs = parseTable(gen, macros, tableBody(src, "sys_reg_descs") ?? fail(`${gen}: no sys_reg_descs`));
  const invBody = tableBody(src, "invariant_sys_regs");
  const invariant = invBody ? parseTable(gen, macros, invBody) : [];
  return { descs, invariant };
}

function main() {
  const sources = checkSources();
  const out = { generatedBy: "scripts/gen-sim-sysregs.mjs", generatedFrom: sources, generations: {} };
  for (const gen of GENS) {
    if (!hasSource(gen, "arch/arm64/kvm/sys_regs.c")) fail(`${gen}: sys_regs.c missing`);
    out.generations[gen] = build(gen);
  }
  const json = JSON.stringify(out, null, 1) + "\n";
  if (process.argv.includes("--check")) {
    const cur = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
    if (cur !== json) {
      console.error(`${path.relative(ROOT, OUT)} is out of date; run node scripts/gen-sim-sysregs.mjs`);
      process.exit(1);
    }
    return;
  }
  fs.writeFileSync(OUT, json);
  for (const gen of GENS) {
    const g = out.generations[gen];
    console.log(
      `${gen}: ${g.descs.length} descriptors (${g.descs.filter((d) => d.listed).length} saved), ${g.invariant.length} invariant`,
    );
  }
}

try {
  main();
} catch (e) {
  if (e instanceof GenError) {
    console.error(`gen-sim-sysregs: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
