import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { baseline } from "../check/baseline.js";
import { SimHosts } from "../fleet/fleet.js";
import { writeTemplateFile } from "../formats/template.js";
import { guestabi } from "./testing.js";

let dir = "";
const f = (name: string) => path.join(dir, name);
const CPU = "cortex-a72";

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-fleet-cli-"));
  const hosts = new SimHosts();
  const b = baseline([hosts.profile("6.12", CPU), hosts.profile("7.2", CPU)], { names: ["6.12", "7.2"] });
  await writeTemplateFile(f("base.json"), b.template);
  fs.writeFileSync(
    f("fleet.json"),
    JSON.stringify({
      format: "guestabi-fleet",
      version: 1,
      name: "cli",
      groups: [
        { name: "new", kernel: "7.2", cpu: CPU, hosts: 8 },
        { name: "lts", kernel: "6.12", cpu: CPU, hosts: 4 },
      ],
      vms: [
        { name: "unpinned", group: "new", count: 10, abi: "host-defaults" },
        { name: "pinned", group: "new", count: 6, template: "base.json" },
        { name: "lts-vm", group: "lts", count: 3, abi: "host-defaults" },
      ],
    }),
  );
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Bad input: one line on stderr, nothing on stdout, exit 2. */
function refused(args: string[], line: string): void {
  const r = guestabi(args);
  assert.deepEqual([r.code, r.stdout, r.stderr], [2, "", `guestabi: ${line}\n`], args.join(" "));
}

describe("guestabi impact", () => {
  const impact = ["impact", "--fleet", "", "--rollback", "new", "--to", "6.12"];
  before(() => (impact[2] = f("fleet.json")));

  it("answers from the profiles: the unpinned VMs break, in words; exit 0 without --fail-on", () => {
    const r = guestabi(impact);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        "rollback of group new (8 hosts, cortex-a72) from 7.2 to 6.12, VMs as described",
        "  8 hosts on 7.2 -> 6.12: the profile 4 hosts of the fleet run (lts)",
        "  16 VMs: 10 break, 0 see a change, 6 safe; 3 VMs of other groups unaffected",
        "",
        "  VMS       COUNT  STATUS  ABI            VMM       WHAT THE GUEST SEES; WHY",
        "  unpinned  10     breaks  host-defaults  guestabi  the guest sees PSCI 1.1 instead of 1.3; guestabi refuses: KVM_REG_ARM_PSCI_VERSION",
        "  pinned    6      safe    template       guestabi  nothing changes",
        "",
      ].join("\n"),
    );
  });

  it("--fail-on break: exit 1 with the report; pinned, none breaks: exit 0", () => {
    const r = guestabi([...impact, "--fail-on", "break"]);
    assert.deepEqual([r.code, r.stderr], [1, ""]);
    assert.match(r.stdout, /^rollback of group new /);
    const pinned = guestabi([...impact, "--mode", "pinned", "--fail-on", "guest-change", "--json"]);
    assert.deepEqual([pinned.code, pinned.stderr], [0, ""]);
    const doc = JSON.parse(pinned.stdout) as {
      format: string;
      version: number;
      counts: Record<string, number>;
    };
    assert.deepEqual([doc.format, doc.version], ["guestabi-impact", 2]);
    assert.deepEqual(doc.counts, { vms: 16, breaks: 0, guestViewChanges: 0, safe: 16, cannotStart: 0 });
  });

  it("--vmm: every VM restored by QEMU 11.1, its own error in JSON", () => {
    const r = guestabi([...impact, "--vmm", "qemu@11.1", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      vmm: string;
      entries: { names: string[]; restore: { error?: string } }[];
    };
    assert.equal(doc.vmm, "qemu@11.1");
    assert.equal(
      doc.entries.find((e) => e.names.includes("unpinned"))!.restore.error,
      "Could not set register fw reg 0 to 10003 (is 10001) | Failed to put registers after init: Invalid argument",
    );
  });

  it("bad input: one line, exit 2", () => {
    refused(
      ["impact", "--rollback", "new", "--to", "6.1"],
      "--fleet FILE or --db [INVENTORY] is needed (a guestabi-fleet JSON, an inventory)",
    );
    refused([...impact, "--fail-on", "always"], "bad --fail-on 'always' (break, guest-change)");
    refused(
      ["impact", "--fleet", f("fleet.json"), "--rollback", "new", "--to", "../6.1"],
      "bad kernel '../6.1' (a simulator kernel: 5.10, 5.10-amzn, 6.1, 6.1-amzn, 6.12, 6.18, 7.2, next; or a release, like 6.1.0-31-arm64)",
    );
    refused(
      ["impact", "--fleet", f("fleet.json"), "--rollback", "new", "--to", "4.19"],
      "no host runs 4.19 on cortex-a72, and 4.19 is not a simulator kernel (known: 5.10, 5.10-amzn, 6.1, 6.1-amzn, 6.12, 6.18, 7.2, next)",
    );
    refused([...impact, "--template", f("base.json")], "--template needs --mode pinned");
  });
});

