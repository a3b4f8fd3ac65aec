#!/usr/bin/env node
// Generates src/kvm/sim/generated/cpus.json: the host CPU models of the lab, read from the source of the
// QEMU that boots the lab's kernels (Debian bookworm's qemu 7.2, scripts/qemu-sources.sh), as the L1
// kernel sees them under `qemu-system-aarch64 -machine virt,virtualization=on,gic-version=3 -cpu MODEL`
// (TCG, no secure=on, no mte=on).
//
//   run: node scripts/gen-sim-cpus.mjs [--check]
//
// How: QEMU's own code is run, not transcribed. target/arm/cpu64.c's initfns (aarch64_a57_initfn, ...,
// aarch64_max_initfn, which starts from the A57 and applies FIELD_DP64/FIELD_DP32 edits, and
// cpu_tcg.c's aa32_max_features) and cpu.c's arm_cpu_finalize_features (SVE/SME/pauth/LPA2 finalize)
// are interpreted by scripts/lib/c-interp.mjs, with the FIELD() definitions of target/arm/cpu.h. What
// happens between init and the guest's first MRS (arm_cpu_post_init's property defaults, virt.c's
// machvirt_init property changes, the ID edits of arm_cpu_realizefn, helper.c's read functions) is the
// REALIZE table below: C snippets, each checked to be verbatim in the QEMU source, then run.
//
// --check regenerates and compares with the committed file (exit 1 when they differ).
import fs from "node:fs";
import path from "node:path";
import { Interp, Sym, functionsOf } from "./lib/c-interp.mjs";
import { GenError, ROOT, cacheDir, cleanSource, fail, newMacros, preprocess } from "./lib/kernel-cpp.mjs";

const OUT = path.join(ROOT, "src/kvm/sim/generated/cpus.json");
const QEMU = path.join(cacheDir(), "qemu-src");

// The lab's CPU models (lab/boot.mjs CPUS): name -> QEMU -cpu type and the properties given with it.
const MODELS = [
  { name: "cortex-a57", qemuCpu: "cortex-a57" },
  { name: "cortex-a72", qemuCpu: "cortex-a72" },
  { name: "cortex-a76", qemuCpu: "cortex-a76" },
  { name: "neoverse-n1", qemuCpu: "neoverse-n1" },
  { name: "a64fx", qemuCpu: "a64fx" },
  { name: "max", qemuCpu: "max" },
  { name: "max-impdef", qemuCpu: "max", props: { "pauth-impdef": true } }, // -cpu max,pauth-impdef=on
];

// ARMCPU members (cpu->X / cpu->isar.X) that hold ID registers -> the kernel's register name.
const ID_REGS = [
  ["isar.id_pfr0", "ID_PFR0_EL1"],
  ["isar.id_pfr1", "ID_PFR1_EL1"],
  ["isar.id_dfr0", "ID_DFR0_EL1"],
  ["id_afr0", "ID_AFR0_EL1"],
  ["isar.id_mmfr0", "ID_MMFR0_EL1"],
  ["isar.id_mmfr1", "ID_MMFR1_EL1"],
  ["isar.id_mmfr2", "ID_MMFR2_EL1"],
  ["isar.id_mmfr3", "ID_MMFR3_EL1"],
  ["isar.id_isar0", "ID_ISAR0_EL1"],
  ["isar.id_isar1", "ID_ISAR1_EL1"],
  ["isar.id_isar2", "ID_ISAR2_EL1"],
  ["isar.id_isar3", "ID_ISAR3_EL1"],
  ["isar.id_isar4", "ID_ISAR4_EL1"],
  ["isar.id_isar5", "ID_ISAR5_EL1"],
  ["isar.id_mmfr4", "ID_MMFR4_EL1"],
  ["isar.id_isar6", "ID_ISAR6_EL1"],
  ["isar.mvfr0", "MVFR0_EL1"],
  ["isar.mvfr1", "MVFR1_EL1"],
  ["isar.mvfr2", "MVFR2_EL1"],
  ["isar.id_pfr2", "ID_PFR2_EL1"],
  ["isar.id_dfr1", "ID_DFR1_EL1"],
  ["isar.id_mmfr5", "ID_MMFR5_EL1"],
  ["isar.id_aa64pfr0", "ID_AA64PFR0_EL1"],
  ["isar.id_aa64pfr1", "ID_AA64PFR1_EL1"],
  ["isar.id_aa64zfr0", "ID_AA64ZFR0_EL1"],
  ["isar.id_aa64smfr0", "ID_AA64SMFR0_EL1"],
  ["isar.id_aa64dfr0", "ID_AA64DFR0_EL1"],
  ["isar.id_aa64dfr1", "ID_AA64DFR1_EL1"],
  ["id_aa64afr0", "ID_AA64AFR0_EL1"],
  ["id_aa64afr1", "ID_AA64AFR1_EL1"],
  ["isar.id_aa64isar0", "ID_AA64ISAR0_EL1"],
  ["isar.id_aa64isar1", "ID_AA64ISAR1_EL1"],
  ["isar.id_aa64mmfr0", "ID_AA64MMFR0_EL1"],
  ["isar.id_aa64mmfr1", "ID_AA64MMFR1_EL1"],
  ["isar.id_aa64mmfr2", "ID_AA64MMFR2_EL1"],
];
// helper.c v8_idregs[] defines ID_AA64ISAR2_EL1, ID_AA64PFR2_EL1, ID_AA64MMFR3_EL1, ... as
// "*_RESERVED" ARM_CP_CONST 0 in QEMU 7.2: they read as zero (absent from `id` below = 0).

