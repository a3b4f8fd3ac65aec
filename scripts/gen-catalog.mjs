#!/usr/bin/env node
// Generates the register catalog src/regs/generated/*.json from Debian's kernel sources.
//
//   package.json:  "gen:catalog": "node scripts/gen-catalog.mjs"
//   run:           npm run gen:catalog      (or: node scripts/gen-catalog.mjs)
//
// Input: ${GUESTABI_CACHE:-$HOME/.cache/guestabi}/ksrc/<gen>/ for gen in 5.10 6.1 6.12 7.2, as extracted
// by scripts/kernel-sources.sh (each tree has a SOURCE file "<package> <version>").
// Output (shapes: src/regs/catalog-types.ts; every bigint is written as a "0x..." string):
//   sysregs.json          system register names and encodings (tools/sysreg + asm/sysreg.h), one a line:
//                         small, so that naming a register id reads no field layouts
//   sysreg-fields.json    the field layouts of the registers that have any, by name (tools/sysreg; fields it
//                         lacks from gen-catalog.supplement.json, checked with cputype.h), one field a line;
//                         src/regs/catalog.ts reads it on first use
//   ftr-policy.json       cpufeature.c's arm64_ftr_bits per ID register and generation, KVM overrides folded in
//   fw-regs.json          KVM firmware pseudo-registers and feature bitmaps (uapi asm/kvm.h)
//   kvm-timer-names.json  the KVM_REG_ARM_*TIMER_* ids, what they really hold and what the selftests call
//                         them (src/regs/fixtures/selftest-reglist-<gen>.json: npm run gen:fixtures first)
// Plain Node, no dependencies. Any input it cannot understand stops it with one line on stderr.
//
// Kernel config: the sources are preprocessed as Debian's arm64 kernels are built: every CONFIG_ARM64_*
// feature enabled (SVE, SME, MTE, PTR_AUTH, BTI, GCS, POE, ...), 4K pages, little endian, 48-bit PA;
// see debianConfig() in scripts/lib/kernel-cpp.mjs, which has the preprocessor and tools/sysreg parser.

import fs from "node:fs";
import path from "node:path";
import {
  GENS,
  LATEST,
  FALLBACK,
  ROOT,
  GenError,
  fail,
  notes,
  note,
  checkSources,
  newMacros,
  readSource,
  cleanSource,
  debianConfig,
  macroTokens,
  preprocess,
  evalC,
  resolveFields,
  sysregOf,
  archMacros,
  uapiMacros,
  decodeSysReg,
} from "./lib/kernel-cpp.mjs";

const OUT_DIR = path.join(ROOT, "src/regs/generated");
const encKey = (r) => `${r.op0},${r.op1},${r.crn},${r.crm},${r.op2}`;
const encCmp = (a, b) => a.op0 - b.op0 || a.op1 - b.op1 || a.crn - b.crn || a.crm - b.crm || a.op2 - b.op2;

// ---------------------------------------------------------------------------------------------------------
// sysregs.json

// asm/sysreg.h's parameterised register macros, with the architectural name of each instance and the
// architectural range of n (Arm ARM). A SYS_*(...) macro producing sys_reg() that is in neither list
// stops the script, so new ones get a name here.
const PARAM_REGS = {
  SYS_DBGBVRn_EL1: ["DBGBVR{n}_EL1", 0, 15],
  SYS_DBGBCRn_EL1: ["DBGBCR{n}_EL1", 0, 15],
  SYS_DBGWVRn_EL1: ["DBGWVR{n}_EL1", 0, 15],
  SYS_DBGWCRn_EL1: ["DBGWCR{n}_EL1", 0, 15],
  SYS_PMEVCNTRn_EL0: ["PMEVCNTR{n}_EL0", 0, 30],
  SYS_PMEVTYPERn_EL0: ["PMEVTYPER{n}_EL0", 0, 30],
  SYS_PMEVCNTSVRn_EL1: ["PMEVCNTSVR{n}_EL1", 0, 30],
  SYS_AMEVCNTR0_EL0: ["AMEVCNTR0{n}_EL0", 0, 15],
  SYS_AMEVTYPER0_EL0: ["AMEVTYPER0{n}_EL0", 0, 15],
  SYS_AMEVCNTR1_EL0: ["AMEVCNTR1{n}_EL0", 0, 15],
  SYS_AMEVTYPER1_EL0: ["AMEVTYPER1{n}_EL0", 0, 15],
  SYS_AMEVCNTVOFF0n_EL2: ["AMEVCNTVOFF0{n}_EL2", 0, 15],
  SYS_AMEVCNTVOFF1n_EL2: ["AMEVCNTVOFF1{n}_EL2", 0, 15],
  SYS_ICC_AP0Rn_EL1: ["ICC_AP0R{n}_EL1", 0, 3],
  SYS_ICC_AP1Rn_EL1: ["ICC_AP1R{n}_EL1", 0, 3],
  SYS_BRBINF_EL1: ["BRBINF{n}_EL1", 0, 31],
  SYS_BRBSRC_EL1: ["BRBSRC{n}_EL1", 0, 31],
  SYS_BRBTGT_EL1: ["BRBTGT{n}_EL1", 0, 31],
  SYS_SPMCGCRn_EL1: ["SPMCGCR{n}_EL1", 0, 1],
  SYS_SPMEVCNTRn_EL0: ["SPMEVCNTR{n}_EL0", 0, 15],
  SYS_SPMEVTYPERn_EL0: ["SPMEVTYPER{n}_EL0", 0, 15],
  SYS_SPMEVFILTRn_EL0: ["SPMEVFILTR{n}_EL0", 0, 15],
  SYS_SPMEVFILT2Rn_EL0: ["SPMEVFILT2R{n}_EL0", 0, 15],
  SYS_TRCACATR: ["TRCACATR{n}", 0, 15],
  SYS_TRCACVR: ["TRCACVR{n}", 0, 15],
  SYS_TRCCIDCVR: ["TRCCIDCVR{n}", 0, 7],
  SYS_TRCVMIDCVR: ["TRCVMIDCVR{n}", 0, 7],
  SYS_TRCCNTCTLR: ["TRCCNTCTLR{n}", 0, 3],
  SYS_TRCCNTRLDVR: ["TRCCNTRLDVR{n}", 0, 3],
  SYS_TRCCNTVR: ["TRCCNTVR{n}", 0, 3],
  SYS_TRCEXTINSELR: ["TRCEXTINSELR{n}", 0, 3],
  SYS_TRCIMSPEC: ["TRCIMSPEC{n}", 0, 7],
  SYS_TRCRSCTLR: ["TRCRSCTLR{n}", 2, 31],
  SYS_TRCSEQEVR: ["TRCSEQEVR{n}", 0, 2],
  SYS_TRCSSCCR: ["TRCSSCCR{n}", 0, 7],
  SYS_TRCSSCSR: ["TRCSSCSR{n}", 0, 7],
  SYS_TRCSSPCICR: ["TRCSSPCICR{n}", 0, 7],
};
// Helpers that build encodings from other arguments; the registers they serve have their own macros.
const PARAM_HELPERS = new Set(["SYS_AM_EL0"]);

