import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CAPS, VCPU_FEATURES } from "../kvm/index.js";
import type { RegId } from "../regs/index.js";
import type { Snapshot } from "../formats/snapshot.js";
import { baseline } from "./baseline.js";
import { certify } from "./certify.js";
import type { CheckReport, Verdict } from "./check.js";
import { checkAbi } from "./check.js";
import { compileHost, hostConfig } from "./host.js";
import {
  cloneProfile,
  relabelled,
  savedSnapshot,
  n1Profile,
  simProfile,
  withOmitted,
  withReg,
} from "./testing/sim-profiles.js";

const p61 = () => n1Profile("6.1");
const p72 = () => n1Profile("7.2");
const p510 = () => simProfile("5.10", "neoverse-n1", ["psci-0.2"]);
/** The 6.1 profile as a vendor 6.18 kernel that only imported evidence describes. */
const p618 = () => relabelled(p61(), "6.18.30-vendor", { experiments: false });
const p419 = () => relabelled(p61(), "4.19.0-27-arm64", { experiments: false });

const ISAR0 = 0x603000000013c030n;
const OSLSR_EL1 = 0x603000000013808cn;
const CCSIDR0 = 0x6020000000110000n;
const PSCI = "KVM_REG_ARM_PSCI_VERSION";

/** The verdict of a register (and field); fails when there is none or more than one. */
function verdict(r: CheckReport, register: string, field?: string): Verdict {
  const found = r.verdicts.filter((v) => v.register === register && v.field === field);
  assert.equal(found.length, 1, `${register}${field ? "." + field : ""}: ${found.length} verdicts`);
  return found[0]!;
}
const brief = (v: Verdict) => ({ level: v.level, evidence: v.evidence, reason: v.reason });
const regOf = (s: Snapshot, id: RegId) => s.vcpus[0]!.regs.get(id) as bigint;

describe("evidence: measured on the host", () => {
  it("6.1: ID registers and PSCI from the probe's write experiments, nothing vouches for CCSIDR but 6.1's rule", () => {
    const r = checkAbi(savedSnapshot(p72()), p61());
    assert.deepEqual(brief(verdict(r, PSCI)), {
      level: "incompatible",
      evidence: "measured",
      reason:
        "the guest saw PSCI 1.3; the destination accepts 0.2, 1.0, 1.1 (kvm_arm_set_fw_reg, as the probe's writes showed): EINVAL",
    });
    // set_id_reg refused every field-lower / field-raise write the probe tried: the rule is measured.
    assert.deepEqual(brief(verdict(r, "ID_AA64DFR0_EL1", "DebugVer")), {
      level: "incompatible",
      evidence: "measured",
      reason:
        "the guest saw 0x8, the destination shows 0x6 (exact: values differ): ID registers are immutable before 6.7 (set_id_reg: val != read_id_reg -> EINVAL)",
    });
    // The probe makes no write experiments on the CCSIDR demux registers: 6.1's rule (exact release: no note).
    assert.deepEqual(brief(verdict(r, "CCSIDR[0]")), {
      level: "incompatible",
      evidence: "inferred",
      reason:
        "the VM has 0x2, the destination shows 0x701fe01a and cannot be changed: CCSIDR is invariant before 6.3 (demux_c15_set: EINVAL)",
    });
    // Presence and readings are measured.
    assert.equal(verdict(r, "KVM_REG_ARM_PTIMER_CVAL").evidence, "measured");
    assert.deepEqual(r.byEvidence, { measured: 259, inferred: 3, unknown: 0 });
  });

  it("7.2: idCheck by the host's KVM_ARM_GET_REG_WRITABLE_MASKS", () => {
    const s = savedSnapshot(p72());
    const lowered = withReg(s, ISAR0, regOf(s, ISAR0) & ~(0xfn << 20n));
    const r = checkAbi(lowered, p72());
    assert.deepEqual(brief(verdict(r, "ID_AA64ISAR0_EL1", "ATOMIC")), {
      level: "tolerated",
      evidence: "measured",
      reason:
        "the guest saw 0, the destination shows 2: the restore writes 0 (lowerSafe: arm64_check_features accepts it)",
    });
    assert.equal(r.byEvidence?.inferred, 0);
    assert.equal(r.byEvidence?.unknown, 0);
  });

  it("write experiments that disagree with the rule do not measure it", () => {
    const q = cloneProfile(p61());
    const group = q.configs[0]!.experiments!.find((g) => g.id === ISAR0 && g.phase === "before-run")!;
    const trial = group.trials.find((t) => t.kind === "field-lower")!;
    trial.result = "ok"; // as if this kernel let ID_AA64ISAR0_EL1 be lowered
    const s = savedSnapshot(p61());
    const r = checkAbi(withReg(s, ISAR0, regOf(s, ISAR0) & ~(0xfn << 20n)), q);
    assert.equal(verdict(r, "ID_AA64ISAR0_EL1").evidence, "inferred");
    assert.equal(verdict(checkAbi(withReg(s, ISAR0, 0n), p61()), "ID_AA64ISAR0_EL1").evidence, "measured");
  });
});

