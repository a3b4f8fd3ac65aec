/**
 * Firmware pseudo-registers: KVM_REG_ARM_PSCI_VERSION per generation (kvm_arm_set_fw_reg in psci.c on
 * 5.10, hypercalls.c from 6.1; kvm_psci_version in include/kvm/arm_psci.h) and the feature bitmaps after
 * the first run (kvm_arm_set_fw_reg_bmap).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errnoOf } from "../errors.js";
import { getX, setPc, setX } from "../helpers.js";
import { FW_REGS } from "../uapi.js";
import { SimSystem } from "./index.js";
import type { SimGeneration, SimVcpu } from "./index.js";

const RAM = 0x4000_0000n;
const PSCI_VERSION_FN = 0x84000000n;

/**
 * A VM with RAM holding `0: hvc #0; 4: str xzr, [x28]; 8: b .-8` (x28 = an MMIO address): every KVM_RUN
 * makes one call and stops at the MMIO store; the next one steps past it (kvm_handle_mmio_return) and
 * loops back to the HVC.
 */
function vm(gen: SimGeneration, features: number[][] = [[2]]) {
  const sys = new SimSystem({ generation: gen, cpu: "cortex-a72" });
  const m = sys.createVm();
  m.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM, size: 0x10000 });
  m.writeGuestMemory(
    0,
    0,
    new Uint8Array([0x02, 0x00, 0x00, 0xd4, 0x9f, 0x03, 0x00, 0xf9, 0xfe, 0xff, 0xff, 0x17]),
  );
  const vs = features.map((_, i) => m.createVcpu(i));
  vs.forEach((v, i) => {
    v.init({ target: m.preferredTarget().target, features: features[i]! });
    setPc(v, RAM);
    setX(v, 28, 0x1000_0000n);
  });
  return { vm: m, v: vs[0]!, vs };
}

/** The guest's PSCI_VERSION call (kvm_psci_call -> kvm_psci_version). */
function guestPsciVersion(v: SimVcpu): bigint {
  setX(v, 0, PSCI_VERSION_FN);
  const e = v.run();
  assert.equal(e.reason, "MMIO");
  return getX(v, 0);
}

// [generation, KVM_ARM_PSCI_LATEST, versions accepted with PSCI_0_2, the next one (refused)]
const PSCI: [SimGeneration, bigint, bigint[], bigint][] = [
  ["5.10", 0x10000n, [0x2n, 0x10000n], 0x10001n],
  ["6.1", 0x10001n, [0x2n, 0x10000n, 0x10001n], 0x10002n],
  ["6.12", 0x10001n, [0x2n, 0x10000n, 0x10001n], 0x10002n],
  ["7.2", 0x10003n, [0x2n, 0x10000n, 0x10001n, 0x10002n, 0x10003n], 0x10004n],
];

describe("KVM_REG_ARM_PSCI_VERSION", () => {
  for (const [gen, latest, accepted, next] of PSCI) {
    it(`${gen}: 0.1 without PSCI_0_2; with it ${accepted.map((x) => "0x" + x.toString(16)).join("/")}, default 0x${latest.toString(16)}`, () => {
      // kvm_psci_version: a vCPU without KVM_ARM_VCPU_PSCI_0_2 is PSCI 0.1 (KVM_ARM_PSCI_0_1 = 1)
      const old = vm(gen, [[]]).v;
      assert.equal(old.getOneReg(FW_REGS.PSCI_VERSION), 1n);
      assert.equal(
        errnoOf(() => old.setOneReg(FW_REGS.PSCI_VERSION, 1n)),
        "ok",
      );
      for (const x of [0x2n, 0x10000n])
        assert.equal(
          errnoOf(() => old.setOneReg(FW_REGS.PSCI_VERSION, x)),
          "EINVAL",
        );

      const { v } = vm(gen);
      assert.equal(v.getOneReg(FW_REGS.PSCI_VERSION), latest); // KVM_ARM_PSCI_LATEST until set
      assert.equal(guestPsciVersion(v), latest);
      assert.equal(
        errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 1n)),
        "EINVAL",
      ); // 0.1 "if (wants_02)"
      assert.equal(
        errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 0n)),
        "EINVAL",
      );
      assert.equal(
        errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, next)),
        "EINVAL",
      );
      for (const x of accepted) {
        assert.equal(
          errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, x)),
          "ok",
          `0x${x.toString(16)}`,
        );
        assert.equal(v.getOneReg(FW_REGS.PSCI_VERSION), x);
      }
    });

    it(`${gen}: no EBUSY after the first run (kvm_arm_set_fw_reg has no ran-once check); the guest sees the new version`, () => {
      const { v } = vm(gen);
      assert.equal(guestPsciVersion(v), latest);
      assert.equal(
        errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 0x10000n)),
        "ok",
      );
      assert.equal(guestPsciVersion(v), 0x10000n);
      assert.equal(
        errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 0x2n)),
        "ok",
      );
      // PSCI 0.2: kvm_psci_0_2_call answers PSCI_VERSION with 2
      assert.equal(guestPsciVersion(v), 0x2n);
    });
  }

  it("is VM-wide: set through vCPU 0, read through vCPU 1, and a later vCPU init does not reset it", () => {
    const { vm: m, vs } = vm("6.12", [[2], [2]]);
    vs[0]!.setOneReg(FW_REGS.PSCI_VERSION, 0x10000n);
    assert.equal(vs[1]!.getOneReg(FW_REGS.PSCI_VERSION), 0x10000n);
    const v2 = m.createVcpu(2);
    v2.init({ target: 5, features: [2] });
    assert.equal(v2.getOneReg(FW_REGS.PSCI_VERSION), 0x10000n);
    vs[1]!.init({ target: 5, features: [2] }); // re-init (kvm_reset_vcpu) leaves kvm->arch.psci_version alone
    assert.equal(vs[0]!.getOneReg(FW_REGS.PSCI_VERSION), 0x10000n);
  });

  it("6.1: the VM's version is per-VM but the 0.1/0.2 split is per vCPU (feature sets may differ before 6.7)", () => {
    const { vs } = vm("6.1", [[2], []]);
    vs[0]!.setOneReg(FW_REGS.PSCI_VERSION, 0x10000n);
    assert.equal(vs[1]!.getOneReg(FW_REGS.PSCI_VERSION), 1n);
    // set to 0.1 through the 0.1 vCPU: kvm->arch.psci_version = 1, which the PSCI_0_2 vCPU now reads too
    vs[1]!.setOneReg(FW_REGS.PSCI_VERSION, 1n);
    assert.equal(vs[0]!.getOneReg(FW_REGS.PSCI_VERSION), 1n);
  });
});

