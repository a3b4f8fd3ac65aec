import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RegIdError, decodeId, encodeDecoded } from "./id.js";
import { nameOf, parseRegName } from "./names.js";
import { validId } from "./testing/arbitraries.js";

describe("register names", () => {
  it("names the four registers of the foundation example", () => {
    assert.equal(nameOf(0x603000000013c020n).name, "ID_AA64PFR0_EL1");
    assert.equal(nameOf(0x6030000000140000n).name, "KVM_REG_ARM_PSCI_VERSION");
    assert.equal(nameOf(0x6030000000160002n).name, "KVM_REG_ARM_VENDOR_HYP_BMAP");
    const cnt = nameOf(0x603000000013df1an);
    assert.equal(cnt.name, "KVM_REG_ARM_TIMER_CNT");
    assert.equal(cnt.note, "KVM's id for CNTVCT_EL0 (the encoding is architecturally CNTV_CVAL_EL0)");
  });

  it("gives KVM's timer ids the names the get-reg-list.c selftests use, with their kernels", () => {
    const alias = (id: bigint) => {
      const n = nameOf(id);
      return [n.name, n.selftestName, n.selftestKernels];
    };
    const all = ["5.10", "6.1", "6.12", "7.2"];
    assert.deepEqual(alias(0x603000000013df19n), ["KVM_REG_ARM_TIMER_CTL", "CNTV_CTL_EL0", all]);
    assert.deepEqual(alias(0x603000000013df01n), ["KVM_REG_ARM_PTIMER_CNT", "CNTPCT_EL0", ["6.12", "7.2"]]);
    assert.deepEqual(alias(0x603000000013df11n), ["KVM_REG_ARM_PTIMER_CTL", "CNTP_CTL_EL0", ["6.12", "7.2"]]);
    assert.deepEqual(alias(0x603000000013df12n), [
      "KVM_REG_ARM_PTIMER_CVAL",
      "CNTP_CVAL_EL0",
      ["6.12", "7.2"],
    ]);
    // KVM's swapped pair: up to 6.12 the selftest names TIMER_CNT by its encoding (CNTV_CVAL_EL0) and
    // writes TIMER_CVAL as a bare ARM64_SYS_REG(3, 3, 14, 0, 2); 7.2's uses the KVM macros.
    assert.deepEqual(alias(0x603000000013df1an), [
      "KVM_REG_ARM_TIMER_CNT",
      "CNTV_CVAL_EL0",
      ["5.10", "6.1", "6.12"],
    ]);
    assert.deepEqual(alias(0x603000000013df02n), ["KVM_REG_ARM_TIMER_CVAL", undefined, undefined]);
    assert.equal(nameOf(0x603000000013c020n).selftestName, undefined);
  });

  it("encodes the selftests' timer names to KVM's ids", () => {
    const cases: [string, bigint][] = [
      ["CNTV_CTL_EL0", 0x603000000013df19n],
      ["CNTV_CVAL_EL0", 0x603000000013df1an], // KVM_REG_ARM_TIMER_CNT's id, as the selftests name it
      ["CNTPCT_EL0", 0x603000000013df01n],
      ["CNTP_CTL_EL0", 0x603000000013df11n],
      ["CNTP_CVAL_EL0", 0x603000000013df12n],
      ["KVM_REG_ARM_TIMER_CTL", 0x603000000013df19n],
      ["KVM_REG_ARM_PTIMER_CNT", 0x603000000013df01n],
    ];
    for (const [name, id] of cases) assert.equal(parseRegName(name), id, name);
    for (const id of [0x603000000013df19n, 0x603000000013df1an, 0x603000000013df01n])
      assert.equal(parseRegName(nameOf(id).selftestName!), id);
  });

  it("encodes every documented name form", () => {
    const cases: [string, bigint][] = [
      ["ID_AA64PFR0_EL1", 0x603000000013c020n],
      ["id_aa64pfr0_el1", 0x603000000013c020n],
      ["S3_0_C0_C4_0", 0x603000000013c020n],
      ["ARM64_SYS_REG(3, 0, 0, 4, 0)", 0x603000000013c020n],
      ["KVM_REG_ARM_PSCI_VERSION", 0x6030000000140000n],
      ["KVM_REG_ARM_FW_REG(1)", 0x6030000000140001n],
      ["KVM_REG_ARM_FW_FEAT_BMAP_REG(2)", 0x6030000000160002n],
      ["KVM_REG_ARM_TIMER_CNT", 0x603000000013df1an],
      ["KVM_REG_ARM_TIMER_CVAL", 0x603000000013df02n],
      ["pc", 0x6030000000100040n],
      ["PC", 0x6030000000100040n],
      ["x3", 0x6030000000100006n],
      ["x30", 0x603000000010003cn],
      ["sp_el1", 0x6030000000100044n],
      ["spsr[4]", 0x6030000000100050n],
      ["vregs[5]", 0x6040000000100068n],
      ["fpsr", 0x60200000001000d4n],
      ["fpcr", 0x60200000001000d5n],
      ["KVM_REG_ARM_CORE_REG(regs.regs[0])", 0x6030000000100000n],
      ["KVM_REG_ARM64_SVE_ZREG(3,0)", 0x6080000000150060n],
      ["KVM_REG_ARM64_SVE_PREG(15, 31)", 0x60500000001505ffn],
      ["KVM_REG_ARM64_SVE_FFR(0)", 0x6050000000150600n],
      ["KVM_REG_ARM64_SVE_VLS", 0x606000000015ffffn],
      ["CCSIDR[1]", 0x6020000000110001n],
      [
        "KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | 2",
        0x6020000000110002n,
      ],
      ["ID_AA64PFR0_EL1:U32", 0x602000000013c020n],
      ["0x603000000013c020", 0x603000000013c020n],
    ];
    for (const [name, id] of cases) assert.equal(parseRegName(name), id, name);
  });

  it("tells SP_EL1 the system register from sp_el1 the core register", () => {
    assert.equal(nameOf(parseRegName("SP_EL1")).name, "SP_EL1");
    assert.equal(decodeId(parseRegName("SP_EL1")).class, "sysreg");
    assert.equal(decodeId(parseRegName("sp_el1")).class, "core");
  });

  it("refuses unknown names and out-of-range fields with a clear error", () => {
    assert.throws(() => parseRegName("ID_AA64PFR9_EL1"), /unknown register name: 'ID_AA64PFR9_EL1'/);
    assert.throws(() => parseRegName("x31"), /unknown register name/);
    assert.throws(() => parseRegName("S3_0_C16_C0_0"), /field out of range/);
    assert.throws(() => parseRegName("KVM_REG_ARM64_SVE_PREG(16,0)"), /field out of range/);
    assert.throws(() => parseRegName("KVM_REG_ARM64 | BOGUS"), /unknown term 'BOGUS'/);
    assert.throws(() => parseRegName("0x403000000013c020"), /architecture field is not KVM_REG_ARM64/);
    assert.throws(() => parseRegName("pc:U999"), RegIdError);
  });

  it("names unknown but well-formed ids by their raw fields", () => {
    assert.deepEqual(nameOf(0x6030000000170005n), {
      name: "KVM_REG_ARM64(0x17,0x5):U64",
      kernelName: "KVM_REG_ARM64(0x17,0x5):U64",
      known: false,
    });
    assert.equal(nameOf(0x6030000000100001n).name, "KVM_REG_ARM_CORE(0x1):U64");
    assert.equal(nameOf(0x603000000013c7ffn).known, false);
  });

  it("parseRegName(nameOf(id).name) === id for every well-formed id", () => {
    fc.assert(
      fc.property(
        validId,
        (id) => parseRegName(nameOf(id).name) === id && encodeDecoded(decodeId(id)) === id,
      ),
      { numRuns: 20000 },
    );
  });

  it("parseRegName never throws anything but RegIdError on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseRegName(text);
        } catch (e) {
          assert.ok(e instanceof RegIdError, `${String(e)} for ${JSON.stringify(text)}`);
        }
      }),
      { numRuns: 20000 },
    );
  });
});
