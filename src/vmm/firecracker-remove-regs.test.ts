/** firecrackerRemoveRegs: what snapshot-editor may drop before Firecracker restores on an older host. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { n1Profile, savedSnapshot, withReg } from "../check/testing/sim-profiles.js";
import { FW_REGS } from "../kvm/index.js";
import { firecrackerRemoveRegs, formatRemoveRegs, removeRegsCommand } from "./firecracker-remove-regs.js";

const OSLSR = "0x603000000013808c";
const CCSIDR_UNIMPLEMENTED = Array.from(
  { length: 11 },
  (_, k) => "0x60200000001100" + (k + 3).toString(16).padStart(2, "0"),
);
const PTIMER = ["0x603000000013df01", "0x603000000013df11", "0x603000000013df12"];

describe("snapshot-editor remove-regs for a Firecracker restore", () => {
  const p510 = n1Profile("5.10");
  const p61 = n1Profile("6.1");
  const p72 = n1Profile("7.2");

  it("7.2 -> 6.1: every register 6.1 lacks is at a value a VM that never knew it has", () => {
    const plan = firecrackerRemoveRegs(savedSnapshot(p72), p61, { hostName: "p61" });
    assert.deepEqual(
      plan.remove.map((r) => r.id),
      [...CCSIDR_UNIMPLEMENTED, ...PTIMER, "0x6030000000160003"],
    );
    assert.deepEqual(plan.unsafe, []);
    assert.equal(plan.host, "p61");
    const bmap2 = plan.remove.at(-1)!;
    assert.deepEqual(bmap2, {
      register: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
      id: "0x6030000000160003",
      reason: "its services are fixed there: the guest probe saw 0x0, the VM has 0x0",
    });
  });

  it("a bitmap the VM set to services the destination lacks is not safe to drop", () => {
    const s = withReg(savedSnapshot(p72), FW_REGS.VENDOR_HYP_BMAP_2, 1n);
    const plan = firecrackerRemoveRegs(s, p61);
    assert.equal(
      plan.remove.some((r) => r.id === "0x6030000000160003"),
      false,
    );
    assert.deepEqual(
      plan.unsafe.map((r) => r.id),
      ["0x6030000000160003"],
    );
    assert.match(
      plan.unsafe[0]!.reason,
      /^its services are fixed there: the guest probe saw 0x0, the VM has 0x1 \(/,
    );
  });

  it("6.1 -> 5.10: OSLSR_EL1 is safe only with the source's reset values (--source-profile)", () => {
    const without = firecrackerRemoveRegs(savedSnapshot(p61), p510);
    assert.deepEqual(
      without.remove.map((r) => r.id),
      ["0x6030000000160001"],
    );
    assert.deepEqual(
      without.unsafe.map((r) => r.id),
      [OSLSR, "0x6030000000160000", "0x6030000000160002"],
    );
    const withSource = firecrackerRemoveRegs(savedSnapshot(p61), p510, { sourceProfile: p61 });
    assert.deepEqual(
      withSource.remove.map((r) => r.id),
      [OSLSR, "0x6030000000160001"],
    );
    assert.equal(
      withSource.remove[0]!.reason,
      "the VM has 0x8, what a VM that never knew it has (the source profile's reset value): the restore skips it",
    );
    assert.ok(withSource.otherIncompatible > 0);
  });

  it("the snapshot-editor command (edit_vmstate.rs RemoveRegs), paths quoted for the shell", () => {
    assert.equal(
      removeRegsCommand(["0x6030000000160003", "0x603000000013df01"], "snap/vmstate", "my out/vmstate's"),
      "snapshot-editor edit-vmstate remove-regs --vmstate-path snap/vmstate --output-path 'my out/vmstate'\\''s' 0x6030000000160003 0x603000000013df01",
    );
  });

  it("text: the registers, the command, what cannot go; nothing to do between equal lists", () => {
    const plan = firecrackerRemoveRegs(savedSnapshot(p61), p510, { hostName: "p510", sourceProfile: p61 });
    const text = formatRemoveRegs(plan, "vmstate", "vmstate.new");
    assert.equal(
      text.split("\n").slice(0, 4).join("\n"),
      [
        "2 registers p510 does not list, safe to remove:",
        `  ${OSLSR}  OSLSR_EL1: the VM has 0x8, what a VM that never knew it has (the source profile's reset value): the restore skips it`,
        "  0x6030000000160001  KVM_REG_ARM_STD_HYP_BMAP: its services are fixed there: the guest probe saw 0x1, the VM has 0x1",
        "",
      ].join("\n"),
    );
    assert.ok(
      text.includes(
        `\nsnapshot-editor edit-vmstate remove-regs --vmstate-path vmstate --output-path vmstate.new ${OSLSR} 0x6030000000160001\n`,
      ),
    );
    assert.ok(text.includes("\n2 registers p510 does not list that the guest would miss (not removed):\n"));
    assert.equal(
      formatRemoveRegs(firecrackerRemoveRegs(savedSnapshot(p61), p72, { hostName: "p72" }), "a", "b"),
      "nothing to remove: p72 lists every register the snapshot carries\n",
    );
  });
});
