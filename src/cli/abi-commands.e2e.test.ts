/**
 * check / baseline / certify / export-firecracker as a user runs them: a separate process, files in a
 * temp dir, exit codes, stdout and stderr, through the built CLI.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { baseline } from "../check/baseline.js";
import { serializeProfile } from "../formats/profile.js";
import { formatTemplateJson } from "../formats/template.js";
import { formatSnapshotJson } from "../formats/snapshot.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { savedSnapshot, simProfile } from "../check/testing/sim-profiles.js";
import { guestabi } from "./testing.js";

const CONFIGS = ["psci-0.2", "psci-0.2+pmu"];
let dir = "";
const f = (name: string) => path.join(dir, name);

describe("guestabi check / baseline / certify / export-firecracker", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-abi-"));
    const p61 = simProfile("6.1", "neoverse-n1", CONFIGS);
    const p72 = simProfile("7.2", "neoverse-n1", CONFIGS);
    fs.writeFileSync(f("p61.json"), serializeProfile(p61));
    fs.writeFileSync(f("p72.json"), serializeProfile(p72));
    fs.writeFileSync(f("p510.json"), serializeProfile(simProfile("5.10", "neoverse-n1", CONFIGS)));
    const other = structuredClone(p61);
    other.host.release = "4.19.0-27-arm64";
    other.host.generation = null;
    fs.writeFileSync(f("p419.json"), serializeProfile(other));
    fs.writeFileSync(f("corrupt.json"), serializeProfile(p61).slice(0, 5000));
    fs.writeFileSync(f("vm72.json"), formatSnapshotJson(savedSnapshot(p72)));
    fs.writeFileSync(f("vm72.bin"), encodeSnapshotBinary(savedSnapshot(p72)));
    fs.writeFileSync(f("t.json"), formatTemplateJson(baseline([p61, p72]).template));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("baseline writes the template and reports what each host gives up (exit 0)", () => {
    const r = guestabi(["baseline", f("p61.json"), f("p72.json"), "--out", f("t2.json")]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^baseline of 2 hosts: features PSCI_0_2, PMU_V3, \d+ ID registers, 8 firmware registers/,
    );
    // 6.1: the bitmap it lacks, and CTR_EL0, whose guest reads the CPU's own value (IDC 0), not the register.
    assert.match(r.stdout, /p61\.json gives up 2:\n/);
    assert.match(
      r.stdout,
      /\ntolerated {2}CTR_EL0 +the guest reads this CPU's own CTR_EL0 here, 0x8444c004, not 0x9444c004 \(IDC differs\)/,
    );
    assert.match(r.stdout, /\nevery host can honour the template\n$/);
    const t = JSON.parse(fs.readFileSync(f("t2.json"), "utf8")) as { format: string; features: string[] };
    assert.equal(t.format, "guestabi-abi-template");
    assert.deepEqual(t.features, ["PSCI_0_2", "PMU_V3"]);
    const j = guestabi(["baseline", f("p61.json"), f("p72.json"), "--json"]);
    assert.equal(j.code, 0);
    const doc = JSON.parse(j.stdout) as {
      compatible: boolean;
      unhonourable: unknown[];
      giveUps: { host: string }[];
    };
    assert.equal(doc.compatible, true);
    assert.deepEqual(doc.unhonourable, []);
    assert.deepEqual(
      doc.giveUps.map((g) => g.host),
      [f("p61.json"), f("p72.json")],
    );
  });

  it("check: exit 0 when compatible, 1 when not, incompatible verdicts first", () => {
    const ok = guestabi(["check", f("t.json"), "--host", f("p72.json"), "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { compatible: boolean }).compatible, true);
    const bad = guestabi(["check", f("t.json"), "--host", f("p510.json")]);
    assert.equal(bad.code, 1);
    const lines = bad.stdout.split("\n");
    // The probe measured the machine pins (GICD_IIDR, GITS_IIDR, PMCR_EL0.N); one verdict rests on a rule.
    assert.match(
      lines[0]!,
      /on .*p510\.json: INCOMPATIBLE \(\d+ incompatible, \d+ tolerated, \d+ ok; not measured: 1 inferred\)$/,
    );
    // The EVIDENCE column shows only where a listed verdict was not measured.
    assert.match(lines[1]!, /^LEVEL\s+REGISTER\s+FIELD\s+REASON$/);
    assert.match(lines[2]!, /^incompatible\s/);
    assert.match(
      bad.stdout,
      /incompatible\s+KVM_REG_ARM_PSCI_VERSION\s+the guest saw PSCI 1\.1; the destination accepts 0\.2, 1\.0 \(kvm_arm_set_fw_reg, as the probe's writes showed\): EINVAL/,
    );
    assert.match(bad.stdout, /\d+ verdicts ok \(--all lists them\)\n$/);
  });

  it("check reads snapshots, JSON and binary", () => {
    for (const vm of ["vm72.json", "vm72.bin"]) {
      const r = guestabi(["check", f(vm), "--host", f("p61.json")]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /incompatible\s+KVM_REG_ARM_PSCI_VERSION\s+the guest saw PSCI 1\.3/);
      assert.equal(guestabi(["check", f(vm), "--host", f("p72.json")]).code, 0);
    }
  });

  it("check takes a profile of a kernel guestabi does not model: 5.10's rules, vouched for by nothing", () => {
    const r = guestabi(["check", f("vm72.json"), "--host", f("p419.json")]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 1);
    assert.match(
      r.stdout.split("\n")[0]!,
      /on .*p419\.json: INCOMPATIBLE \(9 incompatible, 15 tolerated, 238 ok; not measured: 3 unknown\)$/,
    );
    assert.match(
      r.stdout,
      /\nincompatible\s+unknown\s+CCSIDR\[0\]\s+.*\(no modelled kernel covers 4\.19\.0-27-arm64; assumed: 5\.10 rule\)\n/,
    );
  });

  it("certify lists the hosts that can run it and groups the reasons (exit 1 when some cannot)", () => {
    const r = guestabi(["certify", f("t.json"), "--hosts", f("p61.json"), f("p72.json"), f("p510.json")]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /: runnable on 2 of 3 hosts\n {2}ok {7}.*p61\.json\n {2}ok {7}.*p72\.json\n {2}blocked {2}.*p510\.json \(\d+ incompatible\)\n/,
    );
    // Every reason measured (the probe's machine facts included): no EVIDENCE column.
    assert.match(r.stdout, /\nREGISTER\s+FIELD\s+HOSTS\s+REASON\n/);
    assert.match(
      r.stdout,
      /\nGICD_IIDR\s+Revision\s+1\s+vgic_mmio_uaccess_write_v3_misc refuses revision 3 \(EINVAL\)/,
    );
    const j = guestabi(["certify", f("t.json"), "--hosts", f("p61.json"), f("p72.json"), "--json"]);
    assert.equal(j.code, 0);
    assert.deepEqual((JSON.parse(j.stdout) as { runnable: string[] }).runnable, [
      f("p61.json"),
      f("p72.json"),
    ]);
  });

  it("export-firecracker writes the custom CPU template, notes on stderr", () => {
    const r = guestabi(["export-firecracker", f("t.json"), "--out", f("fc.json")]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^guestabi: export-firecracker: note: PMU_V3 left out: Firecracker refuses it at boot/,
    );
    assert.match(r.stderr, /\nguestabi: export-firecracker: note: MIDR_EL1 left out/);
    const fc = JSON.parse(fs.readFileSync(f("fc.json"), "utf8")) as Record<string, unknown[]>;
    assert.deepEqual(Object.keys(fc), ["kvm_capabilities", "vcpu_features", "reg_modifiers"]);
    assert.deepEqual(fc.kvm_capabilities, []);
    assert.deepEqual(fc.vcpu_features, [{ index: 0, bitmap: "0b00000010x" }]);
  });

  it("bad input: one line on stderr, exit 2, nothing on stdout, nothing written", () => {
    const cases: [string[], RegExp][] = [
      [
        ["check", f("missing.json"), "--host", f("p61.json")],
        /^guestabi: cannot read .*missing\.json: ENOENT\n$/,
      ],
      [
        ["baseline", f("p61.json"), f("corrupt.json"), "--out", f("never.json")],
        /^guestabi: .*corrupt\.json: not JSON /,
      ],
      [
        ["check", f("p61.json"), "--host", f("p72.json")],
        /^guestabi: .*p61\.json: not a guestabi snapshot or ABI template \(format is "guestabi-host-profile"\), nor a QEMU, Firecracker or Cloud Hypervisor snapshot\n$/,
      ],
      [
        ["check", f("vm72.json"), "--host", f("vm72.json")],
        /^guestabi: .*vm72\.json: not a guestabi-host-profile document/,
      ],
      [
        ["export-firecracker", f("p61.json"), "--out", f("never.json")],
        /^guestabi: .*p61\.json: not a guestabi ABI template/,
      ],
      [
        ["certify", f("vm72.json")],
        /^guestabi: give the hosts: --hosts PROFILE\.\.\. or --db \[INVENTORY\]\n$/,
      ],
    ];
    for (const [args, err] of cases) {
      const r = guestabi(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, err);
      assert.equal(r.stderr.split("\n").length, 2, r.stderr);
    }
    assert.equal(fs.existsSync(f("never.json")), false);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.startsWith(".")),
      [],
    );
  });
});