// Functions whose only effect is registering QOM properties or coprocessor registers. They are not
// interpreted (they loop over vector lengths); instead each is checked to assign no cpu-> member.
const NO_ID_EFFECT = [
  "aarch64_add_sve_properties",
  "aarch64_add_sme_properties",
  "define_cortex_a72_a57_a53_cp_reginfo",
];

// What runs between the initfn and the L1 kernel's first MRS, in QEMU's order. Each step names its
// QEMU function; `cond` and `code` are C run by the interpreter (variables: cpu, env = &cpu->env) and
// `verbatim` are snippets that must appear in `file` (whitespace-normalised), so a QEMU update that
// changes them stops this script instead of being silently mis-modelled.
const REALIZE = [
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_post_init",
    what: "property defaults: has_el3/has_el2 when the initfn set EL3/EL2, pmu when PMU, vfp/neon",
    cond: "1",
    code: `cpu->has_el3 = arm_feature(env, ARM_FEATURE_EL3);
           cpu->has_el2 = arm_feature(env, ARM_FEATURE_EL2);
           cpu->has_pmu = arm_feature(env, ARM_FEATURE_PMU);
           cpu->has_vfp = cpu_isar_feature(aa64_fp_simd, cpu);
           cpu->has_neon = arm_feature(env, ARM_FEATURE_NEON);`,
    verbatim: [
      'DEFINE_PROP_BOOL("has_el2", ARMCPU, has_el2, true);',
      'DEFINE_PROP_BOOL("has_el3", ARMCPU, has_el3, true);',
      "if (arm_feature(&cpu->env, ARM_FEATURE_EL3)) {",
      "if (arm_feature(&cpu->env, ARM_FEATURE_PMU)) { cpu->has_pmu = true;",
      "if (arm_feature(&cpu->env, ARM_FEATURE_NEON)) { cpu->has_neon = true;",
      "? cpu_isar_feature(aa64_fp_simd, cpu) : cpu_isar_feature(aa32_vfp, cpu)) { cpu->has_vfp = true;",
    ],
  },
  {
    file: "hw/arm/virt.c",
    fn: "machvirt_init",
    what: "-machine virt without secure=on: no EL3 (virtualization=on keeps has_el2; virt-7.2 keeps pmu and lpa2)",
    cond: "1",
    code: "cpu->has_el3 = 0;",
    verbatim: [
      'if (!vms->secure) { object_property_set_bool(cpuobj, "has_el3", false, NULL); }',
      'if (!vms->virt && object_property_find(cpuobj, "has_el2")) {',
      'if (vmc->no_tcg_lpa2 && object_property_find(cpuobj, "lpa2")) {',
    ],
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn -> arm_cpu_finalize_features",
    what: "SVE vector lengths, SME, pointer authentication (QARMA5 or IMPDEF), LPA2",
    cond: "1",
    code: "arm_cpu_finalize_features(cpu, NULL);",
    verbatim: ["arm_cpu_finalize_features(cpu, &local_err);"],
  },
  // vfp=off / neon=off / dsp=off are not used by the lab; their ID edits are not modelled.
  { file: "target/arm/cpu.c", fn: "arm_cpu_realizefn", cond: "!cpu->has_vfp", mustBeFalse: true },
  { file: "target/arm/cpu.c", fn: "arm_cpu_realizefn", cond: "!cpu->has_neon", mustBeFalse: true },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "no EL3: clear the Security Extensions fields",
    cond: "!arm_feature(env, ARM_FEATURE_M) && !cpu->has_el3",
    code: `unset_feature(env, ARM_FEATURE_EL3);
        cpu->isar.id_pfr1 = FIELD_DP32(cpu->isar.id_pfr1, ID_PFR1, SECURITY, 0);
        cpu->isar.id_dfr0 = FIELD_DP32(cpu->isar.id_dfr0, ID_DFR0, COPSDBG, 0);
        cpu->isar.id_aa64pfr0 = FIELD_DP64(cpu->isar.id_aa64pfr0, ID_AA64PFR0, EL3, 0);`,
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "has_el2=off drops EL2",
    cond: "!cpu->has_el2",
    code: "unset_feature(env, ARM_FEATURE_EL2);",
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "pmu=off drops the PMU",
    cond: "!cpu->has_pmu",
    code: "unset_feature(env, ARM_FEATURE_PMU);",
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "without the PMU feature: PMUVer/PerfMon 0 (the else branch of 'if (arm_feature(env, ARM_FEATURE_PMU))')",
    cond: "!arm_feature(env, ARM_FEATURE_PMU)",
    condNotVerbatim: true,
    code: `cpu->isar.id_aa64dfr0 = FIELD_DP64(cpu->isar.id_aa64dfr0, ID_AA64DFR0, PMUVER, 0);
        cpu->isar.id_dfr0 = FIELD_DP32(cpu->isar.id_dfr0, ID_DFR0, PERFMON, 0);`,
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "no EL2: clear EL2 and Virtualization",
    cond: "!arm_feature(env, ARM_FEATURE_EL2)",
    code: `cpu->isar.id_aa64pfr0 = FIELD_DP64(cpu->isar.id_aa64pfr0, ID_AA64PFR0, EL2, 0);
        cpu->isar.id_pfr1 = FIELD_DP32(cpu->isar.id_pfr1, ID_PFR1, VIRTUALIZATION, 0);`,
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "no tag memory (virt without mte=on): MTE 0",
    cond: "cpu->tag_memory == NULL && cpu_isar_feature(aa64_mte, cpu)",
    code: "cpu->isar.id_aa64pfr1 = FIELD_DP64(cpu->isar.id_aa64pfr1, ID_AA64PFR1, MTE, 0);",
  },
  {
    file: "target/arm/cpu.c",
    fn: "arm_cpu_realizefn",
    what: "TCG implements no SPE: PMSVer 0",
    cond: "tcg_enabled()",
    code: "cpu->isar.id_aa64dfr0 = FIELD_DP64(cpu->isar.id_aa64dfr0, ID_AA64DFR0, PMSVER, 0);",
  },
  {
    file: "target/arm/helper.c",
    fn: "id_aa64pfr0_read",
    what: "GIC field at read time: gic-version=3 gives the CPU a GICv3 CPU interface (env->gicv3state, set by hw/intc/arm_gicv3_cpuif.c)",
    cond: "1",
    code: "cpu->isar.id_aa64pfr0 |= 1 << 24;",
    verbatim: ["uint64_t pfr0 = cpu->isar.id_aa64pfr0; if (env->gicv3state) { pfr0 |= 1 << 24; }"],
  },
  {
    file: "target/arm/helper.c",
    fn: "id_pfr1_read",
    what: "GIC field of the AArch32 view, likewise",
    cond: "1",
    code: "cpu->isar.id_pfr1 |= 1 << 28;",
    verbatim: ["uint64_t pfr1 = cpu->isar.id_pfr1; if (env->gicv3state) { pfr1 |= 1 << 28; }"],
  },
];

