import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { diffProfiles, formatDifferences } from "./profile-diff.js";
import type { HostProfile } from "../formats/profile.js";
import { readProfile } from "../formats/profile.js";
import { FAKE } from "../probe/testing/fake-kvm.js";
import { fakeProfile } from "../probe/testing/fake-profile.js";

const clone = (p: HostProfile): HostProfile => structuredClone(p);

describe("diffProfiles", () => {
  it("finds nothing between two probes of the same host", () => {
    assert.deepEqual(diffProfiles(fakeProfile(), fakeProfile()), []);
  });

  it("names a changed reset value with both values", () => {
    const reference = fakeProfile();
    const other = clone(reference);
    const reading = other.configs[0]!.reset!.find(([id]) => id === FAKE.PFR0)!;
    reading[1] = 0x11n;
    const diffs = diffProfiles(reference, other);
    assert.equal(diffs.length, 1);
    assert.equal(diffs[0]!.where, "psci-0.2: reset ID_AA64PFR0_EL1");
    assert.equal(diffs[0]!.actual, "0x11");
  });

  it("ignores the bits a register moves on its own", () => {
    const reference = fakeProfile();
    const other = clone(reference);
    const tv = other.configs[0]!.timeVarying!.find((t) => t.id === FAKE.TIMER_CNT)!;
    assert.equal(tv.mask, 0xffffffffffffffffn);
    other.configs[0]!.reset!.find(([id]) => id === FAKE.TIMER_CNT)![1] = 0x123456n;
    assert.deepEqual(diffProfiles(reference, other), []);
  });

  it("compares a CTL's ISTATUS exactly while its CVAL reads 0, and ignores it otherwise", () => {
    // 6.12 on QEMU's max, measured: KVM_REG_ARM_TIMER_CTL and _PTIMER_CTL read 0x4 (read_timer_ctl), CVALs 0
    const reference = readProfile(
      fs.readFileSync(new URL("../../lab/profiles/6.12-max.json", import.meta.url), "utf8"),
    );
    const reset = (p: HostProfile, id: bigint) => p.configs[0]!.reset!.find(([x]) => x === id)!;
    const [CTL, CVAL, PCTL] = [0x603000000013df19n, 0x603000000013df02n, 0x603000000013df11n];
    assert.deepEqual(
      [reset(reference, CTL)[1], reset(reference, CVAL)[1], reset(reference, PCTL)[1]],
      [0x4n, 0n, 0x4n],
    );
    const other = clone(reference);
    reset(other, CTL)[1] = 0n;
    reset(other, PCTL)[1] = 0n;
    assert.deepEqual(
      diffProfiles(reference, other).map((d) => `${d.where}: ${d.expected} -> ${d.actual}`),
      [
        "psci-0.2: reset KVM_REG_ARM_TIMER_CTL: 0x4 -> 0x0",
        "psci-0.2: reset KVM_REG_ARM_PTIMER_CTL: 0x4 -> 0x0",
      ],
    );
    // a CVAL ahead of the counter: ISTATUS flips when the counter passes it, so only ENABLE/IMASK count
    const ahead = clone(reference);
    reset(ahead, CVAL)[1] = 0xffffffffffffn;
    const later = clone(ahead);
    reset(later, CTL)[1] = 0n;
    assert.deepEqual(
      diffProfiles(ahead, later).map((d) => d.where),
      [],
    );
  });

  it("reports registers listed by one side only, and a missing configuration", () => {
    const reference = fakeProfile({}, ["psci-0.2", "psci-0.1"]);
    const other = clone(reference);
    other.configs[0]!.reset = other.configs[0]!.reset!.filter(([id]) => id !== FAKE.PFR0);
    other.configs.pop();
    assert.deepEqual(
      diffProfiles(reference, other).map((d) => `${d.where}: ${d.expected} -> ${d.actual}`),
      [
        "psci-0.2: reset ID_AA64PFR0_EL1 (0x603000000013c020): listed -> not listed",
        "configuration psci-0.1: probed -> absent",
      ],
    );
  });

  it("compares write experiments trial by trial", () => {
    const reference = fakeProfile();
    const other = clone(reference);
    const group = other.configs[0]!.experiments!.find((g) => g.id === FAKE.PFR0 && g.phase === "before-run")!;
    const trial = group.trials.find((t) => t.kind === "same")!;
    trial.result = "EINVAL";
    delete trial.read;
    const diffs = diffProfiles(reference, other);
    assert.equal(diffs.length, 1);
    assert.match(diffs[0]!.where, /^psci-0\.2: experiments ID_AA64PFR0_EL1 before-run same 0x/);
    assert.equal(formatDifferences(diffs).split("\n").length, 1);
  });
});
