/** FIRECRACKER_POLICY: Firecracker's restore rules as data, and its errors filled in as a user sees them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VCPU_FEATURES } from "../kvm/index.js";
import { fillError } from "../check/restore-policy.js";
import { FIRECRACKER_POLICY, FIRECRACKER_VCPU_FEATURES } from "./firecracker-policy.js";
import { firecrackerErrno } from "./firecracker-errors.js";

const LOAD =
  "Load snapshot error: Failed to restore from snapshot: Failed to build microVM from snapshot: Failed to restore vCPUs: Failed to run action on vcpu: ";

describe("Firecracker's restore policy", () => {
  it("saves every listed register, skips none, compares no list length, never makes MIDR writable", () => {
    const p = FIRECRACKER_POLICY;
    assert.equal(p.id, "firecracker");
    assert.equal(p.label, "Firecracker");
    assert.deepEqual(p.unsaved, []);
    assert.equal(p.missing.action, "abort");
    assert.equal(p.missing.skipped, undefined);
    assert.equal(p.count, undefined);
    assert.equal(p.writableImpIdRegs, false);
    assert.match(
      p.source,
      /^firecracker-microvm\/firecracker v1\.16\.1: src\/vmm\/src\/arch\/aarch64\/vcpu\.rs/,
    );
  });

  it("a saved register the destination lacks: the restore's first KVM_SET_ONE_REG error, ENOENT", () => {
    assert.equal(
      fillError(FIRECRACKER_POLICY.missing.error!, {
        id: "0x6030000000160003",
        reg: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
      }),
      LOAD +
        "Failed to restore the state of the vcpu: Failed to set register 0x6030000000160003 to value <saved value>: No such file or directory (os error 2)",
    );
    assert.match(
      FIRECRACKER_POLICY.missing.rule,
      /^KvmVcpu::restore_state \(src\/vmm\/src\/arch\/aarch64\/vcpu\.rs\)/,
    );
  });

  it("a value KVM refuses: the same chain with its errno", () => {
    assert.equal(
      fillError(FIRECRACKER_POLICY.refused.error, {
        id: "0x603000000013c020",
        errno: firecrackerErrno("EINVAL"),
      }),
      LOAD +
        "Failed to restore the state of the vcpu: Failed to set register 0x603000000013c020 to value <saved value>: Invalid argument (os error 22)",
    );
  });

  it("PMU_V3 refused before KVM_ARM_VCPU_INIT; PSCI 0.2 always, POWER_OFF only on secondary vCPUs at boot", () => {
    assert.deepEqual(FIRECRACKER_POLICY.refusedFeatures, [
      {
        feature: VCPU_FEATURES.PMU_V3,
        error: LOAD + "Found unsupported KVM_ARM_VCPU_PMU_V3 bit set in vcpu features.",
        rule: "KvmVcpu::restore_state -> init_vcpu (src/vmm/src/arch/aarch64/vcpu.rs, v1.16.0+)",
      },
    ]);
    assert.deepEqual(FIRECRACKER_VCPU_FEATURES, {
      always: [VCPU_FEATURES.PSCI_0_2],
      secondaryAtBoot: [VCPU_FEATURES.POWER_OFF],
    });
  });

  it("errnos as Firecracker's musl build prints them", () => {
    assert.equal(firecrackerErrno("ENOENT"), "No such file or directory (os error 2)");
    assert.equal(firecrackerErrno("EINVAL"), "Invalid argument (os error 22)");
    assert.equal(firecrackerErrno("EBUSY"), "Device or resource busy (os error 16)");
    assert.equal(firecrackerErrno("E2BIG"), "Argument list too long (os error 7)");
    assert.equal(firecrackerErrno("EPERM"), "Operation not permitted (os error 1)");
    assert.equal(firecrackerErrno("E524"), "No error information (os error 524)");
  });
});