// How QEMU stores the EL1 registers KVM moves through the hardware on every KVM_RUN (the hyp's
// __sysreg_restore_el1_state / __sysreg_save_el1_state write them with MSR and read them back with MRS):
// a value QEMU cannot hold comes back changed after the vCPU's first run. Only the registers KVM resets to
// a value a CPU need not hold (reset_unknown's 0x1de7ec7edbadc0de, sys_regs.h) or that the probe writes
// are listed. Each is classified from its ARMCPRegInfo in target/arm/helper.c: "const" (ARM_CP_CONST: RAZ/WI
// or a fixed value), "mask" (its writefn is exactly `raw_write(env, ri, value & MASK);`) or "raw" (no
// writefn, or one whose only store is `raw_write(env, ri, value);` with `value` untouched).
const HW_STORE = [
  { reg: "TTBR0_EL1", qemu: "TTBR0_EL1" },
  { reg: "TTBR1_EL1", qemu: "TTBR1_EL1" },
  { reg: "ESR_EL1", qemu: "ESR_EL1" },
  { reg: "AFSR0_EL1", qemu: "AFSR0_EL1" },
  { reg: "AFSR1_EL1", qemu: "AFSR1_EL1" },
  { reg: "FAR_EL1", qemu: "FAR_EL1" },
  // par_write: `if (arm_feature(env, ARM_FEATURE_LPAE)) { raw_write(env, ri, value); }`; every AArch64 CPU
  // has LPAE (arm_cpu_realizefn: V8 implies V7VE implies LPAE)
  {
    reg: "PAR_EL1",
    qemu: "PAR_EL1",
    rawWhen: "if (arm_feature(env, ARM_FEATURE_LPAE)) { raw_write(env, ri, value); }",
  },
  { reg: "MAIR_EL1", qemu: "MAIR_EL1" },
  { reg: "AMAIR_EL1", qemu: "AMAIR0" },
  { reg: "VBAR_EL1", qemu: "VBAR" },
  { reg: "TPIDR_EL1", qemu: "TPIDR_EL1" },
  { reg: "CSSELR_EL1", qemu: "CSSELR" },
  { reg: "TPIDR_EL0", qemu: "TPIDR_EL0" },
  { reg: "TPIDRRO_EL0", qemu: "TPIDRRO_EL0" },
];

