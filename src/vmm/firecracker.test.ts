/**
 * `export firecracker`: what it writes for a template and its target hosts, each result run through
 * Firecracker's template rules (firecracker-template-rules.ts) and, on simulated hosts, through the
 * steps of Firecracker's boot (testing/firecracker-boot.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { formatId, sysregId } from "../regs/index.js";
import { baseline } from "../check/baseline.js";
import { n1Profile } from "../check/testing/sim-profiles.js";
import type { HostProfile } from "../formats/profile.js";
import type { AbiTemplate } from "../formats/template.js";
import type { FirecrackerCpuTemplate, FirecrackerExport } from "./firecracker.js";
import { firecrackerBitmap, formatFirecracker, toFirecracker } from "./firecracker.js";
import { checkFirecrackerTemplate, parseFirecrackerBitmap } from "./firecracker-template-rules.js";
import { importHostProfile } from "./profile-import.js";
import { firecrackerBootOn } from "./testing/firecracker-boot.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";

const PFR0 = sysregId(3, 0, 0, 4, 0);
const MIDR = sysregId(3, 0, 0, 0, 0);
const CTR = sysregId(3, 3, 0, 0, 1);
const DFR0 = sysregId(3, 0, 0, 5, 0);

/** Firecracker's parser takes the export; with `hosts`, its boot rules find nothing on any of them. */
function assertFirecrackerTakes(e: FirecrackerExport, hosts: readonly HostProfile[] = []): string {
  const text = formatFirecracker(e.template);
  assert.deepEqual(checkFirecrackerTemplate(text).violations, []);
  for (const h of hosts) assert.deepEqual(checkFirecrackerTemplate(text, h).violations, [], h.host.release);
  assert.deepEqual(e.refused, []);
  return text;
}

/** Firecracker's boot steps on the simulated host `gen`/neoverse-n1 succeed. */
function assertBootsOn(gen: SimGeneration, text: string): Map<bigint, bigint> {
  const sys = openSimKvm({ generation: gen, cpu: "neoverse-n1" });
  try {
    const r = firecrackerBootOn(sys, text);
    assert.ok(r.ok, `${gen}: ${r.ok ? "" : r.error}`);
    return r.values;
  } finally {
    sys.close();
  }
}

const plain = (over: Partial<AbiTemplate> = {}): AbiTemplate => ({
  idRegs: new Map(),
  firmware: new Map(),
  features: [VCPU_FEATURES.PSCI_0_2],
  regs: new Set(),
  provenance: { derivedFrom: [] },
  ...over,
});

const NO_TARGETS =
  "no target hosts (--hosts, or hosts the template records): registers are not checked against any host's register list";

