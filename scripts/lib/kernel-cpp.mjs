// The kernel-source toolkit shared by the generators (gen-catalog.mjs, gen-sim-sysregs.mjs,
// gen-sim-cpus.mjs, gen-sim-spectre.mjs): where the kernel trees of scripts/kernel-sources.sh live, a
// small C preprocessor (object- and function-like macros, ##, #if/#ifdef with Debian's arm64 config) and
// integer constant-expression evaluator with BigInt, and the arch/arm64/tools/sysreg parser.
//
// Importing it has no side effects: no file is read until a function asks for one (results are cached
// per generation). Failures throw GenError; each generator prints its message as one line.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const GENS = ["5.10", "6.1", "6.12", "7.2"];
const LATEST = "7.2";
const FALLBACK = "6.12"; // tools/sysreg registers that LATEST dropped or renamed
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

class GenError extends Error {}
function fail(msg) {
  throw new GenError(msg);
}
const notes = []; // oddities worth a human look; printed at the end
function note(msg) {
  notes.push(msg);
}

// ---------------------------------------------------------------------------------------------------------
// Sources

function cacheDir() {
  return process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
}

/** Checks every generation is fully extracted and returns gen -> "<package> <version>". */
function checkSources() {
  const ksrc = path.join(cacheDir(), "ksrc");
  const sources = {};
  for (const gen of GENS) {
    const sourceFile = path.join(ksrc, gen, "SOURCE");
    if (!fs.existsSync(sourceFile)) {
      fail(`kernel sources for ${gen} missing (${sourceFile}); run scripts/kernel-sources.sh`);
    }
    const line = fs.readFileSync(sourceFile, "utf8").trim();
    if (!/^linux-source-\S+ \S+$/.test(line)) fail(`${sourceFile} is not "<package> <version>": '${line}'`);
    sources[gen] = line;
  }
  return sources;
}

function srcPath(gen, rel) {
  return path.join(cacheDir(), "ksrc", gen, rel);
}
function hasSource(gen, rel) {
  return fs.existsSync(srcPath(gen, rel));
}
function readSource(gen, rel) {
  const p = srcPath(gen, rel);
  if (!fs.existsSync(p)) fail(`${gen}: ${rel} missing from the kernel sources (${p})`);
  return fs.readFileSync(p, "utf8");
}

// ---------------------------------------------------------------------------------------------------------
// A small C preprocessor: enough to evaluate the kernel's register macros (object- and function-like
// macros, ##, #if/#ifdef with the Debian config) and integer constant expressions, with BigInt.