// ---------------------------------------------------------------------------------------------------------

const norm = (s) =>
  cleanSource(s)
    .replace(/\s+/g, " ")
    .replace(/\s*([(),;{}])\s*/g, "$1");
const hex = (v) => `0x${BigInt.asUintN(64, v).toString(16)}`;

function qemuSource() {
  const f = path.join(QEMU, "SOURCE");
  if (!fs.existsSync(f)) fail(`QEMU sources missing (${f}); run scripts/qemu-sources.sh`);
  const line = fs.readFileSync(f, "utf8").trim();
  if (!/^qemu \S+$/.test(line)) fail(`${f} is not "qemu <version>": '${line}'`);
  return line;
}
function readQemu(rel) {
  const p = path.join(QEMU, rel);
  if (!fs.existsSync(p)) fail(`${rel} missing from the QEMU sources (${p})`);
  return fs.readFileSync(p, "utf8");
}

// qemu-system-aarch64 as Debian builds it for an x86-64 host: TCG, system emulation (no CONFIG_USER_ONLY).
const qemuConfig = (name) => name === "CONFIG_TCG" || name === "CONFIG_SOFTMMU";

function loadQemu() {
  const macros = newMacros();
  preprocess(
    `#define TARGET_AARCH64 1
     #define MAKE_64BIT_MASK(shift, length) ((((1 << (length)) - 1)) << (shift))`,
    macros,
    qemuConfig,
  );
  const functions = new Map();
  const texts = {};
  for (const rel of [
    "target/arm/kvm-consts.h",
    "target/arm/cpu.h",
    "target/arm/internals.h",
    "target/arm/cpu_tcg.c",
    "target/arm/cpu.c",
    "target/arm/cpu64.c",
  ]) {
    texts[rel] = readQemu(rel);
    const { text } = preprocess(texts[rel], macros, qemuConfig);
    functionsOf(text, rel, functions);
  }
  macros.delete("cpu_isar_feature"); // a GNU statement expression; a builtin below instead
  // FIELD(reg, field, shift, length) of hw/registerfields.h, as used in cpu.h
  const fields = new Map();
  for (const rel of ["target/arm/cpu.h", "target/arm/internals.h"])
    for (const m of cleanSource(texts[rel]).matchAll(
      /\bFIELD\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)/g,
    ))
      fields.set(`${m[1]}.${m[2]}`, { shift: BigInt(m[3]), len: BigInt(m[4]) });
  // static Property X = DEFINE_PROP_BOOL("name", ARMCPU, member, default);
  const props = new Map();
  for (const rel of ["target/arm/cpu.c", "target/arm/cpu64.c"])
    for (const m of cleanSource(texts[rel]).matchAll(
      /static\s+Property\s+(\w+)\s*=\s*DEFINE_PROP_BOOL\(\s*"([^"]+)"\s*,\s*ARMCPU\s*,\s*(\w+)\s*,\s*(true|false)\s*\)/g,
    ))
      props.set(m[1], { name: m[2], member: m[3], dflt: m[4] === "true" });
  // aarch64_cpus[]: -cpu name -> initfn
  const initfns = new Map();
  for (const m of cleanSource(texts["target/arm/cpu64.c"]).matchAll(
    /\{\s*\.name\s*=\s*"([\w-]+)"\s*,\s*\.initfn\s*=\s*(\w+)\s*\}/g,
  ))
    initfns.set(m[1], m[2]);
  return { macros, functions, fields, props, initfns, texts };
}

