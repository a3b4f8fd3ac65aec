import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { parseRegName, sysregId } from "../regs/index.js";
import { configView } from "../check/config-view.js";
import { effectsText, guestEffects, guestRegisterValues } from "./effects.js";
import type { GuestEffect } from "./effects.js";
import { SimHosts } from "./fleet.js";

const id = (name: string) => parseRegName(name);
const texts = (effects: readonly GuestEffect[]) => effects.map((e) => e.text);
const PSCI_ONLY = [VCPU_FEATURES.PSCI_0_2];
const hosts = new SimHosts();
const valuesOn = (kernel: Parameters<SimHosts["profile"]>[0], cpu: string) =>
  guestRegisterValues(hosts.profile(kernel, cpu), PSCI_ONLY)!;

describe("guest effects of simulated kernels' defaults", () => {
  it("7.2 -> 5.10 on neoverse-n1: the services 5.10 lacks, its PSCI, its PMU ID fields", () => {
    const effects = guestEffects(valuesOn("7.2", "neoverse-n1"), valuesOn("5.10", "neoverse-n1"));
    assert.deepEqual(texts(effects), [
      "the guest loses TRNG 1.0 (Arm firmware random numbers)",
      "the guest loses KVM_FEATURES and CALL_UID (KVM vendor hypercalls)",
      "the guest loses PTP (KVM vendor hypercall)",
      "the guest sees PSCI 1.0 instead of 1.3",
      "the guest gains PerfMon (ID_DFR0_EL1.PerfMon 0=NI -> 4=PMUv3p1)",
      "the guest gains PMUVer (ID_AA64DFR0_EL1.PMUVer 0=NI -> 4=V3P1)",
    ]);
    assert.deepEqual(effects[2], {
      what: "PTP (KVM vendor hypercall)",
      change: "loses",
      text: "the guest loses PTP (KVM vendor hypercall)",
      registers: ["KVM_REG_ARM_VENDOR_HYP_BMAP bit 1"],
    });
    assert.deepEqual(effects[3], {
      what: "PSCI",
      change: "changes",
      from: "1.3",
      to: "1.0",
      text: "the guest sees PSCI 1.0 instead of 1.3",
      registers: ["KVM_REG_ARM_PSCI_VERSION"],
    });
    assert.deepEqual(effects[5], {
      what: "PMUVer (ID_AA64DFR0_EL1)",
      change: "gains",
      from: "0=NI",
      to: "4=V3P1",
      text: "the guest gains PMUVer (ID_AA64DFR0_EL1.PMUVer 0=NI -> 4=V3P1)",
      registers: ["ID_AA64DFR0_EL1.PMUVer"],
    });
    assert.equal(
      effectsText(effects),
      "loses TRNG 1.0 (Arm firmware random numbers); loses KVM_FEATURES and CALL_UID (KVM vendor hypercalls); " +
        "loses PTP (KVM vendor hypercall); +3 more",
    );
  });

  it("fills in the services of a kernel without bitmap registers from its guest's calls", () => {
    const p510 = hosts.profile("5.10", "neoverse-n1");
    const raw = configView(p510, PSCI_ONLY)!.reset;
    assert.equal(raw.has(FW_REGS.STD_HYP_BMAP), false);
    const values = guestRegisterValues(p510, PSCI_ONLY)!;
    // 5.10 answers PV_TIME_FEATURES (kvm_hypercall_pv_features) but has neither TRNG nor KVM's vendor calls.
    assert.equal(values.get(FW_REGS.STD_BMAP), 0n);
    assert.equal(values.get(FW_REGS.STD_HYP_BMAP), 1n);
    assert.equal(values.get(FW_REGS.VENDOR_HYP_BMAP), 0n);
    // Without that, PV time would look lost.
    const bare = new Map([...raw].flatMap(([k, v]) => (typeof v === "bigint" ? [[k, v] as const] : [])));
    assert.ok(
      texts(guestEffects(valuesOn("7.2", "neoverse-n1"), bare)).includes(
        "the guest loses PV time (stolen-time hypercalls)",
      ),
    );
  });

  it("7.2 -> 6.1 on neoverse-n1 and next -> 7.2: PSCI and debug version; a vendor call and PFAR", () => {
    assert.deepEqual(texts(guestEffects(valuesOn("7.2", "neoverse-n1"), valuesOn("6.1", "neoverse-n1"))), [
      "the guest sees PSCI 1.1 instead of 1.3",
      "the guest sees ID_AA64DFR0_EL1.DebugVer 6=IMP instead of 8=V8P2",
    ]);
    assert.deepEqual(texts(guestEffects(valuesOn("next", "neoverse-n1"), valuesOn("7.2", "neoverse-n1"))), [
      "the guest loses KVM vendor hypercall function 66",
      "the guest loses PFAR (ID_AA64PFR1_EL1.PFAR 1=IMP -> 0=NI)",
    ]);
    assert.deepEqual(guestEffects(valuesOn("6.1", "cortex-a72"), valuesOn("6.1", "cortex-a72")), []);
  });
});

