import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import type { RegId } from "../regs/index.js";
import type { CheckReport, Verdict } from "./check.js";
import { checkAbi, checkCompiled, checkLevel } from "./check.js";
import { levelRank, worstLevel } from "./verdicts.js";
import { evaluate } from "./evaluate.js";
import { REGISTRY } from "./registry.js";
import { GUESTABI_POLICY } from "./restore-policy.js";
import { COUNTING, NO_BITMAPS, STRICT } from "./testing/policies.js";
import type { HostProfile } from "../formats/profile.js";
import { compileHost } from "./host.js";
import { compileSubject } from "./requirements.js";
import type { Snapshot } from "../formats/snapshot.js";
import {
  cloneProfile,
  relabelled,
  savedSnapshot,
  PSCI_PMU_CONFIGS,
  n1Profile,
  simProfile,
  withOmitted,
  withReg,
} from "./testing/sim-profiles.js";

const p61 = () => n1Profile("6.1");
const p72 = () => n1Profile("7.2");
const p72a72 = () => simProfile("7.2", "cortex-a72", ["psci-0.2"]);
const p510 = () => simProfile("5.10", "neoverse-n1", ["psci-0.2"]);
const p612 = () => n1Profile("6.12");
const p612a72 = () => simProfile("6.12", "cortex-a72", PSCI_PMU_CONFIGS);

const PFR0 = 0x603000000013c020n;
const ISAR0 = 0x603000000013c030n;
const MMFR0 = 0x603000000013c038n;
const PTIMER_CNT = 0x603000000013df01n;
const PTIMER_CVAL = 0x603000000013df12n;
const PMCR_EL0 = 0x603000000013dce0n;

/** The verdict of a register (and field); fails when there is none or more than one. */
function verdict(r: CheckReport, register: string, field?: string): Verdict {
  const found = r.verdicts.filter(
    (v) => v.register === register && v.field === field && v.kind !== "feature",
  );
  assert.equal(found.length, 1, `${register}${field ? "." + field : ""}: ${found.length} verdicts`);
  return found[0]!;
}
const brief = (v: Verdict) => ({ level: v.level, reason: v.reason });

function fields(value: bigint, shift: number, field: bigint): bigint {
  return (value & ~(0xfn << BigInt(shift))) | (field << BigInt(shift));
}
function regOf(s: Snapshot, id: RegId): bigint {
  return s.vcpus[0]!.regs.get(id) as bigint;
}

