#!/usr/bin/env node
// Turn the arm64 KVM selftest get-reg-list.c of each cached kernel tree (scripts/kernel-sources.sh)
// into src/regs/fixtures/selftest-reglist-<gen>.json: every register entry of every __u64 array,
// evaluated to its exact 64-bit KVM register id with the macros of that same tree.
//   node scripts/extract-selftest-reglists.mjs [GEN...]     (default: every tree in the cache)
// Output: { kernel: "<package> <version>", file: "<path of get-reg-list.c>",
//   sublists: { <array>: [{ id: "0x%016x", name, cond? }] },  (every __u64 array, source order)
//   rejects_set: { <rejects array>: <array it belongs to> },  configs: { <config name>: [<array>...] } }
// Any entry that cannot be evaluated is a hard error; curiosities are reported on stderr.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const cache = process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
const ksrc = path.join(cache, "ksrc");
const outDir = path.join(path.dirname(new URL(import.meta.url).pathname), "../src/regs/fixtures");
const MASK64 = (1n << 64n) - 1n;
const hex = (v) => "0x" + v.toString(16).padStart(16, "0");

// Ids given in the brief, checked in every tree that lists them (by name).
const KNOWN = {
  ID_AA64PFR0_EL1: "0x603000000013c020",
  KVM_REG_ARM_PSCI_VERSION: "0x6030000000140000",
  KVM_REG_ARM_TIMER_CNT: "0x603000000013df1a", // = ARM64_SYS_REG(3,3,14,3,2): KVM swapped CNT/CVAL
  "KVM_REG_ARM_CORE_REG(regs.regs[0])": "0x6030000000100000",
  "KVM_REG_ARM_CORE_REG(fp_regs.vregs[0])": "0x6040000000100054",
  "KVM_REG_ARM_CORE_REG(fp_regs.fpsr)": "0x60200000001000d4",
};

// ---- C tokens and #defines -------------------------------------------------------------------

const LEX =
  /\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|([A-Za-z_]\w*)|("[^"]*")|(##|<<|>>|[-+*/%|&^~!()[\]{},.=;<>?:]))/y;
function lex(src) {
  const toks = [];
  LEX.lastIndex = 0;
  while (LEX.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(LEX.lastIndex))) break;
    const at = LEX.lastIndex;
    const m = LEX.exec(src);
    if (!m) throw new Error(`cannot tokenize: ${src.slice(at, at + 40)}`);
    if (m[1])
      toks.push({ t: "num", v: BigInt(/^0\d/.test(m[1]) ? "0o" + m[1].slice(1) : m[1]), s: m[0].trim() });
    else if (m[2]) toks.push({ t: "id", v: m[2], s: m[2] });
    else if (m[3]) toks.push({ t: "str", v: m[3].slice(1, -1), s: m[3] });
    else toks.push({ t: "op", v: m[4], s: m[4] });
  }
  return toks;
}

const stripComments = (src) =>
  src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/\/\/.*/g, "");

// Collect every #define of a file. Headers define some macros differently under #ifdef branches
// (e.g. __ASSEMBLY__); such a macro is marked as conflicting and refused if an entry needs it.
function addDefines(macros, file) {
  const src = stripComments(fs.readFileSync(file, "utf8")).replace(/\\\n/g, " ");
  for (const line of src.split("\n")) {
    const m = /^\s*#\s*define\s+(\w+)(\(([^)]*)\))?\s*(.*)$/.exec(line);
    if (m) defineMacro(macros, m[1], m[2] ? m[3] : null, m[4], file);
  }
}
function defineMacro(macros, name, params, body, file) {
  // bodies are lexed on first use: headers hold asm/string macros this lexer need not understand
  const def = {
    get body() {
      return (this.toks ??= lex(body));
    },
    text: body.replace(/\s+/g, ""),
    file,
  };
  if (params !== null) {
    def.params = params
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    def.variadic = def.params.at(-1) === "...";
    if (def.variadic) def.params.pop();
  }
  const old = macros.get(name);
  if (old && (old.text !== def.text || !old.params !== !def.params)) old.conflict = `${old.file} / ${file}`;
  else if (!old) macros.set(name, def);
}

