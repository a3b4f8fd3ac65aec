import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysregByName } from "./catalog.js";
import { decodeFields } from "./fields.js";
import { parseRegName } from "./names.js";

/** [name, msb, lsb, value, meaning] of every field; meaning "" where there is none. */
function fieldsOf(reg: string, value: bigint): [string, number, number, bigint, string][] {
  const fields = decodeFields(parseRegName(reg), value, "7.2");
  assert.ok(fields, `${reg}: no field layout`);
  return fields.map((f) => [f.name, f.msb, f.lsb, f.value, f.meaning ?? ""]);
}

describe("field layouts tools/sysreg lacks (scripts/gen-catalog.supplement.json)", () => {
  it("splits MIDR_EL1 as asm/cputype.h does (Neoverse N1 r4p1: 0x414fd0c1)", () => {
    // MIDR_REVISION 3:0, MIDR_PARTNUM 15:4, MIDR_ARCHITECTURE 19:16, MIDR_VARIANT 23:20,
    // MIDR_IMPLEMENTOR 31:24 (ARM_CPU_IMP_ARM 0x41, ARM_CPU_PART_NEOVERSE_N1 0xD0C); bits 63:32 RES0.
    assert.deepEqual(fieldsOf("MIDR_EL1", 0x414fd0c1n), [
      ["RES0_63_32", 63, 32, 0n, ""],
      ["Implementer", 31, 24, 0x41n, "ARM"],
      ["Variant", 23, 20, 0x4n, ""],
      ["Architecture", 19, 16, 0xfn, ""],
      ["PartNum", 15, 4, 0xd0cn, ""],
      ["Revision", 3, 0, 0x1n, ""],
    ]);
    // Implementer names are cputype.h's ARM_CPU_IMP_* (A64FX: Fujitsu 0x46, part 0x001).
    assert.deepEqual(fieldsOf("MIDR_EL1", 0x461f0010n)[1], ["Implementer", 31, 24, 0x46n, "FUJITSU"]);
    assert.deepEqual(fieldsOf("MIDR_EL1", 0x000f0510n)[1], ["Implementer", 31, 24, 0n, ""]);
  });

  it("gives REVIDR_EL1 and AIDR_EL1 one IMPLEMENTATION DEFINED field over all 64 bits", () => {
    assert.deepEqual(fieldsOf("REVIDR_EL1", 0x8000000000000005n), [
      ["IMPLEMENTATION_DEFINED", 63, 0, 0x8000000000000005n, ""],
    ]);
    assert.deepEqual(fieldsOf("AIDR_EL1", 0n), [["IMPLEMENTATION_DEFINED", 63, 0, 0n, ""]]);
  });

  it("marks the supplement's fields as identification numbers, citing where they come from", () => {
    // "ident", not "field": probe's field-lower/field-raise experiments (and the lab profiles measured
    // with them) cover tools/sysreg's feature fields only.
    for (const name of ["MIDR_EL1", "REVIDR_EL1", "AIDR_EL1"]) {
      const def = sysregByName(name)!;
      assert.deepEqual(
        def.fields.filter((f) => !f.name.startsWith("RES")).map((f) => f.kind),
        name === "MIDR_EL1" ? ["ident", "ident", "ident", "ident", "ident"] : ["ident"],
      );
      assert.match(def.fieldsSource ?? "", name === "MIDR_EL1" ? /asm\/cputype\.h/ : /Arm ARM/);
    }
    // tools/sysreg's registers keep their layout and carry no supplement citation.
    assert.equal(sysregByName("ID_AA64PFR0_EL1")!.fieldsSource, undefined);
    assert.equal(
      sysregByName("ID_AA64PFR0_EL1")!.fields.some((f) => f.kind === "ident"),
      false,
    );
  });
});
