/**
 * Firecracker's template rules: the parser's errors (the cases of Firecracker's own tests in
 * custom_cpu_template.rs and templates.rs, with the texts its code builds), Firecracker's public examples,
 * and the boot on simulated and imported host profiles.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { n1Profile } from "../check/testing/sim-profiles.js";
import {
  checkFirecrackerTemplate,
  firecrackerCapabilities,
  parseFirecrackerBitmap,
} from "./firecracker-template-rules.js";
import { importHostProfile } from "./profile-import.js";
import { FINGERPRINT_FIXTURES, FIRECRACKER_TESTDATA } from "./testing/firecracker-fixtures.js";

/** The parse violations of `doc` as [at, error]. */
const parseErrors = (doc: unknown): [string, string][] =>
  checkFirecrackerTemplate(typeof doc === "string" ? doc : JSON.stringify(doc)).violations.map((v) => {
    assert.equal(v.stage, "parse");
    return [v.at, v.error];
  });

const EXAMPLES = ["custom_AARCH64_WITH_SVE_AND_PAC.json", "custom_V1N1.json"];

describe("Firecracker's template parser", () => {
  it("takes Firecracker's own valid test template and reads it as Firecracker does", () => {
    // custom_cpu_template.rs test_correct_json
    const r = checkFirecrackerTemplate(
      JSON.stringify({
        kvm_capabilities: ["1", "!2"],
        vcpu_features: [{ index: 0, bitmap: "0b1100000" }],
        reg_modifiers: [{ addr: "0x0030000000000000", bitmap: "0bx00100x0x1xxxx01xxx1xxxxxxxxxxx1" }],
      }),
    );
    assert.deepEqual(r.violations, []);
    assert.deepEqual(r.template, {
      kvmCapabilities: [
        { cap: 1, remove: false },
        { cap: 2, remove: true },
      ],
      vcpuFeatures: [{ index: 0, filter: 0b1111111n, value: 0b1100000n }],
      regModifiers: [{ addr: 0x30000000000000n, filter: 0x7d431001n, value: 0x10411001n }],
    });
  });

  it("refuses what Firecracker's tests refuse, with Firecracker's messages", () => {
    // custom_cpu_template.rs test_malformed_json, templates_serde.rs, test_utils.rs TEST_INVALID_TEMPLATE_JSON
    const cases: [unknown, [string, string][]][] = [
      [
        { kvm_capabilities: ["1", "!a2"] },
        [
          [
            "kvm_capabilities[1]",
            "Failed to parse string [!a2] as a kvm capability - can not convert to numeric: invalid digit found in string",
          ],
        ],
      ],
      [
        { vcpu_features: [{ index: 0, bitmap: "0b11abc00" }] },
        [
          [
            "vcpu_features[0].bitmap",
            "Failed to parse string [0b11abc00] as a bitmap - unknown character: 99",
          ],
        ],
      ],
      [
        { reg_modifiers: [{ addr: "j", bitmap: "0bx00100xxx1xxxx00xxx1xxxxxxxxxxx1" }] },
        [
          [
            "reg_modifiers[0].addr",
            "No supported number system prefix found in value [j]. Make sure to prefix the number with '0x' for hexadecimal numbers or '0b' for binary numbers.",
          ],
        ],
      ],
      [
        { reg_modifiers: [{ addr: "0bK", bitmap: "0bx00100xxx1xxxx00xxx1xxxxxxxxxxx1" }] },
        [
          [
            "reg_modifiers[0].addr",
            "Failed to parse string [0bK] as a number for CPU template - ParseIntError { kind: InvalidDigit }",
          ],
        ],
      ],
      [
        { reg_modifiers: [{ addr: "0x0030000000000000", bitmap: "0bx0?1_0_0x_?x1xxxx00xxx1xxxxxxxxxxx1" }] },
        [
          [
            "reg_modifiers[0].bitmap",
            "Failed to parse string [0bx0?1_0_0x_?x1xxxx00xxx1xxxxxxxxxxx1] as a bitmap - unknown character: 63",
          ],
        ],
      ],
      [
        { reg_modifiers: [{ addr: "0x0030000000000000", bitmap: "0bx00100x0x1xxxx05xxx1xxxxxxxxxxx1" }] },
        [
          [
            "reg_modifiers[0].bitmap",
            "Failed to parse string [0bx00100x0x1xxxx05xxx1xxxxxxxxxxx1] as a bitmap - unknown character: 53",
          ],
        ],
      ],
      [
        { msr_modifiers: [{ addr: "0x0AAC", bitmap: "0b1xx1" }] },
        [
          [
            "msr_modifiers",
            "unknown field `msr_modifiers`, expected one of `kvm_capabilities`, `vcpu_features`, `reg_modifiers`",
          ],
        ],
      ],
    ];
    for (const [doc, expected] of cases) assert.deepEqual(parseErrors(doc), expected, JSON.stringify(doc));
  });

  it("validate(): a 32/64-bit register takes no bit above its width; only 32, 64 and 128-bit registers", () => {
    // custom_cpu_template.rs test_cpu_template_validate, and RegSize::from past U2048
    const mod = (addr: string, bitmap: string) => ({ reg_modifiers: [{ addr, bitmap }] });
    assert.deepEqual(parseErrors(mod("0x0020000000000000", "0b1" + "x".repeat(32))), [
      ["reg_modifiers[0]", "Invalid size of bitmap for register 0x20000000000000, should be <= 32 bits"],
    ]);
    assert.deepEqual(parseErrors(mod("0x0030000000000000", "0b0" + "x".repeat(64))), [
      ["reg_modifiers[0]", "Invalid size of bitmap for register 0x30000000000000, should be <= 64 bits"],
    ]);
    assert.deepEqual(parseErrors(mod("0x0010000000000000", "0b10")), [
      [
        "reg_modifiers[0]",
        "Invalid aarch64 register address: 0x10000000000000 - Only 32, 64 and 128 bit wide registers are supported",
      ],
    ]);
    assert.deepEqual(parseErrors(mod("0x0090000000000000", "0b1")), [
      [
        "reg_modifiers[0]",
        "internal error: entered unreachable code: Registers bigger than 2048 bits are not supported",
      ],
    ]);
    // x bits set nothing: a 64-character bitmap of x is fine on a 32-bit register, any bitmap on a 128-bit one.
    assert.deepEqual(parseErrors(mod("0x0020000000000000", "0b" + "x".repeat(64))), []);
    assert.deepEqual(parseErrors(mod("0x0040000000000000", "0b1" + "0".repeat(127))), []);
  });

  it("bitmaps: optional 0b, '_' ignored but counted against the width, 32 or 128 characters at most", () => {
    assert.deepEqual(parseFirecrackerBitmap("1x0", 32), { filter: 0b101n, value: 0b100n });
    assert.deepEqual(parseFirecrackerBitmap("0b", 32), { filter: 0n, value: 0n });
    assert.deepEqual(parseFirecrackerBitmap("0b0000_xxxx", 32), { filter: 0xf0n, value: 0n });
    const full = "0b" + "1".repeat(32);
    assert.deepEqual(parseFirecrackerBitmap(full, 32), { filter: 0xffffffffn, value: 0xffffffffn });
    assert.equal(
      parseFirecrackerBitmap("0b_" + "1".repeat(32), 32),
      `Failed to parse string [0b_${"1".repeat(32)}] as a bitmap - string is too long`,
    );
    assert.equal(
      parseFirecrackerBitmap("0b" + "x".repeat(129), 128),
      `Failed to parse string [0b${"x".repeat(129)}] as a bitmap - string is too long`,
    );
    assert.equal(
      parseFirecrackerBitmap("0B1", 32),
      "Failed to parse string [0B1] as a bitmap - unknown character: 66",
    );
  });

  it("the document and its lists: serde's type errors, missing fields, indexes as u32", () => {
    assert.deepEqual(parseErrors(7), [["", "invalid type: integer `7`, expected struct CustomCpuTemplate"]]);
    // serde's derive reads a struct from an array of its fields too (visit_seq); defaulted fields may be missing.
    assert.deepEqual(parseErrors([]), []);
    assert.deepEqual(parseErrors([["170"], [[0, "0b1x"]]]), []);
    assert.deepEqual(parseErrors([[], [], [], []]), [["", "trailing characters"]]);
    assert.deepEqual(
      parseErrors({ vcpu_features: [[0]], reg_modifiers: [["0x6030000000140000", "0b1", 3]] }),
      [
        ["vcpu_features[0]", "invalid length 1, expected struct VcpuFeatures with 2 elements"],
        ["reg_modifiers[0]", "trailing characters"],
      ],
    );
    const syntax = parseErrors("{");
    assert.equal(syntax.length, 1);
    assert.match(syntax[0]![1], /^not JSON: /);
    assert.deepEqual(
      parseErrors({
        kvm_capabilities: "170",
        vcpu_features: [{ index: -1, bitmap: "0b1" }, { index: "0", bitmap: "0b1" }, { index: 0 }, 7],
        reg_modifiers: [{ addr: 5, bitmap: "0b1" }, { bitmap: "0b1" }],
      }),
      [
        ["kvm_capabilities", 'invalid type: string "170", expected a sequence'],
        ["vcpu_features[0].index", "invalid value: integer `-1`, expected u32"],
        ["vcpu_features[1].index", 'invalid type: string "0", expected u32'],
        ["vcpu_features[2]", "missing field `bitmap`"],
        ["vcpu_features[3]", "invalid type: integer `7`, expected struct VcpuFeatures"],
        ["reg_modifiers[0].addr", "invalid type: integer `5`, expected a string"],
        ["reg_modifiers[1]", "missing field `addr`"],
      ],
    );
    // Unknown keys inside a list element are ignored (no deny_unknown_fields there); null is no list.
    assert.deepEqual(parseErrors({ vcpu_features: [{ index: 0, bitmap: "0b1", note: "x" }] }), []);
    assert.deepEqual(parseErrors({ reg_modifiers: null }), [
      ["reg_modifiers", "invalid type: null, expected a sequence"],
    ]);
    assert.deepEqual(parseErrors({ kvm_capabilities: ["4294967296", "", "+7"] }), [
      [
        "kvm_capabilities[0]",
        "Failed to parse string [4294967296] as a kvm capability - can not convert to numeric: number too large to fit in target type",
      ],
      [
        "kvm_capabilities[1]",
        "Failed to parse string [] as a kvm capability - can not convert to numeric: cannot parse integer from empty string",
      ],
    ]);
  });

  it("takes Firecracker's public examples", () => {
    for (const f of EXAMPLES) {
      const r = checkFirecrackerTemplate(fs.readFileSync(FIRECRACKER_TESTDATA + f, "utf8"));
      assert.deepEqual(r.violations, [], f);
    }
  });

  it("refuses a dump's guest_cpu_config as a template: its bitmaps fill 128 bits, validate() takes 32 or 64", () => {
    // cpu-template-helper utils/aarch64.rs reg_modifier!: filter u128::MAX for every register it dumps.
    for (const f of FINGERPRINT_FIXTURES) {
      const r = checkFirecrackerTemplate(JSON.stringify(guestCpuConfig(f.text)));
      const narrow = guestCpuConfig(f.text).reg_modifiers.filter((m) => regBits(m.addr) < 128);
      assert.ok(narrow.length > 200, f.file);
      assert.deepEqual(
        r.violations.map((v) => v.error),
        narrow.map(
          (m) =>
            `Invalid size of bitmap for register 0x${BigInt(m.addr).toString(16)}, should be <= ${regBits(m.addr)} bits`,
        ),
        f.file,
      );
    }
  });
});