// Minimal C macro expansion: object/function-like macros, __VA_ARGS__ and ## pasting.
function expand(toks, macros, hide = new Set()) {
  const out = [];
  for (let i = 0; i < toks.length; i++) {
    const tk = toks[i];
    const m = tk.t === "id" && !hide.has(tk.v) && macros.get(tk.v);
    if (!m || (m.params && toks[i + 1]?.v !== "(")) {
      out.push(tk);
      continue;
    }
    if (m.conflict) throw new Error(`macro ${tk.v} is defined differently in ${m.conflict}`);
    const inner = new Set(hide).add(tk.v);
    if (!m.params) {
      out.push(...expand(m.body, macros, inner));
      continue;
    }
    const args = [[]];
    let depth = 0,
      j = i + 2;
    for (; ; j++) {
      const a = toks[j];
      if (!a) throw new Error(`unterminated call of ${tk.v}`);
      if (a.t === "op" && a.v === "(") depth++;
      if (a.t === "op" && a.v === ")" && depth-- === 0) break;
      if (a.t === "op" && a.v === "," && depth === 0) {
        args.push([]);
        continue;
      }
      args.at(-1).push(a);
    }
    i = j;
    if (args.length === 1 && !args[0].length && !m.params.length) args.pop();
    if (m.variadic ? args.length < m.params.length : args.length !== m.params.length)
      throw new Error(`${tk.v} expects ${m.params.length} argument(s), got ${args.length}`);
    const bind = new Map(m.params.map((p, k) => [p, args[k]]));
    if (m.variadic)
      bind.set(
        "__VA_ARGS__",
        args.slice(m.params.length).flatMap((a, k) => (k ? [{ t: "op", v: ",", s: "," }, ...a] : a)),
      );
    const sub = [];
    m.body.forEach((b, k) => {
      if (b.t !== "id" || !bind.has(b.v)) return sub.push(b);
      const pasted = m.body[k - 1]?.v === "##" || m.body[k + 1]?.v === "##";
      sub.push(...(pasted ? bind.get(b.v) : expand(bind.get(b.v), macros, hide)));
    });
    const joined = [];
    for (let k = 0; k < sub.length; k++) {
      if (sub[k].t === "op" && sub[k].v === "##") {
        const glued = lex(joined.pop().s + sub[++k].s);
        if (glued.length !== 1) throw new Error(`bad ## paste in ${tk.v}`);
        joined.push(glued[0]);
      } else joined.push(sub[k]);
    }
    out.push(...expand(joined, macros, inner));
  }
  return out;
}

// ---- struct kvm_regs layout, for KVM_REG_ARM_CORE_REG(x) = offsetof(struct kvm_regs, x) / sizeof(__u32).
// Byte offsets follow arch/arm64/include/uapi/asm/{ptrace.h,kvm.h}: user_pt_regs {regs[31], sp, pc, pstate},
// then sp_el1, elr_el1, spsr[KVM_NR_SPSR=5]; fp_regs (user_fpsimd_state, 16-byte aligned because of
// __uint128_t) at 336: vregs[32] (16 bytes each), fpsr, fpcr. checkLayout() verifies the headers still say so.
const CORE = {
  "regs.regs": [0, 8, 31],
  "regs.sp": [248, 8],
  "regs.pc": [256, 8],
  "regs.pstate": [264, 8],
  sp_el1: [272, 8],
  elr_el1: [280, 8],
  spsr: [288, 8, 5],
  "fp_regs.vregs": [336, 16, 32],
  "fp_regs.fpsr": [848, 4],
  "fp_regs.fpcr": [852, 4],
};
function checkLayout(tree, macros) {
  const norm = (f) => stripComments(fs.readFileSync(path.join(tree, f), "utf8")).replace(/\s+/g, " ");
  const ptrace = norm("arch/arm64/include/uapi/asm/ptrace.h");
  const kvm = norm("arch/arm64/include/uapi/asm/kvm.h");
  const want = [
    [ptrace, /struct user_pt_regs \{ __u64 regs\[31\]; __u64 sp; __u64 pc; __u64 pstate; \};/],
    [
      ptrace,
      /struct user_fpsimd_state \{ __uint128_t vregs\[32\]; __u32 fpsr; __u32 fpcr; __u32 __reserved\[2\]; \};/,
    ],
    [
      kvm,
      /struct kvm_regs \{ struct user_pt_regs regs; __u64 sp_el1; __u64 elr_el1; __u64 spsr\[KVM_NR_SPSR\]; struct user_fpsimd_state fp_regs; \};/,
    ],
  ];
  for (const [text, re] of want)
    if (!re.test(text)) throw new Error(`struct layout changed: ${re.source.slice(0, 30)}...`);
  if (evaluate("KVM_NR_SPSR", macros) !== 5n) throw new Error("KVM_NR_SPSR is not 5");
}

