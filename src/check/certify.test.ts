import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { baseline } from "./baseline.js";
import { certify } from "./certify.js";
import { n1Profile, savedSnapshot, simProfile } from "./testing/sim-profiles.js";

const p61 = () => n1Profile("6.1");
const p72 = () => n1Profile("7.2");
const p510 = () => n1Profile("5.10");

describe("certify", () => {
  it("a 6.1 + 7.2 baseline runs on both, not on 5.10, and says why in groups", () => {
    const t = baseline([p61(), p72()]).template;
    const r = certify(t, [p61(), p72(), p510()], { names: ["a-6.1", "b-7.2", "c-5.10"] });
    assert.deepEqual(r.runnable, ["a-6.1", "b-7.2"]);
    assert.deepEqual(
      r.blocked.map((b) => b.host),
      ["c-5.10"],
    );
    assert.deepEqual(
      r.groups.map((g) => `${g.register}${g.field ? "." + g.field : ""}: ${g.hosts.join(",")}`),
      [
        "GICD_IIDR.Revision: c-5.10",
        "KVM_REG_ARM_STD_BMAP: c-5.10",
        "KVM_REG_ARM_VENDOR_HYP_BMAP: c-5.10",
        "OSLSR_EL1: c-5.10",
        "KVM_REG_ARM_PSCI_VERSION: c-5.10",
        "ID_AA64DFR0_EL1: c-5.10",
        "ID_AA64DFR0_EL1.DebugVer: c-5.10",
      ],
    );
    const psci = r.groups.find((g) => g.register === "KVM_REG_ARM_PSCI_VERSION")!;
    assert.deepEqual(psci.reasons, [
      "the guest saw PSCI 1.1; the destination accepts 0.2, 1.0 (kvm_arm_set_fw_reg, as the probe's writes showed): EINVAL",
    ]);
    // The two hosts' guests see GICD_IIDR revision 3; 5.10 takes only its own 2 (the probe's IIDR writes).
    const iidr = r.groups.find((g) => g.register === "GICD_IIDR")!;
    assert.deepEqual(iidr.reasons, [
      "vgic_mmio_uaccess_write_v3_misc refuses revision 3 (EINVAL): this host accepts {2} and its guest sees revision 2 (0x4b00243b)",
    ]);
    assert.deepEqual(iidr.evidence, ["measured"]);
  });

  it("groups one problem across hosts: a 7.2 VM's PSCI 1.3 on two 6.1 hosts", () => {
    const r = certify(savedSnapshot(p72()), [p61(), p72(), simProfile("6.1", "max", ["psci-0.2"])]);
    assert.deepEqual(r.runnable, ["7.2.0-sim-arm64 (neoverse-n1)"]);
    const psci = r.groups.find((g) => g.register === "KVM_REG_ARM_PSCI_VERSION")!;
    assert.deepEqual(psci.hosts, ["6.1.0-sim-arm64 (neoverse-n1)", "6.1.0-sim-arm64 (max)"]);
    assert.equal(r.groups[0]!.hosts.length, 2); // most hosts first
  });
});