/** A fingerprint's guest_cpu_config, and the same with each bitmap cut to its register's width. */
interface Modifiers {
  reg_modifiers: { addr: string; bitmap: string }[];
}
const guestCpuConfig = (text: string): Modifiers =>
  (JSON.parse(text) as { guest_cpu_config: Modifiers }).guest_cpu_config;
const regBits = (addr: string): number => 8 * 2 ** Number((BigInt(addr) >> 52n) & 0xfn);
const narrowed = (t: Modifiers): Modifiers => ({
  reg_modifiers: t.reg_modifiers.map((m) => ({
    addr: m.addr,
    bitmap: "0b" + m.bitmap.slice(-regBits(m.addr)),
  })),
});

describe("Firecracker's boot with a template, on a host profile", () => {
  const p61 = n1Profile("6.1");

  it("capabilities: the defaults plus the template's, '!' removes; each missing one is Firecracker's error", () => {
    assert.deepEqual(firecrackerCapabilities([]), [36, 32, 3, 102, 89, 14, 70]);
    // Vec::swap_remove: the last default takes the removed one's place.
    assert.deepEqual(
      firecrackerCapabilities([
        { cap: 170, remove: false },
        { cap: 32, remove: true },
        { cap: 170, remove: false },
        { cap: 999, remove: true },
      ]),
      [36, 170, 3, 102, 89, 14, 70],
    );
    const r = checkFirecrackerTemplate(
      fs.readFileSync(FIRECRACKER_TESTDATA + "custom_AARCH64_WITH_SVE_AND_PAC.json", "utf8"),
      p61,
    );
    const init =
      "Start microvm error: System configuration error: Error creating vcpu configuration: Error initializing the vcpu: Error initializing the vcpu: Invalid argument (os error 22)";
    assert.deepEqual(
      r.violations.map((v) => [v.at, v.error, v.why]),
      [
        [
          "kvm_capabilities: KVM_CAP_ARM_SVE",
          "Start microvm error: Kvm error: Missing KVM capabilities: 0xaa",
          "KVM_CAP_ARM_SVE is 0 on this host",
        ],
        [
          "kvm_capabilities: KVM_CAP_ARM_PTRAUTH_ADDRESS",
          "Start microvm error: Kvm error: Missing KVM capabilities: 0xab",
          "KVM_CAP_ARM_PTRAUTH_ADDRESS is 0 on this host",
        ],
        [
          "kvm_capabilities: KVM_CAP_ARM_PTRAUTH_GENERIC",
          "Start microvm error: Kvm error: Missing KVM capabilities: 0xac",
          "KVM_CAP_ARM_PTRAUTH_GENERIC is 0 on this host",
        ],
        ["vcpu_features", init, "SVE: KVM_CAP_ARM_SVE is 0 on the destination (KVM_ARM_VCPU_INIT: EINVAL)"],
        [
          "vcpu_features",
          init,
          "PTRAUTH_ADDRESS: KVM_CAP_ARM_PTRAUTH_ADDRESS is 0 on the destination (KVM_ARM_VCPU_INIT: EINVAL)",
        ],
        [
          "vcpu_features",
          init,
          "PTRAUTH_GENERIC: KVM_CAP_ARM_PTRAUTH_GENERIC is 0 on the destination (KVM_ARM_VCPU_INIT: EINVAL)",
        ],
      ],
    );
    // The same capabilities removed from the check: only KVM_ARM_VCPU_INIT refuses the features.
    const removed = checkFirecrackerTemplate(
      JSON.stringify({ kvm_capabilities: ["!170"], vcpu_features: [{ index: 0, bitmap: "0b1xxxx" }] }),
      p61,
    );
    assert.deepEqual(
      removed.violations.map((v) => v.at),
      ["vcpu_features"],
    );
  });

  it("the issue's template: PMU_V3 refused, a register the 6.1 host lacks ends the boot (ENOENT, id in decimal)", () => {
    // What export-firecracker wrote before: PMU_V3 with 126, and VENDOR_HYP_BMAP_2 (6.15+ only).
    const old = JSON.stringify({
      kvm_capabilities: ["126"],
      vcpu_features: [{ index: 0, bitmap: "0b00000110x" }],
      reg_modifiers: [
        { addr: "0x6030000000140000", bitmap: "0b" + "0".repeat(47) + "10000000000000001" },
        { addr: "0x6030000000160003", bitmap: "0b" + "0".repeat(64) },
      ],
    });
    const r = checkFirecrackerTemplate(old, p61);
    assert.deepEqual(
      r.violations.map((v) => [v.stage, v.at, v.error]),
      [
        [
          "boot",
          "vcpu_features",
          "Start microvm error: System configuration error: Error creating vcpu configuration: Error initializing the vcpu: Found unsupported KVM_ARM_VCPU_PMU_V3 bit set in vcpu features.",
        ],
        [
          "boot",
          "reg_modifiers[1]",
          "Start microvm error: System configuration error: Error creating vcpu configuration: Error reading vcpu registers: Failed to get register 6931039826524635139: No such file or directory (os error 2)",
        ],
      ],
    );
    assert.equal(
      r.violations[1]!.why,
      "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) is not in this host's KVM_GET_REG_LIST (psci-0.2)",
    );
    // n1Profile's host has a PMU: KVM_CAP_ARM_PMU_V3 itself is there, Firecracker refuses the feature.
    assert.deepEqual(r.unchecked, [
      "register values: whether KVM_SET_ONE_REG takes each value is not judged here (guestabi check judges values)",
    ]);
  });

  it("a features index past features[6] panics Firecracker", () => {
    const r = checkFirecrackerTemplate(JSON.stringify({ vcpu_features: [{ index: 7, bitmap: "0b0" }] }), p61);
    assert.deepEqual(
      r.violations.map((v) => [v.at, v.error, v.why]),
      [
        [
          "vcpu_features[0].index",
          "index out of bounds: the len is 7 but the index is 7",
          "Firecracker panics",
        ],
      ],
    );
  });

  it("registers Firecracker writes itself after the template (on 7.2: KVM_CAP_COUNTER_OFFSET, PTIMER_CNT listed)", () => {
    const mods = [
      "0x6030000000100042",
      "0x6030000000100040",
      "0x6030000000100000",
      "0x603000000013c801",
      "0x603000000013c005",
      "0x603000000013df01",
    ];
    const r = checkFirecrackerTemplate(
      JSON.stringify({ reg_modifiers: mods.map((addr) => ({ addr, bitmap: "0bx" })) }),
      n1Profile("7.2"),
    );
    assert.deepEqual(r.violations, []);
    assert.deepEqual(
      r.overridden.map((o) => [o.at, o.register]),
      [
        ["reg_modifiers[0]", "pstate"],
        ["reg_modifiers[1]", "pc"],
        ["reg_modifiers[2]", "x0"],
        ["reg_modifiers[3]", "CLIDR_EL1"],
        ["reg_modifiers[4]", "MPIDR_EL1"],
        ["reg_modifiers[5]", "KVM_REG_ARM_PTIMER_CNT"],
      ],
    );
    // 6.1 lists no KVM_REG_ARM_PTIMER_CNT (6.4+): Firecracker's read of it ends the boot there.
    assert.deepEqual(
      checkFirecrackerTemplate(
        JSON.stringify({ reg_modifiers: [{ addr: "0x603000000013df01", bitmap: "0bx" }] }),
        p61,
      ).violations.map((v) => v.error),
      [
        "Start microvm error: System configuration error: Error creating vcpu configuration: Error reading vcpu registers: Failed to get register 6931039826524495617: No such file or directory (os error 2)",
      ],
    );
    assert.equal(
      r.overridden[3]!.what,
      "its Ctype and LoC fields (mask 0x71fffff) are replaced by the host's sysfs cache topology on every vCPU when they differ (override_clidr, merge_clidr; v1.14.4, v1.15.1, v1.16.0+): on a 6.3+ host, whose KVM makes up CLIDR_EL1, the guest sees the host's cache levels",
    );
  });

  it("each fingerprint's own registers (bitmaps cut to their width), on the profile imported from it: nothing refused", () => {
    for (const f of FINGERPRINT_FIXTURES) {
      const host = importHostProfile(f.text, { source: f.file });
      const r = checkFirecrackerTemplate(JSON.stringify(narrowed(guestCpuConfig(f.text))), host);
      assert.deepEqual(r.violations, [], f.file);
      assert.deepEqual(
        r.overridden.map((o) => o.register),
        ["x0", "pstate", "MPIDR_EL1", "CLIDR_EL1"],
        f.file,
      );
    }
  });
});
