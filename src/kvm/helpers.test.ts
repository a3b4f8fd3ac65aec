import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RegId } from "../regs/id.js";
import { KvmError } from "./errors.js";
import {
  completeHypercall,
  featureBitsOf,
  featureWords,
  getRegList,
  normalizeVcpuInit,
  vcpuFeatureNames,
  vcpuFeatures,
} from "./helpers.js";
import type { KvmVcpu, RegValue } from "./types.js";
import { coreXReg } from "./uapi.js";

/** A vCPU whose only working calls are getRegListRaw (KVM's E2BIG protocol) and setOneReg. */
function listVcpu(ids: () => RegId[]): KvmVcpu & { calls: number[]; sets: [RegId, RegValue][] } {
  const calls: number[] = [];
  const sets: [RegId, RegValue][] = [];
  const no = () => {
    throw new Error("not used");
  };
  return {
    id: 0,
    calls,
    sets,
    getRegListRaw(capacity) {
      calls.push(capacity);
      const list = ids();
      if (capacity < list.length)
        throw new KvmError(`KVM_GET_REG_LIST n=${capacity}`, "E2BIG", { required: list.length });
      return list;
    },
    setOneReg: (id, v) => void sets.push([id, v]),
    init: no,
    finalize: no,
    getOneReg: no,
    run: no,
    setMmioReadData: no,
    hasDeviceAttr: no,
    getDeviceAttr: no,
    setDeviceAttr: no,
    destroy: no,
  };
}

describe("getRegList", () => {
  it("asks with 0, then with the count E2BIG reported", () => {
    const v = listVcpu(() => [1n, 2n, 3n]);
    assert.deepEqual(getRegList(v), [1n, 2n, 3n]);
    assert.deepEqual(v.calls, [0, 3]);
  });

  it("returns an empty list from the first call", () => {
    const v = listVcpu(() => []);
    assert.deepEqual(getRegList(v), []);
    assert.deepEqual(v.calls, [0]);
  });

  it("retries when the count grows between the calls", () => {
    const counts = [2, 3];
    const v = listVcpu(() =>
      Array.from({ length: counts.length > 1 ? counts.shift()! : counts[0]! }, (_, i) => BigInt(i)),
    );
    assert.equal(getRegList(v).length, 3);
    assert.deepEqual(v.calls, [0, 2, 3]);
  });

  it("passes other errors through", () => {
    const v = listVcpu(() => []);
    v.getRegListRaw = () => {
      throw new KvmError("KVM_GET_REG_LIST n=0", "EPERM");
    };
    assert.throws(
      () => getRegList(v),
      (e) => KvmError.is(e, "EPERM"),
    );
  });
});

describe("vCPU features", () => {
  it("convert between names, bits and kvm_vcpu_init.features[7]", () => {
    assert.deepEqual(vcpuFeatures("PMU_V3", "PSCI_0_2", "PSCI_0_2"), [2, 3]);
    assert.deepEqual(vcpuFeatureNames([3, 2, 40]), ["PSCI_0_2", "PMU_V3", "bit40"]);
    assert.deepEqual(featureWords([0, 2, 31, 32, 223]), [0x80000005, 1, 0, 0, 0, 0, 0x80000000]);
    assert.deepEqual(featureBitsOf([0x80000005, 1, 0, 0, 0, 0, 0x80000000]), [0, 2, 31, 32, 223]);
    assert.throws(() => featureWords([224]), RangeError);
    assert.deepEqual(normalizeVcpuInit({ target: 5, features: [6, 5, 5] }), { target: 5, features: [5, 6] });
  });
});

describe("completeHypercall", () => {
  it("sets x0..x3, wrapping negatives to u64", () => {
    const v = listVcpu(() => []);
    completeHypercall(v, [-1n, 2n, 3n, 4n, 5n]);
    assert.deepEqual(v.sets, [
      [coreXReg(0), 0xffff_ffff_ffff_ffffn],
      [coreXReg(1), 2n],
      [coreXReg(2), 3n],
      [coreXReg(3), 4n],
    ]);
  });
});