describe("evidence: inferred from a generation", () => {
  it("a 6.18 kernel without experiments: 6.12's rules, each reason saying so", () => {
    const r = checkAbi(savedSnapshot(p72()), p618());
    assert.deepEqual(brief(verdict(r, PSCI)), {
      level: "incompatible",
      evidence: "inferred",
      reason:
        "the guest saw PSCI 1.3; the destination accepts 0.2, 1.0, 1.1 (kvm_arm_set_fw_reg): EINVAL (assumed: 6.12 rule)",
    });
    // The profile measured that this kernel has no KVM_ARM_GET_REG_WRITABLE_MASKS; no experiment says more.
    assert.deepEqual(brief(verdict(r, "ID_AA64DFR0_EL1")), {
      level: "incompatible",
      evidence: "inferred",
      reason:
        "the VM has 0x10305008, the destination shows 0x10305006 and cannot be changed: ID registers are immutable before 6.7 (set_id_reg: val != read_id_reg -> EINVAL) (assumed: 6.12 rule)",
    });
    // Equal readings stay measured, whatever the rule.
    assert.deepEqual(brief(verdict(r, "ID_AA64ISAR0_EL1")), {
      level: "ok",
      evidence: "measured",
      reason: "equal (0x100010211120)",
    });
    const inferred = r.verdicts.filter((v) => v.evidence === "inferred");
    assert.equal(inferred.length, 9);
    assert.ok(inferred.every((v) => v.reason.endsWith(" (assumed: 6.12 rule)")));
  });

  it("writable masks the profile did not measure are the assumed generation's (set_id_reg on 6.12)", () => {
    const q = p618();
    for (const c of q.configs) delete c.writableMasks;
    const s = savedSnapshot(p61());
    const r = checkAbi(withReg(s, ISAR0, regOf(s, ISAR0) & ~(0xfn << 20n)), q);
    assert.equal(r.compatible, true);
    assert.deepEqual(brief(verdict(r, "ID_AA64ISAR0_EL1")), {
      level: "tolerated",
      evidence: "inferred",
      reason:
        "the VM has 0x100010011120, the destination shows 0x100010211120 (writable mask 0xfffffffffffffff0): the restore writes it (arm64_check_features accepts every field) (assumed: 6.12 rule)",
    });
    // DebugVer 8 (7.2's VM) above the destination's 6: refused by 6.12's lowerSafe policy.
    assert.deepEqual(brief(verdict(checkAbi(savedSnapshot(p72()), q), "ID_AA64DFR0_EL1", "DebugVer")), {
      level: "incompatible",
      evidence: "inferred",
      reason:
        "the guest saw 8, the destination offers 6: lowerSafe refuses it (arm64_check_features: E2BIG, KVM_SET_ONE_REG EINVAL) (assumed: 6.12 rule)",
    });
  });
});

describe("evidence: the generation's writable masks", () => {
  it("stand in with exactly what the kernel reports (kvm_vm_ioctl_get_reg_writable_masks)", () => {
    // a64fx has no AArch32 at EL0: its AArch32 ID registers report no writable bits.
    for (const [gen, cpu, count] of [
      ["6.12", "neoverse-n1", 35],
      ["7.2", "cortex-a72", 40],
      ["7.2", "a64fx", 20],
    ] as const) {
      const p = simProfile(gen, cpu, ["psci-0.2"]);
      const q = cloneProfile(p);
      for (const c of q.configs) delete c.writableMasks;
      const measured = hostConfig(compileHost(p), [VCPU_FEATURES.PSCI_0_2])!.view;
      const inferred = hostConfig(compileHost(q), [VCPU_FEATURES.PSCI_0_2])!.view;
      assert.equal(measured.masksFrom, "measured");
      assert.equal(inferred.masksFrom, "model");
      assert.equal(inferred.masks?.size, count, `${gen}/${cpu}`);
      assert.deepEqual(inferred.masks, measured.masks, `${gen}/${cpu}`);
    }
    // Before 6.7 there are none to stand in with: the pre-6.7 rules apply.
    const q = cloneProfile(p61());
    for (const c of q.configs) delete c.writableMasks;
    assert.equal(hostConfig(compileHost(q), [VCPU_FEATURES.PSCI_0_2])!.view.masks, undefined);
  });
});

