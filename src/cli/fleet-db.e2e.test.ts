/**
 * plan, impact, certify and rollout on an inventory (--db) as a user runs them: simulated hosts, a
 * real host from the lab's profile and a Firecracker fingerprint added, VMs dealt over two groups, then
 * the analysis from those profiles. On SQLite, and on PostgreSQL too when GUESTABI_TEST_POSTGRES names
 * a server; bad input is one line, exit 2, and nothing written.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { TEST_BACKENDS } from "../inventory/testing/databases.js";
import type { TestDatabase } from "../inventory/testing/databases.js";
import { guestabi, refusal, succeeded } from "./testing.js";

const LAB_PROFILE = fileURLToPath(new URL("../../lab/profiles/6.12-neoverse-n1.json", import.meta.url));
const FINGERPRINT = fileURLToPath(
  new URL("../../src/vmm/testdata/firecracker/fingerprint_ARM_NEOVERSE_V1_6.1host.json", import.meta.url),
);
const EXAMPLE_FLEET = fileURLToPath(new URL("../fleet/example-fleet.json", import.meta.url));
const PAIR_BASELINE = "neoverse-n1-psci-0.2-6.1+7.2.abi.json";

for (const backend of TEST_BACKENDS)
  describe(`plan, impact, certify and rollout --db on ${backend.name}`, { skip: backend.skip }, () => {
    let db: TestDatabase;
    let dir = "";
    const run = (...args: string[]) => guestabi([...args, "--db", db.spec]);
    before(async () => {
      db = await backend.make();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-fleet-db-"));
      const add = (...args: string[]) => succeeded(run("inventory", ...args));
      add("add-sim", "--kernel", "7.2", "--cpu", "neoverse-n1", "--hosts", "4", "--group", "edge");
      add("add-sim", "--kernel", "6.1", "--cpu", "neoverse-n1", "--hosts", "6", "--group", "stable");
      add("add", LAB_PROFILE, "--group", "lab");
      add("add", FINGERPRINT, "--group", "fc");
      add("vms", "add", "--group", "edge", "--count", "10", "--vcpus", "2");
      add("vms", "add", "--group", "stable", "--count", "12", "--vmm", "firecracker");
    });
    after(async () => {
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("plan: rolls edge back to the older kernels its CPU runs, recommends the pair baselines, writes them", () => {
      const r = run("plan", "--out-dir", path.join(dir, "t"));
      assert.equal(
        `${r.code} ${r.stderr}`,
        `0 guestabi: wrote 4 baseline templates to ${path.join(dir, "t")}\n`,
      );
      const out = r.stdout;
      const lines = out.split("\n");
      assert.match(
        lines[0]!,
        /^guestabi plan: fleet \S+: 4 host groups, 12 hosts, 22 VMs \(2 entries\); 4 host profiles, 0 what-if, [\d.]+ s$/,
      );
      // The fingerprint's kernel (6.1.172-...amzn2023) runs on no neoverse-n1 host and is not simulated:
      // no rollback of edge goes there.
      assert.deepEqual(
        lines.filter((l) => l.startsWith("  edge 7.2 -> ")).map((l) => l.replace(/ +/g, " ")),
        [
          " edge 7.2 -> 6.12.95+deb12-arm64 10 10 break, 0 see a change, 0 safe 10 break, 0 see a change, 0 safe 0 break, 0 see a change, 10 safe",
          " edge 7.2 -> 6.1 10 10 break, 0 see a change, 0 safe 10 break, 0 see a change, 0 safe 0 break, 10 see a change, 0 safe",
        ],
      );
      assert.ok(out.includes(`before the upgrade, pin edge's VMs to ${PAIR_BASELINE}`));
      assert.deepEqual(fs.readdirSync(path.join(dir, "t")).sort(), [
        PAIR_BASELINE,
        "neoverse-n1-psci-0.2-6.12.95+deb12-arm64+7.2.abi.json",
        "neoverse-n1-psci-0.2.abi.json",
        "unknown-CPU-psci-0.2.abi.json",
      ]);
    });

    it("impact: the rolled-back group's VMs, from the profile the stable hosts run; --fail-on break exits 1", () => {
      const r = run("impact", "--rollback", "edge", "--to", "6.1", "--fail-on", "break");
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "");
      assert.deepEqual(r.stdout.split("\n").slice(0, 3), [
        "rollback of group edge (4 hosts, neoverse-n1) from 7.2 to 6.1, VMs as described",
        "  4 hosts on 7.2 -> 6.1: the profile 6 hosts of the fleet run (stable)",
        "  10 VMs: 10 break, 0 see a change, 0 safe; 12 VMs of other groups unaffected",
      ]);
      assert.equal(succeeded(run("impact", "--rollback", "edge", "--to", "6.1")), r.stdout);
    });

    it("certify: the inventory's hosts, each group's profile checked once and counted by its hosts", () => {
      const template = path.join(dir, "t", PAIR_BASELINE);
      assert.equal(
        succeeded(run("certify", template, "--group", "edge", "stable")),
        [
          `${template}: runnable on 10 of 10 hosts`,
          "  ok       edge: 4 hosts, 7.2.0-sim-arm64 neoverse-n1 (profile 97197c294d26)",
          "  ok       stable: 6 hosts, 6.1.0-sim-arm64 neoverse-n1 (profile 035373c5157f)",
          "",
        ].join("\n"),
      );
      const all = run("certify", template, "--json");
      assert.equal(all.code, 1);
      const j = JSON.parse(all.stdout) as { runnable: string[]; blocked: { host: string }[] };
      assert.deepEqual(
        [j.runnable.length, j.blocked.map((b) => b.host.replace(/profile \w+/, "profile …"))],
        [3, ["fc: 1 host, 6.1.172-216.329.amzn2023.aarch64 unlabelled (profile …)"]],
      );
    });

    it("rollout: leaves out the host no 7.2 profile exists for, and says why", () => {
      const lines = succeeded(run("rollout", "--to", "7.2", "--waves", "2")).split("\n");
      assert.deepEqual(lines.slice(0, 4), [
        `guestabi rollout: fleet ${lines[0]!.split(" ")[3]} to 7.2: 7 hosts in 2 waves (4 hosts already on 7.2, 10 VMs there stay)`,
        "  1 neoverse-n1 hosts on 6.12.95+deb12-arm64 -> 7.2: the profile 4 hosts of the fleet run (edge)",
        "  6 neoverse-n1 hosts on 6.1 -> 7.2: the profile 4 hosts of the fleet run (edge)",
        "  left out: 1 unknown CPU hosts of fc on 6.1.172-216.329.amzn2023.aarch64 (0 VMs): no host runs 7.2 with this CPU, and the profile names no CPU model to simulate one",
      ]);
    });

    it("refuses, in one line and exit 2: --db with --fleet, a group it lacks, certify without hosts", () => {
      assert.equal(refusal(run("plan", "--fleet", EXAMPLE_FLEET)), "--db and --fleet: give one fleet");
      assert.match(
        refusal(run("certify", path.join(dir, "t", PAIR_BASELINE), "--group", "nowhere")),
        /^no group 'nowhere' in /,
      );
      assert.equal(
        refusal(guestabi(["certify", path.join(dir, "t", PAIR_BASELINE)])),
        "give the hosts: --hosts PROFILE... or --db [INVENTORY]",
      );
    });
  });

describe("--db on SQLite files that are no inventory yet", () => {
  let dir = "";
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-fleet-db-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a missing file is refused, not created", () => {
    const db = path.join(dir, "missing.db");
    assert.match(refusal(guestabi(["plan", "--db", db])), /missing\.db/);
    assert.equal(fs.existsSync(db), false);
  });

  it("an inventory without hosts is refused with what to do", () => {
    const db = path.join(dir, "empty.db");
    const inventory = (...args: string[]) => succeeded(guestabi(["inventory", ...args, "--db", db]));
    inventory("add-sim", "--kernel", "6.1", "--cpu", "cortex-a72", "--hosts", "1", "--group", "g");
    inventory("remove", "hosts", "g-1");
    assert.equal(
      refusal(guestabi(["impact", "--rollback", "g", "--to", "6.1", "--db", db])),
      `${db} has no hosts (add some: guestabi inventory add PROFILE... or inventory add-sim)`,
    );
  });
});
