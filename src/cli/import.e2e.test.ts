/**
 * guestabi import as a user runs it: Firecracker's nine public fingerprints, a template dump and a
 * guestabi profile become host profiles that check, certify and baseline take (6.18 included); bad
 * input is one line, exit 2, and nothing written.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { simProfile } from "../check/testing/sim-profiles.js";
import { serializeProfile } from "../formats/profile.js";
import { FINGERPRINT_FIXTURES } from "../vmm/testing/firecracker-fixtures.js";
import { guestabi, refusal } from "./testing.js";
import type { CliResult } from "./testing.js";

let dir = "";
const f = (...names: string[]) => path.join(dir, ...names);
const profileOf = (cpu: string, kernel: string) =>
  f("profiles", `fingerprint_ARM_NEOVERSE_${cpu}_${kernel}host.profile.json`);
const ALL_PROFILES = () => FINGERPRINT_FIXTURES.map((x) => profileOf(x.cpu, x.kernel));

/** A template dump: `template dump` writes the guest_cpu_config a fingerprint holds. */
const templateDump = (text: string) =>
  JSON.stringify((JSON.parse(text) as { guest_cpu_config: unknown }).guest_cpu_config, null, 2);

/** Every file under `sub`, with its content: what "nothing written" compares. */
function tree(sub: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(f(sub), { recursive: true }) as string[]) {
    const p = f(sub, name);
    if (fs.lstatSync(p).isFile()) out[name] = fs.readFileSync(p, "utf8");
  }
  return out;
}

/** A verdict command's run: it answered (exit 0 yes, 1 no), never refused its input. */
function answered(r: CliResult): CliResult {
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr, "");
  return r;
}

