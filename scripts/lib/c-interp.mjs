// A small interpreter for the straight-line C that QEMU's CPU initfns and feature-finalize functions are
// written in (target/arm/cpu64.c, cpu_tcg.c, cpu.c): blocks, if/else, return, declarations with
// initializers, assignments (=, |=, &=, ^=, +=, -=) to locals and to struct members (cpu->isar.id_x,
// cpu->ccsidr[2]), calls, and integer expressions with C precedence over BigInt. Loops are not
// supported: a statement the interpreter does not understand stops it (GenError), so a QEMU change that
// needs a human look is never silently skipped.
//
// Input is the token stream of scripts/lib/kernel-cpp.mjs (tokenize / expand), after preprocessing.
// Importing this module has no side effects.
import { GenError, collectArgs, expand, fail, parseNumber, tokenize } from "./kernel-cpp.mjs";

/** Integer widths of the C types these functions declare (signed types as negative widths). */
const TYPE_WIDTH = {
  uint64_t: 64,
  uint32_t: 32,
  uint16_t: 16,
  uint8_t: 8,
  int64_t: -64,
  int32_t: -32,
  int: -32,
  unsigned: 32,
  bool: 1,
};
const DECL_WORDS = new Set([
  ...Object.keys(TYPE_WIDTH),
  "const",
  "static",
  "ARMCPU",
  "CPUARMState",
  "ARMISARegisters",
  "Object",
  "Error",
  "CPUState",
  "DeviceState",
  "char",
  "long",
]);
const BINARY_PREC = Object.fromEntries(
  ["||", "&&", "|", "^", "&", "== !=", "< <= > >=", "<< >>", "+ -", "* / %"].flatMap((ops, k) =>
    ops.split(" ").map((op) => [op, k + 1]),
  ),
);
const COMPOUND = new Set(["|", "&", "^", "+", "-", "*", "<<", ">>"]);

/** Thrown by `return` to unwind to Interp.call. */
class Return extends Error {
  constructor(value) {
    super("return");
    this.value = value;
  }
}

const truncate = (v, width) => {
  if (typeof v !== "bigint" || !width) return v;
  if (width === 1) return v ? 1n : 0n;
  return width > 0 ? BigInt.asUintN(width, v) : BigInt.asIntN(-width, v);
};
const text = (toks) => toks.map((t) => t.v).join(" ");
const truthy = (v) => (typeof v === "bigint" ? v !== 0n : v !== null && v !== undefined);

/** A symbol: an identifier that names no variable (ARM_FEATURE_V8, aa64_sve, a Property object, ...). */
export class Sym {
  constructor(name) {
    this.name = name;
  }
  toString() {
    return this.name;
  }
}

/**
 * Extracts the function definitions of preprocessed C text: name -> { params, body (tokens), file }.
 * Only definitions starting at the beginning of a line are taken (QEMU style).
 */
export function functionsOf(preprocessedText, file, out = new Map()) {
  const re =
    /^(?:static\s+)?(?:inline\s+)?(?:void|bool|int|unsigned|uint64_t|uint32_t)\s+\**(\w+)\s*\(([^)]*)\)\s*\{/gm;
  let m;
  while ((m = re.exec(preprocessedText))) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    for (; i < preprocessedText.length && depth > 0; i++) {
      if (preprocessedText[i] === "{") depth++;
      else if (preprocessedText[i] === "}") depth--;
    }
    const params = m[2]
      .split(",")
      .map((p) => /(\w+)\s*$/.exec(p.trim())?.[1])
      .filter((p) => p && p !== "void");
    out.set(m[1], { name: m[1], params, body: tokenize(preprocessedText.slice(start, i - 1)), file });
    re.lastIndex = i;
  }
  return out;
}

/**
 * The interpreter. `functions`: name -> definition (functionsOf); `macros`: kernel-cpp macro table used to
 * expand each function body once; `builtins`: name -> (interp, args, argToks) => value, for calls that are
 * not interpreted (QOM/qdev plumbing, FIELD_DP64, ...). A call to anything else fails.
 */
export class Interp {
  constructor({ functions, macros, builtins, trace }) {
    this.functions = functions;
    this.macros = macros;
    this.builtins = builtins;
    this.trace = trace ?? (() => {});
    this.expanded = new Map();
  }

