import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { POLICIES, UnknownVmmError, VMM_NAMES, vmmPolicy } from "./policies.js";

describe("the --vmm names", () => {
  it("are the policies' ids, in order, and qemu", () => {
    assert.deepEqual(VMM_NAMES, [
      "guestabi",
      "qemu@7.2",
      "qemu@10.0",
      "qemu@11.1",
      "firecracker",
      "cloud-hypervisor",
      "crosvm",
      "qemu",
    ]);
    assert.deepEqual([...POLICIES.map((p) => p.id), "qemu"], VMM_NAMES);
  });

  it("name their policy; qemu is the newest QEMU's; another name is refused with the list", () => {
    assert.equal(vmmPolicy("crosvm").id, "crosvm");
    assert.equal(vmmPolicy("qemu").id, "qemu@11.1");
    assert.throws(
      () => vmmPolicy("kvmtool"),
      (e) =>
        e instanceof UnknownVmmError &&
        e.message ===
          "unknown VMM 'kvmtool' (known: guestabi, qemu@7.2, qemu@10.0, qemu@11.1, firecracker, cloud-hypervisor, crosvm, qemu)",
    );
  });
});