describe("Firecracker export", () => {
  it("the documentation's ARM example and guestabi's bitmap writer agree", () => {
    // docs/cpu_templates/cpu-templates.md, "An example of configuring a custom CPU template on ARM".
    const docSample = {
      kvm_capabilities: ["171", "172"],
      vcpu_features: [{ index: 0, bitmap: "0b1100000" }],
      reg_modifiers: [
        {
          addr: "0x603000000013c020",
          bitmap: "0bxxxxxxxxxxxx0000xxxxxxxxxxxx0000xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        },
      ],
    };
    assert.deepEqual(checkFirecrackerTemplate(JSON.stringify(docSample)).violations, []);
    // The same register modifier from guestabi's bitmap writer: clear DIT (51:48) and SVE (35:32).
    assert.equal(
      firecrackerBitmap(64, 0n, (0xfn << 48n) | (0xfn << 32n)),
      docSample.reg_modifiers[0]!.bitmap,
    );
    // ...and the doc's feature word: PTRAUTH_ADDRESS (5) and PTRAUTH_GENERIC (6) set, bits 4..0 cleared.
    assert.equal(firecrackerBitmap(32, 0b1100000n, 0b1111111n, true), "0b1100000");
  });

  it("writes ID registers, PSCI version and bitmaps; never PMU_V3 nor its capability 126", () => {
    const t = plain({
      idRegs: new Map([
        [PFR0, 0x1100000011110112n],
        [MIDR, 0x410fd0c1n],
      ]),
      firmware: new Map([
        [FW_REGS.PSCI_VERSION, 0x10001n],
        [FW_REGS.SMCCC_ARCH_WORKAROUND_1, 2n],
        [FW_REGS.STD_HYP_BMAP, 1n],
      ]),
      features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3],
    });
    const e = toFirecracker(t);
    const expected: FirecrackerCpuTemplate = {
      kvm_capabilities: [],
      // PSCI_0_2 (2) set; PMU_V3 (3) and every other known feature cleared; POWER_OFF (0) left to Firecracker.
      vcpu_features: [{ index: 0, bitmap: "0b00000010x" }],
      reg_modifiers: [
        {
          addr: "0x603000000013c020",
          bitmap: "0b0001000100000000000000000000000000010001000100010000000100010010",
        },
        {
          addr: "0x6030000000140000",
          bitmap: "0b0000000000000000000000000000000000000000000000010000000000000001",
        },
        {
          addr: "0x6030000000160001",
          bitmap: "0b0000000000000000000000000000000000000000000000000000000000000001",
        },
      ],
    };
    assert.deepEqual(e.template, expected);
    assert.deepEqual(e.notes, [
      'PMU_V3 left out: Firecracker refuses it at boot (arch/aarch64/vcpu.rs init_vcpu, v1.16.0+: "Start microvm error: System configuration error: Error creating vcpu configuration: Error initializing the vcpu: Found unsupported KVM_ARM_VCPU_PMU_V3 bit set in vcpu features."), so the guest has no PMU',
      NO_TARGETS,
      "MIDR_EL1 left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables (set_imp_id_reg)",
      "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1 left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)",
    ]);
    assert.deepEqual(e.targets, []);
    assert.ok(assertFirecrackerTakes(e).endsWith("}\n"));
  });

  it("SVE and pointer authentication: capabilities to check, vector lengths noted", () => {
    const t = plain({
      features: [
        VCPU_FEATURES.PSCI_0_2,
        VCPU_FEATURES.SVE,
        VCPU_FEATURES.PTRAUTH_ADDRESS,
        VCPU_FEATURES.PTRAUTH_GENERIC,
      ],
      sveVqs: [1, 2],
    });
    const e = toFirecracker(t);
    // As Firecracker's own AARCH64_WITH_SVE_AND_PAC.json pairs them.
    assert.deepEqual(e.template.kvm_capabilities, ["170", "171", "172"]);
    assert.deepEqual(e.template.vcpu_features, [{ index: 0, bitmap: "0b00111010x" }]);
    assert.deepEqual(e.notes, [
      NO_TARGETS,
      "SVE vector lengths (128, 256 bits) left out: KVM_REG_ARM64_SVE_VLS is U512, Firecracker bitmaps hold 128 bits",
    ]);
    assertFirecrackerTakes(e);
  });

  it("a template without PSCI_0_2 still gets it: Firecracker's device tree announces PSCI 0.2", () => {
    const e = toFirecracker(plain({ features: [] }));
    assert.deepEqual(e.template.vcpu_features, [{ index: 0, bitmap: "0b00000010x" }]);
    assert.equal(
      e.notes[0],
      "PSCI_0_2 set although the template lacks it: Firecracker's vCPUs always have it (vcpu.rs default_kvi) and its device tree announces arm,psci-0.2 (fdt.rs)",
    );
  });

  it("machine pins: a note each, none in the CPU template (Firecracker has no knob for them)", () => {
    const t = plain({
      machine: {
        gicdIidrRevision: 2,
        itsAbi: 0,
        pmuCounters: 6,
        counterOffset: 0x1000n,
        smcccFilter: [{ base: 0x84000000, nrFunctions: 1, action: "DENY" }],
      },
    });
    const { template, notes } = toFirecracker(t);
    assert.deepEqual(template, toFirecracker(plain()).template);
    assert.deepEqual(notes, [
      NO_TARGETS,
      "GICD_IIDR revision 2 left out: Firecracker has no knob and neither saves nor writes GICD_IIDR (gic/gicv3/regs/dist_regs.rs), so the guest sees the host kernel's default revision",
      "ITS table ABI 0 left out: no knob at boot; Firecracker snapshots save GITS_IIDR and restore it before the ITS tables (gic/gicv3/regs/its_regs.rs), so a restored VM keeps its ABI",
      "PMU counters 6 left out: Firecracker has no PMU (arch/aarch64/vcpu.rs refuses KVM_ARM_VCPU_PMU_V3)",
      "counter offset 0x1000 left out: Firecracker never calls KVM_ARM_SET_COUNTER_OFFSET (with KVM_CAP_COUNTER_OFFSET it only zeroes KVM_REG_ARM_PTIMER_CNT at boot: arch/aarch64/vcpu.rs, kvm.rs)",
      "SMCCC filter (1 range) left out: Firecracker sets no KVM_ARM_VM_SMCCC_FILTER, so KVM answers every hypercall itself",
    ]);
    assert.deepEqual(toFirecracker(plain()).notes, [NO_TARGETS]);
  });
});