describe("guestabi import", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-import-"));
    fs.mkdirSync(f("in"));
    fs.mkdirSync(f("out"));
    const v1 = FINGERPRINT_FIXTURES.find((x) => x.cpu === "V1" && x.kernel === "6.1")!;
    fs.writeFileSync(f("in", "v1-6.1-dump.json"), templateDump(v1.text));
    fs.writeFileSync(
      f("in", "handmade.json"),
      JSON.stringify({ reg_modifiers: [{ addr: "0x603000000013c020", bitmap: "0bxxxx0001" }] }),
    );
    fs.writeFileSync(f("in", "broken.json"), '{"reg_modifiers": [');
    fs.writeFileSync(
      f("in", "sim-6.12.json"),
      serializeProfile(simProfile("6.12", "neoverse-n1", ["psci-0.2"])),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("turns the nine public fingerprints into profiles, one line each", () => {
    const r = guestabi(["import", ...FINGERPRINT_FIXTURES.map((x) => x.path), "--out-dir", f("profiles")]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    const release = {
      "5.10": "5.10.255-253.1008.amzn2.aarch64",
      "6.1": "6.1.172-216.329.amzn2023.aarch64",
      "6.18": "6.18.30-61.116.amzn2023.aarch64",
    };
    const regs = { "5.10": 312, "6.1": 242, "6.18": 254 };
    assert.deepEqual(r.stdout.split("\n"), [
      ...FINGERPRINT_FIXTURES.map(
        (x) =>
          `wrote ${profileOf(x.cpu, x.kernel)}: ${release[x.kernel]}, ${regs[x.kernel]} registers (+3 omitted), evidence firecracker-fingerprint`,
      ),
      "",
    ]);
    const doc = JSON.parse(fs.readFileSync(profileOf("N1", "6.18"), "utf8")) as {
      host: unknown;
      kvm: unknown;
      evidence: { source: string };
      configs: { name: string; features: string[]; omitted: string[] }[];
    };
    assert.deepEqual(doc.host, { release: release["6.18"], generation: null, cpuLabel: null, facts: null });
    assert.equal(doc.kvm, null);
    assert.equal(doc.evidence.source, "firecracker-fingerprint");
    assert.deepEqual(
      doc.configs.map((c) => [c.name, c.features, c.omitted]),
      [["psci-0.2", ["PSCI_0_2"], ["0x6030000000100040", "0x603000000013df1a", "0x603000000013df01"]]],
    );
  });

  it("baseline, check and certify give verdicts on the imported profiles, 6.18 included", () => {
    const b = answered(
      guestabi(["baseline", profileOf("N1", "5.10"), profileOf("N1", "6.18"), "--out", f("n1.abi.json")]),
    );
    assert.match(
      b.stdout,
      /^baseline of 2 hosts: features PSCI_0_2, \d+ ID registers, \d+ firmware registers/,
    );
    assert.ok(fs.existsSync(f("n1.abi.json")));
    for (const host of [profileOf("N1", "5.10"), profileOf("N1", "6.18")]) {
      const c = answered(guestabi(["check", f("n1.abi.json"), "--host", host, "--json"]));
      const report = JSON.parse(c.stdout) as {
        host: string;
        compatible: boolean;
        verdicts: { level: string; evidence: string; reason: string }[];
      };
      assert.equal(report.host, host);
      // A fingerprint measures no write rule: some verdicts rest on a generation's rules, and for the
      // 6.18 kernel (no modelled generation) they say which one they assumed.
      const inferred = report.verdicts.filter((v) => v.evidence === "inferred");
      assert.ok(inferred.length > 0);
      if (host.includes("6.18"))
        assert.ok(
          inferred.every((v) => v.reason.endsWith("(assumed: 6.12 rule)")),
          inferred[0]?.reason,
        );
      assert.equal(c.code, report.compatible ? 0 : 1);
      assert.ok(report.verdicts.length > 200, `${report.verdicts.length} verdicts`);
      assert.match(
        answered(guestabi(["check", f("n1.abi.json"), "--host", host])).stdout,
        /: (compatible|INCOMPATIBLE) \(\d+ incompatible, \d+ tolerated, \d+ ok; not measured: \d+ inferred\)\n/,
      );
    }
    const all = answered(guestabi(["baseline", ...ALL_PROFILES(), "--json"]));
    assert.equal((JSON.parse(all.stdout) as { giveUps: unknown[] }).giveUps.length, 9);
    const cert = answered(guestabi(["certify", f("n1.abi.json"), "--hosts", ...ALL_PROFILES()]));
    assert.match(cert.stdout, /^.*n1\.abi\.json: runnable on \d of 9 hosts\n/);
    for (const p of ALL_PROFILES())
      assert.match(cert.stdout, new RegExp(`  (ok|blocked) +${p.replace(/[.]/g, "\\.")}`));
  });

  it("imports a template dump with --release and a guestabi profile, both usable by check", () => {
    const dump = guestabi([
      "import",
      f("in", "v1-6.1-dump.json"),
      "--out-dir",
      f("out"),
      "--release",
      "6.1.172-216.329.amzn2023.aarch64",
    ]);
    assert.equal(dump.stderr, "");
    assert.equal(dump.code, 0);
    assert.equal(
      dump.stdout,
      `wrote ${f("out", "v1-6.1-dump.profile.json")}: 6.1.172-216.329.amzn2023.aarch64, 242 registers (+3 omitted), evidence firecracker-template\n`,
    );
    // --release is a template dump's kernel: a file that records another one is refused.
    assert.equal(
      refusal(guestabi(["import", f("in", "sim-6.12.json"), "--out-dir", f("out"), "--release", "6.1.0"])),
      `${f("in", "sim-6.12.json")}: the profile records kernel 6.12.0-sim-arm64, --release says 6.1.0`,
    );
    const r = guestabi([
      "import",
      f("in", "sim-6.12.json"),
      "--out-dir",
      f("out"),
      "--cpu-label",
      "graviton3",
    ]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      `wrote ${f("out", "sim-6.12.profile.json")}: 6.12.0-sim-arm64, 259 registers, evidence guestabi-profile\n`,
    );
    const sim = JSON.parse(fs.readFileSync(f("out", "sim-6.12.profile.json"), "utf8")) as {
      host: { cpuLabel: string };
      evidence: unknown;
    };
    assert.equal(sim.host.cpuLabel, "graviton3");
    assert.deepEqual(sim.evidence, {
      source: "guestabi-profile",
      from: "sim-6.12.json: guestabi test host profile (backend sim, probed 2030-01-02T03:04:05.000Z)",
      notMeasured: [],
    });
    answered(guestabi(["check", f("n1.abi.json"), "--host", f("out", "v1-6.1-dump.profile.json")]));
    answered(guestabi(["check", f("n1.abi.json"), "--host", f("out", "sim-6.12.profile.json")]));
  });

  it("refuses bad input with one line, exit 2, and writes nothing (a bad third file included)", () => {
    fs.mkdirSync(f("empty"));
    const before = tree("empty");
    const fp = (i: number) => FINGERPRINT_FIXTURES[i]!.path;
    const bad: [string[], string][] = [
      [[fp(0), fp(1), f("in", "broken.json")], `${f("in", "broken.json")}: not JSON (`],
      [
        [fp(0), f("in", "handmade.json")],
        `${f("in", "handmade.json")}: reg_modifiers[0] (ID_AA64PFR0_EL1) leaves bits to KVM ('x' or a short bitmap): a CPU template that sets only some bits modifies a host, it does not describe one`,
      ],
      [
        [f("in", "v1-6.1-dump.json")],
        `${f("in", "v1-6.1-dump.json")}: a template dump does not record its kernel: give the host's 'uname -r' with --release`,
      ],
      [[fp(0), f("in", "missing.json")], `cannot read ${f("in", "missing.json")}: ENOENT`],
      [["/dev/zero"], "/dev/zero: more than 16 MiB, the limit for a Firecracker dump or host profile"],
      [
        [fp(0), "--release", "6.1 rc"],
        "bad --release '6.1 rc' (what 'uname -r' prints, like 6.1.0-31-arm64)",
      ],
      [
        [fp(0), fp(0)],
        `${fp(0)} and ${fp(0)} would both be written to ${f("empty", "fingerprint_ARM_NEOVERSE_N1_5.10host.profile.json")}`,
      ],
    ];
    for (const [args, message] of bad) {
      const line = refusal(guestabi(["import", ...args, "--out-dir", f("empty")]));
      assert.ok(line.startsWith(message), `${line}\n  expected: ${message}`);
      assert.deepEqual(tree("empty"), before);
    }
    assert.equal(
      refusal(guestabi(["import", fp(0), "--out-dir", f("in", "broken.json")])),
      `--out-dir ${f("in", "broken.json")} is not a directory`,
    );
  });

  it("replaces an existing output only with --force, and never an input or a FIFO", () => {
    const out = profileOf("N1", "5.10");
    const old = fs.readFileSync(out, "utf8");
    const fp = FINGERPRINT_FIXTURES[0]!.path;
    assert.equal(
      refusal(guestabi(["import", fp, "--out-dir", f("profiles")])),
      `${out} exists (--force replaces it)`,
    );
    assert.equal(fs.readFileSync(out, "utf8"), old);
    const forced = guestabi(["import", fp, "--out-dir", f("profiles"), "--force", "--json"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(JSON.parse(forced.stdout), [
      {
        input: fp,
        output: out,
        release: "5.10.255-253.1008.amzn2.aarch64",
        config: "psci-0.2",
        configs: 1,
        registers: 312,
        omitted: 3,
        evidence: "firecracker-fingerprint",
      },
    ]);

    // An output that is an input (here through a symlink) is refused even with --force.
    fs.mkdirSync(f("linked"));
    fs.symlinkSync(f("in", "sim-6.12.json"), f("linked", "sim-6.12.profile.json"));
    assert.equal(
      refusal(guestabi(["import", f("in", "sim-6.12.json"), "--out-dir", f("linked"), "--force"])),
      `cannot write ${f("linked", "sim-6.12.profile.json")}: it is the input ${f("in", "sim-6.12.json")}, refusing to replace it`,
    );
    fs.mkdirSync(f("fifo"));
    spawnSync("mkfifo", [f("fifo", "sim-6.12.profile.json")]);
    assert.equal(
      refusal(guestabi(["import", f("in", "sim-6.12.json"), "--out-dir", f("fifo"), "--force"])),
      `cannot write ${f("fifo", "sim-6.12.profile.json")}: it is a FIFO, not a regular file`,
    );
  });
});
