import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProfileError, readProfile, serializeProfile } from "../formats/profile.js";
import { simProfile } from "../check/testing/sim-profiles.js";
import { importHostProfile } from "./profile-import.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";

const NOW = () => new Date("2030-05-06T07:08:09.000Z");

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof ProfileError, String(e));
    assert.ok(!e.message.includes("\n"));
    return e.message;
  }
  assert.fail("accepted");
}

describe("import: guestabi profiles and Firecracker dumps", () => {
  it("gives a probe profile the evidence 'guestabi-profile', with the parts it has not measured", () => {
    const probed = simProfile("6.1", "neoverse-n1", ["psci-0.2", "psci-0.1"]);
    const p = importHostProfile(serializeProfile(probed), { source: "hosts/old.json", now: NOW });
    assert.deepEqual(p.evidence, {
      source: "guestabi-profile",
      from: "old.json: guestabi test host profile (backend sim, probed 2030-01-02T03:04:05.000Z)",
      notMeasured: [],
    });
    assert.deepEqual({ ...p, evidence: undefined }, { ...probed, evidence: undefined });

    const older = structuredClone(probed);
    older.kvm = null;
    for (const c of older.configs) {
      delete c.experiments;
      delete c.writableMasks;
      delete c.firstRun;
    }
    assert.deepEqual(importHostProfile(serializeProfile(older), { source: "o.json" }).evidence?.notMeasured, [
      "KVM capabilities and IPA size",
      "write experiments",
      "writable masks",
      "guest view (first run)",
    ]);
  });

  it("keeps the evidence a profile has, and replaces its CPU label with --cpu-label", () => {
    const f = FINGERPRINT_FIXTURES[4]!;
    const first = importHostProfile(f.text, { source: f.path, now: NOW });
    assert.equal(first.evidence?.source, "firecracker-fingerprint");
    const again = importHostProfile(serializeProfile(first), {
      source: "x.profile.json",
      cpuLabel: "graviton3",
    });
    assert.deepEqual(again, { ...first, host: { ...first.host, cpuLabel: "graviton3" } });
    assert.deepEqual(readProfile(serializeProfile(again)), again);
  });

  it("refuses a newer profile version, another guestabi document, and a --release other than the profile's", () => {
    const doc = JSON.parse(serializeProfile(simProfile("6.1", "neoverse-n1", ["psci-0.2"]))) as Record<
      string,
      unknown
    >;
    assert.equal(
      refusal(() => importHostProfile(JSON.stringify({ ...doc, version: 2 }), { source: "new.json" })),
      "new.json: unsupported guestabi-host-profile version 2 (this guestabi reads version 1)",
    );
    assert.equal(
      refusal(() =>
        importHostProfile('{"format":"guestabi-abi-template","version":{"major":1}}', { source: "t.json" }),
      ),
      't.json: not a guestabi-host-profile document (no "format": "guestabi-host-profile")',
    );
    assert.equal(
      refusal(() => importHostProfile(JSON.stringify(doc), { source: "p.json", release: "6.2.0" })),
      `p.json: the profile records kernel ${String((doc.host as { release: string }).release)}, --release says 6.2.0`,
    );
  });

  it("reads anything without a 'format' as a Firecracker file, with its errors", () => {
    assert.match(
      refusal(() => importHostProfile("{", { source: "b.json" })),
      /^b\.json: not JSON \(/,
    );
    assert.match(
      refusal(() => importHostProfile('{"cpuid_modifiers":[]}', { source: "x86.json" })),
      /^x86\.json: not a Firecracker CPU template or fingerprint: /,
    );
    assert.equal(
      refusal(() => importHostProfile("[1]", { source: "a.json" })),
      "a.json: not a Firecracker CPU template or fingerprint: document: Invalid input: expected object, received array",
    );
  });
});