  /** Calls a defined function with argument values; returns its return value (undefined for void). */
  call(name, args) {
    const fn = this.functions.get(name) ?? fail(`no definition of ${name}() in the QEMU sources read`);
    if (!this.expanded.has(name)) this.expanded.set(name, expand(fn.body, this.macros));
    const scope = { vars: new Map(), widths: new Map(), fn: name };
    fn.params.forEach((p, k) => scope.vars.set(p, args[k]));
    const toks = this.expanded.get(name);
    try {
      let p = 0;
      while (p < toks.length) p = this.stmt(toks, p, scope, true);
    } catch (e) {
      if (e instanceof Return) return e.value;
      if (e instanceof GenError && !e.message.startsWith(`${name}(`)) e.message = `${name}(): ${e.message}`;
      throw e;
    }
    return undefined;
  }

  /** Runs a snippet of C statements with the given variables (name -> value); returns the variables. */
  run(code, vars, label) {
    const toks = expand(tokenize(code), this.macros);
    const scope = { vars: new Map(Object.entries(vars)), widths: new Map(), fn: label };
    let p = 0;
    while (p < toks.length) p = this.stmt(toks, p, scope, true);
    return scope.vars;
  }

  /** Evaluates one C expression with the given variables. */
  value(code, vars, label) {
    const scope = { vars: new Map(Object.entries(vars)), widths: new Map(), fn: label };
    return this.expr(expand(tokenize(code), this.macros), scope);
  }

  /** Executes (run=true) or skips the statement at toks[p]; returns the index after it. */
  stmt(toks, p, scope, run) {
    const t = toks[p];
    if (t.v === ";") return p + 1;
    if (t.v === "{") {
      const end = matchClose(toks, p);
      let q = p + 1;
      while (q < end) q = this.stmt(toks, q, scope, run);
      return end + 1;
    }
    if (t.t === "id" && t.v === "if") {
      const close = matchClose(toks, p + 1);
      const cond = run ? truthy(this.expr(toks.slice(p + 2, close), scope)) : false;
      let q = this.stmt(toks, close + 1, scope, run && cond);
      if (toks[q]?.v === "else") q = this.stmt(toks, q + 1, scope, run && !cond);
      return q;
    }
    if (t.t === "id" && ["for", "while", "do", "switch", "goto"].includes(t.v))
      fail(`'${t.v}' statements are not supported (in ${scope.fn})`);
    const end = statementEnd(toks, p);
    const s = toks.slice(p, end);
    if (run) this.simple(s, scope);
    return end + 1;
  }

  /** A statement without control flow: return, declaration, assignment or call. */
  simple(s, scope) {
    if (s[0].v === "return") throw new Return(s.length > 1 ? this.expr(s.slice(1), scope) : undefined);
    if (s[0].t === "id" && DECL_WORDS.has(s[0].v) && s[1]?.v !== "(") return this.declare(s, scope);
    const eq = topLevelIndex(s, (x) => x.t === "op" && x.v === "=");
    if (eq < 0) {
      this.expr(s, scope);
      return;
    }
    const compound = eq > 0 && s[eq - 1].t === "op" && COMPOUND.has(s[eq - 1].v) ? s[eq - 1].v : null;
    const lhs = s.slice(0, compound ? eq - 1 : eq);
    const ref = this.lvalue(lhs, scope);
    let v = this.expr(s.slice(eq + 1), scope);
    if (compound) v = binaryOp(compound, ref.get(), v);
    ref.set(v);
    this.trace({ fn: scope.fn, lhs: text(lhs), value: ref.get() });
  }

  declare(s, scope) {
    let i = 0;
    let width = 0;
    while (s[i]?.t === "id" && DECL_WORDS.has(s[i].v)) width = TYPE_WIDTH[s[i++].v] ?? width;
    for (const d of splitTop(s.slice(i), ",")) {
      let k = 0;
      while (d[k]?.v === "*") k++; // pointer declarators: ARMCPU *cpu = ARM_CPU(obj)
      const toks = d.slice(k);
      const name = toks[0]?.t === "id" ? toks[0].v : fail(`bad declaration '${text(s)}'`);
      if (toks[1]?.v === "[") fail(`array declarations are not supported: '${text(s)}'`);
      scope.widths.set(name, width);
      const init = toks[1]?.v === "=" ? truncate(this.expr(toks.slice(2), scope), width) : undefined;
      scope.vars.set(name, init);
    }
  }

