import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import { readProfile, serializeProfile } from "../formats/profile.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import { FakeKvm } from "../probe/testing/fake-kvm.js";
import type { FakeOptions } from "../probe/testing/fake-kvm.js";
import { fakeProfile } from "../probe/testing/fake-profile.js";
import { openLinuxKvm } from "../kvm/index.js";
import { UsageError } from "./run-command.js";
import { registerProbeCommands } from "./probe-commands.js";

/** Runs a command in-process with the test double behind --sim; returns stderr and the exit code. */
async function cli(args: string[], fake: FakeOptions = {}) {
  const program = new Command("guestabi").exitOverride().configureOutput({ writeErr: () => undefined });
  const fakes: FakeKvm[] = [];
  registerProbeCommands(program, {
    openSim: async () => {
      const system = new FakeKvm(fake);
      fakes.push(system);
      return { system, hostFacts: null };
    },
  });
  let stderr = "";
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    await program.parseAsync(["node", "guestabi", ...args]);
    return { stderr, exitCode: process.exitCode, fakes };
  } finally {
    process.stderr.write = write;
    process.exitCode = before;
  }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-cli-"));

describe("guestabi probe", () => {
  it("writes the profile atomically to --out, with the CPU label and chosen configurations", async () => {
    const dir = tmp();
    const out = path.join(dir, "p.json");
    fs.writeFileSync(out, "old");
    const r = await cli([
      "probe",
      "--sim",
      "6.1",
      "--out",
      out,
      "--cpu-label",
      "cortex-a72",
      "--configs",
      "psci-0.2,psci-0.1",
    ]);
    const p = readProfile(fs.readFileSync(out, "utf8"));
    assert.equal(p.host.cpuLabel, "cortex-a72");
    assert.deepEqual(
      p.configs.map((c) => c.name),
      ["psci-0.2", "psci-0.1"],
    );
    assert.deepEqual(fs.readdirSync(dir), ["p.json"]); // no temp file left behind
    assert.match(r.stderr, /^guestabi: probe: kernel 6\.1\.0-99-arm64, 2 configurations/);
    assert.match(r.stderr, /guestabi: probe: wrote .*p\.json \(\d+\.\d\d MB\) in/);
    assert.equal(r.fakes[0]!.vms.size, 0);
  });

  it("rejects bad options before touching KVM", async () => {
    await assert.rejects(cli(["probe", "--sim", "x", "--configs", "psci-9"]), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /unknown configuration 'psci-9' \(known: psci-0\.2, psci-0\.2\+pmu, /);
      return true;
    });
    await assert.rejects(cli(["probe", "--sim", "x", "--cpu-label", "a b"]), /bad --cpu-label 'a b'/);
  });

  it("fails with one line and exit code 1 when KVM fails mid-probe, writing nothing", async () => {
    const dir = tmp();
    const out = path.join(dir, "p.json");
    const r = await cli(["probe", "--sim", "x", "--quiet", "--out", out], {
      failOp: { op: "KVM_CREATE_VCPU", nth: 2, errno: "ENOMEM" },
    });
    assert.equal(r.exitCode, 1);
    assert.match(
      r.stderr,
      /^guestabi: probe psci-0\.2: KVM_CREATE_VCPU: ENOMEM \(cannot allocate memory\)\n$/,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(r.fakes[0]!.vms.size, 0);
  });

  it("without KVM, fails with the backend's one-line reason", async () => {
    const reason = await openLinuxKvm().then(
      (s) => (s.close(), undefined),
      (e: Error) => e.message,
    );
    if (!reason) return; // a host with KVM: nothing to check here
    const program = new Command("guestabi").exitOverride();
    registerProbeCommands(program);
    await assert.rejects(program.parseAsync(["node", "guestabi", "probe", "--out", "-"]), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, reason);
      return true;
    });
  });
});

describe("guestabi restore-trial", () => {
  it("replays a profile's saved state on the backend and writes the result", async () => {
    const dir = tmp();
    const from = path.join(dir, "old.json");
    fs.writeFileSync(from, serializeProfile(fakeProfile()));
    const out = path.join(dir, "trial.json");
    await cli(["restore-trial", "--sim", "x", "--from", from, "--out", out]);
    const doc = readRestoreTrial(fs.readFileSync(out, "utf8"));
    assert.equal(doc.trials[0]!.from.source, from);
    assert.equal(doc.trials[0]!.init, "ok");
  });

  it("refuses unreadable or invalid profiles in one line, before opening a backend", async () => {
    const dir = tmp();
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ format: "guestabi-host-profile", version: 7 }));
    await assert.rejects(cli(["restore-trial", "--sim", "x", "--from", bad]), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(
        e.message,
        `${bad}: unsupported guestabi-host-profile version 7 (this guestabi reads version 1)`,
      );
      return true;
    });
    await assert.rejects(
      cli(["restore-trial", "--sim", "x", "--from", path.join(dir, "none.json")]),
      /cannot read .*none\.json: ENOENT/,
    );
  });
});
