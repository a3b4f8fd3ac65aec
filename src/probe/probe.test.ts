import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CORE_PC, FW_REGS, coreXReg } from "../kvm/index.js";
import type { RegId } from "../regs/index.js";
import { PSCI_VERSIONS, nextRevision } from "./experiments.js";
import { ProbeError, probe } from "./probe.js";
import type { ProbeOptions } from "./probe.js";
import type { ConfigProfile, ExperimentGroup, HostProfile } from "../formats/profile.js";
import { flattenExperiments, readProfile, serializeProfile } from "../formats/profile.js";
import { FAKE, FakeKvm } from "./testing/fake-kvm.js";
import type { FakeOptions } from "./testing/fake-kvm.js";
import { ALL_BITS } from "../kvm/rules/time-varying.js";

const fixed: ProbeOptions = {
  now: () => new Date("2030-01-02T03:04:05.000Z"),
  clock: () => 0,
  toolVersion: "test",
};

function run(opts: FakeOptions = {}, probeOpts: ProbeOptions = {}) {
  const fake = new FakeKvm({ lowerable: [FAKE.PFR0], ...opts });
  const profile = probe(fake, { ...fixed, ...probeOpts });
  return { fake, profile };
}

function config(p: HostProfile, name: string): ConfigProfile {
  const c = p.configs.find((x) => x.name === name);
  assert.ok(c, `configuration ${name}`);
  return c;
}

function group(c: ConfigProfile, id: RegId, phase: "before-run" | "after-run"): ExperimentGroup {
  const g = c.experiments?.find((x) => x.id === id && x.phase === phase);
  assert.ok(g, `group ${id.toString(16)} ${phase}`);
  return g;
}

const trial = (g: ExperimentGroup, kind: string, field?: string) =>
  g.trials.find((t) => t.kind === kind && (field === undefined || t.field === field));

describe("probe on a test double", () => {
  it("probes the default configurations, skips what the capabilities rule out, and leaves no VM", () => {
    const { fake, profile } = run();
    assert.deepEqual(
      profile.configs.map((c) => c.name),
      ["psci-0.2", "psci-0.2+pmu", "psci-0.1"],
    );
    assert.deepEqual(profile.skipped, [
      { name: "psci-0.2+sve", why: "KVM_CAP_ARM_SVE is 0" },
      {
        name: "psci-0.2+ptrauth",
        why: "KVM_CAP_ARM_PTRAUTH_ADDRESS is 0, KVM_CAP_ARM_PTRAUTH_GENERIC is 0",
      },
    ]);
    assert.equal(fake.vms.size, 0);
    assert.equal(profile.host.generation, "6.1");
    assert.equal(profile.backend, "fake");
    assert.equal(profile.kvm?.caps["KVM_CAP_ONE_REG"]?.[0], 1);
    assert.equal(profile.kvm?.maxIpaBits, 40);
  });

  it("writes a profile that reads back equal", () => {
    const { profile } = run({ withJitter: true, caps: { ARM_WRITABLE_IMP_ID_REGS: 1 } });
    assert.deepEqual(readProfile(serializeProfile(profile)), profile);
  });

  it("lists every register through the E2BIG dance and reads each, recording failed reads as errnos", () => {
    const { profile } = run();
    const c = config(profile, "psci-0.2");
    const ids = c.reset!.map(([id]) => id);
    assert.equal(ids.length, 17);
    assert.ok(ids.includes(FW_REGS.STD_BMAP));
    assert.deepEqual(
      c.reset!.find(([id]) => id === FAKE.BROKEN),
      [FAKE.BROKEN, "EINVAL"],
    );
    const v0 = c.reset!.find(([id]) => id === FAKE.V0)![1];
    assert.ok(v0 instanceof Uint8Array && v0.length === 16);
  });

  it("marks counters and ISTATUS from the kernel rules, and anything seen moving as observed", () => {
    const { profile } = run({ withJitter: true });
    const tv = config(profile, "psci-0.2").timeVarying!;
    const by = new Map(tv.map((t) => [t.id, t]));
    assert.equal(by.get(FAKE.TIMER_CNT)?.mask, ALL_BITS);
    assert.match(by.get(FAKE.TIMER_CNT)!.why, /kvm_phys_timer_read/);
    assert.equal(by.get(FAKE.TIMER_CTL)?.mask, 4n);
    assert.match(by.get(FAKE.JITTERY)!.why, /^observed/);
    assert.equal(tv.length, 3);
  });

  it("records the first run and what it changed, ignoring time-varying registers", () => {
    const { profile } = run();
    const c = config(profile, "psci-0.2");
    assert.equal(c.firstRun?.end.kind, "system-event");
    assert.equal(c.firstRun?.completed, true);
    const psci = c.firstRun!.items.find((i) => i.name === "PSCI_VERSION");
    assert.deepEqual(psci?.x, [0x10001n, 0n, 0n, 0n]);
    const changed = c.afterRun!.changed.map(([id]) => id);
    assert.ok(changed.includes(CORE_PC) && changed.includes(coreXReg(0)));
    assert.ok(!changed.includes(FAKE.TIMER_CNT));
    assert.deepEqual(c.afterRun!.listAdded, []);
  });

  it("keeps the after-run values as saved state only for psci-0.2", () => {
    const { profile } = run();
    assert.equal(config(profile, "psci-0.2").afterRun!.values!.length, 17);
    assert.equal(config(profile, "psci-0.1").afterRun!.values, undefined);
  });

  it("notes registers the run adds to the list", () => {
    const extra = 0x603000000013c685n; // an id the fake lists only once it has run
    const { profile } = run({ extraRegsAfterRun: [extra], regs: new Map() });
    assert.deepEqual(config(profile, "psci-0.2").afterRun!.listAdded, [extra]);
  });

  it("records the writable masks, or the errno of an older kernel", () => {
    assert.deepEqual(config(run().profile, "psci-0.2").writableMasks, [[FAKE.PFR0, 0x0f00_0000_0000_0000n]]);
    assert.equal(config(run({ noWritableMasks: true }).profile, "psci-0.2").writableMasks, "EINVAL");
  });
});