  /** An assignable place: a local, or a member/element chain rooted at a local (cpu->isar.id_aa64pfr0). */
  lvalue(toks, scope) {
    if (toks.length === 1 && toks[0].t === "id") {
      const name = toks[0].v;
      if (!scope.vars.has(name)) fail(`assignment to undeclared '${name}' in ${scope.fn}`);
      return {
        get: () => scope.vars.get(name),
        set: (v) => scope.vars.set(name, truncate(v, scope.widths.get(name))),
      };
    }
    // Split off the last accessor: obj->f, obj.f or obj[i].
    const last = toks.at(-1);
    if (last.v === "]") {
      const open = matchOpen(toks, toks.length - 1);
      const base = this.expr(toks.slice(0, open), scope);
      const idx = Number(this.expr(toks.slice(open + 1, -1), scope));
      if (!Array.isArray(base)) fail(`'${text(toks)}' indexes a non-array`);
      return { get: () => base[idx] ?? 0n, set: (v) => (base[idx] = truncate(v, 64)) };
    }
    const acc = toks.at(-2);
    if (last.t === "id" && (acc?.v === "->" || acc?.v === ".")) {
      const base = this.expr(toks.slice(0, -2), scope);
      if (typeof base !== "object" || base === null || Array.isArray(base))
        fail(`'${text(toks)}': member of a non-struct`);
      return { get: () => base[last.v] ?? 0n, set: (v) => (base[last.v] = truncate(v, 64)) };
    }
    return fail(`cannot assign to '${text(toks)}' in ${scope.fn}`);
  }

  expr(toks, scope) {
    if (!toks.length) fail(`empty expression in ${scope.fn}`);
    const st = { toks, p: 0, scope };
    const v = this.ternary(st);
    if (st.p !== toks.length) fail(`trailing tokens in '${text(toks)}' (${scope.fn})`);
    return v;
  }

  ternary(st) {
    const c = this.binary(st, 1);
    if (st.toks[st.p]?.v !== "?") return c;
    st.p++;
    const a = this.ternary(st);
    if (st.toks[st.p++]?.v !== ":") fail(`expected ':' in '${text(st.toks)}'`);
    const b = this.ternary(st);
    return truthy(c) ? a : b;
  }

  binary(st, minPrec) {
    let l = this.unary(st);
    for (;;) {
      const op = st.toks[st.p];
      const prec = op?.t === "op" ? BINARY_PREC[op.v] : undefined;
      if (prec === undefined || prec < minPrec) return l;
      st.p++;
      const r = this.binary(st, prec + 1);
      l = binaryOp(op.v, l, r);
    }
  }

  unary(st) {
    const t = st.toks[st.p] ?? fail(`unexpected end of '${text(st.toks)}'`);
    if (t.t === "op" && ["-", "~", "!", "+"].includes(t.v)) {
      st.p++;
      const v = num(this.unary(st), st);
      return t.v === "-" ? -v : t.v === "~" ? ~v : t.v === "!" ? (v === 0n ? 1n : 0n) : v;
    }
    if (t.t === "op" && t.v === "&") {
      st.p++;
      return this.postfix(st); // address-of: the object itself stands for its address
    }
    if (t.v === "(" && st.toks[st.p + 1]?.t === "id" && TYPE_WIDTH[st.toks[st.p + 1].v] !== undefined) {
      const close = matchClose(st.toks, st.p);
      if (close === st.p + 2) {
        const width = TYPE_WIDTH[st.toks[st.p + 1].v];
        st.p = close + 1;
        return truncate(num(this.unary(st), st), width);
      }
    }
    return this.postfix(st);
  }

  postfix(st) {
    let v = this.primary(st);
    for (;;) {
      const t = st.toks[st.p];
      if (t?.v === "->" || t?.v === ".") {
        const f = st.toks[st.p + 1];
        if (f?.t !== "id") fail(`bad member access in '${text(st.toks)}'`);
        if (typeof v !== "object" || v === null) fail(`'${f.v}' of a non-struct in '${text(st.toks)}'`);
        v = f.v in v ? v[f.v] : 0n; // members nobody assigned read as 0 (QOM objects are zero-allocated)
        st.p += 2;
      } else if (t?.v === "[") {
        const close = matchClose(st.toks, st.p);
        const idx = Number(this.expr(st.toks.slice(st.p + 1, close), st.scope));
        if (!Array.isArray(v)) fail(`indexing a non-array in '${text(st.toks)}'`);
        v = v[idx] ?? 0n;
        st.p = close + 1;
      } else return v;
    }
  }

