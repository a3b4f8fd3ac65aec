import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HostProfile, MachineProfile } from "../formats/profile.js";
import type { MachinePins } from "../formats/machine-pins.js";
import type { AbiTemplate } from "../formats/template.js";
import { baseline } from "./baseline.js";
import type { Verdict } from "./check.js";
import { checkAbi, checkLevel } from "./check.js";
import { compileHost } from "./host.js";
import { compileSubject } from "./requirements.js";
import { levelRank, worstLevel } from "./verdicts.js";
import { cloneProfile, n1Profile } from "./testing/sim-profiles.js";

const now = () => new Date("2030-01-01T00:00:00.000Z");

/**
 * The simulator's N1 profile without its machine facts (as an older or imported profile has it): every
 * machine verdict then rests on the generation's rule.
 */
function ruleOnly(gen: Parameters<typeof n1Profile>[0]): HostProfile {
  const q = cloneProfile(n1Profile(gen));
  for (const c of q.configs) delete c.machine;
  if (q.kvm) {
    delete q.kvm.smcccFilter;
    delete q.kvm.counterOffset;
  }
  return q;
}

/**
 * The machine facts the lab measured (issue12-facts.md §3, §4): 5.10 accepts only the GICD_IIDR it
 * reports (revision 2), 6.1+ revisions 2 and 3; every kernel's ITS has table ABI 0 only.
 */
const IIDR_WRITES_5_10: [number, string][] = [
  [0, "EINVAL"],
  [1, "EINVAL"],
  [2, "ok"],
  [3, "EINVAL"],
  [4, "EINVAL"],
];
const IIDR_WRITES_6_1: [number, string][] = [
  [0, "EINVAL"],
  [1, "EINVAL"],
  [2, "ok"],
  [3, "ok"],
  [4, "EINVAL"],
];
const ITS_IIDR_WRITES: [number, string][] = [
  [0, "ok"],
  [1, "EINVAL"],
  [2, "EINVAL"],
];

/** A profile with measured machine facts in every configuration (what a probe with a vGIC records). */
function withMachine(
  p: HostProfile,
  gicdIidr: bigint,
  iidrWrites: [number, string][],
  extra: Partial<MachineProfile> = {},
): HostProfile {
  const q = cloneProfile(p);
  for (const c of q.configs)
    c.machine = {
      nrIrqs: 128,
      its: true,
      steps: { gic: "ok", init: "ok" },
      regs: [
        ["GICD_IIDR", gicdIidr],
        ["GITS_IIDR", 0x4b00043bn],
      ],
      iidrWrites,
      itsIidrWrites: ITS_IIDR_WRITES,
      ...extra,
    };
  return q;
}
const measured510 = () => withMachine(n1Profile("5.10"), 0x4b00243bn, IIDR_WRITES_5_10);
const measured61 = () => withMachine(n1Profile("6.1"), 0x4b00343bn, IIDR_WRITES_6_1);
const measured72 = (extra: Partial<MachineProfile> = {}) =>
  withMachine(n1Profile("7.2"), 0x4b00343bn, IIDR_WRITES_6_1, extra);

/** The 6.1 + 7.2 baseline (PSCI 0.2 + PMU) with these machine pins instead of its own. */
function pinned(machine: MachinePins): AbiTemplate {
  return { ...baseline([ruleOnly("6.1"), ruleOnly("7.2")], { now }).template, machine };
}

const machineVerdicts = (t: AbiTemplate, p: HostProfile): string[] =>
  checkAbi(t, p)
    .verdicts.filter((v) => v.kind === "machine")
    .map((v) => `${v.level} ${v.evidence} ${v.register}${v.field ? "." + v.field : ""}: ${v.reason}`);

const machineGiveUps = (b: ReturnType<typeof baseline>): string[] =>
  b.unhonourable
    .filter((v: Verdict) => v.id === "" && v.register !== "KVM_ARM_VCPU_INIT")
    .map((v) => `${v.host} ${v.evidence} ${v.register}.${v.field}: ${v.reason}`);

