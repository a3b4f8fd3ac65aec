/**
 * `check --vmm`: the same VM, saved on a newer kernel pinned to its and an older kernel's baseline, judged
 * on the older kernel by each VMM's restore rules, as a user would run it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { guestabi } from "./testing.js";

describe("check --vmm: whose restore", () => {
  let dir = "";
  const f = (name: string) => path.join(dir, name);
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-vmm-"));
    for (const k of ["6.1", "7.2"])
      assert.equal(
        guestabi(["probe", "--sim", `${k}/neoverse-n1`, "--configs", "psci-0.2", "--out", f(`p${k}.json`)])
          .code,
        0,
      );
    assert.equal(guestabi(["baseline", f("p6.1.json"), f("p7.2.json"), "--out", f("t.json")]).code, 0);
    // A VM on the 7.2 host, pinned to the baseline: it still carries 7.2's VENDOR_HYP_BMAP_2 (at 0).
    assert.equal(
      guestabi(["save", "--sim", "7.2/neoverse-n1", "--template", f("t.json"), "--out", f("vm.bin")]).code,
      0,
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("guestabi's restore skips what the older kernel lacks where the guest cannot tell: compatible, exit 0", () => {
    const r = guestabi(["check", f("vm.bin"), "--host", f("p6.1.json")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: compatible \(0 incompatible, 15 tolerated/);
  });

  it("Firecracker sets every saved register in order: ENOENT on VENDOR_HYP_BMAP_2 ends its restore, exit 1", () => {
    const r = guestabi(["check", f("vm.bin"), "--host", f("p6.1.json"), "--vmm", "firecracker"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /^Firecracker refuses the restore at KVM_REG_ARM_VENDOR_HYP_BMAP_2: .*Failed to set register 0x6030000000160003 to value <saved value>: No such file or directory \(os error 2\)$/m,
    );
    const json = JSON.parse(
      guestabi(["check", f("vm.bin"), "--host", f("p6.1.json"), "--vmm", "firecracker", "--json"]).stdout,
    ) as {
      restore: { vmm: string; loads: boolean; register: string };
    };
    assert.deepEqual(
      { vmm: json.restore.vmm, loads: json.restore.loads, register: json.restore.register },
      { vmm: "firecracker", loads: false, register: "KVM_REG_ARM_VENDOR_HYP_BMAP_2" },
    );
  });

  it("QEMU 7.2 refuses the longer register list first: cpreg_vmstate_array_len, exit 1", () => {
    const r = guestabi(["check", f("vm.bin"), "--host", f("p6.1.json"), "--vmm", "qemu@7.2"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /^QEMU 7\.2 refuses the restore at VMM: Invalid value 182 expecting positive value <= 167 \| Failed to load cpu:cpreg_vmstate_array_len \|/m,
    );
  });

  it("an unknown VMM is bad input: one line, exit 2", () => {
    const r = guestabi(["check", f("vm.bin"), "--host", f("p6.1.json"), "--vmm", "qemu@9.9"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^guestabi: unknown VMM 'qemu@9\.9' \(known: guestabi, qemu@7\.2, qemu@10\.0, qemu@11\.1, firecracker, cloud-hypervisor, crosvm, qemu\)\n$/,
    );
    assert.equal(r.stdout, "");
  });
});
