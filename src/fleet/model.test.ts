import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { simProfile } from "../check/testing/sim-profiles.js";
import { importHostProfile } from "../vmm/profile-import.js";
import { FINGERPRINT_FIXTURES } from "../vmm/testing/firecracker-fixtures.js";
import { profileHash } from "./model.js";

describe("profileHash", () => {
  const fixture = FINGERPRINT_FIXTURES.find((f) => f.cpu === "V1" && f.kernel === "6.1")!;
  const importAt = (iso: string, source: string) =>
    importHostProfile(fixture.text, { source, now: () => new Date(iso) });

  it("is the same for a host imported again, at another time from another path", () => {
    const a = importAt("2026-01-01T00:00:00.000Z", "/a/fingerprint.json");
    const b = importAt("2026-12-07T12:00:00.000Z", "/b/host-17.json");
    assert.notEqual(a.evidence!.from, b.evidence!.from);
    assert.equal(profileHash(a), profileHash(b));
  });

  it("is the same for a host probed again, whenever and however long", () => {
    const p = simProfile("6.12", "neoverse-n1", ["psci-0.2"]);
    assert.equal(profileHash({ ...p, probedAt: "2030-01-01T00:00:00.000Z", durationMs: 9 }), profileHash(p));
  });

  it("differs when what the evidence lacks differs, or a measured value does", () => {
    const a = importAt("2026-01-01T00:00:00.000Z", "f.json");
    const lacks = { ...a, evidence: { ...a.evidence!, notMeasured: [...a.evidence!.notMeasured, "x"] } };
    assert.notEqual(profileHash(lacks), profileHash(a));
    const p = simProfile("6.12", "neoverse-n1", ["psci-0.2"]);
    assert.notEqual(profileHash(simProfile("6.1", "neoverse-n1", ["psci-0.2"])), profileHash(p));
  });
});