describe("guest effects, register by register", () => {
  const PFR0 = id("ID_AA64PFR0_EL1");

  it("firmware registers: PSCI and the workaround levels, absent on one side", () => {
    const before = new Map([
      [FW_REGS.PSCI_VERSION, 0x10001n],
      [FW_REGS.SMCCC_ARCH_WORKAROUND_1, 1n],
      [FW_REGS.SMCCC_ARCH_WORKAROUND_2, 0x12n],
      [FW_REGS.SMCCC_ARCH_WORKAROUND_3, 1n],
    ]);
    const after = new Map([
      [FW_REGS.SMCCC_ARCH_WORKAROUND_1, 2n],
      [FW_REGS.SMCCC_ARCH_WORKAROUND_2, 3n],
    ]);
    const effects = guestEffects(before, after);
    assert.deepEqual(texts(effects), [
      "the guest loses PSCI",
      "the guest loses the Spectre-BHB workaround call (SMCCC_ARCH_WORKAROUND_3)",
      'the guest sees the Spectre-v2 workaround call (SMCCC_ARCH_WORKAROUND_1) "not required" instead of "required, offered"',
      'the guest sees the Spectre-v4 (SSB) workaround call (SMCCC_ARCH_WORKAROUND_2) "not required" instead of "offered, on for this vCPU"',
    ]);
    assert.equal(effects[0]!.from, "1.1");
    assert.equal(effects[1]!.from, "required, offered");
    assert.deepEqual(texts(guestEffects(after, before)), [
      'the guest sees the Spectre-v2 workaround call (SMCCC_ARCH_WORKAROUND_1) "required, offered" instead of "not required"',
      'the guest sees the Spectre-v4 (SSB) workaround call (SMCCC_ARCH_WORKAROUND_2) "offered, on for this vCPU" instead of "not required"',
      "the guest gains PSCI",
      "the guest gains the Spectre-BHB workaround call (SMCCC_ARCH_WORKAROUND_3)",
    ]);
    assert.deepEqual(
      texts(
        guestEffects(
          new Map([[FW_REGS.SMCCC_ARCH_WORKAROUND_2, 0n]]),
          new Map([[FW_REGS.SMCCC_ARCH_WORKAROUND_2, 7n]]),
        ),
      ),
      [
        'the guest sees the Spectre-v4 (SSB) workaround call (SMCCC_ARCH_WORKAROUND_2) "level 7" instead of "not offered (unmitigated unless the guest uses SSBS)"',
      ],
    );
  });

  it("bitmaps: each bit its own effect, undefined bits by the function they stand for", () => {
    const effects = guestEffects(
      new Map([
        [FW_REGS.VENDOR_HYP_BMAP_2, 0b001n],
        [FW_REGS.VENDOR_HYP_BMAP, 0b1000n],
      ]),
      new Map([
        [FW_REGS.VENDOR_HYP_BMAP_2, 0b110n],
        [FW_REGS.STD_HYP_BMAP, 1n],
      ]),
    );
    assert.deepEqual(texts(effects), [
      "the guest loses KVM vendor hypercall function 3",
      "the guest loses target implementation version discovery (KVM vendor hypercall DISCOVER_IMPL_VER)",
      "the guest gains PV time (stolen-time hypercalls)",
      "the guest gains target implementation CPUs discovery (KVM vendor hypercall DISCOVER_IMPL_CPUS)",
      "the guest gains KVM vendor hypercall function 66",
    ]);
    assert.deepEqual(
      effects.map((e) => e.registers),
      [
        ["KVM_REG_ARM_VENDOR_HYP_BMAP bit 3"],
        ["KVM_REG_ARM_VENDOR_HYP_BMAP_2 bit 0"],
        ["KVM_REG_ARM_STD_HYP_BMAP bit 0"],
        ["KVM_REG_ARM_VENDOR_HYP_BMAP_2 bit 1"],
        ["KVM_REG_ARM_VENDOR_HYP_BMAP_2 bit 2"],
      ],
    );
  });

  it("ID registers field by field: NI is absence, signed fields, unnamed fields, missing registers", () => {
    // SVE 1 -> 0 (NI), FP 1=FP16 -> 0xf (NI, signed), AdvSIMD 1 -> 0 (IMP: still there), EL0 1 -> 2.
    const before = new Map([[PFR0, 0x0000_0001_0011_0001n]]);
    const after = new Map([[PFR0, 0x0000_0000_000f_0002n]]);
    const effects = guestEffects(before, after);
    assert.deepEqual(texts(effects), [
      "the guest loses SVE (ID_AA64PFR0_EL1.SVE 1=IMP -> 0=NI)",
      "the guest loses FP (ID_AA64PFR0_EL1.FP 1=FP16 -> 15=NI)",
      "the guest sees ID_AA64PFR0_EL1.AdvSIMD 0=IMP instead of 1=FP16",
      "the guest sees ID_AA64PFR0_EL1.EL0 2=AARCH32 instead of 1=IMP",
    ]);
    assert.deepEqual(effects[0], {
      what: "SVE (ID_AA64PFR0_EL1)",
      change: "loses",
      from: "1=IMP",
      to: "0=NI",
      text: "the guest loses SVE (ID_AA64PFR0_EL1.SVE 1=IMP -> 0=NI)",
      registers: ["ID_AA64PFR0_EL1.SVE"],
    });
    // A register one side does not list reads as zero there (the feature ID space is RAZ).
    assert.deepEqual(texts(guestEffects(new Map(), new Map([[id("ID_AA64ISAR0_EL1"), 1n << 60n]]))), [
      "the guest gains RNDR (ID_AA64ISAR0_EL1.RNDR 0=NI -> 1=IMP)",
    ]);
    // An encoding of the feature ID space the catalog has no layout for: the whole value.
    assert.deepEqual(guestEffects(new Map(), new Map([[sysregId(3, 0, 0, 7, 7), 5n]])), [
      {
        what: "S3_0_C0_C7_7",
        change: "changes",
        from: "0x0",
        to: "0x5",
        text: "the guest sees S3_0_C0_C7_7 0x5 instead of 0x0",
        registers: ["S3_0_C0_C7_7"],
      },
    ]);
    // CopSDbg has no named values: 0 is absence. MPAM's values are named by their numbers.
    assert.deepEqual(
      texts(
        guestEffects(
          new Map([
            [id("ID_DFR0_EL1"), 0x30n],
            [PFR0, 0n],
          ]),
          new Map([
            [id("ID_DFR0_EL1"), 0n],
            [PFR0, 1n << 40n],
          ]),
        ),
      ),
      [
        "the guest loses CopSDbg (ID_DFR0_EL1.CopSDbg 3 -> 0)",
        "the guest sees ID_AA64PFR0_EL1.MPAM 1 instead of 0",
      ],
    );
  });

  it("ignores RES0 bits and registers that are neither firmware nor feature ID registers", () => {
    const before = new Map([
      [id("ID_AA64ISAR0_EL1"), 0n],
      [id("KVM_REG_ARM_TIMER_CNT"), 0x1000n],
      [id("MIDR_EL1"), 0x410fd0c0n],
      [id("SCTLR_EL1"), 0n],
    ]);
    const after = new Map([
      [id("ID_AA64ISAR0_EL1"), 0xfn], // RES0_3_0
      [id("KVM_REG_ARM_TIMER_CNT"), 0x2000n],
      [id("MIDR_EL1"), 0x410fd490n],
      [id("SCTLR_EL1"), 1n],
    ]);
    assert.deepEqual(guestEffects(before, after), []);
  });
});

describe("effectsText", () => {
  const effects = guestEffects(
    new Map([
      [FW_REGS.PSCI_VERSION, 0x10003n],
      [FW_REGS.VENDOR_HYP_BMAP, 3n],
    ]),
    new Map([
      [FW_REGS.PSCI_VERSION, 0x10001n],
      [FW_REGS.VENDOR_HYP_BMAP, 1n],
      [FW_REGS.STD_BMAP, 1n],
    ]),
  );

  it("lists at most max sentences without 'the guest', then how many more", () => {
    assert.equal(
      effectsText(effects),
      "loses PTP (KVM vendor hypercall); sees PSCI 1.1 instead of 1.3; gains TRNG 1.0 (Arm firmware random numbers)",
    );
    assert.equal(
      effectsText(effects, 2),
      "loses PTP (KVM vendor hypercall); sees PSCI 1.1 instead of 1.3; +1 more",
    );
    assert.equal(effectsText(effects, 0), "loses PTP (KVM vendor hypercall); +2 more");
    assert.equal(effectsText([]), "no change the guest sees");
  });
});