describe("check: ID registers by the destination's policy", () => {
  it("7.2 (writable since 6.7): a lowerSafe field may be lowered, not raised (arm64_check_features)", () => {
    const s = savedSnapshot(p72());
    const isar0 = regOf(s, ISAR0);
    assert.equal(isar0, 0x100010211120n); // ATOMIC (23:20) = 2
    const lowered = checkAbi(withReg(s, ISAR0, fields(isar0, 20, 1n)), p72());
    assert.equal(lowered.compatible, true);
    assert.deepEqual(brief(verdict(lowered, "ID_AA64ISAR0_EL1", "ATOMIC")), {
      level: "tolerated",
      reason:
        "the guest saw 1, the destination shows 2: the restore writes 1 (lowerSafe: arm64_check_features accepts it)",
    });
    assert.deepEqual(brief(verdict(lowered, "ID_AA64ISAR0_EL1")), {
      level: "tolerated",
      reason:
        "the VM has 0x100010111120, the destination shows 0x100010211120 (writable mask 0xfffffffff0fffff0): the restore writes it (arm64_check_features accepts every field)",
    });
    const raised = checkAbi(withReg(s, ISAR0, fields(isar0, 20, 3n)), p72());
    assert.equal(raised.compatible, false);
    assert.deepEqual(brief(verdict(raised, "ID_AA64ISAR0_EL1", "ATOMIC")), {
      level: "incompatible",
      reason:
        "the guest saw 3, the destination offers 2: lowerSafe refuses it (arm64_check_features: E2BIG, KVM_SET_ONE_REG EINVAL)",
    });
  });

  it("compares signed fields signed: TGRAN4 -1 (not implemented) is lower than 0", () => {
    const s = savedSnapshot(p72());
    const mmfr0 = regOf(s, MMFR0);
    assert.equal(mmfr0, 0x101125n); // TGRAN4 (31:28) = 0
    const none = checkAbi(withReg(s, MMFR0, fields(mmfr0, 28, 0xfn)), p72());
    assert.deepEqual(brief(verdict(none, "ID_AA64MMFR0_EL1", "TGRAN4")), {
      level: "tolerated",
      reason:
        "the guest saw -1, the destination shows 0: the restore writes -1 (lowerSafe signed: arm64_check_features accepts it)",
    });
    const more = checkAbi(withReg(s, MMFR0, fields(mmfr0, 28, 1n)), p72());
    assert.equal(verdict(more, "ID_AA64MMFR0_EL1", "TGRAN4").level, "incompatible");
  });

  it("a field outside the writable mask must equal the destination's", () => {
    const s = savedSnapshot(p72());
    const pfr0 = regOf(s, PFR0); // FP (19:16) is not in 7.2's mask 0xffff00f0ff00ffff
    const r = checkAbi(withReg(s, PFR0, fields(pfr0, 16, 0xfn)), p72());
    assert.deepEqual(brief(verdict(r, "ID_AA64PFR0_EL1", "FP")), {
      level: "incompatible",
      reason:
        "the guest saw 0xf, the destination shows 0x1 (lowerSafe signed: the guest relies on more than the destination offers): not writable on this kernel: outside the writable mask or without an ftr policy, it must equal the limit (arm64_check_features)",
    });
  });

  it("6.1 (before 6.7): immutable, except CSV2/CSV3 lowered (set_id_reg, set_id_aa64pfr0_el1)", () => {
    const s = savedSnapshot(p61());
    const isar0 = regOf(s, ISAR0);
    const r = checkAbi(withReg(s, ISAR0, fields(isar0, 20, 1n)), p61());
    assert.deepEqual(brief(verdict(r, "ID_AA64ISAR0_EL1", "ATOMIC")), {
      level: "incompatible",
      reason:
        "the guest saw 0x1, the destination shows 0x2 (lowerSafe: the destination offers more): ID registers are immutable before 6.7 (set_id_reg: val != read_id_reg -> EINVAL)",
    });
    const pfr0 = regOf(s, PFR0);
    assert.equal(pfr0, 0x1100000011110112n); // CSV3 = 1, CSV2 = 1
    const csv = checkAbi(withReg(s, PFR0, pfr0 & ~(0xffn << 56n)), p61());
    assert.equal(csv.compatible, true);
    assert.deepEqual(brief(verdict(csv, "ID_AA64PFR0_EL1", "CSV3")), {
      level: "tolerated",
      reason:
        "the guest saw 0, the destination shows 1: lowered by the restore (set_id_aa64pfr0_el1 accepts 0..the kernel's value)",
    });
    // 5.10's set_id_aa64pfr0_el1 lets only CSV2 differ.
    const s510 = savedSnapshot(p510());
    const r510 = checkAbi(withReg(s510, PFR0, regOf(s510, PFR0) & ~(0xfn << 60n)), p510());
    assert.equal(verdict(r510, "ID_AA64PFR0_EL1", "CSV3").level, "incompatible");
  });
});