/** Which primitive a macro ultimately calls: "sys_reg", "sys_insn" or null (not an encoding). */
function encodingHead(name, macros) {
  let m = macros.get(name);
  for (let hop = 0; m && hop < 16; hop++) {
    const id = macroTokens(m).find((t) => t.t === "id");
    if (!id) return null;
    if (id.v === "sys_reg" || id.v === "sys_insn") return id.v;
    m = macros.get(id.v);
  }
  return null;
}

/** Every register encoding asm/sysreg.h defines by hand: [{ name, op0..op2 }] in file order. */
function sysregHRegisters(gen) {
  const { macros, sysregHNames } = archMacros(gen);
  const out = [];
  const skipped = [];
  for (const name of new Set(sysregHNames)) {
    if (!name.startsWith("SYS_") || encodingHead(name, macros) !== "sys_reg") continue;
    const m = macros.get(name);
    const instances = [];
    if (m.params === null) instances.push({ name: name.slice(4), call: name });
    else if (PARAM_REGS[name]) {
      const [tmpl, lo, hi] = PARAM_REGS[name];
      for (let n = lo; n <= hi; n++) instances.push({ name: tmpl.replace("{n}", n), call: `${name}(${n})` });
    } else if (PARAM_HELPERS.has(name)) continue;
    else fail(`${gen}: asm/sysreg.h has parameterised register macro ${name}(); add it to PARAM_REGS`);
    for (const inst of instances) {
      const enc = decodeSysReg(evalC(inst.call, macros, `${gen} sysreg.h ${inst.call}`), macros);
      // op0 0/1 are PSTATE immediates, system instructions and AArch32 (cp15) encodings, not registers.
      if (enc.op0 < 2) skipped.push(inst.name);
      else out.push({ name: inst.name, ...enc });
    }
  }
  return { regs: out, skipped };
}