function builtinsFor(q, log) {
  const field = (regTok, fTok) =>
    q.fields.get(`${regTok[0].v}.${fTok[0].v}`) ?? fail(`no FIELD(${regTok[0].v}, ${fTok[0].v}) in cpu.h`);
  const deposit = (width) => (it, a, scope) => {
    const f = field(a[1], a[2]);
    const mask = ((1n << f.len) - 1n) << f.shift;
    const v = it.expr(a[0], scope);
    const x = it.expr(a[3], scope);
    return BigInt.asUintN(width, (v & ~mask) | ((x << f.shift) & mask));
  };
  const extract = (it, a, scope) => {
    const f = field(a[1], a[2]);
    return (it.expr(a[0], scope) >> f.shift) & ((1n << f.len) - 1n);
  };
  const first = (it, a, scope) => it.expr(a[0], scope);
  const nop = () => undefined;
  const featureName = (it, a, scope) => {
    const f = it.expr(a[1], scope);
    if (!(f instanceof Sym)) fail(`feature argument is not a name: ${String(f)}`);
    return f.name.replace(/^ARM_FEATURE_/, "");
  };
  return {
    ARM_CPU: first,
    DEVICE: first,
    OBJECT: first,
    set_feature: (it, a, s) => void it.expr(a[0], s).features.add(featureName(it, a, s)),
    unset_feature: (it, a, s) => void it.expr(a[0], s).features.delete(featureName(it, a, s)),
    arm_feature: (it, a, s) => (it.expr(a[0], s).features.has(featureName(it, a, s)) ? 1n : 0n),
    kvm_enabled: () => 0n,
    hvf_enabled: () => 0n,
    qtest_enabled: () => 0n,
    tcg_enabled: () => 1n,
    FIELD_DP64: deposit(64),
    FIELD_DP32: deposit(32),
    FIELD_EX64: extract,
    FIELD_EX32: extract,
    cpu_isar_feature: (it, a, s) => {
      const cpu = it.expr(a[1], s);
      return it.call(`isar_feature_${a[0][0].v}`, [cpu.isar]) ? 1n : 0n;
    },
    clz32: (it, a, s) => {
      const v = BigInt.asUintN(32, it.expr(a[0], s));
      return v === 0n ? 32n : BigInt(32 - v.toString(2).length);
    },
    ctz32: (it, a, s) => {
      const v = BigInt.asUintN(32, it.expr(a[0], s));
      if (v === 0n) return 32n;
      let n = 0n;
      while (!((v >> n) & 1n)) n++;
      return n;
    },
    assert: (it, a, s) => {
      if (!it.expr(a[0], s)) fail(`QEMU assertion fails: assert(${a[0].map((t) => t.v).join(" ")})`);
    },
    g_assert_not_reached: () => fail("QEMU reaches g_assert_not_reached()"),
    error_setg: (it, a, s) => fail(`QEMU refuses the configuration: ${it.expr(a[1], s)}`),
    error_append_hint: nop,
    qdev_property_add_static: (it, a, s) => {
      const p = it.expr(a[1], s);
      const prop = q.props.get(p?.name) ?? fail(`unknown static property ${String(p)}`);
      const cpu = it.expr(a[0], s);
      cpu[prop.member] = prop.dflt ? 1n : 0n;
      cpu.properties.set(prop.name, prop.member);
      log(`property ${prop.name} (${prop.member}) = ${prop.dflt}`);
    },
    object_property_add: nop,
    object_property_add_bool: nop,
    ...Object.fromEntries(NO_ID_EFFECT.map((n) => [n, nop])),
  };
}

function newCpu() {
  // QOM zero-allocates the object; sub-structures the initfns write into.
  return {
    env: { features: new Set() },
    isar: {},
    ccsidr: [],
    sve_vq: {},
    sme_vq: {},
    properties: new Map(),
  };
}

function memberValue(cpu, dotted) {
  let v = cpu;
  for (const k of dotted.split(".")) v = v?.[k];
  return v ?? 0n;
}

function snapshotIds(cpu) {
  return Object.fromEntries(ID_REGS.map(([m, reg]) => [reg, memberValue(cpu, m)]));
}

