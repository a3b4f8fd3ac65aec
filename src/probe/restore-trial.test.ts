import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS } from "../kvm/index.js";
import { ProfileError } from "../formats/profile.js";
import { readRestoreTrial, serializeRestoreTrial } from "../formats/restore-trial.js";
import { restoreTrial } from "./restore-trial.js";
import { FAKE, FakeKvm } from "./testing/fake-kvm.js";
import { fakeProfile } from "./testing/fake-profile.js";

const fixed = { toolVersion: "test", now: () => new Date("2030-01-02T03:04:05.000Z") };

describe("restore trials", () => {
  const saved = fakeProfile();
  const source = { profile: saved, source: "x.json" };

  it("sets every saved register in list order and records each result", () => {
    const fake = new FakeKvm({ release: "6.12.9-arm64" });
    const doc = restoreTrial(fake, [source], { ...fixed, cpuLabel: "cortex-a72" });
    assert.equal(doc.host.generation, "6.12");
    const t = doc.trials[0]!;
    assert.equal(t.init, "ok");
    assert.deepEqual(
      t.results.map(([id]) => id),
      saved.configs[0]!.afterRun!.values!.map(([id]) => id),
    );
    const result = new Map(t.results);
    assert.equal(result.get(FW_REGS.PSCI_VERSION), "ok");
    assert.equal(result.get(FAKE.BROKEN), "not-saved");
    assert.deepEqual(t.missing, []);
    assert.equal(fake.vms.size, 0);
  });

  it("reports refusals by name and registers the saved state lacks", () => {
    const extra = 0x603000000013c685n;
    const fake = new FakeKvm({
      idRegs: new Map([[FAKE.PFR0, 0x1100_0000_0001_0000n]]), // a host with less than the saved PFR0
      regs: new Map([[extra, 0n]]),
    });
    const t = restoreTrial(fake, [source], fixed).trials[0]!;
    assert.deepEqual(t.refused, [[FAKE.PFR0, "ID_AA64PFR0_EL1", "EINVAL"]]);
    assert.deepEqual(t.missing, [[extra, "ACCDATA_EL1"]]);
    assert.equal(t.summary["EINVAL"], 1);
    assert.equal(t.summary["not-saved"], 1);
  });

  it("writes a small document that reads back equal", () => {
    const doc = restoreTrial(new FakeKvm(), [source, { ...source, source: "y.json" }], fixed);
    const text = serializeRestoreTrial(doc);
    assert.deepEqual(readRestoreTrial(text), doc);
    assert.ok(text.length < 10_000, `${text.length} bytes`);
  });

  it("refuses a profile without saved state before creating any VM", () => {
    const fake = new FakeKvm();
    const bare = fakeProfile({}, ["psci-0.1"]);
    assert.throws(
      () => restoreTrial(fake, [source, { profile: bare, source: "old.json" }], fixed),
      (e: unknown) =>
        e instanceof ProfileError &&
        e.message === "old.json: no saved state (the psci-0.2 configuration has no after-run values)",
    );
    assert.equal(fake.vmsCreated, 0);
  });
});
