/**
 * export firecracker / export firecracker-remove-regs (and the older export-firecracker) as a user runs
 * them: a separate process, files in a temp dir, exit codes, stdout and stderr, through the built CLI.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { baseline } from "../check/baseline.js";
import { n1Profile, savedSnapshot } from "../check/testing/sim-profiles.js";
import { serializeProfile } from "../formats/profile.js";
import { formatSnapshotJson } from "../formats/snapshot.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { formatTemplateJson } from "../formats/template.js";
import { checkFirecrackerTemplate } from "../vmm/firecracker-template-rules.js";
import { guestabi } from "./testing.js";

let dir = "";
const f = (name: string) => path.join(dir, name);

interface FcTemplate {
  kvm_capabilities: string[];
  vcpu_features: { index: number; bitmap: string }[];
  reg_modifiers: { addr: string; bitmap: string }[];
}

describe("guestabi export firecracker / firecracker-remove-regs", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-export-"));
    const [p510, p61, p72] = (["5.10", "6.1", "7.2"] as const).map(n1Profile);
    fs.writeFileSync(f("p510.json"), serializeProfile(p510!));
    fs.writeFileSync(f("p61.json"), serializeProfile(p61!));
    fs.writeFileSync(f("p72.json"), serializeProfile(p72!));
    fs.writeFileSync(f("vm72.json"), formatSnapshotJson(savedSnapshot(p72!)));
    fs.writeFileSync(f("vm61.bin"), encodeSnapshotBinary(savedSnapshot(p61!)));
    const t = baseline([p61!, p72!]).template;
    fs.writeFileSync(f("t.json"), formatTemplateJson(t));
    // The same template with SVE, which neither Neoverse N1 host has.
    fs.writeFileSync(
      f("t-sve.json"),
      formatTemplateJson({ ...t, features: [...t.features, 4], sveVqs: [1] }),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("export firecracker --hosts: the template for both hosts, notes on stderr (exit 0)", () => {
    const r = guestabi([
      "export",
      "firecracker",
      f("t.json"),
      "--hosts",
      f("p61.json"),
      f("p72.json"),
      "--out",
      f("fc.json"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    assert.ok(
      lines.every((l) => l.startsWith("guestabi: export firecracker: note: ")),
      r.stderr,
    );
    assert.match(
      lines[0]!,
      /^guestabi: export firecracker: note: PMU_V3 left out: Firecracker refuses it at boot/,
    );
    assert.ok(
      lines.some((l) =>
        l.startsWith(
          "guestabi: export firecracker: note: KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) left out: not listed by " +
            f("p61.json"),
        ),
      ),
    );
    const text = fs.readFileSync(f("fc.json"), "utf8");
    const fc = JSON.parse(text) as FcTemplate;
    assert.deepEqual(fc.kvm_capabilities, []);
    assert.deepEqual(fc.vcpu_features, [{ index: 0, bitmap: "0b00000010x" }]);
    assert.equal(
      fc.reg_modifiers.some((m) => m.addr === "0x6030000000160003"),
      false,
    );
    assert.deepEqual(checkFirecrackerTemplate(text).violations, []);
    // stdout by default, and the same under the older name; --quiet drops the notes.
    const out = guestabi([
      "export",
      "firecracker",
      f("t.json"),
      "--hosts",
      f("p61.json"),
      f("p72.json"),
      "--quiet",
    ]);
    assert.equal(out.code, 0);
    assert.equal(out.stderr, "");
    assert.equal(out.stdout, text);
    const alias = guestabi([
      "export-firecracker",
      f("t.json"),
      "--hosts",
      f("p61.json"),
      f("p72.json"),
      "--quiet",
    ]);
    assert.equal(alias.code, 0);
    assert.equal(alias.stdout, text);
  });

  it("export firecracker without --hosts: the hosts the template records, by kernel generation", () => {
    const r = guestabi(["export", "firecracker", f("t.json")]);
    assert.equal(r.code, 0, r.stderr);
    const fc = JSON.parse(r.stdout) as FcTemplate;
    assert.equal(
      fc.reg_modifiers.some((m) => m.addr === "0x6030000000160003"),
      false,
    );
    assert.match(
      r.stderr,
      /\nguestabi: export firecracker: note: ID registers written in full: without every target host's profile \(--hosts\) nothing tells which bits a host keeps \(x\)\n/,
    );
  });

  it("a template Firecracker's rules refuse on a target host: written, each refusal on stderr, exit 1", () => {
    const r = guestabi(["export", "firecracker", f("t-sve.json"), "--hosts", f("p61.json"), "--quiet"]);
    assert.equal(r.code, 1);
    assert.deepEqual((JSON.parse(r.stdout) as FcTemplate).kvm_capabilities, ["170"]);
    assert.deepEqual(r.stderr.trimEnd().split("\n"), [
      `guestabi: export firecracker: ${f("p61.json")}: Firecracker refuses it at kvm_capabilities: KVM_CAP_ARM_SVE: Start microvm error: Kvm error: Missing KVM capabilities: 0xaa`,
      `guestabi: export firecracker: ${f("p61.json")}: Firecracker refuses it at vcpu_features: Start microvm error: System configuration error: Error creating vcpu configuration: Error initializing the vcpu: Error initializing the vcpu: Invalid argument (os error 22)`,
    ]);
  });

  it("export firecracker-remove-regs: the snapshot-editor command (exit 0), or what cannot go (exit 1)", () => {
    const ok = guestabi([
      "export",
      "firecracker-remove-regs",
      f("vm72.json"),
      "--host",
      f("p61.json"),
      "--vmstate-path",
      "snap/vmstate",
      "--output-path",
      "snap/vmstate.61",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr, "");
    assert.match(ok.stdout, /^15 registers .*p61\.json does not list, safe to remove:\n/);
    assert.ok(
      ok.stdout.endsWith(
        "\nsnapshot-editor edit-vmstate remove-regs --vmstate-path snap/vmstate --output-path snap/vmstate.61 " +
          "0x6020000000110003 0x6020000000110004 0x6020000000110005 0x6020000000110006 0x6020000000110007 " +
          "0x6020000000110008 0x6020000000110009 0x602000000011000a 0x602000000011000b 0x602000000011000c " +
          "0x602000000011000d 0x603000000013df01 0x603000000013df11 0x603000000013df12 0x6030000000160003\n\n" +
          "9 other incompatible verdicts (guestabi check lists them)\n",
      ),
      ok.stdout,
    );
    const bad = guestabi([
      "export",
      "firecracker-remove-regs",
      f("vm61.bin"),
      "--host",
      f("p510.json"),
      "--json",
    ]);
    assert.equal(bad.code, 1);
    const plan = JSON.parse(bad.stdout) as {
      remove: { id: string }[];
      unsafe: { id: string }[];
      command: string;
    };
    assert.deepEqual(
      plan.unsafe.map((u) => u.id),
      ["0x603000000013808c", "0x6030000000160000", "0x6030000000160002"],
    );
    assert.equal(
      plan.command,
      "snapshot-editor edit-vmstate remove-regs --vmstate-path VMSTATE_PATH --output-path OUTPUT_PATH 0x6030000000160001",
    );
  });

  it("export qemu: the options of that QEMU, or the registers no option of it can fix (exit 1)", () => {
    const r111 = guestabi(["export", "qemu", f("t.json"), "--hosts", f("p61.json"), f("p72.json")]);
    assert.equal(r111.code, 1, r111.stderr);
    assert.match(r111.stdout, /^QEMU 11\.1: no option makes every listed host load a VM of the template\n/);
    assert.match(r111.stdout, /kvm-psci-version=1\.1: PSCI 1\.1 on every host/);
    assert.match(r111.stdout, /^blocking:\n {2}ID_AA64DFR0_EL1 \(0x603000000013c028\) on .*p72\.json: /m);
    const r72 = guestabi([
      "export",
      "qemu",
      f("t.json"),
      "--hosts",
      f("p61.json"),
      f("p72.json"),
      "--qemu",
      "7.2",
      "--json",
    ]);
    assert.equal(r72.code, 1, r72.stderr);
    const json = JSON.parse(r72.stdout) as {
      ok: boolean;
      options: unknown[];
      blocking: { register: string }[];
    };
    assert.equal(json.ok, false);
    assert.deepEqual(json.options, []); // 7.2 has no kvm-psci-version
    assert.ok(json.blocking.some((b) => b.register === "KVM_REG_ARM_PSCI_VERSION"));
  });

  it("bad input: one line on stderr, exit 2, nothing on stdout, nothing written", () => {
    const cases: [string[], RegExp][] = [
      [
        ["export", "firecracker", f("p61.json"), "--out", f("never.json")],
        /^guestabi: .*p61\.json: not a guestabi ABI template/,
      ],
      [
        ["export", "firecracker", f("t.json"), "--hosts", f("missing.json"), "--out", f("never.json")],
        /^guestabi: cannot read .*missing\.json: ENOENT\n$/,
      ],
      [
        ["export", "firecracker", f("t.json"), "--hosts", f("vm72.json"), "--out", f("never.json")],
        /^guestabi: .*vm72\.json: not a guestabi-host-profile document/,
      ],
      [
        ["export", "firecracker-remove-regs", f("vm72.json")],
        /^guestabi: required option '--host <profile>' not specified\n$/,
      ],
      [["export", "firecracker-remove-regs", f("t.json"), "--host", f("p61.json")], /^guestabi: .*t\.json: /],
      [
        ["export", "qemu", f("t.json")],
        /^guestabi: required option '--hosts <profiles...>' not specified\n$/,
      ],
      [
        ["export", "qemu", f("t.json"), "--hosts", f("p61.json"), "--qemu", "9.2"],
        /^guestabi: option '--qemu <version>' argument '9\.2' is invalid\. Allowed choices are 7\.2, 10\.0, 11\.1\.\n$/,
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
  });
});
