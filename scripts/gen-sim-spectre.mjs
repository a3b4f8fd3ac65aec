#!/usr/bin/env node
// Generates src/kvm/sim/generated/spectre.json: the MIDR lists by which each kernel generation decides
// its Spectre-v2/v4/BHB and Meltdown states, evaluated with the generation's own asm/cputype.h macros:
//
//   arch/arm64/kernel/proton-pack.c  spectre_v2_safe_list   spectre_v2_get_cpu_hw_mitigation_state
//                                    spectre_v3a_unsafe_list has_spectre_v3a
//                                    spectre_v4_safe_list   spectre_v4_get_cpu_hw_mitigation_state
//                                    spectre_bhb_safe_list  is_spectre_bhb_safe (6.1+; "assume affected")
//                                    spectre_bhb_k<N>_list  spectre_bhb_loop_affected (N = loop count)
//                                    spectre_bhb_firmware_mitigated_list  is_spectre_bhb_fw_affected (5.10)
//   arch/arm64/kernel/cpufeature.c   kpti_safe_list         unmap_kernel_at_el0
//
// plus which variant of the BHB logic the tree has (5.10.223 still has the original "affected only if
// listed" code; 6.1.176 got the "affected unless safe-listed" rework through the stable backports) and
// the order of the loop-count lists. src/kvm/sim/spectre.ts follows the code; this file is its data.
//
//   run: node scripts/gen-sim-spectre.mjs [--check]
import fs from "node:fs";
import path from "node:path";
import {
  GENS,
  GenError,
  ROOT,
  checkSources,
  cleanSource,
  evalTokens,
  expand,
  fail,
  newMacros,
  preprocess,
  readSource,
  tokenize,
  splitTop,
} from "./lib/kernel-cpp.mjs";

const OUT = path.join(ROOT, "src/kvm/sim/generated/spectre.json");
const PROTON = "arch/arm64/kernel/proton-pack.c";
const CPUFEATURE = "arch/arm64/kernel/cpufeature.c";

const hex = (v) => `0x${BigInt.asUintN(32, v).toString(16)}`;
const norm = (s) => cleanSource(s).replace(/\s+/g, " ");

function cputypeMacros(gen) {
  const macros = newMacros();
  preprocess("#define _AT(T, X) ((T)(X))", macros); // include/uapi/linux/const.h
  preprocess(readSource(gen, "arch/arm64/include/asm/cputype.h"), macros);
  return macros;
}

/** Every `static const struct midr_range NAME[] = { ... };` of a file: name -> raw initializer text. */
function midrLists(text) {
  const out = new Map();
  const re = /static\s+const\s+struct\s+midr_range\s+(\w+)\s*\[\s*\]\s*=\s*\{/g;
  let m;
  while ((m = re.exec(text))) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}") depth--;
    }
    if (out.has(m[1])) fail(`two lists named ${m[1]}`);
    out.set(m[1], text.slice(start, i - 1));
    re.lastIndex = i;
  }
  return out;
}

/** A list's entries: { cpu (the MIDR_* macro named), model, rvMin, rvMax, macro (MIDR_ALL_VERSIONS...) }. */
function evalList(gen, name, body, macros) {
  const entries = [];
  for (const item of splitTop(tokenize(body))) {
    if (item[0].v === "{" && item[1]?.v === "}") continue; // { /* sentinel */ }
    if (item[0].t !== "id" || item[1]?.v !== "(")
      fail(`${gen} ${name}: unexpected entry '${item.map((t) => t.v).join(" ")}'`);
    const cpu = item[2].v;
    const ex = expand(item, macros);
    if (ex[0].v !== "{" || ex.at(-1).v !== "}")
      fail(`${gen} ${name}: ${item[0].v}(...) is not a struct initializer`);
    const fields = {};
    for (const f of splitTop(ex.slice(1, -1))) {
      if (f[0].v !== "." || f[2]?.v !== "=")
        fail(`${gen} ${name}: unexpected initializer '${f.map((t) => t.v).join(" ")}'`);
      fields[f[1].v] = evalTokens(f.slice(3));
    }
    if (fields.model === undefined || fields.rv_min === undefined || fields.rv_max === undefined)
      fail(`${gen} ${name}: ${cpu} lacks model/rv_min/rv_max`);
    entries.push({
      cpu,
      macro: item[0].v,
      model: hex(fields.model),
      rvMin: hex(fields.rv_min),
      rvMax: hex(fields.rv_max),
    });
  }
  return entries;
}

/** The loop-count lists in the order spectre_bhb_loop_affected tests them, with the k each one sets. */
function bhbLoopOrder(gen, proton) {
  const order = [];
  const re =
    /is_midr_in_range_list\(\s*(?:read_cpuid_id\(\)\s*,\s*)?(spectre_bhb_k(\d+)_list)\s*\)\s*\)\s*k\s*=\s*(\d+)\s*;/g;
  for (const m of proton.matchAll(re)) {
    if (m[2] !== m[3]) fail(`${gen}: ${m[1]} sets k = ${m[3]}`);
    order.push({ k: Number(m[3]), list: m[1] });
  }
  if (!order.length) fail(`${gen}: no spectre_bhb_k<N>_list tests in spectre_bhb_loop_affected`);
  return order;
}

/**
 * Which shape of the code this tree has. spectre.ts implements the shapes found in the four trees and
 * refuses an unknown one, so a kernel update that changes them needs a human look.
 */