describe("evidence: unknown is never ok", () => {
  it("a 4.19 kernel: older than every modelled generation, 5.10's rules vouched for by nothing", () => {
    const r = checkAbi(savedSnapshot(p72()), p419());
    const unknown = r.verdicts.filter((v) => v.evidence === "unknown");
    assert.equal(unknown.length, 9);
    assert.deepEqual(
      unknown.filter((v) => v.level === "ok"),
      [],
    );
    assert.deepEqual(brief(verdict(r, PSCI)), {
      level: "incompatible",
      evidence: "unknown",
      reason:
        "the guest saw PSCI 1.3; the destination accepts 0.2, 1.0 (kvm_arm_set_fw_reg): EINVAL (no modelled kernel covers 4.19.0-27-arm64; assumed: 5.10 rule)",
    });
    assert.equal(r.verdicts.filter((v) => v.evidence === "inferred").length, 0);
    // What was measured stays measured (and ok where equal).
    assert.deepEqual(brief(verdict(r, "ID_AA64ISAR0_EL1")), {
      level: "ok",
      evidence: "measured",
      reason: "equal (0x100010211120)",
    });
  });

  it("kvm null: the IPA limit, capabilities and preferred target were not measured: tolerated", () => {
    const q = cloneProfile(p61());
    q.kvm = null;
    const mte = [...CAPS.values()].find((c) => c.name === "KVM_CAP_ARM_MTE")!;
    const s: Snapshot = {
      ...savedSnapshot(p61()),
      vm: { ipaBits: 40, caps: [{ cap: mte.number, flags: 0, args: [] }], attrs: [] },
    };
    const measured = checkAbi(s, p61());
    assert.deepEqual(brief(verdict(measured, "VM", "ipaBits")), {
      level: "ok",
      evidence: "measured",
      reason: "40-bit IPA space available",
    });
    assert.equal(verdict(measured, "VM", "KVM_ENABLE_CAP(KVM_CAP_ARM_MTE)").level, "incompatible");
    const r = checkAbi(s, q);
    assert.equal(r.compatible, true);
    assert.deepEqual(brief(verdict(r, "VM", "ipaBits")), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "the VM uses a 40-bit IPA space; the destination's limit was not measured (KVM_CAP_ARM_VM_IPA_SIZE)",
    });
    assert.deepEqual(brief(verdict(r, "VM", "KVM_ENABLE_CAP(KVM_CAP_ARM_MTE)")), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "the destination's KVM_CHECK_EXTENSION answers were not measured: whether KVM_ENABLE_CAP(KVM_CAP_ARM_MTE) succeeds is unknown",
    });
    // The saved target equals the host's preferred one when measured (ok, no verdict where it fails).
    assert.deepEqual(brief(verdict(measured, "VM", "target")), {
      level: "ok",
      evidence: "measured",
      reason: "KVM_ARM_VCPU_INIT target 5 is accepted",
    });
    assert.deepEqual(brief(verdict(r, "VM", "target")), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "the destination's KVM_ARM_PREFERRED_TARGET was not measured: whether it accepts the saved target 5 is unknown (the target selects no guest-visible state)",
    });
  });

  it("kvm null: a feature no configuration has is not known to fail", () => {
    const q = cloneProfile(simProfile("6.1", "neoverse-n1", ["psci-0.2"]));
    const s = savedSnapshot(q);
    const pmu: Snapshot = {
      ...s,
      vcpus: s.vcpus.map((v) => ({
        ...v,
        init: { ...v.init, features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3] },
      })),
    };
    const feature = (r: CheckReport) => r.verdicts.find((v) => v.kind === "feature" && v.field === "PMU_V3")!;
    assert.deepEqual(brief(feature(checkAbi(pmu, q))), {
      level: "tolerated",
      evidence: "measured",
      reason:
        "PMU_V3: KVM_CAP_ARM_PMU_V3 is 1 but no probed configuration has it; registers compared without it",
    });
    // A profile is read-only once checked (compileHost keeps its compiled form): change a copy.
    const noKvm = cloneProfile(q);
    noKvm.kvm = null;
    assert.deepEqual(brief(feature(checkAbi(pmu, noKvm))), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "PMU_V3: no probed configuration has it and KVM_CAP_ARM_PMU_V3 was not measured; registers compared without it",
    });
  });

  it("a value the evidence leaves out: a register new to the VM, a cache geometry the template leaves open", () => {
    // 6.1 lists OSLSR_EL1 (reset 0x8), 5.10 did not: measured, the guest would see a value it never had.
    const s510 = savedSnapshot(p510());
    assert.equal(verdict(checkAbi(s510, p61()), "OSLSR_EL1").level, "incompatible");
    assert.deepEqual(brief(verdict(checkAbi(s510, withOmitted(p61(), OSLSR_EL1)), "OSLSR_EL1")), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "new on the destination (the subject does not carry it); its reset value was not measured, so whether the guest sees a value it never had is unknown",
    });
    // A template without cache geometry: ok where the destination's CCSIDR was read, raised where not.
    const t = baseline([p61()]).template;
    delete t.ccsidr;
    assert.deepEqual(brief(verdict(checkAbi(t, p61()), "CCSIDR[0]")), {
      level: "ok",
      evidence: "measured",
      reason: "cache geometry is not part of a template: the guest sees the destination's 0x701fe01a",
    });
    assert.deepEqual(brief(verdict(checkAbi(t, withOmitted(p61(), CCSIDR0)), "CCSIDR[0]")), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "cache geometry is not part of a template: the guest sees the destination's value, which was not measured",
    });
  });
});

