import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  KVM_DEVICE_ATTR,
  KVM_ENABLE_CAP,
  KVM_ONE_REG,
  KVM_USERSPACE_MEMORY_REGION,
  KVM_VCPU_INIT,
  REG_MASK_RANGE,
  packDeviceAttr,
  packEnableCap,
  packOneReg,
  packRegListHeader,
  packRegMaskRange,
  packUserMemoryRegion,
  packVcpuInit,
  regListBytes,
  regListCount,
  unpackRegListIds,
  unpackVcpuInit,
} from "./structs.js";

const hexBytes = (b: Uint8Array) => Buffer.from(b).toString("hex");
function buf(n: number): [DataView, Uint8Array] {
  const u = new Uint8Array(n).fill(0xee);
  return [new DataView(u.buffer), u];
}

describe("ioctl argument structs", () => {
  it("struct kvm_one_reg is id, addr: 16 bytes little-endian", () => {
    const [v, u] = buf(16);
    packOneReg(v, 0, 0x6030000000140000n, 0x7f0012345678n);
    assert.equal(KVM_ONE_REG.size, 16);
    assert.equal(hexBytes(u), "0000140000003060" + "78563412007f0000");
  });

  it("struct kvm_vcpu_init is target, features[7]: 32 bytes", () => {
    const [v, u] = buf(32);
    packVcpuInit(v, 0, { target: 5, features: [2, 3, 40] });
    assert.equal(KVM_VCPU_INIT.size, 32);
    assert.equal(hexBytes(u), "05000000" + "0c000000" + "00010000" + "00000000".repeat(5));
    assert.deepEqual(unpackVcpuInit(v, 0), { target: 5, features: [2, 3, 40] });
  });

  it("struct kvm_reg_list is n, then n u64 ids", () => {
    const [v, u] = buf(regListBytes(2));
    assert.equal(u.length, 24);
    packRegListHeader(v, 0, 2);
    v.setBigUint64(8, 0x6030000000100000n, true);
    v.setBigUint64(16, 0x6030000000100002n, true);
    assert.equal(regListCount(v, 0), 2);
    assert.deepEqual(unpackRegListIds(v, 0, 2), [0x6030000000100000n, 0x6030000000100002n]);
  });

  it("struct kvm_userspace_memory_region is slot, flags, gpa, size, uaddr: 32 bytes", () => {
    const [v, u] = buf(32);
    packUserMemoryRegion(v, 0, {
      slot: 1,
      flags: 2,
      guestPhysAddr: 0x40000000n,
      memorySize: 0x10000n,
      userspaceAddr: 0xffff00001000n,
    });
    assert.equal(KVM_USERSPACE_MEMORY_REGION.size, 32);
    assert.equal(
      hexBytes(u),
      "01000000" + "02000000" + "0000004000000000" + "0000010000000000" + "00100000ffff0000",
    );
  });

  it("struct kvm_enable_cap is cap, flags, args[4], pad[64]: 104 bytes, zeroed", () => {
    const [v, u] = buf(104);
    packEnableCap(v, 0, { cap: 239, flags: 0, args: [1n, -1n] });
    assert.equal(KVM_ENABLE_CAP.size, 104);
    assert.equal(
      hexBytes(u.subarray(0, 24)),
      "ef000000" + "00000000" + "0100000000000000" + "ffffffffffffffff",
    );
    assert.ok(u.subarray(24).every((b) => b === 0));
    assert.throws(() => packEnableCap(v, 0, { cap: 1, flags: 0, args: [1n, 2n, 3n, 4n, 5n] }), RangeError);
  });

  it("struct kvm_device_attr is flags, group, attr, addr: 24 bytes", () => {
    const [v, u] = buf(24);
    packDeviceAttr(v, 0, { flags: 0, group: 0, attr: 0n, addr: 0x1000n });
    assert.equal(KVM_DEVICE_ATTR.size, 24);
    assert.equal(hexBytes(u), "00000000" + "00000000" + "0000000000000000" + "0010000000000000");
  });

  it("struct reg_mask_range is addr, range, reserved[13]: 64 bytes, reserved zero", () => {
    const [v, u] = buf(64);
    packRegMaskRange(v, 0, { addr: 0x2000n, range: 0 });
    assert.equal(REG_MASK_RANGE.size, 64);
    assert.equal(hexBytes(u.subarray(0, 12)), "0020000000000000" + "00000000");
    assert.ok(u.subarray(12).every((b) => b === 0));
  });
});