// [generation, bitmap register, the bits the kernel knows, a new VM's value]
const BITMAPS: [SimGeneration, bigint, bigint, bigint][] = [
  ["6.1", FW_REGS.STD_BMAP, 0b1n, 0b1n], // KVM_REG_ARM_STD_BIT_TRNG_V1_0
  ["6.1", FW_REGS.STD_HYP_BMAP, 0b1n, 0b1n], // KVM_REG_ARM_STD_HYP_BIT_PV_TIME
  ["6.1", FW_REGS.VENDOR_HYP_BMAP, 0b11n, 0b11n], // FUNC_FEAT, PTP
  ["6.12", FW_REGS.STD_BMAP, 0b1n, 0b1n],
  ["6.12", FW_REGS.STD_HYP_BMAP, 0b1n, 0b1n],
  ["6.12", FW_REGS.VENDOR_HYP_BMAP, 0b11n, 0b11n],
  ["7.2", FW_REGS.STD_BMAP, 0b1n, 0b1n],
  ["7.2", FW_REGS.STD_HYP_BMAP, 0b1n, 0b1n],
  ["7.2", FW_REGS.VENDOR_HYP_BMAP, 0b11n, 0b11n],
  ["7.2", FW_REGS.VENDOR_HYP_BMAP_2, 0b11n, 0b0n], // DISCOVER_IMPL_VER/CPUS, off until the VMM opts in
];

describe("feature bitmaps (kvm_arm_set_fw_reg_bmap)", () => {
  for (const [gen, id, features, reset] of BITMAPS) {
    const name = `${gen} 0x${id.toString(16)}`;
    it(`${name}: reset 0x${reset.toString(16)}; after the first run a change is EBUSY, the same value ok, an unknown bit EINVAL`, () => {
      const { v } = vm(gen);
      assert.equal(v.getOneReg(id), reset);
      const other = reset === features ? 0n : features;
      assert.equal(
        errnoOf(() => v.setOneReg(id, features + 1n)),
        "EINVAL",
      ); // a bit the kernel does not know
      assert.equal(
        errnoOf(() => v.setOneReg(id, other)),
        "ok",
      );
      assert.equal(v.getOneReg(id), other);
      guestPsciVersion(v); // the first KVM_RUN
      assert.equal(
        errnoOf(() => v.setOneReg(id, reset)),
        "EBUSY",
      );
      assert.equal(
        errnoOf(() => v.setOneReg(id, other)),
        "ok",
      );
      // the unsupported-bit check comes before the ran-once check
      assert.equal(
        errnoOf(() => v.setOneReg(id, features + 1n)),
        "EINVAL",
      );
      assert.equal(v.getOneReg(id), other);
    });
  }

  it("5.10 has no bitmap registers: ENOENT", () => {
    const { v } = vm("5.10");
    for (const id of [FW_REGS.STD_BMAP, FW_REGS.STD_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP])
      assert.equal(
        errnoOf(() => v.getOneReg(id)),
        "ENOENT",
      );
  });

  it("are VM-wide: a bitmap set through vCPU 0 is read through vCPU 1", () => {
    const { vs } = vm("7.2", [[2], [2]]);
    vs[0]!.setOneReg(FW_REGS.VENDOR_HYP_BMAP, 0b01n);
    assert.equal(vs[1]!.getOneReg(FW_REGS.VENDOR_HYP_BMAP), 0b01n);
  });
});