const TOKEN_RE =
  /\s*(?:([A-Za-z_]\w*)|(\.?\d(?:[eEpP][+-]|[\w.])*)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(\.\.\.|<<=|>>=|##|<<|>>|<=|>=|==|!=|&&|\|\||->|\+\+|--|\S))/y;

function tokenize(text) {
  const out = [];
  TOKEN_RE.lastIndex = 0;
  let m;
  while (TOKEN_RE.lastIndex < text.length && (m = TOKEN_RE.exec(text))) {
    if (m[1] !== undefined) out.push({ t: "id", v: m[1] });
    else if (m[2] !== undefined) out.push({ t: "num", v: m[2] });
    else if (m[3] !== undefined) out.push({ t: "str", v: m[3] });
    else if (m[4] !== undefined) out.push({ t: "op", v: m[4] });
  }
  return out;
}

/** Joins backslash-continued lines and blanks out comments (keeping newlines, so lines stay lines). */
function cleanSource(text) {
  const s = text.replace(/\\\r?\n/g, "");
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "/" && s[i + 1] === "*") {
      const end = s.indexOf("*/", i + 2);
      const stop = end < 0 ? s.length : end + 2;
      out += " " + s.slice(i, stop).replace(/[^\n]/g, "");
      i = stop;
    } else if (c === "/" && s[i + 1] === "/") {
      while (i < s.length && s[i] !== "\n") i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c && s[j] !== "\n") j += s[j] === "\\" ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// Debian's arm64 kernel config, as far as these sources ask. Every CONFIG_ARM64_* feature option is on;
// the exceptions are the mutually exclusive page-size / address-size choices and big-endian.
const CONFIG_OFF = new Set([
  "CONFIG_ARM64_16K_PAGES",
  "CONFIG_ARM64_64K_PAGES",
  "CONFIG_ARM64_PA_BITS_52",
  "CONFIG_ARM64_VA_BITS_52",
  "CONFIG_CPU_BIG_ENDIAN",
  "CONFIG_BROKEN_GAS_INST",
]);
const CONFIG_ON = new Set(["CONFIG_COMPAT", "CONFIG_KVM", "CONFIG_HW_PERF_EVENTS", "CONFIG_ARM_ARCH_TIMER"]);
function debianConfig(name) {
  if (CONFIG_OFF.has(name)) return false;
  return CONFIG_ON.has(name) || name.startsWith("CONFIG_ARM64_");
}

// Kernel helpers from linux/bits.h, linux/const.h etc. (headers this script does not read). BigInt
// arithmetic is unbounded, so GENMASK is written without ~0 >> n.
const PRELUDE = `
#define UL(x) (x)
#define ULL(x) (x)
#define _UL(x) (x)
#define _ULL(x) (x)
#define _AC(x, y) (x)
#define _BITUL(x) (1 << (x))
#define _BITULL(x) (1 << (x))
#define BIT(nr) (1 << (nr))
#define BIT_ULL(nr) (1 << (nr))
#define GENMASK(h, l) ((((1 << ((h) - (l) + 1)) - 1) << (l)))
#define GENMASK_ULL(h, l) GENMASK(h, l)
#define GENMASK_U64(h, l) GENMASK(h, l)
#define true 1
#define false 0
`;

function newMacros() {
  const macros = new Map();
  preprocess(PRELUDE, macros);
  return macros;
}

function defineMacro(macros, line) {
  const m = /^([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$/s.exec(line);
  if (!m) return null;
  const [, name, paren, params, body] = m;
  let plist = null;
  let variadic = false;
  if (paren !== undefined) {
    plist = params
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "");
    if (plist.at(-1) === "...") {
      plist[plist.length - 1] = "__VA_ARGS__";
      variadic = true;
    }
  }
  macros.set(name, { name, params: plist, variadic, body: body.trim(), tokens: null });
  return name;
}

function macroTokens(m) {
  if (m.tokens === null) m.tokens = tokenize(m.body);
  return m.tokens;
}

/**
 * Runs the preprocessor over one file: records its #defines into `macros`, resolves conditionals with
 * debianConfig(), and returns the active non-directive text (same line count) plus the names this file
 * defined, in order and with their line index. `config` answers whether a CONFIG_* option is set when no
 * macro of that name exists (default: Debian's arm64 kernel config; QEMU's build is another).
 */
function preprocess(text, macros, config = debianConfig) {
  const lines = cleanSource(text).split("\n");
  const stack = []; // { active, taken, outer }
  const active = () => stack.every((s) => s.active);
  const out = [];
  const defined = [];
  const definedAt = new Map(); // name -> line index in the returned text
  for (const line of lines) {
    const d = /^\s*#\s*(\w+)\s*(.*)$/.exec(line);
    if (!d) {
      out.push(active() ? line : "");
      continue;
    }
    out.push("");
    const [, dir, rest] = d;
    const on = active();
    switch (dir) {
      case "if":
      case "ifdef":
      case "ifndef": {
        let v = false;
        if (on) {
          if (dir === "if") v = evalCondition(rest, macros, config);
          else {
            const name = rest.trim().split(/\s+/)[0];
            const isDef = macros.has(name) || config(name);
            v = dir === "ifdef" ? isDef : !isDef;
          }
        }
        stack.push({ active: on && v, taken: v, outer: on });
        break;
      }
      case "elif": {
        const top = stack.at(-1) ?? fail(`#elif without #if`);
        const v = top.outer && !top.taken && evalCondition(rest, macros, config);
        top.active = v;
        top.taken ||= v;
        break;
      }
      case "else": {
        const top = stack.at(-1) ?? fail(`#else without #if`);
        top.active = top.outer && !top.taken;
        top.taken = true;
        break;
      }
      case "endif":
        if (!stack.pop()) fail(`#endif without #if`);
        break;
      case "define":
        if (on) {
          const name = defineMacro(macros, rest);
          if (name) {
            defined.push(name);
            definedAt.set(name, out.length - 1);
          }
        }
        break;
      case "undef":
        if (on) macros.delete(rest.trim());
        break;
      default: // include, error, warning, pragma: nothing to do here
        break;
    }
  }
  return { text: out.join("\n"), defined, definedAt };
}

/** #if expression: defined()/IS_ENABLED() against macros + Debian config; unknown identifiers are 0. */
function evalCondition(expr, macros, config = debianConfig) {
  const isDef = (name) => macros.has(name) || config(name);
  const s = expr
    .replace(/\bdefined\s*\(\s*(\w+)\s*\)|\bdefined\s+(\w+)/g, (_, a, b) => (isDef(a ?? b) ? " 1 " : " 0 "))
    .replace(/\bIS_(?:ENABLED|BUILTIN|REACHABLE)\s*\(\s*(\w+)\s*\)/g, (_, a) => (config(a) ? " 1 " : " 0 "));
  try {
    return evalTokens(expand(tokenize(s), macros), { identAsZero: true }) !== 0n;
  } catch (e) {
    note(`#if ${expr.trim()}: cannot evaluate (${e.message}); taken as false`);
    return false;
  }
}

const NO_HIDE = new Set();

/** Macro expansion with per-token hide sets (rescans results, so macros producing macro calls work). */
function expand(tokens, macros, depth = 0) {
  if (depth > 64) fail("macro expansion too deep");
  const toks = tokens.map((t) => ({ ...t, hs: t.hs ?? NO_HIDE }));
  let i = 0;
  while (i < toks.length) {
    const t = toks[i];
    const m = t.t === "id" && !t.hs.has(t.v) ? macros.get(t.v) : undefined;
    if (!m) {
      i++;
      continue;
    }
    const hs = new Set(t.hs).add(t.v);
    if (m.params === null) {
      toks.splice(i, 1, ...substitute(m, null, hs, macros, depth));
      continue;
    }
    if (toks[i + 1]?.v !== "(") {
      i++;
      continue;
    }
    const { args, end } = collectArgs(toks, i + 1);
    toks.splice(i, end - i, ...substitute(m, args, hs, macros, depth));
  }
  return toks;
}

/** Reads the arguments of a macro call whose "(" is at toks[open]; returns them and the index after ")". */
/** Splits tokens at depth-0 commas (parens and braces), e.g. the entries of a C initializer list. */
function splitTop(toks) {
  const out = [[]];
  let depth = 0;
  for (const t of toks) {
    if (t.t === "op" && (t.v === "(" || t.v === "{")) depth++;
    if (t.t === "op" && (t.v === ")" || t.v === "}")) depth--;
    if (t.t === "op" && t.v === "," && depth === 0) out.push([]);
    else out.at(-1).push(t);
  }
  return out.filter((x) => x.length);
}

function collectArgs(toks, open) {
  const args = [[]];
  let level = 0;
  for (let j = open + 1; j < toks.length; j++) {
    const v = toks[j].t === "op" ? toks[j].v : null;
    if (v === "(") level++;
    if (v === ")" && level-- === 0)
      return { args: args.length === 1 && args[0].length === 0 ? [] : args, end: j + 1 };
    if (v === "," && level === 0) args.push([]);
    else args.at(-1).push(toks[j]);
  }
  fail("unterminated macro call");
}

function substitute(m, args, hs, macros, depth) {
  const body = macroTokens(m);
  const argOf = new Map();
  if (m.params) {
    const n = m.params.length;
    if (args.length < n - (m.variadic ? 1 : 0) || (!m.variadic && args.length > Math.max(n, 1))) {
      fail(`macro ${m.name} expects ${n} arguments, got ${args.length}`);
    }
    m.params.forEach((p, k) => {
      if (m.variadic && k === n - 1) {
        argOf.set(
          p,
          args.slice(k).flatMap((a, x) => (x ? [{ t: "op", v: "," }, ...a] : a)),
        );
      } else argOf.set(p, args[k] ?? []);
    });
  }
  const res = [];
  for (let k = 0; k < body.length; k++) {
    const tok = body[k];
    if (tok.v === "#" && m.params && argOf.has(body[k + 1]?.v)) {
      res.push({
        t: "str",
        v: JSON.stringify(
          argOf
            .get(body[++k].v)
            .map((a) => a.v)
            .join(" "),
        ),
      });
    } else if (tok.t === "id" && argOf.has(tok.v)) {
      const raw = argOf.get(tok.v);
      const pasted = body[k - 1]?.v === "##" || body[k + 1]?.v === "##";
      const val = pasted ? raw : expand(raw, macros, depth + 1);
      res.push(...(val.length ? val : [{ t: "pm", v: "" }]));
    } else res.push({ ...tok });
  }
  return paste(res).map((t) => ({ ...t, hs: t.hs ? new Set([...t.hs, ...hs]) : hs }));
}

function paste(toks) {
  const out = [];
  for (let k = 0; k < toks.length; k++) {
    if (toks[k].v === "##" && out.length && k + 1 < toks.length) {
      const left = out.pop();
      const text = left.v + toks[++k].v;
      out.push(...(text ? tokenize(text) : [{ t: "pm", v: "" }]));
    } else out.push(toks[k]);
  }
  return out.filter((t) => t.t !== "pm");
}

// Casts the kernel writes in constant expressions; fixed-width unsigned ones truncate.
const CAST_WIDTH = { u8: 8n, u16: 16n, u32: 32n, u64: 64n, __u8: 8n, __u16: 16n, __u32: 32n, __u64: 64n };
const TYPE_WORDS = new Set([
  ...Object.keys(CAST_WIDTH),
  ..."s8 s16 s32 s64 __s64 int long unsigned signed short char bool".split(" "),
]);
// Binary operators by C precedence (higher binds tighter).
const BINARY = Object.fromEntries(
  ["||", "&&", "|", "^", "&", "== !=", "< <= > >=", "<< >>", "+ -", "* / %"].flatMap((ops, k) =>
    ops.split(" ").map((op) => [op, k + 1]),
  ),
);

function parseNumber(s) {
  const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9]\d*)[uUlL]*$/.exec(s);
  if (!m) fail(`not an integer literal: '${s}'`);
  const d = m[1];
  if (/^0[bB]/.test(d)) return BigInt("0b" + d.slice(2));
  if (/^0[0-7]+$/.test(d)) return BigInt("0o" + d.slice(1));
  return BigInt(d);
}

/** Evaluates an integer constant expression (already macro-expanded). */
function evalTokens(toks, { identAsZero = false } = {}) {
  let p = 0;
  const peek = () => toks[p];
  const take = (v) => {
    if (toks[p]?.v !== v) fail(`expected '${v}' in '${toks.map((t) => t.v).join(" ")}'`);
    p++;
  };
  const isCast = () => {
    if (peek()?.v !== "(") return false;
    let q = p + 1;
    while (toks[q]?.t === "id" && TYPE_WORDS.has(toks[q].v)) q++;
    return q > p + 1 && toks[q]?.v === ")";
  };
  function unary() {
    const t = peek() ?? fail("unexpected end of expression");
    if (t.t === "op" && ["-", "+", "~", "!"].includes(t.v)) {
      p++;
      const v = unary();
      return t.v === "-" ? -v : t.v === "+" ? v : t.v === "~" ? ~v : v === 0n ? 1n : 0n;
    }
    if (isCast()) {
      p++;
      const words = [];
      while (peek().v !== ")") words.push(toks[p++].v);
      p++;
      const v = unary();
      const w =
        CAST_WIDTH[words.join(" ")] ?? (words.includes("unsigned") && words.includes("long") ? 64n : null);
      return w ? v & ((1n << w) - 1n) : v;
    }
    p++;
    if (t.v === "(") {
      const v = ternary();
      take(")");
      return v;
    }
    if (t.t === "num") return parseNumber(t.v);
    if (t.t === "id" && identAsZero) return 0n;
    fail(t.t === "id" ? `unknown identifier '${t.v}'` : `unexpected '${t.v}'`);
  }
  function binary(minPrec) {
    let l = unary();
    for (;;) {
      const op = peek();
      const prec = op?.t === "op" ? BINARY[op.v] : undefined;
      if (prec === undefined || prec < minPrec) return l;
      p++;
      const r = binary(prec + 1);
      l = APPLY[op.v](l, r);
    }
  }
  function ternary() {
    const c = binary(1);
    if (peek()?.v !== "?") return c;
    p++;
    const a = ternary();
    take(":");
    const b = ternary();
    return c !== 0n ? a : b;
  }
  const v = ternary();
  if (p !== toks.length) fail(`trailing tokens in '${toks.map((t) => t.v).join(" ")}'`);
  return v;
}

const bool = (x) => (x ? 1n : 0n);
const APPLY = {
  "*": (l, r) => l * r,
  "/": (l, r) => (r === 0n ? fail("division by zero") : l / r),
  "%": (l, r) => (r === 0n ? fail("division by zero") : l % r),
  "+": (l, r) => l + r,
  "-": (l, r) => l - r,
  "<<": (l, r) => l << r,
  ">>": (l, r) => l >> r,
  "<": (l, r) => bool(l < r),
  "<=": (l, r) => bool(l <= r),
  ">": (l, r) => bool(l > r),
  ">=": (l, r) => bool(l >= r),
  "==": (l, r) => bool(l === r),
  "!=": (l, r) => bool(l !== r),
  "&": (l, r) => l & r,
  "^": (l, r) => l ^ r,
  "|": (l, r) => l | r,
  "&&": (l, r) => bool(l !== 0n && r !== 0n),
  "||": (l, r) => bool(l !== 0n || r !== 0n),
};

/** Expands and evaluates C text, failing loudly (with `what` for context). */
function evalC(text, macros, what) {
  try {
    return evalTokens(expand(tokenize(text), macros));
  } catch (e) {
    if (e instanceof GenError) fail(`${what}: cannot evaluate '${text.trim()}' (${e.message})`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// arch/arm64/tools/sysreg (format: that file's header comment and arch/arm64/tools/gen-sysreg.awk)

/**
 * Parses tools/sysreg into { regs: [{ name, op0..op2, fields, fieldsRef, mapping }], fieldSets: Map }.
 * Also returns the #defines gen-sysreg.awk would generate (asm/sysreg-defs.h is a build product, absent
 * from the source package) so that cpufeature.c's <REG>_<FIELD>_SHIFT etc. can be evaluated.
 */
function parseSysregFile(text, label) {
  const regs = [];
  const fieldSets = new Map();
  const defines = [];
  const skipped = { prefixed: [] };
  let block = null; // current Sysreg/SysregFields
  let prefix = null; // active Prefix block name
  let en = null; // current Enum field
  const def = (name, value) => defines.push(`#define ${name} ${value}`);
  const lines = text.split("\n");
  lines.forEach((raw, idx) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const w = line.split(/\s+/);
    const where = `${label}:${idx + 1}`;
    const bits = (spec) => {
      const m = /^(\d+)(?::(\d+))?$/.exec(spec ?? "") ?? fail(`${where}: bad bit range '${spec}'`);
      return { msb: Number(m[1]), lsb: Number(m[2] ?? m[1]) };
    };
    if (en) {
      if (w[0] === "EndEnum") en = null;
      else if (/^0[bx][0-9a-fA-F]+$/.test(w[0]) && w.length === 2) {
        const value = w[0].startsWith("0b") ? BigInt("0b" + w[0].slice(2)) : BigInt(w[0]);
        en.field.values.push({ value, name: w[1] });
        def(`${en.macro}_${w[1]}`, `0x${value.toString(16)}`);
      } else fail(`${where}: unexpected '${line}' in Enum`);
      return;
    }
    const fieldMacro = (name) => `${prefix ? prefix + "_" : ""}${block.name}_${name}`;
    const addField = (kind, spec, name) => {
      const { msb, lsb } = bits(spec);
      const fname = name ?? `${kind.toUpperCase()}_${msb}_${lsb}`;
      const field = { name: fname, msb, lsb, kind };
      if (kind.endsWith("num")) field.values = [];
      if (name) {
        const mac = fieldMacro(name);
        const mask = `0x${(((1n << BigInt(msb - lsb + 1)) - 1n) << BigInt(lsb)).toString(16)}`;
        def(mac, mask);
        def(`${mac}_MASK`, mask);
        def(`${mac}_SHIFT`, lsb);
        def(`${mac}_WIDTH`, msb - lsb + 1);
        if (kind === "signedEnum" || kind === "unsignedEnum")
          def(`${mac}_SIGNED`, kind === "signedEnum" ? 1 : 0);
      }
      // Prefix blocks describe an alternative layout (e.g. ICH_VMCR_EL2 under FEAT_GCIE); FieldDef has no
      // way to say "alternative", so only their #defines are kept.
      if (prefix) skipped.prefixed.push(`${block.name}.${prefix}_${fname}`);
      else block.fields.push(field);
      return field;
    };
    switch (w[0]) {
      case "Sysreg": {
        if (block || w.length !== 7) fail(`${where}: bad Sysreg line '${line}'`);
        const [op0, op1, crn, crm, op2] = w.slice(2).map(Number);
        block = { name: w[1], op0, op1, crn, crm, op2, fields: [], fieldsRef: null, mapping: null };
        def(`SYS_${w[1]}`, `sys_reg(${op0}, ${op1}, ${crn}, ${crm}, ${op2})`);
        for (const [k, v] of Object.entries({ Op0: op0, Op1: op1, CRn: crn, CRm: crm, Op2: op2 })) {
          def(`SYS_${w[1]}_${k}`, v);
        }
        return;
      }
      case "SysregFields":
        if (block || w.length !== 2) fail(`${where}: bad SysregFields line '${line}'`);
        block = { name: w[1], fields: [], isFieldSet: true };
        return;
      case "EndSysreg":
      case "EndSysregFields":
        if (!block || (w[0] === "EndSysreg") === Boolean(block.isFieldSet)) fail(`${where}: stray ${w[0]}`);
        if (block.isFieldSet) fieldSets.set(block.name, block.fields);
        else regs.push(block);
        block = null;
        return;
    }
    if (!block) fail(`${where}: '${line}' outside a Sysreg block`);
    switch (w[0]) {
      case "Fields":
        block.fieldsRef = w[1];
        return;
      case "Mapping": // VHE alias (*_EL12/*_EL02): accesses the named register, same layout
        block.mapping = w[1];
        return;
      case "Prefix":
        prefix = w[1];
        return;
      case "EndPrefix":
        prefix = null;
        return;
      case "Res0":
      case "Res1":
      case "Raz":
        addField(w[0].toLowerCase(), w[1]);
        return;
      case "Unkn": // FieldDef has no "unknown" kind; left out of fields (a gap), reported
        note(`${label}: ${block.name} Unkn ${w[1]} left out of fields (FieldDef has no unkn kind)`);
        return;
      case "Field":
        addField("field", w[1], w[2]);
        return;
      case "Enum":
      case "SignedEnum":
      case "UnsignedEnum": {
        const kind = { Enum: "enum", SignedEnum: "signedEnum", UnsignedEnum: "unsignedEnum" }[w[0]];
        en = { field: addField(kind, w[1], w[2]), macro: fieldMacro(w[2]) };
        return;
      }
    }
    fail(`${where}: unknown tools/sysreg directive '${w[0]}'`);
  });
  if (block || en || prefix) fail(`${label}: unterminated block at end of file`);
  return { regs, fieldSets, defines: defines.join("\n"), skipped };
}

const cloneFields = (fields) =>
  fields.map((f) => ({ ...f, ...(f.values && { values: f.values.map((v) => ({ ...v })) }) }));

/** A register's fields with Fields/Mapping references resolved (copies, MSB first). */
function resolveFields(reg, parsed, label, seen = new Set()) {
  if (seen.has(reg.name)) fail(`${label}: Mapping loop at ${reg.name}`);
  seen.add(reg.name);
  if (reg.fieldsRef) {
    const set = parsed.fieldSets.get(reg.fieldsRef);
    if (set) return cloneFields(set);
    // gen-sysreg.awk treats "Fields" as a comment, so a dangling name builds fine in the kernel.
    note(`${label}: ${reg.name}: "Fields ${reg.fieldsRef}" names no SysregFields block; fields left empty`);
    return [];
  }
  if (reg.mapping) {
    const target =
      parsed.regs.find((r) => r.name === reg.mapping) ??
      fail(`${label}: ${reg.name}: Mapping to unknown ${reg.mapping}`);
    return resolveFields(target, parsed, label, seen);
  }
  return cloneFields(reg.fields);
}

// ---------------------------------------------------------------------------------------------------------
// Per-generation macro tables

const sysregCache = new Map();
function sysregOf(gen) {
  if (!sysregCache.has(gen)) {
    const rel = "arch/arm64/tools/sysreg";
    sysregCache.set(gen, hasSource(gen, rel) ? parseSysregFile(readSource(gen, rel), `${gen}/${rel}`) : null);
  }
  return sysregCache.get(gen);
}

const archMacroCache = new Map();
/** Macros of asm/sysreg.h (+ the generated sysreg-defs.h), cpufeature.h and cache.h; sysreg.h's own names too. */
function archMacros(gen) {
  if (!archMacroCache.has(gen)) {
    const macros = newMacros();
    const parsed = sysregOf(gen);
    if (parsed) preprocess(parsed.defines, macros);
    const { defined } = preprocess(readSource(gen, "arch/arm64/include/asm/sysreg.h"), macros);
    preprocess(readSource(gen, "arch/arm64/include/asm/cpufeature.h"), macros);
    preprocess(readSource(gen, "arch/arm64/include/asm/cache.h"), macros); // CTR_*_SHIFT before 6.x
    archMacroCache.set(gen, { macros, sysregHNames: defined });
  }
  return archMacroCache.get(gen);
}

/** Macros of the uapi headers that define KVM's ONE_REG ids, plus KVM's PSCI versions. */
function uapiMacros(gen) {
  const macros = newMacros();
  preprocess(readSource(gen, "include/uapi/linux/kvm.h"), macros);
  preprocess(readSource(gen, "include/uapi/linux/psci.h"), macros);
  const kvmH = preprocess(readSource(gen, "arch/arm64/include/uapi/asm/kvm.h"), macros);
  const psci = preprocess(readSource(gen, "include/kvm/arm_psci.h"), macros);
  return { macros, kvmH, psci };
}

/** Decodes a sys_reg() value with the kernel's own Op0_shift/... macros. */
function decodeSysReg(value, macros) {
  const f = (n) => Number((value >> evalC(`${n}_shift`, macros, n)) & evalC(`${n}_mask`, macros, n));
  return { op0: f("Op0"), op1: f("Op1"), crn: f("CRn"), crm: f("CRm"), op2: f("Op2") };
}

export {
  splitTop,
  GENS,
  LATEST,
  FALLBACK,
  ROOT,
  GenError,
  fail,
  notes,
  note,
  cacheDir,
  checkSources,
  srcPath,
  hasSource,
  readSource,
  tokenize,
  cleanSource,
  debianConfig,
  newMacros,
  defineMacro,
  macroTokens,
  preprocess,
  evalCondition,
  expand,
  collectArgs,
  evalTokens,
  parseNumber,
  evalC,
  parseSysregFile,
  resolveFields,
  sysregOf,
  archMacros,
  uapiMacros,
  decodeSysReg,
};