function logicOf(gen, proton, cpufeature) {
  const has = (text, snippet) => norm(text).includes(norm(snippet));
  const need = (text, file, snippet) => {
    if (!has(text, snippet)) fail(`${gen} ${file}: '${snippet}' not found; revisit spectre.ts`);
  };
  // Spectre-v2: CSV2 or the safe list; else the firmware's WORKAROUND_1 answer.
  need(proton, PROTON, "if (cpuid_feature_extract_unsigned_field(pfr0,");
  need(proton, PROTON, "if (spectre_v2_get_cpu_fw_mitigation_state() == SPECTRE_UNAFFECTED) return false;");
  need(
    proton,
    PROTON,
    "state = spectre_v2_get_cpu_hw_mitigation_state(); if (state == SPECTRE_VULNERABLE) state = spectre_v2_enable_fw_mitigation();",
  );
  // Spectre-v4: safe list, then SSBS, then the firmware's WORKAROUND_2 answer.
  need(proton, PROTON, "if (this_cpu_has_cap(ARM64_SSBS)) return SPECTRE_MITIGATED;");
  need(
    proton,
    PROTON,
    "state = spectre_v4_enable_hw_mitigation(); if (state == SPECTRE_VULNERABLE) state = spectre_v4_enable_fw_mitigation();",
  );
  // Spectre-BHB
  need(proton, PROTON, "if (supports_csv2p3(scope)) return false;");
  need(proton, PROTON, "if (arm64_get_spectre_v2_state() == SPECTRE_VULNERABLE) {");
  const unlessSafe = has(proton, "if (is_spectre_bhb_safe(scope)) return false;");
  const knownLists =
    has(proton, "if (supports_clearbhb(scope)) return true;") &&
    has(proton, "if (is_spectre_bhb_fw_affected(scope)) return true;");
  if (unlessSafe === knownLists) fail(`${gen}: unrecognised is_spectre_bhb_affected(); revisit spectre.ts`);
  // Meltdown: the safe list or CSV3 (has_cpuid_feature on the ARM64_UNMAP_KERNEL_AT_EL0 entry)
  need(cpufeature, CPUFEATURE, "if (has_cpuid_feature(entry, scope)) meltdown_safe = true;");
  return {
    bhbAffected: unlessSafe ? "unlessSafeListed" : "onlyIfListed",
    /** arm64_get_meltdown_state() exists (6.1+; KVM's CSV3 is derived from it). */
    meltdownState: has(cpufeature, "enum mitigation_state arm64_get_meltdown_state(void)"),
  };
}

function build(gen) {
  const macros = cputypeMacros(gen);
  const proton = readSource(gen, PROTON);
  const cpufeature = readSource(gen, CPUFEATURE);
  const lists = {};
  for (const [file, text] of [
    [PROTON, proton],
    [CPUFEATURE, cpufeature],
  ]) {
    for (const [name, body] of midrLists(cleanSource(text))) {
      if (!/^(spectre_|kpti_safe_list$)/.test(name)) continue;
      lists[name] = { file, entries: evalList(gen, name, body, macros) };
    }
  }
  for (const need of ["spectre_v2_safe_list", "spectre_v4_safe_list", "kpti_safe_list"])
    if (!lists[need]) fail(`${gen}: ${need} not found`);
  const logic = logicOf(gen, proton, cpufeature);
  if (logic.bhbAffected === "unlessSafeListed" && !lists.spectre_bhb_safe_list)
    fail(`${gen}: spectre_bhb_safe_list not found`);
  if (logic.bhbAffected === "onlyIfListed" && !lists.spectre_bhb_firmware_mitigated_list)
    fail(`${gen}: spectre_bhb_firmware_mitigated_list not found`);
  const bhbLoop = bhbLoopOrder(gen, cleanSource(proton));
  for (const { list } of bhbLoop) if (!lists[list]) fail(`${gen}: ${list} not found`);
  // midr_is_cpu_model_range(): model = midr & MIDR_CPU_MODEL_MASK, rv = midr & (REVISION | VARIANT masks)
  const ev = (expr) => hex(evalTokens(expand(tokenize(expr), macros)));
  const midr = { modelMask: ev("MIDR_CPU_MODEL_MASK"), rvMask: ev("MIDR_REVISION_MASK | MIDR_VARIANT_MASK") };
  return { logic, midr, bhbLoop, lists };
}

function main() {
  const sources = checkSources();
  const out = { generatedBy: "scripts/gen-sim-spectre.mjs", generatedFrom: sources, generations: {} };
  for (const gen of GENS) out.generations[gen] = build(gen);
  const json = JSON.stringify(out, null, 1) + "\n";
  if (process.argv.includes("--check")) {
    const cur = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
    if (cur !== json) {
      console.error(`${path.relative(ROOT, OUT)} is out of date; run node scripts/gen-sim-spectre.mjs`);
      process.exit(1);
    }
    return;
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, json);
  for (const gen of GENS) {
    const g = out.generations[gen];
    console.log(
      `${gen}: BHB ${g.logic.bhbAffected}, loop k ${g.bhbLoop.map((l) => l.k).join("/")}; ` +
        Object.entries(g.lists)
          .map(([n, l]) => `${n} ${l.entries.length}`)
          .join(", "),
    );
  }
}

try {
  main();
} catch (e) {
  if (e instanceof GenError) {
    console.error(`gen-sim-spectre: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