describe("check: firmware registers", () => {
  const WA1 = FW_REGS.SMCCC_ARCH_WORKAROUND_1;
  const WA2 = FW_REGS.SMCCC_ARCH_WORKAROUND_2;
  const WA3 = FW_REGS.SMCCC_ARCH_WORKAROUND_3;

  it("WORKAROUND_1/3: a lower level is accepted, a higher one refused (get_kernel_wa_level)", () => {
    const s = savedSnapshot(p72()); // WA1 NOT_REQUIRED (2), WA3 AVAIL (1) on Neoverse-N1
    const lower = checkAbi(withReg(s, WA1, 1n), p72());
    assert.deepEqual(brief(verdict(lower, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1")), {
      level: "tolerated",
      reason:
        "the guest saw AVAIL (1); the destination is at NOT_REQUIRED (2), a higher level: KVM accepts the write (kvm_arm_set_fw_reg) and the guest's workaround calls keep working",
    });
    const onA72 = checkAbi(s, p72a72()); // Cortex-A72 under QEMU: both NOT_AVAIL (0)
    assert.deepEqual(brief(verdict(onA72, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1")), {
      level: "incompatible",
      reason:
        "the guest relies on NOT_REQUIRED (2); the destination's kernel level is only NOT_AVAIL (0) (get_kernel_wa_level < val: kvm_arm_set_fw_reg EINVAL)",
    });
    assert.equal(verdict(onA72, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3").level, "incompatible");
    assert.equal(
      verdict(checkAbi(withReg(s, WA3, 0x11n), p72()), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3").level,
      "incompatible",
    );
  });

  it("WORKAROUND_2: UNKNOWN maps to NOT_AVAIL, AVAIL to NOT_REQUIRED, ENABLED only with AVAIL", () => {
    const s = savedSnapshot(p72()); // the destination's level: NOT_AVAIL (SSBS present)
    const unknown = checkAbi(withReg(s, WA2, 1n), p72());
    assert.deepEqual(brief(verdict(unknown, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2")), {
      level: "tolerated",
      reason:
        "the guest saw UNKNOWN (0x1); the destination is at NOT_AVAIL (0x0): kvm_arm_set_fw_reg maps NOT_AVAIL/UNKNOWN to NOT_AVAIL and accepts it",
    });
    const avail = checkAbi(withReg(s, WA2, 2n), p72());
    assert.equal(verdict(avail, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2").level, "incompatible");
    assert.match(
      verdict(avail, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2").reason,
      /^the guest saw AVAIL \(0x2\), which KVM maps to NOT_REQUIRED; the destination's level is NOT_AVAIL \(0x0\)/,
    );
    const enabledWrong = checkAbi(withReg(s, WA2, 0x11n), p72());
    assert.deepEqual(brief(verdict(enabledWrong, "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2")), {
      level: "incompatible",
      reason:
        "the VM has 0x11: not a value kvm_arm_set_fw_reg accepts (ENABLED only with AVAIL, levels 0..3)",
    });
    // A destination whose kernel reports NOT_REQUIRED (Spectre-v4 unaffected) takes AVAIL+ENABLED and NOT_AVAIL.
    const unaffected = withResetValue(p72(), WA2, 3n);
    assert.equal(
      verdict(checkAbi(withReg(s, WA2, 0x12n), unaffected), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2").level,
      "tolerated",
    );
    assert.equal(
      verdict(checkAbi(withReg(s, WA2, 0n), unaffected), "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2").level,
      "tolerated",
    );
  });

  it("PSCI 1.3 from 7.2 onto 6.1 is incompatible; 1.1 onto 7.2 is pinned", () => {
    const down = checkAbi(savedSnapshot(p72()), p61());
    assert.deepEqual(brief(verdict(down, "KVM_REG_ARM_PSCI_VERSION")), {
      level: "incompatible",
      reason:
        "the guest saw PSCI 1.3; the destination accepts 0.2, 1.0, 1.1 (kvm_arm_set_fw_reg, as the probe's writes showed): EINVAL",
    });
    const up = checkAbi(savedSnapshot(p61()), p72());
    assert.deepEqual(brief(verdict(up, "KVM_REG_ARM_PSCI_VERSION")), {
      level: "tolerated",
      reason:
        "the guest saw PSCI 1.1; the destination defaults to 1.3 and accepts 1.1 (kvm_arm_set_fw_reg): the restore pins it",
    });
  });

  it("a PTP bit the guest uses and the destination lacks is incompatible", () => {
    const s = savedSnapshot(p72());
    assert.equal(regOf(s, FW_REGS.VENDOR_HYP_BMAP), 0b11n);
    // A host whose KVM refuses the PTP bit (kvm_arm_set_fw_reg_bmap: EINVAL), e.g. one without KVM_PTP.
    const noPtp = cloneProfile(p72());
    for (const c of noPtp.configs) {
      const g = c.experiments?.find((x) => x.id === FW_REGS.VENDOR_HYP_BMAP && x.phase === "before-run");
      g!.bits![1] = "EINVAL";
      c.reset = c.reset!.map(([id, v]) => (id === FW_REGS.VENDOR_HYP_BMAP ? [id, 0b1n] : [id, v]));
    }
    const r = checkAbi(s, noPtp);
    assert.equal(r.compatible, false);
    assert.deepEqual(brief(verdict(r, "KVM_REG_ARM_VENDOR_HYP_BMAP", "KVM vendor hypervisor: PTP (bit 1)")), {
      level: "incompatible",
      reason: "used by the guest; the destination lacks it (kvm_arm_set_fw_reg_bmap: EINVAL)",
    });
    // 5.10 has no bitmap registers: its guest view shows no KVM vendor services at all.
    const old = checkAbi(savedSnapshot(p61()), p510());
    assert.deepEqual(brief(verdict(old, "KVM_REG_ARM_VENDOR_HYP_BMAP")), {
      level: "incompatible",
      reason:
        "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT); its services are fixed there: the guest probe saw 0x0, the VM has 0x3 (loses KVM vendor hypervisor: feature discovery (bit 0), KVM vendor hypervisor: PTP (bit 1))",
    });
    // PV time is there without a bitmap on 5.10: the same services, tolerated.
    assert.equal(verdict(old, "KVM_REG_ARM_STD_HYP_BMAP").level, "tolerated");
  });
});

describe("check: registers one side lacks", () => {
  it("a register missing on the destination is tolerated only at the value a VM that never knew it has", () => {
    const s = savedSnapshot(p72()); // 6.1 lists no physical timer registers
    assert.equal(regOf(s, PTIMER_CVAL), 0n);
    const r = checkAbi(s, p61());
    assert.deepEqual(brief(verdict(r, "KVM_REG_ARM_PTIMER_CVAL")), {
      level: "tolerated",
      reason:
        "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT); the VM has 0x0, what a VM that never knew it has (0 or reset_unknown's value): the restore skips it",
    });
    const programmed = checkAbi(withReg(s, PTIMER_CVAL, 0x1234n), p61());
    assert.deepEqual(brief(verdict(programmed, "KVM_REG_ARM_PTIMER_CVAL")), {
      level: "incompatible",
      reason:
        "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT); the VM has 0x1234, not what a VM that never knew it has (assumed 0 or reset_unknown's value; --source-profile gives the source's reset values)",
    });
    // Time-varying registers are not compared by value.
    assert.equal(
      verdict(checkAbi(withReg(s, PTIMER_CNT, 0x99n), p61()), "KVM_REG_ARM_PTIMER_CNT").level,
      "tolerated",
    );
  });

  it("the source profile's reset value decides: 5.10's PMCR_EL0 0x410c30ac onto 6.1", () => {
    const s = savedSnapshot(p510()); // 5.10 lists the PMU registers even without PMU_V3; 6.1 does not
    // kvm_pmu_reset / reset_pmcr: the host's PMCR_EL0 (IMP 0x41, IDCODE 0x0c, N 6 on Neoverse-N1), as
    // lab/profiles/5.10-neoverse-n1.json reads it
    assert.equal(regOf(s, PMCR_EL0), 0x410c30acn);
    assert.equal(verdict(checkAbi(s, p61()), "PMCR_EL0").level, "incompatible");
    const withSource = checkAbi(s, p61(), { sourceProfile: p510() });
    assert.deepEqual(brief(verdict(withSource, "PMCR_EL0")), {
      level: "tolerated",
      reason:
        "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT); the VM has 0x410c30ac, what a VM that never knew it has (the source profile's reset value): the restore skips it",
    });
    assert.equal(
      verdict(checkAbi(withReg(s, PMCR_EL0, 0x410c30adn), p61(), { sourceProfile: p510() }), "PMCR_EL0")
        .level,
      "incompatible",
    );
  });

  it("a register new on the destination is tolerated only when it resets to what the guest saw", () => {
    const s = savedSnapshot(p61());
    const r = checkAbi(s, p72());
    assert.deepEqual(brief(verdict(r, "KVM_REG_ARM_PTIMER_CVAL")), {
      level: "tolerated",
      reason:
        "new on the destination (the subject does not carry it); it resets to 0x0, what a VM that never knew it sees",
    });
    assert.equal(verdict(r, "KVM_REG_ARM_VENDOR_HYP_BMAP_2").level, "tolerated");
    const odd = withResetValue(p72(), PTIMER_CVAL, 5n);
    assert.deepEqual(brief(verdict(checkAbi(s, odd), "KVM_REG_ARM_PTIMER_CVAL")), {
      level: "incompatible",
      reason:
        "new on the destination (the subject does not carry it); it resets to 0x5, not 0 / reset_unknown's value: the guest would see a value it never had",
    });
    // 6.1 lists OSLSR_EL1 (reset 0x8: OSLM implemented), 5.10 did not.
    assert.equal(verdict(checkAbi(savedSnapshot(p510()), p61()), "OSLSR_EL1").level, "incompatible");
  });
});

describe("check: vCPU features and the whole report", () => {
  it("a feature the destination cannot initialise is incompatible", () => {
    const s = savedSnapshot(p72());
    const sve: Snapshot = {
      ...s,
      vcpus: s.vcpus.map((v) => ({
        ...v,
        init: { ...v.init, features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.SVE] },
        sveVqs: [1],
      })),
    };
    const r = checkAbi(sve, p72());
    const f = r.verdicts.find((v) => v.kind === "feature" && v.field === "SVE");
    assert.deepEqual(f && brief(f), {
      level: "incompatible",
      reason: "SVE: KVM_CAP_ARM_SVE is 0 on the destination (KVM_ARM_VCPU_INIT: EINVAL)",
    });
  });

  it("the same host: every verdict ok; verdicts sorted incompatible first", () => {
    const same = checkAbi(savedSnapshot(p61()), p61());
    assert.equal(same.compatible, true);
    assert.deepEqual(same.summary, { ok: same.verdicts.length, tolerated: 0, incompatible: 0 });
    // On 7.2 the saved state is after the first run, in a VM with a vGICv3 as VMMs build it: the GIC
    // fields stay set (kvm_vgic_finalize_idregs), so nothing differs from a new VM of the same host.
    const after = checkAbi(savedSnapshot(p72()), p72());
    assert.deepEqual(
      after.verdicts.filter((v) => v.level !== "ok").map((v) => [v.level, v.register, v.field ?? ""]),
      [],
    );
    const mixed = checkAbi(savedSnapshot(p72()), p61());
    const ranks = mixed.verdicts.map((v) => levelRank(v.level));
    assert.deepEqual(
      ranks,
      [...ranks].sort((a, b) => b - a),
    );
    assert.equal(mixed.host, "6.1.0-sim-arm64 (neoverse-n1)");
  });

  it("a snapshot's vCPUs: alike ones are checked once, different ones say which vCPUs", () => {
    const one = savedSnapshot(p72()).vcpus[0]!;
    const MPIDR = 0x603000000013c005n;
    const two = (isar0: bigint): Snapshot => ({
      ...savedSnapshot(p72()),
      vcpus: [
        { ...one, id: 0, regs: new Map(one.regs).set(MPIDR, 0x80000000n) },
        { ...one, id: 1, regs: new Map(one.regs).set(MPIDR, 0x80000001n).set(ISAR0, isar0) },
      ],
    });
    const alike = checkAbi(two(regOf(savedSnapshot(p72()), ISAR0)), p72());
    assert.equal(alike.verdicts.length, checkAbi(savedSnapshot(p72()), p72()).verdicts.length);
    const differ = checkAbi(two(fields(regOf(savedSnapshot(p72()), ISAR0), 20, 3n)), p72());
    assert.equal(differ.compatible, false);
    const atomic = differ.verdicts.filter((v) => v.register === "ID_AA64ISAR0_EL1" && v.field === "ATOMIC");
    assert.deepEqual(
      atomic.map((v) => [v.level, v.vcpus]),
      [["incompatible", [1]]],
    );
    assert.deepEqual(
      differ.verdicts.filter((v) => v.register === "KVM_REG_ARM_PSCI_VERSION").map((v) => v.vcpus),
      [[0], [1]],
    );
  });

  it("fast path and full report agree (property)", () => {
    // Random VMs of all four kernel generations (mutated saved states) on hosts of all four, and on
    // hosts whose evidence is weaker: another release (rules inferred, or unknown for 4.19), no KVM
    // answers, writable masks not measured, values left out.
    const noKvm = cloneProfile(p61());
    noKvm.kvm = null;
    const noMasks = relabelled(p612(), "6.18.30-vendor", { experiments: false });
    for (const c of noMasks.configs) delete c.writableMasks;
    const weaker = [
      relabelled(p61(), "6.18.30-vendor", { experiments: false }),
      relabelled(p61(), "4.19.0-27-arm64", { experiments: false }),
      noKvm,
      noMasks,
      withOmitted(withOmitted(p61(), 0x6020000000110000n), 0x603000000013808cn), // CCSIDR[0], OSLSR_EL1
    ];
    const hosts = [p61(), p72(), p510(), p72a72(), p612(), p612a72(), ...weaker].map((p) => compileHost(p));
    const sources = [p61(), p72(), p510(), p612()].map(savedSnapshot);
    const ids = [...new Set(sources.flatMap((s) => [...s.vcpus[0]!.regs.keys()]))];
    const checked = ids.filter((id) => (id >> 16n) % 0x100n !== 0x10n); // everything but core registers
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("field" as const),
        id: fc.constantFrom(...checked),
        shift: fc.nat(15),
        v: fc.nat(15),
      }),
      fc.record({ kind: fc.constant("drop" as const), id: fc.constantFrom(...ids) }),
      fc.record({
        kind: fc.constant("value" as const),
        id: fc.constantFrom(...checked),
        v: fc.bigInt({ min: 0n, max: 0xffffn }),
      }),
    );
    fc.assert(
      fc.property(fc.nat(sources.length - 1), fc.array(mutation, { maxLength: 4 }), (src, muts) => {
        let s = sources[src]!;
        for (const m of muts) {
          const cur = s.vcpus[0]!.regs.get(m.id);
          if (m.kind === "drop") s = withReg(s, m.id, undefined);
          else if (typeof cur === "bigint")
            s = withReg(s, m.id, m.kind === "field" ? fields(cur, m.shift * 4, BigInt(m.v)) : m.v);
        }
        const req = compileSubject(s);
        for (const h of hosts) {
          const full = checkCompiled(req, h);
          assert.equal(checkLevel(req, h), worstLevel(full.verdicts));
          assert.equal(full.compatible, worstLevel(full.verdicts) < 2);
          assert.ok(full.verdicts.every((v) => v.evidence !== "unknown" || v.level !== "ok"));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("remembered levels: VMs of one signature get the rules' level on every host (property)", () => {
    // Random VMs as above, each with a twin that differs only in its state registers (random values,
    // some at 0: "never touched"), on hosts of every generation, under guestabi's restore and the test
    // VMMs' (testing/policies.ts: abort on a missing register, count the list, bitmaps unsaved).
    const hosts = [p61(), p72(), p510(), p72a72(), p612(), p612a72()].flatMap((p) =>
      [GUESTABI_POLICY, STRICT, COUNTING, NO_BITMAPS].map((policy) => compileHost(p, undefined, policy)),
    );
    const sources = [p61(), p72(), p510(), p612()].map(savedSnapshot);
    const ids = [...new Set(sources.flatMap((s) => [...s.vcpus[0]!.regs.keys()]))];
    const stateIds = ids.filter((id) => REGISTRY.checkClass(REGISTRY.intern(id)) === "state");
    const checked = ids.filter((id) => !stateIds.includes(id));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("drop" as const), id: fc.constantFrom(...ids) }),
      fc.record({
        kind: fc.constant("value" as const),
        id: fc.constantFrom(...checked),
        v: fc.bigInt({ min: 0n, max: 0xffffn }),
      }),
    );
    // Mostly state registers some generation lacks: where a value at 0 decides the level.
    const notEverywhere = stateIds.filter((id) => !sources.every((s) => s.vcpus[0]!.regs.has(id)));
    const stateValue = fc.record({
      id: fc.oneof(fc.constantFrom(...notEverywhere), fc.constantFrom(...stateIds)),
      v: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: (1n << 64n) - 1n })),
    });
    const apply = (s: Snapshot, changes: { id: RegId; v: bigint }[]): Snapshot =>
      changes.reduce((t, c) => (t.vcpus[0]!.regs.has(c.id) ? withReg(t, c.id, c.v) : t), s);
    fc.assert(
      fc.property(
        fc.nat(sources.length - 1),
        fc.array(mutation, { maxLength: 3 }),
        fc.array(stateValue, { maxLength: 6 }),
        fc.array(stateValue, { maxLength: 6 }),
        (src, muts, mine, twins) => {
          let s = sources[src]!;
          for (const m of muts) s = withReg(s, m.id, m.kind === "drop" ? undefined : m.v);
          const req = compileSubject(apply(s, mine));
          const twin = compileSubject(apply(s, twins));
          for (const h of hosts) {
            const rules = levelRank(evaluate(req, h, null));
            assert.equal(checkLevel(req, h), rules);
            assert.equal(worstLevel(checkCompiled(req, h).verdicts), rules);
            // The twin's level, remembered or not, is its own rules' level.
            assert.equal(checkLevel(twin, h), levelRank(evaluate(twin, h, null)));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("one signature for VMs that differ in state values; the level and reasons stay each VM's", () => {
    const s = savedSnapshot(p72());
    const a = compileSubject(withReg(s, PTIMER_CVAL, 0x1234n), { label: "a.json" });
    const b = compileSubject(withReg(s, PTIMER_CVAL, 0x5678n), { label: "b.json" });
    const atZero = compileSubject(withReg(s, PTIMER_CVAL, 0n)); // what a VM that never touched it has
    assert.equal(a.signature, b.signature);
    assert.equal(a.signature, atZero.signature);
    // A 7.2 host without the physical timer: the one place the value at 0 decides.
    const noPtimer = cloneProfile(p72());
    for (const c of noPtimer.configs) c.reset = c.reset?.filter(([id]) => id !== PTIMER_CVAL);
    const h = compileHost(noPtimer);
    assert.deepEqual(
      [a, b, atZero].map((r) => checkLevel(r, h)),
      [2, 2, 1],
    );
    assert.deepEqual(
      [a, atZero, b].map((r) => checkLevel(r, compileHost(p72()))),
      [0, 0, 0],
    );
    const shown = (r: CheckReport) => [r.subject, verdict(r, "KVM_REG_ARM_PTIMER_CVAL").reason];
    const lacks = "the destination does not list it (KVM_GET_REG_LIST; a restore would get ENOENT)";
    const never = "assumed 0 or reset_unknown's value; --source-profile gives the source's reset values";
    assert.deepEqual(shown(checkCompiled(a, h)), [
      "a.json",
      `${lacks}; the VM has 0x1234, not what a VM that never knew it has (${never})`,
    ]);
    assert.deepEqual(shown(checkCompiled(b, h)), [
      "b.json",
      `${lacks}; the VM has 0x5678, not what a VM that never knew it has (${never})`,
    ]);
  });

  it("compileHost keeps a compiled host per profile, VMM and name", () => {
    const p = p61();
    assert.equal(compileHost(p), compileHost(p));
    assert.equal(compileHost(p, "a.json"), compileHost(p, "a.json"));
    assert.notEqual(compileHost(p, "a.json"), compileHost(p, "b.json"));
    assert.notEqual(compileHost(p), compileHost(p, undefined, STRICT));
    assert.notEqual(compileHost(p), compileHost(cloneProfile(p)));
    assert.equal(compileHost(p, "a.json", STRICT).name, "a.json");
  });
});

/** A copy of a profile whose every configuration reads `value` for `id` at reset. */
function withResetValue(p: HostProfile, id: RegId, value: bigint): HostProfile {
  const q = cloneProfile(p);
  for (const c of q.configs) c.reset = c.reset?.map(([i, v]) => (i === id ? [i, value] : [i, v]));
  return q;
}
