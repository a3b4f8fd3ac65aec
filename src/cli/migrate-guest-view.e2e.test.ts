/**
 * Issue 12's report, as a user runs it: probe a 7.2 and a 6.1 Neoverse-N1 host on the simulator,
 * baseline them, and migrate a VM pinned to that baseline from 7.2 to 6.1. The guest view is compared
 * over the VMM's conduit (HVC): the SMC answers that changed (handle_smc) are shown apart and not
 * counted. The VMs have their vGICv3, so the GIC ID fields and GICD_IIDR read the same on both kernels;
 * what the guest does see change, CTR_EL0 (which 6.1's guest reads from the CPU, IDC 0, and no register
 * pins), makes the verdict MIGRATED WITH GUEST-VIEW CHANGES with exit code 1, never MIGRATED with 0.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { guestabi } from "./testing.js";

let dir = "";
const f = (name: string) => path.join(dir, name);
const MIGRATE = ["migrate", "--from", "7.2/neoverse-n1", "--to", "6.1/neoverse-n1", "--template"];

describe("guestabi migrate --template (baseline of 7.2 and 6.1, Neoverse-N1): the guest view, honestly", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-i12-"));
    for (const [k, out] of [
      ["7.2/neoverse-n1", "p72.json"],
      ["6.1/neoverse-n1", "p61.json"],
    ] as const) {
      const p = guestabi(["probe", "--sim", k, "--out", f(out)]);
      assert.equal(p.code, 0, p.stderr);
    }
    const b = guestabi(["baseline", f("p72.json"), f("p61.json"), "--out", f("T.json")]);
    assert.equal(b.code, 0, b.stderr);
    // The baseline says what 6.1 gives up: CTR_EL0, whose register no value can make the guest read.
    assert.match(
      b.stdout,
      /\ntolerated {2}CTR_EL0 +the guest reads this CPU's own CTR_EL0 here, 0x8444c004, not 0x9444c004 \(IDC differs\): the read does not trap \(no HCR_EL2\.TID2: vcpu_reset_hcr\), so no register value pins it\n/,
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("text: MIGRATED WITH GUEST-VIEW CHANGES, exit 1, the HVC guest view's differences and the SMC ones apart", () => {
    const r = guestabi([...MIGRATE, f("T.json")]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 1);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "migrate 7.2/neoverse-n1 -> 6.1/neoverse-n1: MIGRATED WITH GUEST-VIEW CHANGES");
    assert.match(
      r.stdout,
      /\n {2}check {8}6\.1\.0-sim-arm64 \(neoverse-n1\): compatible \(16 tolerated differences\)\n/,
    );
    const from = lines.findIndex((l) => l.startsWith("  fingerprint  "));
    assert.match(lines[from]!, /\(over HVC, the VMM's conduit\): the guest sees 1 difference$/);
    assert.deepEqual(lines.slice(from + 1, -1), [
      "    CTR_EL0: 0x9444c004  ->  0x8444c004",
      "  smc-only     2 differences through SMC, not counted: a guest whose firmware tables say HVC never issues an SMC",
      "    PSCI_VERSION via smc: 0x10001 0x0 0x0 0x0  ->  0xffffffffffffffff 0x0 0x0 0x0  (no register pins it: the SMC conduit (handle_smc))",
      "    SMCCC_VERSION via smc: 0x10001 0x0 0x0 0x0  ->  0xffffffffffffffff 0x0 0x0 0x0  (no register pins it: the SMC conduit (handle_smc))",
    ]);
  });

  it("--json: outcome guest-view-changes, the differences over HVC and the SMC ones apart, exit 1", () => {
    const r = guestabi([...MIGRATE, f("T.json"), "--json"]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as {
      migrated: boolean;
      outcome: string;
      fingerprint: {
        conduit: string;
        identical: boolean;
        differences: [string, string][];
        otherConduit: { conduit: string; differences: [string, string][] };
      };
    };
    assert.equal(doc.migrated, true);
    assert.equal(doc.outcome, "guest-view-changes");
    assert.equal(doc.fingerprint.conduit, "hvc");
    assert.equal(doc.fingerprint.identical, false);
    assert.deepEqual(doc.fingerprint.differences, [["CTR_EL0: 0x9444c004", "CTR_EL0: 0x8444c004"]]);
    assert.deepEqual(doc.fingerprint.otherConduit, {
      conduit: "smc",
      differences: [
        ["PSCI_VERSION via smc: 0x10001 0x0 0x0 0x0", "PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"],
        [
          "SMCCC_VERSION via smc: 0x10001 0x0 0x0 0x0",
          "SMCCC_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0",
        ],
      ],
    });
  });

  it("the same kernel on both ends: MIGRATED, identical, exit 0", () => {
    const r = guestabi([
      "migrate",
      "--from",
      "6.1/neoverse-n1",
      "--to",
      "6.1/neoverse-n1",
      "--template",
      f("T.json"),
    ]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^migrate 6\.1\/neoverse-n1 -> 6\.1\/neoverse-n1: MIGRATED\n/);
    assert.match(r.stdout, /\(over HVC, the VMM's conduit\): identical\n$/);
  });
});

describe("guestabi impact --mode pinned: the issue's rollback of a 7.2 Neoverse-N1 group to 6.1", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-i12-impact-"));
    fs.writeFileSync(
      f("fleet.json"),
      JSON.stringify({
        format: "guestabi-fleet",
        version: 1,
        name: "i12",
        groups: [{ name: "edge-n1", kernel: "7.2", cpu: "neoverse-n1", hosts: 30 }],
        vms: [
          { name: "api", group: "edge-n1", count: 90, vcpus: 2, abi: "host-defaults" },
          { name: "ci", group: "edge-n1", count: 24, abi: "host-defaults", features: ["PSCI_0_2", "PMU_V3"] },
        ],
      }),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("no VM is flagged for the SMC conduit or the GIC: CTR_EL0, which no register pins, remains", () => {
    const args = [
      "impact",
      "--fleet",
      f("fleet.json"),
      "--rollback",
      "edge-n1",
      "--to",
      "6.1",
      "--mode",
      "pinned",
    ];
    const r = guestabi(args);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /\n {2}114 VMs: 0 break, 114 see a change, 0 safe; 0 VMs of other groups unaffected\n/,
    );
    assert.match(
      r.stdout,
      /\n {2}api +90 +guest-view-changes +template +guestabi +the guest sees CTR_EL0 0x8444c004 instead of 0x9444c004\n/,
    );
    // The SMC conduit is apart: only a guest whose VMM's tables say SMC sees 6.1's handle_smc.
    assert.match(
      r.stdout,
      /\n {2}a guest whose VMM's tables name the SMC conduit would also see \(handle_smc; /,
    );
    const j = guestabi([...args, "--json"]);
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as {
      entries: { names: string[]; status: string; effects: { text: string }[]; smc: string[] }[];
    };
    for (const v of doc.entries) {
      const name = v.names.join(",");
      assert.equal(v.status, "guest-view-changes", name);
      assert.deepEqual(
        v.effects.map((e) => e.text),
        ["the guest sees CTR_EL0 0x8444c004 instead of 0x9444c004"],
        name,
      );
      assert.deepEqual(
        v.smc,
        [
          "PSCI_VERSION by SMC: answered -> -1 (not an SMCCC call)",
          "SMCCC_VERSION by SMC: answered -> -1 (not an SMCCC call)",
        ],
        name,
      );
    }
  });
});