describe("write experiments", () => {
  const { profile } = run({ caps: { ARM_WRITABLE_IMP_ID_REGS: 1 } });
  const c02 = config(profile, "psci-0.2");

  it("sweeps a firmware bitmap: same, zero, all-ones and the 64 single bits, per phase", () => {
    const before = group(c02, FW_REGS.STD_BMAP, "before-run");
    assert.equal(before.original, 1n);
    assert.deepEqual(
      before.trials.map((t) => [t.kind, t.value, t.result, t.read]),
      [
        ["same", 1n, "ok", 1n],
        ["zero", 0n, "ok", 0n],
        ["all-ones", ALL_BITS, "EINVAL", undefined],
      ],
    );
    assert.equal(before.bits![0], 1n);
    assert.ok(before.bits!.slice(1).every((r) => r === "EINVAL"));

    const after = group(c02, FW_REGS.STD_BMAP, "after-run");
    assert.equal(trial(after, "same")?.result, "ok");
    assert.equal(trial(after, "zero")?.result, "EBUSY");
    assert.equal(after.bits![0], 1n);
  });

  it("tries every PSCI version, each restored before the next", () => {
    const g = group(c02, FW_REGS.PSCI_VERSION, "before-run");
    const versions = g.trials.filter((t) => t.kind === "psci-version");
    assert.deepEqual(
      versions.map((t) => t.value),
      [...PSCI_VERSIONS],
    );
    assert.deepEqual(
      versions.map((t) => t.result),
      ["EINVAL", "ok", "ok", "ok", "EINVAL", "EINVAL"],
    );
    assert.ok(g.trials.every((t) => t.restore === undefined));
    const g01 = group(config(profile, "psci-0.1"), FW_REGS.PSCI_VERSION, "before-run");
    assert.deepEqual(
      g01.trials.filter((t) => t.kind === "psci-version").map((t) => t.result),
      ["ok", "EINVAL", "EINVAL", "EINVAL", "EINVAL", "EINVAL"],
    );
  });

  it("records what a check-only register reads back (WORKAROUND_1 keeps its level)", () => {
    const g = group(c02, FW_REGS.SMCCC_ARCH_WORKAROUND_1, "before-run");
    assert.deepEqual(trial(g, "zero"), { kind: "zero", value: 0n, result: "ok", read: 1n });
  });

  it("moves each ID register field down and up by one, skipping steps out of range", () => {
    const g = group(c02, FAKE.PFR0, "before-run");
    const original = 0x1100_0000_0001_1111n;
    // EL0 (3:0) is 1: lowering gives 0; raising gives 2 (refused by the fake).
    assert.deepEqual(trial(g, "field-lower", "EL0"), {
      kind: "field-lower",
      field: "EL0",
      value: original - 1n,
      result: "ok",
      read: original - 1n,
    });
    assert.equal(trial(g, "field-raise", "EL0")?.value, original + 1n);
    assert.equal(trial(g, "field-raise", "EL0")?.result, "EINVAL");
    // SVE (35:32) is 0: no lower step. FP (19:16) is signed and 1: lower to 0, raise to 2.
    assert.equal(trial(g, "field-lower", "SVE"), undefined);
    assert.equal(trial(g, "field-lower", "FP")?.value, original & ~(0xfn << 16n));
    const after = group(c02, FAKE.PFR0, "after-run");
    assert.equal(trial(after, "same")?.result, "ok");
    assert.ok(after.trials.filter((t) => t.kind !== "same").every((t) => t.result === "EBUSY"));
  });

  it("steps a signed field below zero in two's complement", () => {
    const fake = new FakeKvm();
    fake.opts.lowerable = [FAKE.PFR0];
    const p = probe(fake, { ...fixed, configs: ["psci-0.2"] });
    const g = group(config(p, "psci-0.2"), FAKE.PFR0, "before-run");
    // AdvSIMD (23:20) is 0 and signed: lowering gives 0xf (-1); raising gives 1.
    assert.equal(trial(g, "field-lower", "AdvSIMD")?.value, 0x1100_0000_00f1_1111n);
  });

  it("changes MIDR's revision without and with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS", () => {
    const g = group(c02, FAKE.MIDR, "before-run");
    const plain = trial(g, "imp-id")!;
    assert.equal(plain.value, nextRevision(0x410fd083n));
    assert.equal(plain.value, 0x410fd084n);
    assert.equal(plain.result, "EINVAL");
    const writable = trial(g, "imp-id-writable")!;
    assert.equal(writable.enableCap, "ok");
    assert.equal(writable.result, "ok");
    assert.equal(writable.read, 0x410fd084n);
    assert.equal(trial(group(c02, FAKE.MIDR, "after-run"), "imp-id-writable"), undefined);
    assert.equal(trial(group(c02, FAKE.MIDR, "after-run"), "imp-id")?.result, "EBUSY");
  });

  it("leaves imp-id-writable out when the kernel lacks the capability", () => {
    const g = group(config(run().profile, "psci-0.2"), FAKE.MIDR, "before-run");
    assert.equal(trial(g, "imp-id-writable"), undefined);
  });

  it("flattens into one record per experiment, bits expanded", () => {
    const records = flattenExperiments(c02);
    const bits = records.filter(
      (r) => r.id === FW_REGS.STD_BMAP && r.kind === "bit" && r.phase === "before-run",
    );
    assert.equal(bits.length, 64);
    assert.deepEqual(bits[0], {
      id: FW_REGS.STD_BMAP,
      name: "KVM_REG_ARM_STD_BMAP",
      phase: "before-run",
      kind: "bit",
      bit: 0,
      value: 1n,
      result: "ok",
      read: 1n,
    });
    assert.equal(bits[5]!.result, "EINVAL");
  });

  it("moves to a fresh VM when a write cannot be undone, and records that", () => {
    const { fake, profile } = run({ stickyId: FAKE.PFR0 }, { configs: ["psci-0.2"] });
    const g = group(config(profile, "psci-0.2"), FAKE.PFR0, "before-run");
    const lowered = g.trials.filter((t) => t.kind === "field-lower" && t.result === "ok");
    // Each accepted lowering sticks (EPERM on the way back), so every one of them ran on its own VM.
    assert.ok(lowered.length >= 2);
    assert.ok(lowered.every((t) => t.restore === "EPERM"));
    // One VM for the capabilities, one for the counter offset, one that runs, one for before-run, and one
    // more per failed restore.
    assert.equal(fake.vmsCreated, 4 + lowered.length);
    assert.equal(fake.vms.size, 0);
  });
});

