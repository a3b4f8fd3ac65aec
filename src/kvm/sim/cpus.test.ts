import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  CPU_MODELS,
  LAB_CPU_MODELS,
  LAB_MEASURED_CPUS,
  QEMU_FIRMWARE,
  QEMU_VERSION,
  cpuModel,
} from "./cpus.js";
import { getField } from "./descs.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CACHE = process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
const QEMU_SRC = path.join(CACHE, "qemu-src");
const f = (name: string, reg: string, field: string) => getField(cpuModel(name).id[reg] ?? 0n, reg, field);

test("QEMU values spot-checked against target/arm/cpu64.c (aarch64_a72_initfn, a57, a64fx)", () => {
  const a72 = cpuModel("cortex-a72");
  assert.equal(a72.midr, 0x410fd083n); // cpu->midr = 0x410fd083;
  assert.equal(a72.ctr, 0x8444c004n); // cpu->ctr = 0x8444c004;
  assert.equal(a72.cache.clidr, 0x0a200023n); // cpu->clidr = 0x0a200023;
  assert.equal(a72.cache.ccsidr[2], 0x707fe07an); // cpu->ccsidr[2] = 0x707fe07a; /* 1MB L2 cache */
  assert.equal(a72.id.ID_MMFR0_EL1, 0x10201105n); // cpu->isar.id_mmfr0 = 0x10201105;
  assert.equal(a72.pmuCounters, 6); // reset_pmcr_el0 = 0x41023000: N = 6
  const a57 = cpuModel("cortex-a57");
  assert.equal(a57.midr, 0x411fd070n);
  assert.equal(a57.cache.ccsidr[2], 0x70ffe07an); // 2048KB L2
  assert.equal(a57.id.ID_AA64MMFR0_EL1, 0x00001124n);
  const a64fx = cpuModel("a64fx");
  assert.equal(a64fx.midr, 0x461f0010n);
  assert.equal(a64fx.ctr, 0x86668006n);
  assert.equal(a64fx.dczid, 6n); // 256-byte blocks
  assert.equal(a64fx.pmuCounters, 8); // reset_pmcr_el0 = 0x46014040
  assert.equal(a64fx.sveVqMap, 0b1011n); // sve_vq.supported: 128, 256 and 512 bits
  assert.equal(a64fx.sveMaxVq, 4);
});

test("max: A57 plus aarch64_max_initfn's FIELD_DP64 edits, then realize", () => {
  const max = cpuModel("max");
  // MIDR: IMPLEMENTER 0, ARCHITECTURE 0xf, PARTNUM 'Q'
  assert.equal(max.midr, (0xfn << 16n) | (BigInt("Q".charCodeAt(0)) << 4n));
  // system emulation keeps the A57's CTR/DCZ (the 0x80038003 / 7 values are CONFIG_USER_ONLY)
  assert.equal(max.ctr, 0x8444c004n);
  assert.equal(max.dczid, 4n);
  assert.equal(max.cache.clidr, 0x02000023n); // LoUU = LoUIS = 0 for FEAT_S2FWB
  assert.equal(f("max", "ID_AA64PFR0_EL1", "CSV2"), 2);
  assert.equal(f("max", "ID_AA64PFR0_EL1", "SVE"), 1);
  assert.equal(f("max", "ID_AA64PFR1_EL1", "SSBS"), 2);
  assert.equal(f("max", "ID_AA64PFR1_EL1", "MTE"), 0); // realize: no tag memory without mte=on
  assert.equal(f("max", "ID_AA64PFR1_EL1", "SME"), 1);
  assert.equal(f("max", "ID_AA64MMFR0_EL1", "PARANGE"), 6);
  assert.equal(f("max", "ID_AA64MMFR0_EL1", "TGRAN4"), 1); // arm_cpu_lpa2_finalize (lpa2=on, virt-7.2)
  assert.equal(f("max", "ID_AA64DFR0_EL1", "PMUVer"), 6);
  assert.equal(max.sveMaxVq, 16);
  assert.equal(max.sveVqMap, 0xffffn);
  assert.equal(max.pmuCounters, 6); // the A57's PMCR
  // arm_cpu_pauth_finalize: pauth=on -> the architected algorithm; pauth-impdef=on -> IMPDEF
  assert.deepEqual(
    ["APA", "API", "GPA", "GPI"].map((x) => f("max", "ID_AA64ISAR1_EL1", x)),
    [1, 0, 1, 0],
  );
  assert.deepEqual(
    ["APA", "API", "GPA", "GPI"].map((x) => f("max-impdef", "ID_AA64ISAR1_EL1", x)),
    [0, 1, 0, 1],
  );
  // pauth-impdef changes nothing else
  const a = cpuModel("max").id;
  const b = cpuModel("max-impdef").id;
  for (const reg of Object.keys(a)) if (reg !== "ID_AA64ISAR1_EL1") assert.equal(a[reg], b[reg], reg);
});

