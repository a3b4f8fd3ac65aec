import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  ERET,
  ISB,
  NOP,
  SYSREGS,
  WFI,
  addImm,
  b,
  hvc,
  ldrImm,
  ldrWImm,
  movImm64,
  movReg,
  movk,
  movz,
  mrs,
  msr,
  ret,
  smc,
  strImm,
  wordsToBytes,
} from "./a64.js";
import { buildProbeProgram, defaultProbeItems } from "./program.js";

const enc = (op0: number, op1: number, crn: number, crm: number, op2: number) => ({
  op0,
  op1,
  crn,
  crm,
  op2,
});

describe("A64 encoders", () => {
  // Expected words: GNU as 2.40 (binutils-aarch64-linux-gnu) + objdump -d of the same instructions.
  const cases: [string, number, number][] = [
    ["hvc #0", hvc(0), 0xd4000002],
    ["smc #0", smc(0), 0xd4000003],
    ["hvc #1", hvc(1), 0xd4000022],
    ["smc #0xffff", smc(0xffff), 0xd41fffe3],
    ["mrs x0, midr_el1", mrs(0, SYSREGS.MIDR_EL1), 0xd5380000],
    ["mrs x1, esr_el1", mrs(1, SYSREGS.ESR_EL1), 0xd5385201],
    ["mrs x25, elr_el1", mrs(25, SYSREGS.ELR_EL1), 0xd5384039],
    ["mrs x0, s3_0_c0_c7_7", mrs(0, enc(3, 0, 0, 7, 7)), 0xd53807e0],
    ["mrs x3, ctr_el0", mrs(3, enc(3, 3, 0, 0, 1)), 0xd53b0023],
    ["mrs x0, dczid_el0", mrs(0, enc(3, 3, 0, 0, 7)), 0xd53b00e0],
    ["mrs x0, clidr_el1", mrs(0, enc(3, 1, 0, 0, 1)), 0xd5390020],
    ["mrs x0, aidr_el1", mrs(0, enc(3, 1, 0, 0, 7)), 0xd53900e0],
    ["msr vbar_el1, x0", msr(SYSREGS.VBAR_EL1, 0), 0xd518c000],
    ["msr elr_el1, x25", msr(SYSREGS.ELR_EL1, 25), 0xd5184039],
    ["ret", ret(), 0xd65f03c0],
    ["ret x1", ret(1), 0xd65f0020],
    ["eret", ERET, 0xd69f03e0],
    ["nop", NOP, 0xd503201f],
    ["isb", ISB, 0xd5033fdf],
    ["wfi", WFI, 0xd503207f],
    ["movz x0, #0x1234", movz(0, 0x1234), 0xd2824680],
    ["movk x0, #0x5678, lsl #16", movk(0, 0x5678, 16), 0xf2aacf00],
    ["movz x26, #0x1000, lsl #16", movz(26, 0x1000, 16), 0xd2a2001a],
    ["movk x3, #0xffff, lsl #48", movk(3, 0xffff, 48), 0xf2ffffe3],
    ["str x1, [x2, #8]", strImm(1, 2, 8), 0xf9000441],
    ["str x0, [x26]", strImm(0, 26), 0xf9000340],
    ["str x28, [x27, #32760]", strImm(28, 27, 32760), 0xf93fff7c],
    ["ldr x0, [x26, #16]", ldrImm(0, 26, 16), 0xf9400b40],
    // By hand from the Arm ARM's LDR (immediate), unsigned offset, 32-bit: size=10 111 V=0 01 opc=01
    // imm12=1 Rn=0 Rt=1 -> 0b1011100101 << 22 | 1 << 10 | 0 << 5 | 1 = 0xb9400000 | 0x400 | 1.
    ["ldr w1, [x0, #4]", ldrWImm(1, 0, 4), 0xb9400401],
    ["ldr w0, [x1]", ldrWImm(0, 1), 0xb9400020],
    ["ldr w3, [x26, #16]", ldrWImm(3, 26, 16), 0xb9401343],
    ["ldr w0, [x1, #16380]", ldrWImm(0, 1, 16380), 0xb97ffc20],
    ["ldr wzr, [x2, #8]", ldrWImm(31, 2, 8), 0xb940085f],
    ["add x25, x25, #4", addImm(25, 25, 4), 0x91001339],
    ["mov x1, x2", movReg(1, 2), 0xaa0203e1],
    ["b .", b(0), 0x14000000],
    ["b .+8", b(8), 0x14000002],
    ["b .-4", b(-4), 0x17ffffff],
  ];
  for (const [text, got, want] of cases)
    it(`${text} = 0x${want.toString(16)}`, () => assert.equal(got.toString(16), want.toString(16)));

  it("load 64-bit immediates with MOVZ then MOVKs of the nonzero halfwords", () => {
    assert.deepEqual(movImm64(0, 0n), [movz(0, 0)]);
    assert.deepEqual(movImm64(0, 0x84000000n), [movz(0, 0x8400, 16)]);
    assert.deepEqual(movImm64(1, 0x8400000an), [movz(1, 0xa), movk(1, 0x8400, 16)]);
    assert.deepEqual(movImm64(2, -1n), [
      movz(2, 0xffff),
      movk(2, 0xffff, 16),
      movk(2, 0xffff, 32),
      movk(2, 0xffff, 48),
    ]);
    assert.deepEqual(movImm64(3, 0x0001_0000_0000_0000n), [movz(3, 1, 48)]);
  });

  it("refuse operands that do not fit", () => {
    assert.throws(() => hvc(0x10000), RangeError);
    assert.throws(() => movz(32, 0), RangeError);
    assert.throws(() => movz(0, 0, 8), RangeError);
    assert.throws(() => strImm(0, 1, 4), RangeError);
    assert.throws(() => strImm(0, 1, 32768), RangeError);
    assert.throws(() => ldrWImm(0, 1, 2), RangeError);
    assert.throws(() => ldrWImm(0, 1, 16384), RangeError);
    assert.throws(() => b(2), RangeError);
    assert.throws(() => b(1 << 27), RangeError);
    assert.throws(() => mrs(0, enc(1, 0, 0, 0, 0)), RangeError);
    assert.throws(() => mrs(0, enc(3, 8, 0, 0, 0)), RangeError);
  });

  it("lay words out little-endian", () => {
    assert.deepEqual([...wordsToBytes([0xd4000002])], [0x02, 0x00, 0x00, 0xd4]);
  });
});