function buildModel(q, model) {
  const initfn = q.initfns.get(model.qemuCpu) ?? fail(`QEMU 7.2 has no -cpu ${model.qemuCpu}`);
  const it = new Interp({
    functions: q.functions,
    macros: q.macros,
    builtins: builtinsFor(q, () => {}),
  });
  const cpu = newCpu();
  it.call(initfn, [cpu]);
  const afterInit = snapshotIds(cpu);
  const features = [...cpu.env.features].sort();
  // -cpu NAME,prop=value: QOM property setters before realize
  for (const [name, value] of Object.entries(model.props ?? {})) {
    const member = cpu.properties.get(name) ?? fail(`-cpu ${model.qemuCpu} has no property ${name}`);
    cpu[member] = value ? 1n : 0n;
  }
  const steps = [];
  for (const step of REALIZE) {
    const vars = { cpu, env: cpu.env };
    const before = snapshotIds(cpu);
    const on = it.value(step.cond, vars, `${step.fn} condition`);
    if (step.mustBeFalse) {
      if (on) fail(`${model.name}: ${step.fn}: '${step.cond}' holds; that branch is not modelled`);
      continue;
    }
    if (!on) continue;
    it.run(step.code, vars, step.fn);
    const after = snapshotIds(cpu);
    const changed = Object.keys(after).filter((r) => after[r] !== before[r]);
    steps.push({
      by: `${step.file} ${step.fn}`,
      what: step.what,
      ...(changed.length && {
        changes: Object.fromEntries(changed.map((r) => [r, `${hex(before[r])} -> ${hex(after[r])}`])),
      }),
    });
  }
  const ids = snapshotIds(cpu);
  const pmcr = memberValue(cpu, "isar.reset_pmcr_el0");
  const vqMap = memberValue(cpu, "sve_vq.map");
  return {
    qemuCpu:
      model.qemuCpu +
      Object.entries(model.props ?? {})
        .map(([k, v]) => `,${k}=${v ? "on" : "off"}`)
        .join(""),
    initfn,
    initfnFeatures: features,
    midr: hex(memberValue(cpu, "midr")),
    revidr: hex(memberValue(cpu, "revidr")),
    ctr: hex(memberValue(cpu, "ctr")),
    clidr: hex(memberValue(cpu, "clidr")),
    ccsidr: cpu.ccsidr.map((v) => hex(v ?? 0n)),
    // helper.c aa64_dczid_read: BS = dcz_blocksize; DZP is 0 at EL1/EL2 (SCTLR_ELx.DZE only gates EL0)
    dczid: hex(memberValue(cpu, "dcz_blocksize")),
    resetPmcrEl0: hex(pmcr),
    // internals.h pmu_num_counters(): PMCR_EL0.N of reset_pmcr_el0
    pmuCounters: Number((pmcr & 0xf800n) >> 11n),
    sveVqMap: hex(vqMap),
    sveMaxVq: Number(memberValue(cpu, "sve_max_vq")),
    gicv3: true,
    id: Object.fromEntries(Object.entries(ids).map(([r, v]) => [r, hex(v)])),
    initfnId: Object.fromEntries(
      Object.entries(afterInit)
        .filter(([r, v]) => v !== ids[r])
        .map(([r, v]) => [r, hex(v)]),
    ),
    realize: steps,
    other: {
      reset_fpsid: hex(memberValue(cpu, "reset_fpsid")),
      reset_sctlr: hex(memberValue(cpu, "reset_sctlr")),
      dbgdidr: hex(memberValue(cpu, "isar.dbgdidr")),
      dbgdevid: hex(memberValue(cpu, "isar.dbgdevid")),
      dbgdevid1: hex(memberValue(cpu, "isar.dbgdevid1")),
      gic_num_lrs: Number(memberValue(cpu, "gic_num_lrs")),
      gic_vpribits: Number(memberValue(cpu, "gic_vpribits")),
      gic_vprebits: Number(memberValue(cpu, "gic_vprebits")),
      gic_pribits: Number(memberValue(cpu, "gic_pribits")),
    },
  };
}

/** Every REALIZE snippet and condition must be in QEMU's source as written. */
function verifyRealize(q) {
  const normTexts = {};
  const text = (rel) => (normTexts[rel] ??= norm(q.texts[rel] ?? readQemu(rel)));
  for (const step of REALIZE) {
    const want = step.verbatim ?? [
      ...(step.condNotVerbatim ? [] : [`if (${step.cond}) {`]),
      ...(step.code ? [step.code] : []),
    ];
    for (const snippet of want)
      if (!text(step.file).includes(norm(snippet)))
        fail(
          `${step.file} ${step.fn}: '${snippet.replace(/\s+/g, " ")}' not found; QEMU changed, revisit REALIZE`,
        );
  }
  for (const name of NO_ID_EFFECT) {
    const fn = q.functions.get(name) ?? fail(`${name}() not found`);
    const body = fn.body.map((t) => t.v).join(" ");
    if (/\bcpu\s*->\s*[\w.[\] ]+(?<![=!<>])=(?!=)/.test(body))
      fail(`${name}() assigns a cpu-> member; interpret it`);
  }
}