describe("machine pins: baseline", () => {
  it("6.1 + 7.2: revision 3, which both accept and both guests see (inferred from their rules)", () => {
    // 6.1 and 7.2 vgic_mmio_uaccess_write_v3_misc: KVM_VGIC_IMP_REV_2 or _3; both report 3 (vgic_init /
    // kvm_vgic_create). ITS: its_table_abi_versions has v0 only. Both N1 PMUs have 6 counters.
    const b = baseline([ruleOnly("6.1"), ruleOnly("7.2")], { names: ["p61", "p72"], now });
    assert.deepEqual(b.template.machine, { gicdIidrRevision: 3, itsAbi: 0, pmuCounters: 6 });
    assert.deepEqual(machineGiveUps(b), []);
    assert.deepEqual(
      b.reports!.map((r) =>
        r.verdicts.filter((v) => v.kind === "machine").map((v) => `${v.level} ${v.evidence}`),
      ),
      [
        ["ok inferred", "ok inferred", "ok inferred"],
        ["ok inferred", "ok inferred", "ok inferred"],
      ],
    );
  });

  it("5.10 + 7.2: revision 2, the only one 5.10 takes; 7.2 gives up its default 3 (inferred)", () => {
    // 5.10 vgic_mmio_uaccess_write_v3_misc: the value must equal the current one (revision 2).
    const b = baseline([ruleOnly("5.10"), ruleOnly("7.2")], { names: ["p510", "p72"], now });
    assert.deepEqual(b.template.machine, { gicdIidrRevision: 2, itsAbi: 0, pmuCounters: 6 });
    const p72 = b.giveUps.find((g) => g.host === "p72")!.verdicts.filter((v) => v.kind === "machine");
    assert.deepEqual(
      p72.map((v) => `${v.level} ${v.evidence} ${v.register}: ${v.reason}`),
      [
        "tolerated inferred GICD_IIDR: vgic_mmio_uaccess_write_v3_misc accepts revision 2 (of {2, 3}): the VMM writes GICD_IIDR 0x4b00243b once the vGIC exists, else the guest sees revision 3",
      ],
    );
  });

  it("the same choices from measured facts, with measured evidence", () => {
    const b61 = baseline([measured61(), measured72()], { now });
    assert.equal(b61.template.machine?.gicdIidrRevision, 3);
    const b510 = baseline([measured510(), measured72()], { names: ["p510", "p72"], now });
    assert.deepEqual(b510.template.machine, { gicdIidrRevision: 2, itsAbi: 0, pmuCounters: 6 });
    assert.deepEqual(
      b510.giveUps
        .find((g) => g.host === "p72")!
        .verdicts.filter((v) => v.kind === "machine")
        .map((v) => `${v.level} ${v.evidence} ${v.register}`),
      ["tolerated measured GICD_IIDR"],
    );
    // GICD_IIDR read 0x4b00343b: the 7.2 guest's own revision comes from the reading.
    assert.deepEqual(machineVerdicts(pinned({ gicdIidrRevision: 3 }), measured72()), [
      "ok measured GICD_IIDR.Revision: revision 3 (0x4b00343b) is what this host's vGIC reports",
    ]);
  });

  it("measured facts outrank the model: a host that measured only revision 3 shares none with 5.10", () => {
    const only3 = measured72({
      iidrWrites: [
        [2, "EINVAL"],
        [3, "ok"],
      ],
    });
    const b = baseline([measured510(), only3], { names: ["p510", "p72"], now });
    assert.equal(b.template.machine?.gicdIidrRevision, undefined);
    assert.deepEqual(machineGiveUps(b), [
      "p510 measured GICD_IIDR.Revision: no GICD_IIDR revision every host accepts (vgic_mmio_uaccess_write_v3_misc): p510 {2}, p72 {3}; this host accepts {2}",
      "p72 measured GICD_IIDR.Revision: no GICD_IIDR revision every host accepts (vgic_mmio_uaccess_write_v3_misc): p510 {2}, p72 {3}; this host accepts {3}",
    ]);
  });

  it("a host whose vGICv3 could not be created gives the GIC items up", () => {
    const noGic = cloneProfile(ruleOnly("7.2"));
    for (const c of noGic.configs) c.machine = { nrIrqs: 128, its: true, steps: { gic: "ENODEV" } };
    const b = baseline([ruleOnly("6.1"), noGic], { names: ["p61", "nogic"], now });
    assert.deepEqual(b.template.machine, { pmuCounters: 6 });
    assert.deepEqual(machineGiveUps(b), [
      "nogic measured GICD_IIDR.Revision: KVM_CREATE_DEVICE(VGIC_V3) failed here (ENODEV): no vGIC state to pin",
    ]);
  });

  it("PMU counters: the fewest of the hosts'; a host whose count was not measured gives it up", () => {
    const fewer = cloneProfile(ruleOnly("7.2"));
    const PMCR_EL0 = 0x603000000013dce0n;
    for (const c of fewer.configs)
      for (const r of c.reset ?? [])
        if (r[0] === PMCR_EL0 && typeof r[1] === "bigint") r[1] = (r[1] & ~0xf800n) | (4n << 11n);
    assert.equal(baseline([ruleOnly("6.1"), fewer], { now }).template.machine?.pmuCounters, 4);
    const unread = cloneProfile(ruleOnly("7.2"));
    for (const c of unread.configs) if (c.reset) c.reset = c.reset.filter(([id]) => id !== PMCR_EL0);
    const b = baseline([ruleOnly("6.1"), unread], { names: ["p61", "unread"], now });
    assert.equal(b.template.machine?.pmuCounters, undefined);
    assert.deepEqual(machineGiveUps(b), [
      "unread unknown PMCR_EL0.N: the PMU's counter count was not measured here (no PMU configuration's PMCR_EL0 reading): PMCR_EL0.N left out of the template",
    ]);
  });
});

