import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { POLICIES, UnknownVmmError, VMM_NAMES, vmmPolicy } from "./policies.js";
import { unknownVmmMessage } from "./vmm-names.js";

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

  it("a name in VMM_NAMES (what the command line checks --vmm against) has a policy; any other is refused (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...VMM_NAMES), fc.string({ maxLength: 20 })), (name) => {
        if (VMM_NAMES.includes(name)) assert.ok(POLICIES.includes(vmmPolicy(name)));
        else
          assert.throws(
            () => vmmPolicy(name),
            (e) => e instanceof UnknownVmmError && e.message === unknownVmmMessage(name),
          );
      }),
    );
  });
});