/**
 * What QEMU answers the L1 kernel's firmware calls with. Without EL3 firmware (no secure=on) QEMU itself
 * is the PSCI firmware: hw/arm/virt.c machvirt_init picks the SMC conduit when virtualization=on, and
 * target/arm/psci.c arm_is_psci_call routes every SMC to arm_handle_psci_call, whose switch knows the
 * PSCI function ids only: PSCI_FEATURES(SMCCC_VERSION), SMCCC_VERSION and SMCCC_ARCH_FEATURES all take
 * the `default:` arm, QEMU_PSCI_RET_NOT_SUPPORTED. The kernel (psci_init_smccc) then stays at SMCCC 1.0,
 * so arm_smccc_1_1_get_conduit() is NONE and no ARCH_WORKAROUND is ever asked for.
 */
function qemuFirmware(q) {
  const virt = norm(readQemu("hw/arm/virt.c"));
  const want = "} else if (vms->virt) { vms->psci_conduit = QEMU_PSCI_CONDUIT_SMC; }";
  if (!virt.includes(norm(want))) fail(`hw/arm/virt.c: '${want}' not found; revisit qemuFirmware`);
  const psci = cleanSource(readQemu("target/arm/psci.c"));
  const body = /void arm_handle_psci_call\(ARMCPU \*cpu\)\s*\{([\s\S]*?)\n\}/.exec(psci)?.[1];
  if (!body) fail("target/arm/psci.c: arm_handle_psci_call not found");
  const it = new Interp({ functions: new Map(), macros: q.macros, builtins: {} });
  const val = (expr) => Number(BigInt.asIntN(32, it.value(expr, {}, "psci.c")));
  const version = /case QEMU_PSCI_0_2_FN_PSCI_VERSION:\s*ret = (\w+);/.exec(body)?.[1];
  if (!version) fail("target/arm/psci.c: PSCI_VERSION answer not found");
  const cases = [...body.matchAll(/case (\w+):/g)].map((m) => val(m[1]) >>> 0);
  // include/linux/arm-smccc.h: ARM_SMCCC_VERSION_FUNC_ID 0x80000000, ARM_SMCCC_ARCH_FEATURES_FUNC_ID 0x80000001
  for (const fid of [0x80000000, 0x80000001])
    if (cases.includes(fid))
      fail(`target/arm/psci.c now handles SMCCC function 0x${fid.toString(16)}; model it`);
  if (!/default:\s*ret = QEMU_PSCI_RET_NOT_SUPPORTED;/.test(body))
    fail("target/arm/psci.c: default answer changed");
  const notSupported = val("QEMU_PSCI_RET_NOT_SUPPORTED");
  return {
    conduit: "smc",
    psciVersion: val(version),
    psciFeaturesSmcccVersion: notSupported,
    smcccVersion: notSupported,
    archFeatures: { wa1: notSupported, wa2: notSupported, wa3: notSupported },
    source:
      "hw/arm/virt.c machvirt_init (virtualization=on: SMC conduit), target/arm/psci.c arm_handle_psci_call " +
      "(PSCI only; SMCCC_VERSION/ARCH_FEATURES and PSCI_FEATURES(SMCCC_VERSION) fall to default: NOT_SUPPORTED)",
  };
}

/** The ARMCPRegInfo initializer `{ .name = "NAME", ... }` of target/arm/helper.c, comments removed. */
function cpregInfo(helper, name) {
  const at = helper.indexOf(`.name = "${name}"`);
  if (at < 0 || helper.indexOf(`.name = "${name}"`, at + 1) >= 0)
    fail(`target/arm/helper.c: not exactly one ARMCPRegInfo named ${name}`);
  const start = helper.lastIndexOf("{", at);
  let depth = 0;
  for (let i = start; i < helper.length; i++) {
    if (helper[i] === "{") depth++;
    else if (helper[i] === "}" && --depth === 0) return helper.slice(start, i + 1);
  }
  return fail(`target/arm/helper.c: ARMCPRegInfo ${name} does not end`);
}