describe("guestabi plan", () => {
  it("--out-dir writes the baselines it computed, atomically; refuses to replace them without --force", () => {
    const out = f("templates");
    const args = ["plan", "--fleet", f("fleet.json"), "--out-dir", out];
    const r = guestabi(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `guestabi: wrote 2 baseline templates to ${out}\n`);
    assert.deepEqual(fs.readdirSync(out).sort(), [
      "cortex-a72-psci-0.2-6.12+7.2.abi.json",
      "cortex-a72-psci-0.2.abi.json",
    ]);
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(out, "cortex-a72-psci-0.2.abi.json"), "utf8")).format,
      "guestabi-abi-template",
    );
    assert.match(
      r.stdout,
      /\n {2}roll new back to 6\.12: 16 of 16 VMs break with host defaults, 0 pinned to the baseline of 7\.2 and 6\.12: before the upgrade, pin new's VMs to cortex-a72-psci-0\.2-6\.12\+7\.2\.abi\.json; the guests give up: sees PSCI 1\.1 instead of 1\.3\n/,
    );
    const before = fs.statSync(path.join(out, "cortex-a72-psci-0.2.abi.json")).mtimeMs;
    refused(args, `${path.join(out, "cortex-a72-psci-0.2.abi.json")} exists (--force replaces it)`);
    assert.equal(fs.statSync(path.join(out, "cortex-a72-psci-0.2.abi.json")).mtimeMs, before);
    assert.equal(guestabi([...args, "--force"]).code, 0);
    refused(["plan", "--force"], "--force needs --out-dir");
    refused(
      ["plan", "--fleet", f("fleet.json"), "--out-dir", f("base.json")],
      `--out-dir ${f("base.json")} is not a directory`,
    );
  });

  it("--fail-on break: exit 1 when a VM as the fleet runs it would break in a rollback", () => {
    const r = guestabi(["plan", "--fleet", f("fleet.json"), "--fail-on", "break", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as { rollbacks: { asDescribed: { counts: Record<string, number> } }[] };
    assert.deepEqual(doc.rollbacks[0]!.asDescribed.counts, {
      vms: 16,
      breaks: 10,
      guestViewChanges: 0,
      safe: 6,
      cannotStart: 0,
    });
  });
});

describe("guestabi rollout", () => {
  it("upgrades the 4 hosts on 6.12 to 7.2 in 2 waves, rolls them back; the pair baseline wins", () => {
    const r = guestabi(["rollout", "--fleet", f("fleet.json"), "--to", "7.2", "--waves", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^guestabi rollout: fleet cli to 7\.2: 4 hosts in 2 waves \(8 hosts already on 7\.2, 16 VMs there stay\)\n/,
    );
    assert.match(r.stdout, /\n {2}upgrade wave 1 +2 +2 +0 break, 2 change, 2 split +/);
    assert.match(r.stdout, /\n {2}roll back waves 1-2 +4 +3 +3 break, 0 change +/);
    assert.match(
      r.stdout,
      /\nRECOMMENDATION\n {2}pinned per CPU model and kernel pair .*: 0 VM moves break and 0 see a change /,
    );
    const fail = guestabi([
      "rollout",
      "--fleet",
      f("fleet.json"),
      "--to",
      "7.2",
      "--waves",
      "2",
      "--fail-on",
      "break",
      "--json",
    ]);
    assert.equal(fail.code, 1, fail.stderr);
    assert.equal((JSON.parse(fail.stdout) as { format: string }).format, "guestabi-rollout");
  });

  it("bad input: one line, exit 2", () => {
    refused(
      ["rollout", "--fleet", f("fleet.json"), "--to", "7.2", "--waves", "0"],
      "bad --waves '0' (1..1000)",
    );
    refused(
      ["rollout", "--fleet", f("none.json"), "--to", "7.2", "--waves", "2"],
      `cannot read ${f("none.json")}: ENOENT`,
    );
  });
});