describe("export firecracker of the baseline of a 6.1 and a 7.2 Neoverse N1 host", () => {
  const p61 = n1Profile("6.1");
  const p72 = n1Profile("7.2");
  const t = baseline([p61, p72], { now: () => new Date("2030-01-02T00:00:00Z") }).template;
  const hosts = [
    { name: "p61", profile: p61 },
    { name: "p72", profile: p72 },
  ];
  const listed = (p: HostProfile) =>
    new Set(p.configs.find((c) => c.name === "psci-0.2")!.reset!.map(([id]) => id));

  it("the baseline has PMU_V3 and VENDOR_HYP_BMAP_2, which the 6.1 host lacks", () => {
    assert.deepEqual(t.features, [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3]);
    assert.ok(t.firmware.has(FW_REGS.VENDOR_HYP_BMAP_2));
    assert.equal(listed(p61).has(FW_REGS.VENDOR_HYP_BMAP_2), false);
  });

  for (const [label, opts] of [
    ["with --hosts", { hosts }],
    ["with the hosts the template records", {}],
  ] as const) {
    it(`${label}: no PMU bit, no 126, no id either host lacks; Firecracker takes it and boots on both`, () => {
      const e = toFirecracker(t, opts);
      const words = e.template.vcpu_features.map((w) => parseFirecrackerBitmap(w.bitmap, 32));
      assert.deepEqual(words, [{ filter: 0b111111110n, value: 0b000000100n }]); // bit 3 (PMU_V3) cleared
      assert.equal(e.template.kvm_capabilities.includes("126"), false);
      assert.deepEqual(e.template.kvm_capabilities, []);
      for (const m of e.template.reg_modifiers)
        for (const p of [p61, p72])
          assert.ok(listed(p).has(BigInt(m.addr)), `${m.addr} on ${p.host.release}`);
      assert.equal(
        e.template.reg_modifiers.some((m) => BigInt(m.addr) === FW_REGS.VENDOR_HYP_BMAP_2),
        false,
      );
      const text = assertFirecrackerTakes(e, [p61, p72]);
      for (const gen of ["6.1", "7.2"] as const) {
        const values = assertBootsOn(gen, text);
        // Every bit the template fixes reads back as the template has it.
        for (const m of e.template.reg_modifiers) {
          const b = parseFirecrackerBitmap(m.bitmap, 128) as { filter: bigint; value: bigint };
          assert.equal(values.get(BigInt(m.addr))! & b.filter, b.value, `${m.addr} on ${gen}`);
        }
      }
    });
  }

  it("x where no target host can change a bit and both show the template's value", () => {
    const e = toFirecracker(t, { hosts });
    const bitmap = (id: bigint) => e.template.reg_modifiers.find((m) => BigInt(m.addr) === id)?.bitmap;
    // CTR_EL0 0x9444c004 on both; 6.1 has no writable masks, 7.2's is 0x300fc00f: only those bits fixed.
    assert.equal(
      bitmap(CTR),
      "0b" + "x".repeat(34) + "01" + "x".repeat(8) + "010011" + "x".repeat(10) + "0100",
    );
    // ID_AA64DFR0_EL1 0x10305406: 7.2 writes 0xf000f00f0f; PMUVer (11:8) describes the PMU Firecracker drops.
    assert.equal(
      bitmap(DFR0),
      "0b" + "x".repeat(24) + "0000" + "x".repeat(12) + "0011" + "x".repeat(16) + "0110",
    );
    // A register nobody can change, equal everywhere, is not written at all.
    assert.equal(bitmap(sysregId(3, 0, 0, 1, 3)), undefined); // ID_AFR0_EL1
    assert.deepEqual(e.targets, [
      { name: "p61", from: "profile" },
      { name: "p72", from: "profile" },
    ]);
  });

  it("notes: the PMU, the registers left out, and CLIDR_EL1 that Firecracker rewrites on the 7.2 host", () => {
    const e = toFirecracker(t, { hosts });
    assert.deepEqual(e.notes, [
      'PMU_V3 left out: Firecracker refuses it at boot (arch/aarch64/vcpu.rs init_vcpu, v1.16.0+: "Start microvm error: System configuration error: Error creating vcpu configuration: Error initializing the vcpu: Found unsupported KVM_ARM_VCPU_PMU_V3 bit set in vcpu features."), so the guest has no PMU',
      "MIDR_EL1 left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables (set_imp_id_reg)",
      "REVIDR_EL1 left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables (set_imp_id_reg)",
      "AIDR_EL1 left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables (set_imp_id_reg)",
      "the ID fields that describe the template's PMU left as x, KVM's value for a vCPU without one: ID_DFR0_EL1 bits 0xf000000, ID_AA64DFR0_EL1 bits 0xf00",
      "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1 left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)",
      "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2 left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)",
      "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3 left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)",
      'KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) left out: not listed by p61 (its KVM_GET_REG_LIST, psci-0.2); Firecracker reads every template register before boot and ENOENT ends it ("Start microvm error: System configuration error: Error creating vcpu configuration: Error reading vcpu registers: Failed to get register 6931039826524635139: No such file or directory (os error 2)")',
      "CLIDR_EL1 0x82000023: after applying the template Firecracker rewrites its Ctype and LoC fields (0x71fffff) from the host's sysfs cache topology (arch/aarch64/mod.rs override_clidr; v1.14.4, v1.15.1, v1.16.0+); on p72, whose KVM makes CLIDR_EL1 up (6.3+), the guest then sees the host's cache levels, not the template's, whose CCSIDR values may describe others",
      "GICD_IIDR revision 3 left out: Firecracker has no knob and neither saves nor writes GICD_IIDR (gic/gicv3/regs/dist_regs.rs), so the guest sees the host kernel's default revision",
      "ITS table ABI 0 left out: no knob at boot; Firecracker snapshots save GITS_IIDR and restore it before the ITS tables (gic/gicv3/regs/its_regs.rs), so a restored VM keeps its ABI",
      "PMU counters 6 left out: Firecracker has no PMU (arch/aarch64/vcpu.rs refuses KVM_ARM_VCPU_PMU_V3)",
    ]);
  });

  it("CCSIDR values: 32-bit demux registers after the ID registers, in full", () => {
    const e = toFirecracker(t, { hosts });
    const ids = e.template.reg_modifiers.map((m) => m.addr);
    const ccsidr = [...t.ccsidr!].map(([sel, v]) => ({
      addr: formatId(0x6020000000110000n | BigInt(sel)),
      bitmap: "0b" + v.toString(2).padStart(32, "0"),
    }));
    assert.equal(ccsidr.length, 3);
    assert.deepEqual(
      e.template.reg_modifiers.filter((m) => m.addr.startsWith("0x602")),
      ccsidr,
    );
    assert.ok(ids.indexOf(ccsidr[0]!.addr) > ids.indexOf(formatId(CTR)));
  });

  it("without host profiles: ID registers in full (PMU fields aside), VENDOR_HYP_BMAP_2 left out by the 6.1 generation", () => {
    const e = toFirecracker(t);
    assert.deepEqual(e.targets, [
      { name: "6.1.0-sim-arm64 (neoverse-n1)", from: "kernel generation" },
      { name: "7.2.0-sim-arm64 (neoverse-n1)", from: "kernel generation" },
    ]);
    const ctr = e.template.reg_modifiers.find((m) => BigInt(m.addr) === CTR)!;
    assert.equal(ctr.bitmap, "0b" + 0x9444c004n.toString(2).padStart(64, "0"));
    assert.ok(
      e.notes.includes(
        "ID registers written in full: without every target host's profile (--hosts) nothing tells which bits a host keeps (x)",
      ),
    );
    assert.ok(
      e.notes.some((n) =>
        n.startsWith(
          "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) left out: not listed by 6.1.0-sim-arm64 (neoverse-n1) (the 6.1 generation's firmware registers, kvm_arm_copy_fw_reg_indices); ",
        ),
      ),
    );
  });

  it("a value a host keeps in bits no write changes: noted, and Firecracker's boot there fails", () => {
    // CTR_EL0 with bit 5 set: 7.2's writable mask 0x300fc00f does not cover it, 6.1 takes only its own value.
    const odd: AbiTemplate = { ...t, idRegs: new Map([...t.idRegs, [CTR, 0x9444c024n]]) };
    const e = toFirecracker(odd, { hosts });
    assert.ok(
      e.notes.includes(
        "CTR_EL0 0x9444c024: p72 shows 0x9444c004 and lets no write change bits 0x20; Firecracker's boot there fails writing it (KVM_SET_ONE_REG EINVAL)",
      ),
    );
    const sys = openSimKvm({ generation: "7.2", cpu: "neoverse-n1" });
    try {
      assert.deepEqual(firecrackerBootOn(sys, formatFirecracker(e.template)), {
        ok: false,
        error:
          "Start microvm error: System configuration error: Error configuring the vcpu: Error applying template: Failed to set register 0x603000000013d801 to value 0x000000009444c024: Invalid argument (os error 22)",
      });
    } finally {
      sys.close();
    }
  });

  it("a target host without the template's features: its register list is unknown, the template's rules say why", () => {
    const onlyPsci = structuredClone(p61);
    onlyPsci.configs = onlyPsci.configs.filter((c) => c.name === "psci-0.2+pmu");
    const e = toFirecracker(t, { hosts: [{ name: "pmu-only", profile: onlyPsci }] });
    assert.ok(
      e.notes.includes(
        "pmu-only: no probed configuration initialises with PSCI_0_2; its register list is unknown",
      ),
    );
    assert.deepEqual(
      e.refused.map((r) => r.host),
      [],
    );
  });
});