/** HW_STORE classified from QEMU's register definitions (see the table). */
function hardwareStore(q) {
  const helper = cleanSource(readQemu("target/arm/helper.c"));
  const it = new Interp({ functions: new Map(), macros: q.macros, builtins: {} });
  const out = {};
  for (const { reg, qemu, rawWhen } of HW_STORE) {
    const info = cpregInfo(helper, qemu);
    const src = `${qemu} (target/arm/helper.c)`;
    if (/\.type\s*=\s*[^,}]*\bARM_CP_CONST\b/.test(info)) {
      const reset = /\.resetvalue\s*=\s*([^,}]+)/.exec(info)?.[1]?.trim() ?? "0";
      out[reg] = { store: "const", value: hex(it.value(reset, {}, src)), qemu: `${src}: ARM_CP_CONST` };
      continue;
    }
    const writefn = /\.writefn\s*=\s*(\w+)/.exec(info)?.[1];
    if (!writefn) {
      out[reg] = { store: "raw", qemu: `${src}: plain field, no writefn` };
      continue;
    }
    const body = new RegExp(
      `static void ${writefn}\\(CPUARMState \\*env, const ARMCPRegInfo \\*ri,\\s*uint64_t value\\)\\s*\\{([\\s\\S]*?)\\n\\}`,
    ).exec(helper)?.[1];
    if (body === undefined) fail(`target/arm/helper.c: ${writefn}() not found`);
    const b = norm(body).trim();
    const masked = /^raw_write\(env,ri,value\s*&\s*([^;]+)\);$/.exec(b);
    if (masked) {
      out[reg] = { store: "mask", mask: hex(it.value(masked[1], {}, src)), qemu: `${src}: ${writefn}` };
    } else if (rawWhen) {
      if (!b.includes(norm(rawWhen))) fail(`target/arm/helper.c ${writefn}: '${rawWhen}' not found`);
      out[reg] = { store: "raw", qemu: `${src}: ${writefn} (${rawWhen.replace(/\s+/g, " ")})` };
    } else if (b.endsWith("raw_write(env,ri,value);") && !/\bvalue\s*[&|^+\-*]?=[^=]/.test(body)) {
      out[reg] = { store: "raw", qemu: `${src}: ${writefn} stores value unchanged` };
    } else fail(`target/arm/helper.c ${writefn}: cannot classify how it stores ${qemu}; revisit HW_STORE`);
  }
  return out;
}

/**
 * The lab's QEMU machine (lab/boot.mjs): `-machine virt,virtualization=on,gic-version=3` and `-smp` (default
 * 1), the number of CPUs the L1 kernel brings online (num_online_cpus(), KVM_CAP_NR_VCPUS).
 */
function labMachine() {
  const boot = fs.readFileSync(path.join(ROOT, "lab/boot.mjs"), "utf8");
  if (!boot.includes('"virt,virtualization=on,gic-version=3"'))
    fail("lab/boot.mjs: the -machine argument changed; revisit labMachine");
  const smp = /smp:\s*\{\s*type:\s*"string",\s*default:\s*"(\d+)"\s*\}/.exec(boot)?.[1];
  if (!smp || !/"-smp",\s*opts\.smp,/.test(boot)) fail("lab/boot.mjs: the -smp default not found");
  return {
    onlineCpus: Number(smp),
    source: `lab/boot.mjs: -machine virt,virtualization=on,gic-version=3 -smp ${smp}`,
  };
}

function main() {
  const source = qemuSource();
  const q = loadQemu();
  verifyRealize(q);
  const firmware = qemuFirmware(q);
  const hardware = hardwareStore(q);
  const lab = labMachine();
  const models = {};
  for (const m of MODELS) models[m.name] = buildModel(q, m);
  const out = {
    generatedBy: "scripts/gen-sim-cpus.mjs",
    generatedFrom: {
      qemu: source,
      files:
        "target/arm/{cpu64.c,cpu_tcg.c,cpu.c,cpu.h,internals.h,kvm-consts.h,helper.c}, hw/arm/virt.c; lab/boot.mjs",
      note:
        "qemu-sources.sh extracts the upstream 7.2 tarball without debian/patches; Debian's v7.2.1..v7.2.22 " +
        "stable patches change no initfn value and, in realize, only the sve=off case (v7.2.8 cpu.c, v7.2.12 cpu64.c)",
    },
    machine: "qemu-system-aarch64 -machine virt,virtualization=on,gic-version=3 (TCG; secure=off, mte=off)",
    labMachine: lab,
    firmware,
    hardwareStore: hardware,
    models,
  };
  const json = JSON.stringify(out, null, 1) + "\n";
  if (process.argv.includes("--check")) {
    const cur = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
    if (cur !== json) {
      console.error(`${path.relative(ROOT, OUT)} is out of date; run node scripts/gen-sim-cpus.mjs`);
      process.exit(1);
    }
    return;
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, json);
  for (const [name, m] of Object.entries(models))
    console.log(
      `${name}: midr ${m.midr}, ${m.realize.filter((s) => s.changes).length} realize edits, PMCR.N ${m.pmuCounters}, SVE max VQ ${m.sveMaxVq}`,
    );
}

try {
  main();
} catch (e) {
  if (e instanceof GenError) {
    console.error(`gen-sim-cpus: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