describe("probe failures", () => {
  it("records a vCPU that cannot be set up instead of failing", () => {
    const { profile } = run({}, { configs: ["psci-0.2+sve"] });
    const c = config(profile, "psci-0.2+sve");
    assert.equal(c.init, "EINVAL");
    assert.equal(c.reset, undefined);
    assert.deepEqual(profile.skipped, []);
  });

  it("rejects an unknown configuration name", () => {
    assert.throws(
      () => run({}, { configs: ["psci-9"] }),
      (e: unknown) => {
        assert.ok(e instanceof ProbeError);
        assert.match(e.message, /unknown configuration 'psci-9' \(known: psci-0.2, /);
        return true;
      },
    );
  });

  for (const [op, nth, errno] of [
    ["KVM_CREATE_VCPU", 1, "EMFILE"],
    ["KVM_CREATE_VCPU", 3, "ENOMEM"],
    ["KVM_GET_REG_LIST", 2, "EFAULT"],
    ["KVM_CREATE_VM", 4, "ENOMEM"],
    ["KVM_RUN", 1, "EFAULT"],
  ] as const)
    it(`names the operation and errno and destroys every VM when ${op} #${nth} fails with ${errno}`, () => {
      const fake = new FakeKvm({ failOp: { op, nth, errno } });
      let outcome: HostProfile | unknown;
      try {
        outcome = probe(fake, fixed);
      } catch (e) {
        outcome = e;
      }
      if (op === "KVM_RUN") {
        // A failing KVM_RUN ends the guest run instead: the profile records it.
        const end = config(outcome as HostProfile, "psci-0.2").firstRun!.end;
        assert.deepEqual(end.kind === "error" && [end.op, end.errno], ["KVM_RUN", errno]);
      } else {
        assert.ok(outcome instanceof ProbeError, String(outcome));
        assert.match(outcome.message, new RegExp(`^probe psci-0\\.2[+a-z]*: ${op}.*: ${errno} `));
        assert.doesNotMatch(outcome.message, /\n/);
      }
      assert.equal(fake.vms.size, 0);
    });
});