describe("export firecracker for real hosts: Firecracker's Neoverse N1 fingerprints of 6.1 and 6.18", () => {
  it("leaves out VENDOR_HYP_BMAP_2 (6.1 lacks it), notes CLIDR_EL1 on 6.18, and passes the rules on both", () => {
    const hosts = FINGERPRINT_FIXTURES.filter((f) => f.cpu === "N1" && f.kernel !== "5.10").map((f) => ({
      name: f.file,
      profile: importHostProfile(f.text, { source: f.file }),
    }));
    const t = baseline(
      hosts.map((h) => h.profile),
      { names: hosts.map((h) => h.name) },
    ).template;
    assert.deepEqual(t.features, [VCPU_FEATURES.PSCI_0_2]);
    const e = toFirecracker(t, { hosts });
    assertFirecrackerTakes(
      e,
      hosts.map((h) => h.profile),
    );
    assert.deepEqual(
      e.template.reg_modifiers.filter((m) => m.addr.startsWith("0x6030000000160")).map((m) => m.addr),
      ["0x6030000000160000", "0x6030000000160001", "0x6030000000160002"],
    );
    assert.ok(
      e.notes.some((n) =>
        n.startsWith(
          "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) left out: not listed by fingerprint_ARM_NEOVERSE_N1_6.1host.json",
        ),
      ),
    );
    assert.ok(
      e.notes.some(
        (n) =>
          n.startsWith("CLIDR_EL1 0x82000023: ") &&
          n.includes("on fingerprint_ARM_NEOVERSE_N1_6.18host.json,"),
      ),
    );
  });
});
