/**
 * Evidence levels as a user sees them: `guestabi check --json` on profiles of kernels guestabi does not
 * model, through the built CLI. Every verdict has an evidence field; a rule that falls back to a
 * generation says so in its reason; an unknown one is never ok.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { CheckReport } from "../check/check.js";
import { serializeProfile } from "../formats/profile.js";
import { formatSnapshotJson } from "../formats/snapshot.js";
import { relabelled, savedSnapshot, simProfile } from "../check/testing/sim-profiles.js";
import { guestabi } from "./testing.js";

const CONFIGS = ["psci-0.2", "psci-0.2+pmu"];
let dir = "";
const f = (name: string) => path.join(dir, name);

describe("guestabi check: evidence of each verdict", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-evidence-"));
    const p61 = simProfile("6.1", "neoverse-n1", CONFIGS);
    // A vendor 6.18 kernel and a 4.19 one, described without write experiments (as imported evidence).
    const p618 = relabelled(p61, "6.18.30-vendor", { experiments: false });
    const p419 = relabelled(p61, "4.19.0-27-arm64", { experiments: false });
    fs.writeFileSync(f("p618.json"), serializeProfile(p618));
    fs.writeFileSync(f("p419.json"), serializeProfile(p419));
    fs.writeFileSync(
      f("vm72.json"),
      formatSnapshotJson(savedSnapshot(simProfile("7.2", "neoverse-n1", CONFIGS))),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a 6.18 kernel: verdicts fall back to the 6.12 rule and say so", () => {
    const r = guestabi(["check", f("vm72.json"), "--host", f("p618.json"), "--json"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.ok(report.verdicts.every((v) => ["measured", "inferred", "unknown"].includes(v.evidence)));
    const psci = report.verdicts.find((v) => v.register === "KVM_REG_ARM_PSCI_VERSION");
    assert.deepEqual(psci && { level: psci.level, evidence: psci.evidence, reason: psci.reason }, {
      level: "incompatible",
      evidence: "inferred",
      reason:
        "the guest saw PSCI 1.3; the destination accepts 0.2, 1.0, 1.1 (kvm_arm_set_fw_reg): EINVAL (assumed: 6.12 rule)",
    });
    assert.deepEqual(report.byEvidence, { measured: 253, inferred: 9, unknown: 0 });
    // The text output marks them in an EVIDENCE column and counts them in its first line.
    const text = guestabi(["check", f("vm72.json"), "--host", f("p618.json")]);
    assert.equal(text.code, 1);
    const lines = text.stdout.split("\n");
    assert.match(
      lines[0]!,
      /: INCOMPATIBLE \(9 incompatible, 15 tolerated, 238 ok; not measured: 9 inferred\)$/,
    );
    assert.match(lines[1]!, /^LEVEL\s+EVIDENCE\s+REGISTER\s+FIELD\s+REASON$/);
    assert.match(
      text.stdout,
      /\nincompatible\s+inferred\s+KVM_REG_ARM_PSCI_VERSION\s+the guest saw PSCI 1\.3; .*\(assumed: 6\.12 rule\)\n/,
    );
  });

  it("a 4.19 kernel: older than every modelled one, its fallbacks are unknown and never ok", () => {
    const r = guestabi(["check", f("vm72.json"), "--host", f("p419.json"), "--json"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as CheckReport;
    const unknown = report.verdicts.filter((v) => v.evidence === "unknown");
    assert.equal(unknown.length, 9);
    assert.deepEqual(
      unknown.filter((v) => v.level === "ok"),
      [],
    );
    assert.ok(
      unknown.every((v) =>
        v.reason.endsWith(" (no modelled kernel covers 4.19.0-27-arm64; assumed: 5.10 rule)"),
      ),
    );
    assert.equal(report.byEvidence?.inferred, 0);
  });
});
