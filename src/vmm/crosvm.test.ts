import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fillError } from "../check/restore-policy.js";
import { CROSVM_POLICY } from "./crosvm.js";

describe("crosvm's restore policy", () => {
  it("does not save the 0x16 firmware bitmaps nor SVE state; everything else is written back", () => {
    assert.equal(CROSVM_POLICY.id, "crosvm");
    assert.equal(CROSVM_POLICY.label, "crosvm");
    assert.deepEqual(
      CROSVM_POLICY.unsaved.map((g) => g.coproc),
      [0x16, 0x15], // KVM_REG_ARM_FW_FEAT_BMAP, KVM_REG_ARM64_SVE
    );
    assert.match(
      CROSVM_POLICY.unsaved[0]!.why,
      /the restored guest sees the destination's hypercall services/,
    );
    assert.equal(CROSVM_POLICY.count, undefined);
    assert.equal(CROSVM_POLICY.writableImpIdRegs, false);
  });

  it("aborts on the first register the destination lacks or refuses", () => {
    assert.equal(CROSVM_POLICY.missing.action, "abort");
    assert.equal(CROSVM_POLICY.missing.skipped, undefined);
    const values = { reg: "ID_AA64PFR0_EL1", id: "0x603000000013c020", errno: "EINVAL" };
    assert.equal(
      fillError(CROSVM_POLICY.refused.error, values),
      "Failed to restore Vcpu: Failed to restore system register ID_AA64PFR0_EL1 (0x603000000013c020): EINVAL",
    );
    assert.equal(
      fillError(CROSVM_POLICY.missing.error!, values),
      fillError(CROSVM_POLICY.refused.error, values),
    );
  });

  it("never gives a vCPU EL1_32BIT or HAS_EL2_E2H0 (get_features_bitmap)", () => {
    assert.deepEqual(
      CROSVM_POLICY.refusedFeatures.map((f) => f.feature),
      [1, 8],
    );
    assert.equal(
      fillError(CROSVM_POLICY.refusedFeatures[0]!.error, { reg: "EL1_32BIT" }),
      "crosvm's vCPUs never have EL1_32BIT: no crosvm option requests it",
    );
  });
});
