import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guestabi } from "./testing.js";

describe("guestabi decode", () => {
  it("names the foundation example ids", () => {
    const r = guestabi([
      "decode",
      "0x603000000013c020",
      "0x6030000000140000",
      "0x6030000000160002",
      "0x603000000013df1a",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^ID\s+NAME\s+CLASS\s+SIZE\s+FIELDS$/);
    assert.match(
      lines[1]!,
      /^0x603000000013c020\s+ID_AA64PFR0_EL1\s+sysreg\s+U64\s+op0=3 op1=0 crn=0 crm=4 op2=0$/,
    );
    assert.match(lines[2]!, /^0x6030000000140000\s+KVM_REG_ARM_PSCI_VERSION\s+fw\s+U64\s+index=0$/);
    assert.match(lines[3]!, /^0x6030000000160002\s+KVM_REG_ARM_VENDOR_HYP_BMAP\s+fwBitmap\s+U64\s+index=2$/);
    assert.match(
      lines[4]!,
      /^0x603000000013df1a\s+KVM_REG_ARM_TIMER_CNT {2}\(selftests 5\.10 to 6\.12: CNTV_CVAL_EL0\)\s+sysreg\s+U64\s+.*KVM's id for CNTVCT_EL0/,
    );
  });

  it("shows the selftests' name of KVM's timer ids, in text and JSON", () => {
    const r = guestabi(["decode", "0x603000000013df19", "0x603000000013df1a", "0x603000000013df02"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(
      lines[1]!,
      /^0x603000000013df19 {2}KVM_REG_ARM_TIMER_CTL {2}\(selftests 5\.10 to 7\.2: CNTV_CTL_EL0\)\s+sysreg\s+U64\s+op0=3 op1=3 crn=14 crm=3 op2=1$/,
    );
    assert.match(
      lines[2]!,
      /^0x603000000013df1a {2}KVM_REG_ARM_TIMER_CNT {2}\(selftests 5\.10 to 6\.12: CNTV_CVAL_EL0\)\s+sysreg\s+U64\s+op0=3 op1=3 crn=14 crm=3 op2=2 {2}KVM's id for CNTVCT_EL0 \(the encoding is architecturally CNTV_CVAL_EL0\)$/,
    );
    assert.match(
      lines[3]!,
      /^0x603000000013df02 {2}KVM_REG_ARM_TIMER_CVAL\s+sysreg\s+U64\s+op0=3 op1=3 crn=14 crm=0 op2=2 {2}KVM's id/,
    );
    const json = guestabi(["decode", "--json", "0x603000000013df19", "0x603000000013df11"]);
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as {
      name: string;
      selftestName?: string;
      selftestKernels?: string[];
    }[];
    assert.deepEqual(
      out.map((d) => [d.name, d.selftestName, d.selftestKernels]),
      [
        ["KVM_REG_ARM_TIMER_CTL", "CNTV_CTL_EL0", ["5.10", "6.1", "6.12", "7.2"]],
        ["KVM_REG_ARM_PTIMER_CTL", "CNTP_CTL_EL0", ["6.12", "7.2"]],
      ],
    );
  });

  it("reads ids from stdin, one per line, and prints JSON", () => {
    const r = guestabi(["decode", "--json"], "0x6030000000100040\n# a comment\n\n0x606000000015ffff\n");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string; kernelName: string; class: string; size: string }[];
    assert.deepEqual(
      out.map((d) => [d.name, d.kernelName, d.class, d.size]),
      [
        ["pc", "KVM_REG_ARM_CORE_REG(regs.pc)", "core", "U64"],
        ["KVM_REG_ARM64_SVE_VLS", "KVM_REG_ARM64_SVE_VLS", "sve", "U512"],
      ],
    );
  });

  it("refuses a malformed id with one line on stderr, exit 2 and nothing on stdout", () => {
    const r = guestabi(["decode", "0x603000000013c020", "0x12zz"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "guestabi: unknown register name: '0x12zz'\n");
    const bad = guestabi(["decode", "0x403000000013c020"]);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      "guestabi: malformed register id 0x403000000013c020: architecture field is not KVM_REG_ARM64\n",
    );
  });
});

describe("guestabi encode", () => {
  it("encodes the documented name forms", () => {
    const r = guestabi([
      "encode",
      "--json",
      "ID_AA64PFR0_EL1",
      "x3",
      "vregs[5]",
      "KVM_REG_ARM64_SVE_ZREG(3,0)",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const ids = (JSON.parse(r.stdout) as { id: string }[]).map((d) => d.id);
    assert.deepEqual(ids, [
      "0x603000000013c020",
      "0x6030000000100006",
      "0x6040000000100068",
      "0x6080000000150060",
    ]);
  });

  it("accepts the selftests' timer names", () => {
    const r = guestabi(["encode", "CNTV_CTL_EL0", "CNTPCT_EL0", "CNTP_CTL_EL0", "CNTP_CVAL_EL0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trimEnd()
        .split("\n")
        .map((l) => l.trimEnd().split(/\s+/)),
      [
        ["NAME", "ID", "CLASS", "SIZE"],
        ["KVM_REG_ARM_TIMER_CTL", "0x603000000013df19", "sysreg", "U64"],
        ["KVM_REG_ARM_PTIMER_CNT", "0x603000000013df01", "sysreg", "U64"],
        ["KVM_REG_ARM_PTIMER_CTL", "0x603000000013df11", "sysreg", "U64"],
        ["KVM_REG_ARM_PTIMER_CVAL", "0x603000000013df12", "sysreg", "U64"],
      ],
    );
  });

  it("fails on an unknown name with exit code 2", () => {
    const r = guestabi(["encode", "NOT_A_REGISTER"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "guestabi: unknown register name: 'NOT_A_REGISTER'\n");
  });
});

describe("guestabi fields", () => {
  it("splits ID_AA64PFR0_EL1 with meanings and 7.2 policies", () => {
    const r = guestabi(["fields", "ID_AA64PFR0_EL1", "0x1101001021110222", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      fields: {
        name: string;
        value: string;
        meaning?: string;
        policy?: { type: string; signed: boolean; safe: string };
      }[];
    };
    const field = (name: string) => out.fields.find((f) => f.name === name)!;
    assert.deepEqual([field("EL0").value, field("EL0").meaning], ["0x2", "AARCH32"]);
    // cpufeature.c ftr_id_aa64pfr0: GIC and CSV3 FTR_LOWER_SAFE; FP signed, safe value FP_NI (0xf).
    assert.deepEqual([field("GIC").value, field("GIC").policy?.type], ["0x1", "lowerSafe"]);
    assert.deepEqual([field("CSV3").value, field("CSV3").policy?.type], ["0x1", "lowerSafe"]);
    assert.deepEqual(
      [field("FP").value, field("FP").policy?.signed, field("FP").policy?.safe],
      ["0x1", true, "0xf"],
    );
  });

  it("splits MIDR_EL1, REVIDR_EL1 and AIDR_EL1 (layouts tools/sysreg lacks)", () => {
    const r = guestabi(["fields", "MIDR_EL1", "0x410fd0c1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trimEnd()
        .split("\n")
        .map((l) => l.trimEnd().split(/\s{2,}/)),
      [
        ["MIDR_EL1 = 0x00000000410fd0c1"],
        ["FIELD", "BITS", "VALUE", "MEANING", "POLICY (7.2)"],
        ["RES0_63_32", "63:32", "0x0"],
        ["Implementer", "31:24", "0x41", "ARM"],
        ["Variant", "23:20", "0x0"],
        ["Architecture", "19:16", "0xf"],
        ["PartNum", "15:4", "0xd0c"],
        ["Revision", "3:0", "0x1"],
      ],
    );
    for (const reg of ["REVIDR_EL1", "AIDR_EL1"]) {
      const x = guestabi(["fields", reg, "0x5"]);
      assert.equal(x.code, 0, x.stderr);
      assert.match(x.stdout, /^IMPLEMENTATION_DEFINED\s+63:0\s+0x5$/m);
    }
  });

  it("shows a firmware register's meaning", () => {
    const r = guestabi(["fields", "KVM_REG_ARM_PSCI_VERSION", "0x10001"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^major\s+31:16\s+0x1\s*$/m);
    assert.match(r.stdout, /^minor\s+15:0\s+0x1\s+PSCI 1\.1/m);
  });

  it("rejects a value wider than 64 bits and an unknown kernel", () => {
    const wide = guestabi(["fields", "ID_AA64PFR0_EL1", "0x1" + "0".repeat(16)]);
    assert.equal(wide.code, 2);
    assert.equal(wide.stderr, "guestabi: register value wider than 64 bits: '0x10000000000000000'\n");
    const r = guestabi(["fields", "ID_AA64PFR0_EL1", "0x1", "--kernel", "4.19"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "guestabi: unknown kernel generation '4.19' (known: 5.10, 6.1, 6.12, 7.2)\n");
  });
});

describe("guestabi without a command", () => {
  it("says how to get help, exit 2", () => {
    const r = guestabi([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "guestabi: no command given (see 'guestabi --help')\n");
  });

  it("prints help on --help, exit 0", () => {
    const r = guestabi(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: guestabi \[options\] \[command\]/);
    assert.match(r.stdout, /^ {2}decode \[options\] \[ids\.\.\.\]/m);
  });
});

describe("guestabi regs", () => {
  it("lists the firmware registers", () => {
    const r = guestabi(["regs", "--class", "fw"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^0x6030000000140000\s+KVM_REG_ARM_PSCI_VERSION\s+fw\s+U64$/m);
    assert.match(r.stdout, /^0x6030000000140003\s+KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3\s+fw\s+U64$/m);
  });

  it("rejects an unknown class and an unknown option", () => {
    assert.equal(guestabi(["regs", "--class", "bogus"]).code, 2);
    const r = guestabi(["regs", "--bogus"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "guestabi: unknown option '--bogus'\n");
  });
});