// ---- expression evaluation (C precedence, 64-bit unsigned) ------------------------------------

function evaluate(src, macros) {
  const toks = expand(lex(src), macros);
  let p = 0;
  const peek = () => toks[p];
  const isOp = (v) => (toks[p]?.t === "op" || toks[p]?.t === "id") && toks[p].v === v;
  const take = (v) => {
    if (!isOp(v))
      throw new Error(
        `expected '${v}' at '${toks
          .slice(p)
          .map((t) => t.s)
          .join(" ")}'`,
      );
    p++;
  };
  const TYPES = /^(__u64|__u32|__u16|__u8|__s64|__s32|u64|u32|unsigned|signed|long|int|short|char)$/;
  const binary = (ops, next) => () => {
    let v = next();
    while (peek()?.t === "op" && ops[peek().v]) v = ops[toks[p++].v](v, next()) & MASK64;
    return v;
  };
  const unary = () => {
    if (isOp("~")) {
      p++;
      return ~unary() & MASK64;
    }
    if (isOp("-")) {
      p++;
      return -unary() & MASK64;
    }
    if (isOp("+")) {
      p++;
      return unary();
    }
    if (isOp("!")) {
      p++;
      return unary() ? 0n : 1n;
    }
    if (isOp("(") && toks[p + 1]?.t === "id" && TYPES.test(toks[p + 1].v)) {
      // cast
      const start = p++;
      while (!isOp(")"))
        if (!TYPES.test(toks[p++]?.v ?? ""))
          throw new Error(
            `bad cast ${toks
              .slice(start, p)
              .map((t) => t.s)
              .join(" ")}`,
          );
      p++;
      const bits = /(8|16|32)$/.exec(toks[p - 2].v)?.[1];
      return bits ? unary() & ((1n << BigInt(bits)) - 1n) : unary();
    }
    return primary();
  };
  const primary = () => {
    const tk = toks[p++];
    if (!tk) throw new Error("unexpected end of expression");
    if (tk.t === "num") return tk.v;
    if (tk.t === "op" && tk.v === "(") {
      const v = expr();
      take(")");
      return v;
    }
    if (tk.t === "id" && tk.v === "sizeof") {
      take("(");
      const ty = toks[p++]?.v;
      take(")");
      const size = { __u8: 1n, __u16: 2n, __u32: 4n, __u64: 8n }[ty];
      if (!size) throw new Error(`sizeof(${ty}) unknown`);
      return size;
    }
    if (tk.t === "id" && tk.v === "offsetof") {
      take("(");
      take("struct");
      if (toks[p++]?.v !== "kvm_regs") throw new Error("offsetof only known for struct kvm_regs");
      take(",");
      let field = toks[p++].v,
        index = 0n;
      while (isOp(".")) {
        p++;
        field += "." + toks[p++].v;
      }
      if (isOp("[")) {
        p++;
        index = expr();
        take("]");
      }
      take(")");
      const f = CORE[field];
      if (!f || index >= BigInt(f[2] ?? 1)) throw new Error(`unknown kvm_regs member ${field}[${index}]`);
      return BigInt(f[0]) + index * BigInt(f[1]);
    }
    throw new Error(`cannot evaluate '${tk.s}'${tk.t === "id" ? " (undefined macro?)" : ""}`);
  };
  const mul = binary({ "*": (a, b) => a * b, "/": (a, b) => a / b, "%": (a, b) => a % b }, unary);
  const add = binary({ "+": (a, b) => a + b, "-": (a, b) => a - b }, mul);
  const shift = binary({ "<<": (a, b) => a << b, ">>": (a, b) => a >> b }, add);
  const and = binary({ "&": (a, b) => a & b }, shift);
  const xor = binary({ "^": (a, b) => a ^ b }, and);
  const expr = binary({ "|": (a, b) => a | b }, xor);
  const v = expr();
  if (p !== toks.length)
    throw new Error(
      `trailing tokens: ${toks
        .slice(p)
        .map((t) => t.s)
        .join(" ")}`,
    );
  return v;
}