function buildSysregs() {
  const registers = [];
  const byName = new Map();
  const add = (def) => {
    registers.push(def);
    byName.set(def.name, def);
  };
  const counts = { sysreg: {}, sysregH: {} };
  for (const gen of [LATEST, FALLBACK]) {
    const parsed = sysregOf(gen) ?? fail(`${gen}: arch/arm64/tools/sysreg missing`);
    const label = `${gen}/tools/sysreg`;
    let n = 0;
    for (const r of parsed.regs) {
      if (byName.has(r.name)) continue;
      const { name, op0, op1, crn, crm, op2 } = r;
      add({ name, op0, op1, crn, crm, op2, fields: resolveFields(r, parsed, label), source: "sysreg" });
      n++;
    }
    counts.sysreg[gen] = n;
    if (parsed.skipped.prefixed.length) {
      note(`${label}: Prefix-block fields not in fields: ${parsed.skipped.prefixed.join(", ")}`);
    }
  }
  // asm/sysreg.h: LATEST and FALLBACK add every name tools/sysreg lacks (aliases included); the older
  // headers only fill encodings nothing newer names (their other names are since-renamed spellings).
  const encodings = () => new Set(registers.map(encKey));
  for (const gen of [LATEST, FALLBACK, "6.1", "5.10"]) {
    const { regs, skipped } = sysregHRegisters(gen);
    const known = gen === LATEST || gen === FALLBACK ? null : encodings();
    let n = 0;
    for (const r of regs) {
      if (byName.has(r.name) || (known && known.has(encKey(r)))) continue;
      add({ ...r, fields: [], source: "sysreg.h" });
      n++;
    }
    counts.sysregH[gen] = n;
    if (gen === LATEST)
      note(`${gen}/asm/sysreg.h: op0<2 encodings skipped (not registers): ${skipped.join(", ")}`);
  }
  registers.sort((a, b) => encCmp(a, b) || cmp(a.name, b.name));
  const groups = new Map();
  for (const r of registers) groups.set(encKey(r), [...(groups.get(encKey(r)) ?? []), r.name]);
  const aliases = [...groups.values()].filter((g) => g.length > 1);
  return { registers, counts, aliases };
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// Field layouts tools/sysreg lacks (MIDR_EL1, REVIDR_EL1, AIDR_EL1): a small committed table,
// scripts/gen-catalog.supplement.json, checked against asm/cputype.h where the kernel defines the fields.
const SUPPLEMENT = path.join(ROOT, "scripts/gen-catalog.supplement.json");
const FIELD_KINDS = new Set(["field", "unsignedEnum", "signedEnum", "enum", "res0", "res1", "raz", "ident"]);

function applySupplement(catalog) {
  const table = JSON.parse(fs.readFileSync(SUPPLEMENT, "utf8"));
  const cputype = new Map(
    GENS.map((gen) => {
      const macros = newMacros();
      const { defined } = preprocess(readSource(gen, "arch/arm64/include/asm/cputype.h"), macros);
      return [gen, { macros, defined }];
    }),
  );
  const applied = [];
  for (const entry of table.registers) {
    const where = `gen-catalog.supplement.json ${entry.name}`;
    const regs = catalog.registers.filter((r) => r.name === entry.name);
    if (regs.length !== 1) fail(`${where}: ${regs.length} catalog registers of that name`);
    const reg = regs[0];
    if (reg.fields.length) fail(`${where}: tools/sysreg describes it now; drop it from the supplement`);
    if (typeof entry.source !== "string" || !entry.source) fail(`${where}: no source cited`);
    let next = 63;
    const fields = entry.fields.map((f) => {
      const at = `${where}.${f.name}`;
      if (!FIELD_KINDS.has(f.kind)) fail(`${at}: unknown kind '${f.kind}'`);
      if (f.msb !== next || f.lsb > f.msb)
        fail(`${at}: bits ${f.msb}:${f.lsb}, expected the next from ${next}`);
      next = f.lsb - 1;
      const width = BigInt(f.msb - f.lsb + 1);
      if (f.cputype) {
        for (const [gen, { macros }] of cputype) {
          const shift = macros.has(`${f.cputype}_SHIFT`) ? evalC(`${f.cputype}_SHIFT`, macros, at) : 0n;
          const mask = evalC(`${f.cputype}_MASK`, macros, `${gen} ${at}`);
          if (shift !== BigInt(f.lsb) || mask !== ((1n << width) - 1n) << shift)
            fail(`${at}: ${gen} cputype.h has ${f.cputype} mask 0x${mask.toString(16)} shift ${shift}`);
        }
      }
      const out = { name: f.name, msb: f.msb, lsb: f.lsb, kind: f.kind };
      if (f.valuesFrom) {
        const { macros, defined } = cputype.get(LATEST);
        out.values = defined
          .filter((n) => n.startsWith(f.valuesFrom) && macros.get(n).params === null)
          .map((n) => ({ value: evalC(n, macros, `${at} ${n}`), name: n.slice(f.valuesFrom.length) }))
          .sort((a, b) => cmp(a.value, b.value));
        if (out.values.length === 0) fail(`${at}: no ${f.valuesFrom}* constants in ${LATEST} cputype.h`);
        for (const [i, v] of out.values.entries())
          if (v.value >> width || out.values[i + 1]?.value === v.value)
            fail(`${at}: ${f.valuesFrom}${v.name} = 0x${v.value.toString(16)} does not fit or repeats`);
      }
      return out;
    });
    if (next !== -1) fail(`${where}: fields end at bit ${next + 1}, not 0`);
    reg.fields = fields;
    reg.fieldsSource = entry.source;
    applied.push(entry.name);
  }
  return applied;
}

// ---------------------------------------------------------------------------------------------------------
// ftr-policy.json

const FTR_TYPES = {
  FTR_EXACT: "exact",
  FTR_LOWER_SAFE: "lowerSafe",
  FTR_HIGHER_SAFE: "higherSafe",
  FTR_HIGHER_OR_ZERO_SAFE: "higherOrZeroSafe",
};

/** Splits "a, f(b, c), d" at top-level commas into trimmed strings. */
function splitTopLevel(s) {
  const parts = [""];
  let level = 0;
  for (const c of s) {
    if ("([{".includes(c)) level++;
    if (")]}".includes(c)) level--;
    if (c === "," && level === 0) parts.push("");
    else parts[parts.length - 1] += c;
  }
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

/** Top-level "NAME(args)" / "{ ... }" items of an initializer body. */
function initializerItems(body, where) {
  return splitTopLevel(body).map((item) => {
    const call = /^(\w+)\s*\(([\s\S]*)\)$/.exec(item);
    if (call) return { macro: call[1], args: splitTopLevel(call[2]) };
    const brace = /^\{([\s\S]*)\}$/.exec(item);
    if (brace) return { macro: null, args: splitTopLevel(brace[1]) };
    if (/^\w+$/.test(item)) return { macro: item, args: [] };
    fail(`${where}: cannot parse initializer item '${item}'`);
  });
}

function flag(text, yes, no, where) {
  const t = text.trim();
  if (t === yes) return true;
  if (t === no) return false;
  const ifEnabled = /^FTR_VISIBLE_IF_IS_ENABLED\((\w+)\)$/.exec(t);
  if (yes === "FTR_VISIBLE" && ifEnabled) return debianConfig(ifEnabled[1]);
  fail(`${where}: unexpected '${t}' (wanted ${yes}/${no})`);
}

/** All arm64_ftr_bits tables of a (preprocessed) cpufeature.c: name -> raw entries. */
function parseFtrTables(text, gen) {
  const tables = new Map();
  const re = /struct\s+arm64_ftr_bits\s+(\w+)\s*\[\s*\]\s*=\s*\{([\s\S]*?)\n\s*\};/g;
  for (const m of text.matchAll(re)) {
    const where = `${gen} cpufeature.c ${m[1]}`;
    const entries = [];
    for (const item of initializerItems(m[2], where)) {
      if (item.macro === "ARM64_FTR_END") break;
      let args = item.args;
      let signed;
      if (item.macro === "ARM64_FTR_BITS" || item.macro === "S_ARM64_FTR_BITS")
        signed = item.macro[0] === "S";
      else if (item.macro === "__ARM64_FTR_BITS") {
        signed = flag(args[0], "FTR_SIGNED", "FTR_UNSIGNED", where);
        args = args.slice(1);
      } else fail(`${where}: unexpected entry ${item.macro ?? "{...}"}`);
      if (args.length !== 6) fail(`${where}: ${item.macro} with ${args.length} arguments`);
      const [visible, strict, type, shift, width, safe] = args;
      entries.push({ signed, visible, strict, type, shift, width, safe });
    }
    tables.set(m[1], entries);
  }
  if (tables.size === 0) fail(`${gen}: no arm64_ftr_bits tables found in cpufeature.c`);
  return tables;
}

/** arm64_ftr_regs[]: [{ idMacro, table }] (ARM64_FTR_REG, ARM64_FTR_REG_OVERRIDE, { id, &struct }). */
function parseFtrRegs(text, gen) {
  const m =
    /arm64_ftr_regs\s*\[\s*\]\s*=\s*\{([\s\S]*?)\n\s*\};/.exec(text) ??
    fail(`${gen}: arm64_ftr_regs[] not found`);
  const where = `${gen} cpufeature.c arm64_ftr_regs`;
  return initializerItems(m[1], where).map((item) => {
    if (item.macro === "ARM64_FTR_REG" || item.macro === "ARM64_FTR_REG_OVERRIDE") {
      return { idMacro: item.args[0], table: item.args[1] };
    }
    if (item.macro === null && item.args.length === 2) {
      // e.g. { SYS_CTR_EL0, &arm64_ftr_reg_ctrel0 }: the struct names its table in .ftr_bits
      const structName = item.args[1].replace(/^&/, "");
      const s = new RegExp(`struct\\s+arm64_ftr_reg\\s+${structName}\\s*=\\s*\\{([\\s\\S]*?)\\}`).exec(text);
      const bits = s && /\.ftr_bits\s*=\s*&?\(?(\w+)/.exec(s[1]);
      if (!bits) fail(`${where}: cannot find .ftr_bits of ${structName}`);
      return { idMacro: item.args[0], table: bits[1] };
    }
    fail(`${where}: unexpected entry ${item.macro ?? "{...}"}`);
  });
}

/** Catalog register at an encoding: the kernel's own spelling if listed, else tools/sysreg's name. */
function catalogAt(catalog, enc, kernelName) {
  const hits = catalog.registers.filter((r) => encKey(r) === encKey(enc));
  return hits.find((r) => r.name === kernelName) ?? hits.find((r) => r.source === "sysreg") ?? hits[0];
}

/** Field name: the LATEST catalog's name at this shift, else what the shift macro calls it. */
function fieldName(reg, shiftText, shift, width, where) {
  const f = reg.fields.find((x) => x.lsb === shift && !["res0", "res1", "raz"].includes(x.kind));
  if (f) {
    if (f.msb - f.lsb + 1 !== width)
      note(`${where}: ${f.name} is ${f.msb - f.lsb + 1} bits in ${LATEST}, ftr width ${width}`);
    return f.name;
  }
  const mac = /^(\w+)_SHIFT$/.exec(shiftText.trim());
  if (mac) {
    const base = mac[1];
    for (const p of [reg.name + "_", reg.name.replace(/_EL\d+$/, "") + "_"]) {
      if (base.startsWith(p) && base.length > p.length) return base.slice(p.length);
    }
    return base;
  }
  const res = reg.fields.find((x) => x.lsb === shift && x.msb === shift + width - 1);
  if (res) return res.name; // e.g. CTR_EL0's RES1 bit 31, which cpufeature.c pins
  const name = `BITS_${shift + width - 1}_${shift}`;
  note(`${where}: no field at bit ${shift} in ${LATEST}; named ${name}`);
  return name;
}

function buildFtrPolicy(gen, catalog) {
  const { macros } = archMacros(gen);
  const local = new Map(macros); // cpufeature.c's own #defines stay local to it
  const src = readSource(gen, "arch/arm64/kernel/cpufeature.c");
  const { text } = preprocess(src, local);
  const tables = parseFtrTables(text, gen);
  const result = {};
  const regOrder = [];
  for (const { idMacro, table } of parseFtrRegs(text, gen)) {
    const where = `${gen} ${idMacro}`;
    const enc = decodeSysReg(evalC(idMacro, local, where), local);
    const kernelName = idMacro.replace(/^SYS_/, "");
    const reg =
      catalogAt(catalog, enc, kernelName) ?? fail(`${where}: encoding ${encKey(enc)} not in the catalog`);
    if (reg.name !== kernelName) note(`${where}: keyed as ${reg.name} (catalog name at ${encKey(enc)})`);
    const entries = tables.get(table) ?? fail(`${where}: table ${table} not found`);
    result[reg.name] = entries.map((e) => {
      const shift = Number(evalC(e.shift, local, `${where} shift`));
      const width = Number(evalC(e.width, local, `${where} width`));
      const rawSafe = evalC(e.safe, local, `${where} safe value`);
      const safe = rawSafe & ((1n << BigInt(width)) - 1n); // the field's bits (S_ tables may say -1)
      if (safe !== rawSafe)
        note(`${where}: safe value ${e.safe} stored as field bits 0x${safe.toString(16)}`);
      return {
        field: fieldName(reg, e.shift, shift, width, `${where} bit ${shift}`),
        shift,
        width,
        signed: e.signed,
        type: FTR_TYPES[e.type.trim()] ?? fail(`${where}: unknown ftr type '${e.type}'`),
        safe,
        visible: flag(e.visible, "FTR_VISIBLE", "FTR_HIDDEN", where),
        strict: flag(e.strict, "FTR_STRICT", "FTR_NONSTRICT", where),
      };
    });
    regOrder.push({ name: reg.name, enc });
  }
  const overrides = applyKvmOverrides(gen, result, local, catalog);
  // Deterministic: registers by encoding (arm64_ftr_regs is sorted that way too)
  regOrder.sort((a, b) => encCmp(a.enc, b.enc));
  const sorted = {};
  for (const { name } of regOrder) sorted[name] = result[name];
  return { policy: sorted, overrides };
}

/**
 * KVM's own view of some fields: kvm_arm64_ftr_safe_value() in arch/arm64/kvm/sys_regs.c (v6.7+)
 * switches on the register, then on the field shift, and assigns kvm_ftr.type. Parsed from the source:
 *   case SYS_<REG>:  ...  case <SHIFT>: / if (kvm_ftr.shift == <SHIFT>)  ...  kvm_ftr.type = FTR_<T>;
 */
function applyKvmOverrides(gen, policy, macros, catalog) {
  const FN = "kvm_arm64_ftr_safe_value";
  const src = cleanSource(readSource(gen, "arch/arm64/kvm/sys_regs.c"));
  const start = src.search(new RegExp(`\\bs64\\s+${FN}\\s*\\(`));
  if (start < 0) return [];
  const body = src.slice(start, src.indexOf("\n}", start));
  const expected = (body.match(/kvm_ftr\.type\s*=/g) ?? []).length;
  const found = [];
  let reg = null;
  let shift = null;
  const re = /case\s+(\w+)\s*:|kvm_ftr\.shift\s*==\s*(\w+)|kvm_ftr\.type\s*=\s*(\w+)\s*;/g;
  for (const m of body.matchAll(re)) {
    if (m[1]?.startsWith("SYS_")) [reg, shift] = [m[1], null];
    else if (m[1] || m[2]) shift = m[1] ?? m[2];
    else if (reg && shift) found.push({ regMacro: reg, shiftMacro: shift, type: m[3] });
    else fail(`${gen}: ${FN}: assignment to kvm_ftr.type without a register and shift`);
  }
  if (found.length !== expected || expected === 0)
    fail(`${gen}: ${FN}: parsed ${found.length} of ${expected} overrides`);
  return found.map((o) => {
    const where = `${gen} ${FN}`;
    const enc = decodeSysReg(evalC(o.regMacro, macros, where), macros);
    const name = catalogAt(catalog, enc, o.regMacro.slice(4))?.name;
    const shift = Number(evalC(o.shiftMacro, macros, where));
    const entry =
      policy[name]?.find((p) => p.shift === shift) ??
      fail(`${where}: ${o.regMacro} bit ${shift} has no ftr entry`);
    const type = FTR_TYPES[o.type] ?? fail(`${where}: unknown type ${o.type}`);
    entry.kvmOverride = `${FN}() in arch/arm64/kvm/sys_regs.c: KVM treats this field as ${o.type} (host: ${Object.keys(FTR_TYPES).find((k) => FTR_TYPES[k] === entry.type)})`;
    entry.type = type;
    return `${name}.${entry.field} -> ${type}`;
  });
}

// ---------------------------------------------------------------------------------------------------------
// fw-regs.json

// Human names of the feature-bitmap bits and flag bits (uapi asm/kvm.h + Documentation/virt/kvm/arm/
// fw-pseudo-registers.rst). A bit not listed here stops the script so it gets described.
const BIT_SERVICES = {
  KVM_REG_ARM_STD_BIT_TRNG_V1_0: "SMCCC TRNG 1.0",
  KVM_REG_ARM_STD_HYP_BIT_PV_TIME: "PV time (stolen time)",
  KVM_REG_ARM_VENDOR_HYP_BIT_FUNC_FEAT: "KVM vendor hypervisor: feature discovery",
  KVM_REG_ARM_VENDOR_HYP_BIT_PTP: "KVM vendor hypervisor: PTP",
  KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_VER:
    "KVM vendor hypervisor: discover target implementation version",
  KVM_REG_ARM_VENDOR_HYP_BIT_DISCOVER_IMPL_CPUS: "KVM vendor hypervisor: discover target implementation CPUs",
  KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED: "SSBD mitigation active for this vCPU (with AVAIL)",
};
// KVM_ARM_PSCI_x_y (include/kvm/arm_psci.h) are the values of this register.
const PSCI_REG = "KVM_REG_ARM_PSCI_VERSION";

/** One generation's firmware registers: name -> { class, index, values: [...], bits: [...] }. */
function fwRegsOf(gen) {
  const { macros, kvmH, psci } = uapiMacros(gen);
  const coprocShift = evalC("KVM_REG_ARM_COPROC_SHIFT", macros, gen);
  const classes = {};
  for (const [mac, cls] of [
    ["KVM_REG_ARM_FW", "fw"],
    ["KVM_REG_ARM_FW_FEAT_BMAP", "fwBitmap"],
  ]) {
    if (macros.has(mac)) classes[evalC(mac, macros, gen)] = cls; // the bitmaps arrived in 5.18
  }
  const regs = new Map();
  const bitmapWaitingForEnum = [];
  for (const name of kvmH.defined) {
    const m = macros.get(name);
    if (m.params !== null || !/\bKVM_REG_ARM_FW(?:_FEAT_BMAP)?_REG\s*\(/.test(m.body)) continue;
    const id = evalC(name, macros, `${gen} ${name}`);
    const cls =
      classes[((id >> coprocShift) << coprocShift) & 0x0fff0000n] ??
      fail(`${gen}: ${name} is not a firmware register id`);
    regs.set(name, { class: cls, index: Number(id & 0xffffn), values: [], bits: [] });
    if (cls === "fwBitmap") bitmapWaitingForEnum.push(name);
  }
  // Named values and flag bits of the fw registers: <REG>_<SUFFIX> constants.
  for (const name of kvmH.defined) {
    const owner = [...regs.keys()].find((r) => name.startsWith(r + "_") && regs.get(r).class === "fw");
    const m = macros.get(name);
    if (!owner || m.params !== null) continue;
    const value = evalC(name, macros, `${gen} ${name}`);
    if (/<<|\bBIT\(/.test(m.body)) {
      if (value <= 0n || (value & (value - 1n)) !== 0n) fail(`${gen}: flag ${name} is not a single bit`);
      regs.get(owner).bits.push({ bit: value.toString(2).length - 1, name });
    } else regs.get(owner).values.push({ value, name });
  }
  // Bitmap bits: the enum following each KVM_REG_ARM_FW_FEAT_BMAP_REG() define.
  const lines = kvmH.text.split("\n");
  for (const name of bitmapWaitingForEnum) {
    const en = /^[^}]*?\benum\s*\{([^}]*)\}/.exec(lines.slice(kvmH.definedAt.get(name)).join("\n"));
    if (!en) fail(`${gen}: no enum of bits after ${name}`);
    let next = 0n;
    for (const item of splitTopLevel(en[1])) {
      const im = /^(\w+)(?:\s*=\s*(.+))?$/.exec(item) ?? fail(`${gen}: bad enum item '${item}'`);
      const value = im[2] ? evalC(im[2], macros, `${gen} ${im[1]}`) : next;
      next = value + 1n;
      if (/_BIT_COUNT$/.test(im[1])) continue; // kernel-internal sentinel
      if (!im[1].includes("_BIT_")) fail(`${gen}: ${name}: unexpected enum member ${im[1]}`);
      regs.get(name).bits.push({ bit: Number(value), name: im[1] });
    }
  }
  const psciReg = regs.get(PSCI_REG) ?? fail(`${gen}: ${PSCI_REG} not defined`);
  for (const name of psci.defined) {
    const v = /^KVM_ARM_PSCI_(\d+)_(\d+)$/.exec(name);
    if (v)
      psciReg.values.push({ value: evalC(name, macros, `${gen} ${name}`), name: `PSCI ${v[1]}.${v[2]}` });
  }
  if (psciReg.values.length === 0) fail(`${gen}: no KVM_ARM_PSCI_x_y versions in include/kvm/arm_psci.h`);
  return regs;
}

function buildFwRegs() {
  const merged = new Map();
  const firstSeen = (list, item, gen, key, same) => {
    const old = list.find((x) => x[key] === item[key]);
    if (!old) list.push({ ...item, since: gen });
    else if (!same(old, item)) fail(`${gen}: ${item[key] ?? item.name} changed meaning since ${old.since}`);
  };
  for (const gen of GENS) {
    for (const [name, r] of fwRegsOf(gen)) {
      const m = merged.get(name) ?? {
        name,
        class: r.class,
        index: r.index,
        since: gen,
        values: [],
        bits: [],
      };
      if (m.class !== r.class || m.index !== r.index)
        fail(`${gen}: ${name} moved from ${m.class}/${m.index}`);
      for (const v of r.values) firstSeen(m.values, v, gen, "name", (a, b) => a.value === b.value);
      for (const b of r.bits) firstSeen(m.bits, b, gen, "name", (a, c) => a.bit === c.bit);
      merged.set(name, m);
    }
  }
  const registers = [...merged.values()]
    .sort((a, b) => cmp(a.class, b.class) || a.index - b.index)
    .map((r) => {
      const out = { name: r.name, class: r.class, index: r.index, since: r.since };
      if (r.values.length)
        out.values = r.values
          .sort((a, b) => cmp(a.value, b.value))
          .map(({ value, name, since }) => ({ value, name, since }));
      if (r.bits.length) {
        out.bits = r.bits
          .sort((a, b) => a.bit - b.bit)
          .map(({ bit, name, since }) => ({
            bit,
            name,
            service: BIT_SERVICES[name] ?? fail(`no service description for ${name}; add it to BIT_SERVICES`),
            since,
          }));
      }
      return out;
    });
  return registers;
}

// ---------------------------------------------------------------------------------------------------------
// kvm-timer-names.json
//
// uapi asm/kvm.h: "KVM_REG_ARM_TIMER_CVAL and KVM_REG_ARM_TIMER_CNT are not defined with the appropriate
// register encodings. Their values have been accidentally swapped. As this is set API, the definitions
// here must be used". What each id really holds is read from KVM itself:
//  - up to 6.12: arch/arm64/kvm/guest.c routes is_timer_reg() ids to get_timer_reg()/set_timer_reg(),
//    i.e. kvm_arm_timer_get_reg() in arch/arm64/kvm/arch_timer.c, whose cases name the timer
//    (vcpu_vtimer/vcpu_ptimer) and the register (TIMER_REG_CTL/CNT/CVAL);
//  - later: arch/arm64/kvm/sys_regs.c kvm_one_reg_to_id() maps the two swapped ids to
//    TO_ARM64_SYS_REG(CNTV_CVAL_EL0 / CNTVCT_EL0); every other timer id is the register it encodes.

const TIMER_REGS = {
  vtimer: { CTL: "CNTV_CTL_EL0", CNT: "CNTVCT_EL0", CVAL: "CNTV_CVAL_EL0" },
  ptimer: { CTL: "CNTP_CTL_EL0", CNT: "CNTPCT_EL0", CVAL: "CNTP_CVAL_EL0" },
};

/** id macro -> architectural register KVM reads/writes through it, for one generation. */
function timerHolds(gen) {
  const holds = new Map();
  const sysRegs = cleanSource(readSource(gen, "arch/arm64/kvm/sys_regs.c"));
  const oneReg = /\bkvm_one_reg_to_id\s*\([^)]*\)\s*\{([\s\S]*?)\n\}/.exec(sysRegs);
  if (oneReg) {
    for (const m of oneReg[1].matchAll(
      /case\s+(KVM_REG_ARM_\w+)\s*:\s*return\s+TO_ARM64_SYS_REG\s*\(\s*(\w+)\s*\)/g,
    )) {
      holds.set(m[1], m[2]);
    }
    if (holds.size === 0) fail(`${gen}: kvm_one_reg_to_id() has no timer cases`);
    return { holds, identityForOthers: true, via: "sys_regs.c kvm_one_reg_to_id()" };
  }
  const timer = cleanSource(readSource(gen, "arch/arm64/kvm/arch_timer.c"));
  const get =
    /\bkvm_arm_timer_get_reg\s*\([^)]*\)\s*\{([\s\S]*?)\n\}/.exec(timer) ??
    fail(`${gen}: kvm_arm_timer_get_reg() not found`);
  const re =
    /case\s+(KVM_REG_ARM_\w+)\s*:\s*return\s+kvm_arm_timer_read\s*\(\s*vcpu\s*,\s*vcpu_(vtimer|ptimer)\s*\(\s*vcpu\s*\)\s*,\s*TIMER_REG_(CTL|CNT|CVAL)\s*\)/g;
  for (const m of get[1].matchAll(re)) holds.set(m[1], TIMER_REGS[m[2]][m[3]]);
  return { holds, identityForOthers: false, via: "arch_timer.c kvm_arm_timer_get_reg()" };
}

// What each generation's KVM selftest (get-reg-list.c) calls the timer ids: CNTV_CTL_EL0 for
// KVM_REG_ARM_TIMER_CTL, CNTV_CVAL_EL0 (the encoding's name) for KVM_REG_ARM_TIMER_CNT up to 6.12, ...
// Read from src/regs/fixtures/selftest-reglist-<gen>.json, which scripts/extract-selftest-reglists.mjs
// evaluates from the same kernel trees (npm run gen:fixtures). An id the selftest writes as a bare
// ARM64_SYS_REG(...) has no name there. Besides the KVM name, at most one other name is allowed.
const SELFTEST_FIXTURE = (gen) => path.join(ROOT, `src/regs/fixtures/selftest-reglist-${gen}.json`);
const BARE_SELFTEST_ID = /^(ARM64_SYS_REG\(|KVM_REG_ARM_FW_REG\(|KVM_REG_ARM64 \|)/;

function addSelftestNames(merged) {
  const byId = new Map([...merged.values()].map((t) => [t.id, t]));
  for (const gen of GENS) {
    const file = SELFTEST_FIXTURE(gen);
    if (!fs.existsSync(file)) fail(`${file} missing; run scripts/extract-selftest-reglists.mjs`);
    const fixture = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const e of Object.values(fixture.sublists).flat()) {
      const t = byId.get(BigInt(e.id));
      if (!t || BARE_SELFTEST_ID.test(e.name)) continue;
      t.selftestNames ??= {};
      if (t.selftestNames[gen] !== undefined && t.selftestNames[gen] !== e.name)
        fail(`${gen} get-reg-list.c names ${t.name} both ${t.selftestNames[gen]} and ${e.name}`);
      t.selftestNames[gen] = e.name;
    }
  }
  for (const t of merged.values()) {
    const others = new Set(Object.values(t.selftestNames ?? {}).filter((n) => n !== t.name));
    if (others.size > 1) fail(`selftests name ${t.name} ${[...others].join(" and ")}; one alias expected`);
  }
}

function buildTimerNames(catalog) {
  const merged = new Map();
  for (const gen of GENS) {
    const { macros, kvmH } = uapiMacros(gen);
    if (!/accidentally swapped/.test(readSource(gen, "arch/arm64/include/uapi/asm/kvm.h"))) {
      fail(`${gen}: uapi asm/kvm.h no longer warns about the swapped timer ids; re-check kvm-timer-names`);
    }
    const { holds, identityForOthers, via } = timerHolds(gen);
    const field = (id, n) =>
      Number(
        (id & evalC(`KVM_REG_ARM64_SYSREG_${n}_MASK`, macros, n)) >>
          evalC(`KVM_REG_ARM64_SYSREG_${n}_SHIFT`, macros, n),
      );
    for (const name of kvmH.defined) {
      if (!/^KVM_REG_ARM_P?TIMER_\w+$/.test(name) || !/\bARM64_SYS_REG\s*\(/.test(macros.get(name).body))
        continue;
      const id = evalC(name, macros, `${gen} ${name}`);
      const enc = {
        op0: field(id, "OP0"),
        op1: field(id, "OP1"),
        crn: field(id, "CRN"),
        crm: field(id, "CRM"),
        op2: field(id, "OP2"),
      };
      const arch =
        catalogAt(catalog, enc, null)?.name ?? fail(`${gen}: ${name}: no register at ${encKey(enc)}`);
      const held =
        holds.get(name) ?? (identityForOthers ? arch : fail(`${gen}: ${name} not handled by ${via}`));
      const old = merged.get(name);
      if (old && (old.holds !== held || encKey(old) !== encKey(enc)))
        fail(`${gen}: ${name} changed meaning since ${old.since}`);
      if (!old) merged.set(name, { name, ...enc, architecturalName: arch, holds: held, since: gen, id });
    }
  }
  addSelftestNames(merged);
  const cnt = merged.get("KVM_REG_ARM_TIMER_CNT") ?? fail("KVM_REG_ARM_TIMER_CNT not found");
  if (cnt.id !== 0x603000000013df1an)
    fail(`KVM_REG_ARM_TIMER_CNT is 0x${cnt.id.toString(16)}, expected 0x603000000013df1a`);
  // id was only for the check above; JSON.stringify drops undefined members
  return [...merged.values()]
    .sort((a, b) => cmp(a.name, b.name))
    .map((entry) => ({ ...entry, id: undefined }));
}

// ---------------------------------------------------------------------------------------------------------
// Output

/** JSON with bigints as "0x..." strings, 2-space indent, trailing newline. */
const bigintAsHex = (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v);

function toJson(value) {
  return JSON.stringify(value, bigintAsHex, 2) + "\n";
}

/** JSON indented down to `rowDepth` levels, each value at that depth on one line (a register, a field). */
function toRowsJson(value, rowDepth, indent = "") {
  if (rowDepth === 0 || value === null || typeof value !== "object")
    return JSON.stringify(value, bigintAsHex);
  const inner = indent + "  ";
  const rows = Array.isArray(value)
    ? value.map((v) => inner + toRowsJson(v, rowDepth - 1, inner))
    : Object.entries(value).map(
        ([k, v]) => `${inner}${JSON.stringify(k)}: ${toRowsJson(v, rowDepth - 1, inner)}`,
      );
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return rows.length ? `${open}\n${rows.join(",\n")}\n${indent}${close}` : open + close;
}

function writeAtomic(file, content) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

function main() {
  const sources = checkSources();
  const generatedFrom = Object.fromEntries(GENS.map((g) => [g, sources[g]]));

  const catalog = buildSysregs();
  const supplemented = applySupplement(catalog);
  const policies = {};
  const overrides = {};
  for (const gen of GENS) {
    const { policy, overrides: o } = buildFtrPolicy(gen, catalog);
    policies[gen] = policy;
    overrides[gen] = o;
  }
  const fwRegs = buildFwRegs();
  const timers = buildTimerNames(catalog);

  fs.mkdirSync(OUT_DIR, { recursive: true });
  const index = catalog.registers.map(({ fields: _fields, ...encoding }) => encoding);
  const fields = Object.fromEntries(
    catalog.registers.filter((r) => r.fields.length).map((r) => [r.name, r.fields]),
  );
  const outputs = {
    "sysregs.json": toRowsJson({ generatedFrom, registers: index }, 2) + "\n",
    "sysreg-fields.json": toRowsJson({ generatedFrom, fields }, 3) + "\n",
    "ftr-policy.json": toJson({ generatedFrom, generations: policies }),
    "fw-regs.json": toJson({ generatedFrom, registers: fwRegs }),
    "kvm-timer-names.json": toJson({ generatedFrom, registers: timers }),
  };
  for (const [name, text] of Object.entries(outputs)) writeAtomic(path.join(OUT_DIR, name), text);

  const c = catalog.counts;
  console.log(
    `sysregs.json: ${catalog.registers.length} registers; sysreg-fields.json: ${Object.keys(fields).length} with fields`,
  );
  console.log(
    `  tools/sysreg: ${Object.entries(c.sysreg)
      .map(([g, n]) => `${g} ${n}`)
      .join(", ")}`,
  );
  console.log(
    `  asm/sysreg.h only: ${Object.entries(c.sysregH)
      .map(([g, n]) => `${g} ${n}`)
      .join(", ")}`,
  );
  console.log(`  fields from gen-catalog.supplement.json: ${supplemented.join(", ")}`);
  console.log(`  encodings with several names: ${catalog.aliases.length}`);
  for (const a of catalog.aliases) console.log(`    ${a.join(" = ")}`);
  for (const gen of GENS) {
    const regs = Object.keys(policies[gen]);
    const fields = regs.reduce((n, r) => n + policies[gen][r].length, 0);
    console.log(
      `ftr-policy ${gen}: ${regs.length} registers, ${fields} fields; KVM overrides: ${overrides[gen].join(", ") || "none"}`,
    );
  }
  const bits = fwRegs.reduce((n, r) => n + (r.bits?.length ?? 0), 0);
  const values = fwRegs.reduce((n, r) => n + (r.values?.length ?? 0), 0);
  console.log(`fw-regs.json: ${fwRegs.length} registers, ${values} named values, ${bits} bits`);
  console.log(
    `kvm-timer-names.json: ${timers.map((t) => `${t.name}@${t.architecturalName} holds ${t.holds}`).join("; ")}`,
  );
  if (notes.length) {
    console.log(`notes (${notes.length}):`);
    for (const n of notes) console.log(`  - ${n}`);
  }
}

try {
  main();
} catch (e) {
  // One line either way; a non-GenError is a bug in this script rather than in the sources.
  console.error(`gen-catalog: ${e instanceof GenError ? "" : "internal error: "}${e.message}`);
  process.exit(1);
}