test("realize for virt,virtualization=on,gic-version=3: no EL3, EL2 kept, GIC set, no SPE (TCG)", () => {
  for (const name of LAB_CPU_MODELS) {
    assert.equal(f(name, "ID_AA64PFR0_EL1", "EL3"), 0, `${name} EL3`);
    assert.notEqual(f(name, "ID_AA64PFR0_EL1", "EL2"), 0, `${name} EL2`);
    assert.equal(f(name, "ID_AA64PFR0_EL1", "GIC"), 1, `${name} GIC`);
    assert.equal(f(name, "ID_PFR1_EL1", "GIC"), 1, `${name} ID_PFR1.GIC`);
    assert.equal(f(name, "ID_PFR1_EL1", "Security"), 0, `${name} ID_PFR1.Security`);
    assert.equal(f(name, "ID_AA64DFR0_EL1", "PMSVer"), 0, `${name} PMSVer`);
    assert.equal(cpuModel(name).kind, "qemu");
    assert.equal(cpuModel(name).firmware, QEMU_FIRMWARE);
  }
  // the initfn's values before realize, for contrast
  assert.equal(cpuModel("cortex-a76").id.ID_AA64PFR0_EL1, 0x1100000011110112n); // initfn 0x1100000010111112
  assert.equal(cpuModel("neoverse-n1").id.ID_AA64DFR0_EL1, 0x10305408n); // initfn 0x0000000110305408
  assert.equal(cpuModel("cortex-a57").id.ID_DFR0_EL1, 0x03010006n); // CopSDbg cleared
});

test("QEMU answers PSCI only: SMCCC_VERSION and ARCH_FEATURES are NOT_SUPPORTED", () => {
  assert.match(QEMU_VERSION, /^qemu 1:7\.2\+dfsg-/);
  assert.equal(QEMU_FIRMWARE.conduit, "smc");
  assert.equal(QEMU_FIRMWARE.psciVersion, 0x10001);
  assert.equal(QEMU_FIRMWARE.psciFeaturesSmcccVersion, -1);
  assert.deepEqual(QEMU_FIRMWARE.archFeatures, { wa1: -1, wa2: -1, wa3: -1 });
});

test("silicon models are marked and unmeasured; every model has the registers KVM needs", () => {
  for (const m of Object.values(CPU_MODELS)) {
    // Only the lab's matrix is measured (src/lab/sim-conformance.test.ts holds those to lab/profiles).
    assert.equal(m.measured, LAB_MEASURED_CPUS.includes(m.name), m.name);
    if (m.kind === "silicon") assert.equal(m.measured, false, m.name);
    if (m.kind === "silicon") assert.match(m.source, /TRM/);
    for (const reg of ["ID_AA64PFR0_EL1", "ID_AA64ISAR0_EL1", "ID_AA64MMFR0_EL1", "ID_AA64DFR0_EL1"])
      assert.ok(m.id[reg] !== undefined, `${m.name} ${reg}`);
    // SVE: the map's top bit is the maximum
    assert.equal(m.sveVqMap === 0n ? 0 : m.sveVqMap.toString(2).length, m.sveMaxVq, m.name);
  }
});

/** Runs a generator's --check; undefined when its sources are absent. */
function generatorCheck(script: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, "scripts", script), "--check"], {
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr };
}

test("generated/cpus.json is what QEMU's source gives (gen-sim-cpus.mjs --check)", (t) => {
  if (!fs.existsSync(path.join(QEMU_SRC, "SOURCE")) || !fs.existsSync(path.join(ROOT, "scripts"))) {
    t.skip(`QEMU source not present (${QEMU_SRC}); run scripts/qemu-sources.sh`);
    return;
  }
  const source = fs.readFileSync(path.join(QEMU_SRC, "SOURCE"), "utf8").trim();
  assert.equal(source, QEMU_VERSION, "cpus.json was generated from another QEMU");
  const r = generatorCheck("gen-sim-cpus.mjs");
  assert.equal(r.status, 0, r.stderr);
  // and the spot-checked lines are literally in cpu64.c
  const cpu64 = fs.readFileSync(path.join(QEMU_SRC, "target/arm/cpu64.c"), "utf8");
  const a72 = cpu64.slice(cpu64.indexOf("static void aarch64_a72_initfn"));
  for (const line of ["cpu->midr = 0x410fd083;", "cpu->ctr = 0x8444c004;", "cpu->clidr = 0x0a200023;"])
    assert.ok(a72.slice(0, a72.indexOf("\n}\n")).includes(line), line);
});

test("generated/spectre.json is what the kernel trees give (gen-sim-spectre.mjs --check)", (t) => {
  const missing = ["5.10", "6.1", "6.12", "7.2"].filter(
    (g) => !fs.existsSync(path.join(CACHE, "ksrc", g, "arch/arm64/kernel/proton-pack.c")),
  );
  if (missing.length || !fs.existsSync(path.join(ROOT, "scripts"))) {
    t.skip(`kernel sources not present (${missing.join(", ")}); run scripts/kernel-sources.sh`);
    return;
  }
  const r = generatorCheck("gen-sim-spectre.mjs");
  assert.equal(r.status, 0, r.stderr);
});

test("cpuModel takes own names only: Object.prototype's keys are unknown models", () => {
  for (const name of ["toString", "__proto__", "constructor", "hasOwnProperty"])
    assert.throws(() => cpuModel(name), {
      name: "RangeError",
      message: new RegExp(`^unknown CPU model '${name}'`),
    });
  assert.equal(cpuModel("cortex-a72").midr, CPU_MODELS["cortex-a72"]!.midr);
});