// ---- get-reg-list.c arrays ----------------------------------------------------------------------

// Name an entry the way the selftest does: its trailing comment, else the expression itself.
// Core regs are named by their KVM_REG_ARM_CORE_REG(...) part, as the selftest's core_id_to_str()
// prints them; SYS_REG(X) / KVM_ARM64_SYS_REG(SYS_X) (newer trees) are named X.
function entryName(expr, comment) {
  if (comment) return comment;
  const e = expr.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")").replace(/ ?, ?/g, ", ");
  const core =
    /^KVM_REG_ARM64 \| KVM_REG_SIZE_U\d+ \| KVM_REG_ARM_CORE \| (KVM_REG_ARM_CORE_REG\(.*\))$/.exec(e);
  const sys = /^(?:SYS_REG\((\w+)\)|KVM_ARM64_SYS_REG\(SYS_(\w+)\))$/.exec(e);
  return core ? core[1].replace(/ /g, "") : sys ? sys[1] || sys[2] : e;
}

// Parse every `static __u64 name[] = { ... };`. Entries are read line by line so a trailing
// /* comment */ can name the entry that ends on its line. Entries under #if/#ifdef are kept,
// with the condition in `cond`; comments that look like register entries are reported, not kept.
function parseArrays(src, notes) {
  const arrays = {};
  const re = /static\s+(?:const\s+)?__u64\s+(\w+)\[\]\s*=\s*\{/g;
  for (let m; (m = re.exec(src));) {
    const lineNo = src.slice(0, m.index).split("\n").length;
    const body = src.slice(re.lastIndex, src.indexOf("};", re.lastIndex));
    const entries = [],
      comments = new Map(),
      conds = [];
    let inComment = false,
      pending = null;
    body.split("\n").forEach((raw, n) => {
      let code = "",
        line = raw;
      while (line) {
        // split the line into code and comment text
        if (inComment) {
          const end = line.indexOf("*/");
          const text = end < 0 ? line : line.slice(0, end);
          comments.set(n, (comments.get(n) ?? "") + text);
          inComment = end < 0;
          line = end < 0 ? "" : line.slice(end + 2);
        } else {
          const b = line.indexOf("/*"),
            l = line.indexOf("//");
          if (l >= 0 && (b < 0 || l < b)) {
            comments.set(n, line.slice(l + 2));
            code += line.slice(0, l);
            line = "";
          } else if (b >= 0) {
            code += line.slice(0, b) + " ";
            inComment = true;
            line = line.slice(b + 2);
          } else {
            code += line;
            line = "";
          }
        }
      }
      const pp = /^\s*#\s*(\w+)\s*(.*)$/.exec(code);
      if (pp) {
        const [, dir, arg] = pp;
        if (dir === "ifdef" || dir === "if") conds.push(arg.trim());
        else if (dir === "ifndef") conds.push(`!${arg.trim()}`);
        else if (dir === "else") conds.push(`!(${conds.pop()})`);
        else if (dir === "elif") conds.push(`!(${conds.pop()}) && ${arg.trim()}`);
        else if (dir === "endif") conds.pop();
        else throw new Error(`${m[1]}: unexpected #${dir} inside array`);
        return;
      }
      // split code at top-level commas; text after the last comma carries over to the next line
      let depth = 0,
        start = 0;
      const pieces = [];
      for (let k = 0; k < code.length; k++) {
        if (code[k] === "(") depth++;
        else if (code[k] === ")") depth--;
        else if (code[k] === "," && depth === 0) {
          pieces.push(code.slice(start, k));
          start = k + 1;
        }
      }
      const add = (text) => {
        if (!text.trim()) return;
        if (pending) Object.assign(pending, { expr: `${pending.expr} ${text}`, line: n });
        else pending = { expr: text, line: n, cond: conds.length ? conds.join(" && ") : undefined };
      };
      for (const piece of pieces) {
        add(piece);
        if (pending) entries.push(pending);
        pending = null;
      }
      add(code.slice(start));
      // a comment line that reads like an entry is most likely a disabled one: say so
      const c = comments.get(n);
      if (!code.trim() && c && /\b(?:\w*SYS_REG|KVM_REG_\w+)\s*\(|0x[0-9a-f]{9,}/i.test(c))
        notes.push(`${m[1]}: commented-out entry? "${c.trim()}" (not kept)`);
    });
    if (pending) entries.push(pending);
    if (conds.length || inComment) throw new Error(`${m[1]}: unbalanced #if or comment`);
    arrays[m[1]] = entries.map((e) => {
      const sameLine = entries.filter((o) => o.line === e.line).length;
      const comment = comments.get(e.line)?.trim();
      if (comment && sameLine > 1)
        throw new Error(`${m[1]}: comment "${comment}" on a line with ${sameLine} entries`);
      return { expr: e.expr.trim(), comment, cond: e.cond, srcLine: lineNo + e.line };
    });
  }
  return arrays;
}

// Sublists and configs as the selftest combines them. 6.x+: *_SUBLIST macros and
// `struct vcpu_config|vcpu_reg_list X = { .sublists = {...} }`, named like its config_name():
// sublist names other than "base" joined by '+'. 5.10: no configs; the test was built twice
// (get-reg-list: base+vregs, get-reg-list-sve with -DREG_LIST_SVE: base+sve, see its main()).
function parseConfigs(src, macros, arrays) {
  const configs = {},
    rejects = {};
  const order = /vcpu_configs\[\]\s*=\s*\{([^}]*)\}/.exec(src);
  if (!order) {
    if (!/reg_list_sve\(\)/.test(src) || !arrays.base_regs || !arrays.vregs || !arrays.sve_regs)
      throw new Error("neither vcpu_configs[] nor the known pre-sublist layout");
    if (arrays.rejects_set) rejects.rejects_set = "sve_regs";
    return { configs: { vregs: ["base_regs", "vregs"], sve: ["base_regs", "sve_regs"] }, rejects };
  }
  for (const ref of order[1].match(/\w+/g)) {
    const def = new RegExp(
      `struct\\s+\\w+\\s+${ref}\\s*=\\s*\\{\\s*\\.sublists\\s*=\\s*\\{([\\s\\S]*?)\\}\\s*,?\\s*\\}\\s*;`,
    ).exec(src);
    if (!def) throw new Error(`config ${ref} not found`);
    const toks = expand(lex(def[1]), macros);
    const subs = [];
    for (let k = 0; k < toks.length; k++) {
      if (toks[k].v !== "{") continue;
      const s = {};
      for (k++; toks[k].v !== "}"; k++) {
        if (toks[k].t === "str" && !s.name) s.name = toks[k].v;
        if (toks[k].v === "." && toks[k + 2]?.v === "=") s[toks[k + 1].v] = toks[k + 3].v;
      }
      if (!s.regs) continue; // the {0} terminator
      if (!arrays[s.regs]) throw new Error(`config ${ref} uses unknown array ${s.regs}`);
      if (s.rejects_set) rejects[s.rejects_set] = s.regs;
      subs.push(s);
    }
    configs[
      subs
        .filter((s) => s.name !== "base")
        .map((s) => s.name)
        .join("+")
    ] = subs.map((s) => s.regs);
  }
  return { configs, rejects };
}

// ---- per generation -------------------------------------------------------------------------------

function extract(gen) {
  const tree = path.join(ksrc, gen);
  const kernel = fs.readFileSync(path.join(tree, "SOURCE"), "utf8").trim();
  const rel = ["arm64", "aarch64"]
    .map((d) => `tools/testing/selftests/kvm/${d}/get-reg-list.c`)
    .find((f) => fs.existsSync(path.join(tree, f)));
  if (!rel) {
    console.error(`${gen}: no arm64 get-reg-list.c in this tree; skipped`);
    return;
  }
  const selftestArch = path.dirname(rel).split("/").pop();
  const notes = [];

  // The macros the selftest build sees: installed uapi headers, the tools/ sysreg.h (kernel's in 5.10,
  // which had none), the sysreg-defs.h that arch/arm64/tools/sysreg generates, processor.h, the file itself.
  const macros = new Map();
  const file = (f) => path.join(tree, f);
  for (const h of [
    "include/uapi/linux/kvm.h",
    "arch/arm64/include/uapi/asm/kvm.h",
    "arch/arm64/include/uapi/asm/sve_context.h",
  ])
    addDefines(macros, file(h));
  addDefines(
    macros,
    file(
      fs.existsSync(file("tools/arch/arm64/include/asm/sysreg.h"))
        ? "tools/arch/arm64/include/asm/sysreg.h"
        : "arch/arm64/include/asm/sysreg.h",
    ),
  );
  if (fs.existsSync(file("arch/arm64/tools/sysreg")))
    for (const m of fs
      .readFileSync(file("arch/arm64/tools/sysreg"), "utf8")
      .matchAll(/^Sysreg\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/gm))
      defineMacro(
        macros,
        `SYS_${m[1]}`,
        null,
        `sys_reg(${m.slice(2).join(", ")})`,
        "arch/arm64/tools/sysreg",
      );
  addDefines(macros, file(`tools/testing/selftests/kvm/include/${selftestArch}/processor.h`));
  addDefines(macros, file(rel));
  checkLayout(tree, macros);

  const src = fs.readFileSync(file(rel), "utf8");
  const arrays = parseArrays(src, notes);
  const { configs, rejects } = parseConfigs(src, macros, arrays);

  const sublists = {};
  const seen = new Map();
  const failures = [];
  for (const [arr, entries] of Object.entries(arrays)) {
    sublists[arr] = entries.map((e) => {
      let id;
      try {
        id = hex(evaluate(e.expr, macros));
      } catch (err) {
        failures.push(`${rel}:${e.srcLine} ${arr}: ${e.expr}: ${err.message}`);
        id = "?";
      }
      const out = { id, name: entryName(e.expr, e.comment) };
      if (e.cond) out.cond = e.cond;
      if (!rejects[arr]) {
        // duplicates among the register lists proper (rejects sets repeat ids by design)
        if (seen.has(id)) notes.push(`duplicate id ${id}: ${seen.get(id)} and ${arr} "${out.name}"`);
        else seen.set(id, `${arr} "${out.name}"`);
      }
      return out;
    });
  }
  if (failures.length)
    throw new Error(
      `cannot evaluate ${failures.length} entr${failures.length > 1 ? "ies" : "y"}:\n  ${failures.slice(0, 10).join("\n  ")}${failures.length > 10 ? "\n  ..." : ""}`,
    );

  // Self-checks and name checks: a name that is itself a macro, or has a SYS_<name> encoding in this
  // tree, must give the same id; known ids from the brief must match.
  const sysId = (n) =>
    `ARM64_SYS_REG(sys_reg_Op0(SYS_${n}), sys_reg_Op1(SYS_${n}), sys_reg_CRn(SYS_${n}), sys_reg_CRm(SYS_${n}), sys_reg_Op2(SYS_${n}))`;
  const checked = new Set();
  for (const [n, want] of Object.entries(KNOWN)) {
    if (!macros.has(n)) continue;
    if (hex(evaluate(n, macros)) !== want)
      throw new Error(`${n} evaluates to ${hex(evaluate(n, macros))}, expected ${want}`);
    checked.add(n);
  }
  // KVM's timer ids are not their architectural encodings (CNT and CVAL are swapped), so a comment
  // naming the encoding names a different KVM register: say which.
  const timers = new Map(
    ["KVM_REG_ARM_TIMER_CNT", "KVM_REG_ARM_TIMER_CVAL"].map((n) => [hex(evaluate(n, macros)), n]),
  );
  for (const [arr, entries] of Object.entries(sublists))
    for (const { id, name } of entries)
      if (timers.has(id) && timers.get(id) !== name)
        notes.push(`${arr} ${id} "${name}" is ${timers.get(id)} in KVM's API`);
  const unknown = [];
  for (const [arr, entries] of Object.entries(sublists)) {
    for (const { id, name } of entries) {
      if (KNOWN[name] && KNOWN[name] !== id)
        throw new Error(`${arr} ${name} = ${id}, expected ${KNOWN[name]}`);
      if (KNOWN[name]) checked.add(name);
      if (!/^\w+$/.test(name)) continue;
      let other = null,
        how;
      try {
        // (5.10's processor.h defines e.g. SCTLR_EL1 as the tuple "3, 0, 1, 0, 0" for ARM64_SYS_REG())
        if (macros.has(name)) {
          how = "macro";
          other = hex(
            evaluate(/^(\d+,){4}\d+$/.test(macros.get(name).text) ? `ARM64_SYS_REG(${name})` : name, macros),
          );
        } else if (macros.has(`SYS_${name}`)) {
          how = `SYS_${name}`;
          other = hex(evaluate(sysId(name), macros));
        }
      } catch (err) {
        notes.push(`${arr} ${name}: cannot check name (${err.message})`);
      }
      if (other === null) {
        if (!how) unknown.push(name);
      } else if (other !== id) notes.push(`${arr} ${id} is named "${name}" but ${how} gives ${other}`);
    }
  }
  const unchecked = Object.keys(KNOWN).filter((n) => !checked.has(n));
  if (unchecked.length) throw new Error(`known ids not found to check: ${unchecked.join(", ")}`);
  if (unknown.length)
    notes.push(`names not found as macro or SYS_<name> in this tree: ${unknown.join(", ")}`);
  const unnamed = Object.entries(sublists).flatMap(([a, es]) =>
    es.filter((e) => /^ARM64_SYS_REG\(/.test(e.name)).map(() => a),
  );
  if (unnamed.length)
    notes.push(
      `${unnamed.length} ARM64_SYS_REG entries without a name comment (${[...new Set(unnamed)].join(", ")})`,
    );

  const json = { kernel, file: rel, sublists, rejects_set: rejects, configs };
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `selftest-reglist-${gen}.json`);
  fs.writeFileSync(out, JSON.stringify(json, null, 2) + "\n");
  console.log(`${gen}: ${kernel}: ${rel} -> ${path.relative(process.cwd(), out)}`);
  console.log(
    `  ${Object.entries(sublists)
      .map(([a, es]) => `${a} ${es.length}`)
      .join(", ")}`,
  );
  console.log(`  configs: ${Object.keys(configs).join(" ")}`);
  for (const n of notes) console.error(`  note: ${n}`);
}

const gens = process.argv.slice(2).length
  ? process.argv.slice(2)
  : fs.existsSync(ksrc)
    ? fs
        .readdirSync(ksrc)
        .filter((g) => fs.existsSync(path.join(ksrc, g, "SOURCE")))
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    : [];
if (!gens.length) {
  console.error(`extract-selftest-reglists: no kernel trees under ${ksrc}; run scripts/kernel-sources.sh`);
  process.exit(1);
}
let failed = false;
for (const gen of gens) {
  try {
    if (!fs.existsSync(path.join(ksrc, gen, "SOURCE")))
      throw new Error(`no tree at ${path.join(ksrc, gen)}; run scripts/kernel-sources.sh ${gen}`);
    extract(gen);
  } catch (err) {
    console.error(`extract-selftest-reglists: ${gen}: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