  primary(st) {
    const t = st.toks[st.p++];
    if (t.v === "(") {
      const close = matchClose(st.toks, st.p - 1);
      const v = this.expr(st.toks.slice(st.p, close), st.scope);
      st.p = close + 1;
      return v;
    }
    if (t.t === "num") return parseNumber(t.v);
    if (t.t === "str") {
      if (t.v.startsWith("'")) {
        const c = JSON.parse(`"${t.v.slice(1, -1)}"`);
        if (c.length !== 1) fail(`character literal ${t.v}`);
        return BigInt(c.charCodeAt(0));
      }
      return JSON.parse(t.v);
    }
    if (t.t !== "id") fail(`unexpected '${t.v}' in '${text(st.toks)}'`);
    if (st.toks[st.p]?.v === "(") {
      const { args, end } = collectArgs(st.toks, st.p);
      st.p = end;
      return this.invoke(t.v, args, st.scope);
    }
    if (st.scope.vars.has(t.v)) return st.scope.vars.get(t.v);
    if (t.v === "NULL") return 0n;
    if (t.v === "true") return 1n;
    if (t.v === "false") return 0n;
    return new Sym(t.v);
  }

  invoke(name, argToks, scope) {
    const b = this.builtins[name];
    if (b) return b(this, argToks, scope);
    if (this.functions.has(name))
      return this.call(
        name,
        argToks.map((a) => this.expr(a, scope)),
      );
    return fail(`call to ${name}() is neither interpreted nor a known builtin (in ${scope.fn})`);
  }
}

function num(v, st) {
  if (typeof v === "bigint") return v;
  return fail(`'${v instanceof Sym ? v.name : typeof v}' is not an integer in '${text(st.toks)}'`);
}

function binaryOp(op, l, r) {
  if (op === "==" || op === "!=") {
    const eq = typeof l === "bigint" && typeof r === "bigint" ? l === r : l === r;
    return (op === "==") === eq ? 1n : 0n;
  }
  if (op === "&&") return truthy(l) && truthy(r) ? 1n : 0n;
  if (op === "||") return truthy(l) || truthy(r) ? 1n : 0n;
  if (typeof l !== "bigint" || typeof r !== "bigint")
    fail(`operator ${op} on non-integers (${l instanceof Sym ? l.name : typeof l})`);
  switch (op) {
    case "*":
      return l * r;
    case "/":
      return r === 0n ? fail("division by zero") : l / r;
    case "%":
      return r === 0n ? fail("division by zero") : l % r;
    case "+":
      return l + r;
    case "-":
      return l - r;
    case "<<":
      return l << r;
    case ">>":
      return l >> r;
    case "<":
      return l < r ? 1n : 0n;
    case "<=":
      return l <= r ? 1n : 0n;
    case ">":
      return l > r ? 1n : 0n;
    case ">=":
      return l >= r ? 1n : 0n;
    case "&":
      return l & r;
    case "^":
      return l ^ r;
    case "|":
      return l | r;
  }
  return fail(`unknown operator ${op}`);
}

/** Index of the matching ')' / ']' / '}' for the opener at toks[open]. */
function matchClose(toks, open) {
  const pairs = { "(": ")", "[": "]", "{": "}" };
  const o = toks[open].v;
  const c = pairs[o] ?? fail(`no bracket at '${o}'`);
  let depth = 0;
  for (let i = open; i < toks.length; i++) {
    if (toks[i].t !== "op") continue;
    if (toks[i].v === o) depth++;
    else if (toks[i].v === c && --depth === 0) return i;
  }
  return fail(`unbalanced '${o}' in '${text(toks.slice(open, open + 12))} ...'`);
}

function matchOpen(toks, close) {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    if (toks[i].v === "]") depth++;
    else if (toks[i].v === "[" && --depth === 0) return i;
  }
  return fail(`unbalanced ']'`);
}

/** End (index of the ';') of a simple statement starting at p. */
function statementEnd(toks, p) {
  let depth = 0;
  for (let i = p; i < toks.length; i++) {
    const v = toks[i].t === "op" ? toks[i].v : null;
    if (v === "(" || v === "[" || v === "{") depth++;
    else if (v === ")" || v === "]" || v === "}") depth--;
    else if (v === ";" && depth === 0) return i;
  }
  return fail(`statement without ';': '${text(toks.slice(p, p + 12))} ...'`);
}

function topLevelIndex(toks, pred) {
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const v = toks[i].t === "op" ? toks[i].v : null;
    if (v === "(" || v === "[" || v === "{") depth++;
    else if (v === ")" || v === "]" || v === "}") depth--;
    else if (depth === 0 && pred(toks[i])) return i;
  }
  return -1;
}

function splitTop(toks, sep) {
  const out = [[]];
  let depth = 0;
  for (const t of toks) {
    const v = t.t === "op" ? t.v : null;
    if (v === "(" || v === "[" || v === "{") depth++;
    if (v === ")" || v === "]" || v === "}") depth--;
    if (v === sep && depth === 0) out.push([]);
    else out.at(-1).push(t);
  }
  return out.filter((x) => x.length);
}