function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir, tool);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

describe("the probe program under GNU objdump", () => {
  const objdump = which("aarch64-linux-gnu-objdump");
  it(
    "disassembles without undefined words",
    { skip: !objdump && "binutils-aarch64-linux-gnu not installed" },
    () => {
      const p = buildProbeProgram(defaultProbeItems());
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-probe-"));
      try {
        const bin = path.join(tmp, "probe.bin");
        fs.writeFileSync(bin, p.bytes);
        const out = execFileSync(
          objdump!,
          ["-D", "-b", "binary", "-m", "aarch64", "--adjust-vma=0x40000000", bin],
          {
            encoding: "utf8",
            maxBuffer: 64 << 20,
          },
        );
        const lines = out.split("\n").filter((l) => /^\s+[0-9a-f]+:\s/.test(l));
        const nonzero = lines.filter((l) => !/:\s+00000000\s/.test(l));
        assert.ok(nonzero.length > 1000);
        assert.deepEqual(
          nonzero.filter((l) => /undefined|\.inst/.test(l)),
          [],
        );
        assert.match(out, /40000008:\s+d518c000\s+msr\s+vbar_el1, x0/);
        assert.match(out, /40001000:\s+d2a2001b\s+mov\s+x27, #0x10000000/);
        assert.match(out, /eret/);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    },
  );
});
