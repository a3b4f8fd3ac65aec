import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CATALOG_SOURCES,
  SYSREGS,
  ftrPolicies,
  kvmTimerByEncoding,
  sysregByEncoding,
  sysregByName,
} from "./catalog.js";
import { sysregEncodingName } from "./id.js";

describe("the register catalog's loading (sysregs.json first, the fields and policies on first use)", () => {
  it("keeps the system registers in encoding order, which sysregByEncoding's binary search needs", () => {
    const order = (r: (typeof SYSREGS)[number]) => [r.op0, r.op1, r.crn, r.crm, r.op2];
    for (let i = 1; i < SYSREGS.length; i++) {
      const [a, b] = [order(SYSREGS[i - 1]!), order(SYSREGS[i]!)];
      const cmp = a.map((x, k) => x - b[k]!).find((d) => d !== 0) ?? 0;
      assert.ok(cmp <= 0, `${SYSREGS[i - 1]!.name} before ${SYSREGS[i]!.name}`);
    }
  });

  it("finds every encoding's first register, and nothing for encodings it does not list", () => {
    const first = new Map<string, string>();
    for (const r of SYSREGS) if (!first.has(sysregEncodingName(r))) first.set(sysregEncodingName(r), r.name);
    for (const r of SYSREGS) assert.equal(sysregByEncoding(r)?.name, first.get(sysregEncodingName(r)));
    // Two names for one encoding (asm/sysreg.h's AMU aliases): the first in name order is the primary.
    assert.equal(sysregByEncoding({ op0: 3, op1: 3, crn: 13, crm: 4, op2: 0 })?.name, "AMEVCNTR00_EL0");
    assert.equal(sysregByName("AMEVCNTR0_CORE_EL0")?.op2, 0);
    for (const e of [
      { op0: 0, op1: 0, crn: 0, crm: 0, op2: 0 },
      { op0: 3, op1: 7, crn: 15, crm: 15, op2: 7 },
      { op0: 3, op1: 0, crn: 0, crm: 3, op2: 3 }, // unallocated in the feature-ID space
    ])
      assert.equal(sysregByEncoding(e), undefined, sysregEncodingName(e));
  });

  it("reads a register's fields when first asked for, once", () => {
    const pfr0 = sysregByName("ID_AA64PFR0_EL1")!;
    assert.equal(pfr0.fields, pfr0.fields);
    assert.deepEqual(
      pfr0.fields.slice(-2).map((f) => [f.name, f.msb, f.lsb, f.kind]),
      [
        ["EL1", 7, 4, "unsignedEnum"],
        ["EL0", 3, 0, "unsignedEnum"],
      ],
    );
    assert.deepEqual(
      pfr0.fields.at(-1)!.values?.map((v) => [v.value, v.name]),
      [
        [0x1n, "IMP"],
        [0x2n, "AARCH32"],
      ],
    );
    // asm/sysreg.h-only registers have no layout.
    assert.deepEqual(sysregByName("DBGBVR0_EL1")!.fields, []);
  });

  it("reads the ID-register policies when first asked for", () => {
    assert.deepEqual(
      ftrPolicies("7.2", "ID_AA64PFR0_EL1")?.find((p) => p.field === "EL0"),
      {
        field: "EL0",
        shift: 0,
        width: 4,
        signed: false,
        type: "lowerSafe",
        safe: 0x1n,
        visible: false,
        strict: false,
      },
    );
    assert.equal(ftrPolicies("7.2", "MIDR_EL1"), undefined);
  });

  it("names the sources of every file, all made by one run of gen-catalog.mjs", () => {
    assert.deepEqual(CATALOG_SOURCES.sysregFields, CATALOG_SOURCES.sysregs);
    assert.deepEqual(CATALOG_SOURCES.ftrPolicy, CATALOG_SOURCES.sysregs);
    assert.match(CATALOG_SOURCES.sysregs["7.2"], /^linux-source-7\.2 /);
  });

  it("looks KVM's timer ids up by their encoding", () => {
    assert.equal(
      kvmTimerByEncoding({ op0: 3, op1: 3, crn: 14, crm: 3, op2: 1 })?.name,
      "KVM_REG_ARM_TIMER_CTL",
    );
  });
});