describe("evidence in certify and baseline", () => {
  it("certify groups say which evidence their verdicts rest on", () => {
    const r = certify(savedSnapshot(p72()), [p61(), p618()], { names: ["p61", "p618"] });
    const psci = r.groups.find((g) => g.register === PSCI)!;
    assert.deepEqual(psci.hosts, ["p61", "p618"]);
    assert.deepEqual(psci.evidence, ["measured", "inferred"]);
    assert.deepEqual(r.groups.find((g) => g.register === "CCSIDR[0]")!.evidence, ["inferred"]);
  });

  it("baseline's give-ups and conflicts carry their host's evidence", () => {
    // The 4.19 host's firmware rules are 5.10's (no bitmap bits known), which nothing vouches for.
    const b = baseline([p61(), p419()], { names: ["p61", "p419"] });
    const evidenceOf = (host: string) =>
      b.giveUps.find((g) => g.host === host)!.verdicts.map((v) => `${v.level} ${v.evidence}`);
    // 8 firmware give-ups and CTR_EL0 (the guest reads the CPU's own there: cache-rules.ts guestCtrLevel).
    assert.deepEqual(evidenceOf("p61"), new Array<string>(9).fill("tolerated measured"));
    assert.deepEqual(evidenceOf("p419"), new Array<string>(10).fill("tolerated unknown"));
    const psci = b.giveUps.find((g) => g.host === "p419")!.verdicts.find((v) => v.register === PSCI)!;
    assert.deepEqual(brief(psci), {
      level: "tolerated",
      evidence: "unknown",
      reason:
        "the guest saw PSCI 1.0; the destination defaults to 1.1 and accepts 1.0 (kvm_arm_set_fw_reg): the restore pins it (no modelled kernel covers 4.19.0-27-arm64; assumed: 5.10 rule)",
    });
    const conflicts = baseline([p72(), p510()], { names: ["p72", "p510"] }).unhonourable;
    assert.deepEqual(
      conflicts.map((v) => [v.host, v.evidence, v.register, v.field ?? ""]),
      [
        ["p510", "measured", "ID_DFR0_EL1", "PerfMon"],
        ["p510", "measured", "ID_AA64DFR0_EL1", "PMUVer"],
        ["p72", "measured", "OSLSR_EL1", ""],
        ["p510", "measured", "PMCR_EL0", ""],
      ],
    );
  });
});