describe("machine pins: check", () => {
  it("GICD_IIDR revision 3 on 5.10 is refused; revision 2 on 6.1 is written down", () => {
    const t = pinned({ gicdIidrRevision: 3 });
    assert.deepEqual(machineVerdicts(t, ruleOnly("5.10")), [
      "incompatible inferred GICD_IIDR.Revision: vgic_mmio_uaccess_write_v3_misc refuses revision 3 (EINVAL): this host accepts {2} and its guest sees revision 2 (0x4b00243b)",
    ]);
    assert.deepEqual(machineVerdicts(pinned({ gicdIidrRevision: 2 }), measured61()), [
      "tolerated measured GICD_IIDR.Revision: vgic_mmio_uaccess_write_v3_misc accepts revision 2 (of {2, 3}): the VMM writes GICD_IIDR 0x4b00243b after CTRL_INIT, else the guest sees revision 3",
    ]);
  });

  it("an ITS table ABI no kernel implements", () => {
    assert.deepEqual(machineVerdicts(pinned({ itsAbi: 1 }), measured61()), [
      "incompatible measured GITS_IIDR.Revision: vgic_mmio_uaccess_write_its_iidr refuses table ABI 1 (EINVAL): this kernel implements {0}; saved ITS tables of ABI 1 cannot be restored",
    ]);
  });

  it("PMU counters above the PMU's: stored unchecked (6.1), ignored (6.12), refused (7.2)", () => {
    const t = pinned({ pmuCounters: 8 });
    assert.deepEqual(machineVerdicts(t, ruleOnly("6.1")), [
      "incompatible inferred PMCR_EL0.N: reg_from_user stores PMCR_EL0 unchecked: N = 8 is accepted though the PMU has 6 counters, so the guest sees 2 counters that do not exist",
    ]);
    assert.deepEqual(machineVerdicts(t, ruleOnly("6.12")), [
      "incompatible inferred PMCR_EL0.N: set_pmcr ignores N = 8 (8 counters > the PMU's 6): the write returns 0 and the guest sees 6 counters; the pin silently fails",
    ]);
    assert.deepEqual(machineVerdicts(t, ruleOnly("7.2")), [
      "incompatible inferred PMCR_EL0.N: KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS (kvm_arm_pmu_v3_set_nr_counters) refuses 8 counters (EINVAL: 8 counters > the PMU's 6)",
    ]);
    // Measured SET_NR_COUNTERS trials (the count and one more) make it measured.
    const tried = measured72({
      pmuAttrs: [[4, true]],
      nrCountersWrites: [
        [6, "ok"],
        [7, "EINVAL"],
      ],
    });
    assert.deepEqual(machineVerdicts(pinned({ pmuCounters: 4 }), tried), [
      "tolerated measured PMCR_EL0.N: KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS (kvm_arm_pmu_v3_set_nr_counters) takes 4 of the PMU's 6 counters: the guest sees 4",
    ]);
    assert.deepEqual(machineVerdicts(pinned({ pmuCounters: 7 }), tried), [
      "incompatible measured PMCR_EL0.N: KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS (kvm_arm_pmu_v3_set_nr_counters) refuses 7 counters (EINVAL: 7 counters > the PMU's 6)",
    ]);
  });

  it("counter offset: set where KVM_ARM_SET_COUNTER_OFFSET exists, else restored through ONE_REG", () => {
    const t = pinned({ counterOffset: 0x1234n });
    assert.deepEqual(machineVerdicts(t, ruleOnly("7.2")), [
      "ok inferred KVM_ARM_SET_COUNTER_OFFSET: kvm_vm_ioctl_set_counter_offset sets the VM-wide offset 0x1234",
    ]);
    const refused = cloneProfile(ruleOnly("6.1"));
    refused.kvm!.counterOffset = "EINVAL";
    assert.deepEqual(machineVerdicts(t, refused), [
      "tolerated measured KVM_ARM_SET_COUNTER_OFFSET: no KVM_ARM_SET_COUNTER_OFFSET here (KVM_CAP_COUNTER_OFFSET absent): the VMM restores the guest's virtual counter through ONE_REG KVM_REG_ARM_TIMER_CNT instead (the kernel derives the offset from it), so CNTVCT_EL0 continues from its saved value but the pinned offset itself is not applied",
    ]);
  });

  it("SMCCC filter: DENY and FWD_TO_USER need the filter; the architecture ranges are never filtered", () => {
    const t = pinned({
      smcccFilter: [
        { base: 0x84000000, nrFunctions: 1, action: "DENY" },
        { base: 0xc6000000, nrFunctions: 16, action: "FWD_TO_USER" },
        { base: 0x86000000, nrFunctions: 1, action: "HANDLE" },
        { base: 0x8000fff0, nrFunctions: 32, action: "DENY" },
      ],
    });
    assert.deepEqual(machineVerdicts(t, ruleOnly("6.1")), [
      "incompatible inferred KVM_ARM_VM_SMCCC_FILTER.0x84000000-0x84000000 DENY: no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): the range cannot be denied; a call KVM implements in it (PSCI, TRNG, the KVM vendor services) is answered as on an unfiltered host, the others return SMCCC_RET_NOT_SUPPORTED (-1)",
      "incompatible inferred KVM_ARM_VM_SMCCC_FILTER.0xc6000000-0xc600000f FWD_TO_USER: no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): no KVM_EXIT_HYPERCALL reaches the VMM; KVM answers these calls itself (SMCCC_RET_NOT_SUPPORTED (-1) for those it does not implement)",
      "incompatible inferred KVM_ARM_VM_SMCCC_FILTER.0x8000fff0-0x8001000f DENY: kvm_smccc_filter_insert_reserved keeps 0x80000000-0x8000ffff with KVM: the range is refused (EEXIST)",
      "tolerated inferred KVM_ARM_VM_SMCCC_FILTER.0x86000000-0x86000000 HANDLE: no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): KVM handles these calls itself, which is what HANDLE asks",
    ]);
    const measured = cloneProfile(ruleOnly("7.2"));
    measured.kvm!.smcccFilter = true;
    assert.deepEqual(
      checkAbi(t, measured)
        .verdicts.filter((v) => v.kind === "machine")
        .map((v) => `${v.level} ${v.evidence}`),
      ["incompatible measured", "ok measured", "ok measured", "ok measured"],
    );
  });

  it("the fast path agrees with the report on machine pins", () => {
    const t = pinned({ gicdIidrRevision: 3, pmuCounters: 4, counterOffset: 1n });
    for (const p of [ruleOnly("5.10"), ruleOnly("6.1"), measured72()]) {
      const req = compileSubject(t);
      const host = compileHost(p);
      const report = checkAbi(t, p);
      assert.equal(checkLevel(req, host), worstLevel(report.verdicts));
      assert.ok(levelRank(report.compatible ? "ok" : "incompatible") <= worstLevel(report.verdicts));
    }
  });
});
