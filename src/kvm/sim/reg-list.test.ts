import assert from "node:assert/strict";
import { test } from "node:test";
import { errnoOf } from "../errors.js";
import { getRegList } from "../helpers.js";
import { SimSystem } from "./index.js";
import type { SimVm } from "./index.js";

const PFAR_EL1 = 0x603000000013c305n; // "next": listed while the VM's ID_AA64PFR1_EL1.PFAR is nonzero
const ID_AA64PFR1_EL1 = 0x603000000013c021n;
const PFAR_FIELD = 0xfn << 60n;
const PMCR_EL0 = 0x603000000013dce0n;

function initialised(vm: SimVm, features: number[][]) {
  const vcpus = features.map((_, i) => vm.createVcpu(i));
  const target = vm.preferredTarget().target;
  vcpus.forEach((v, i) => v.init({ target, features: features[i]! }));
  return vcpus;
}

test("vCPUs with different features keep their own lists (6.1: features per vCPU)", () => {
  const vm = new SimSystem({ generation: "6.1", cpu: "cortex-a72" }).createVm();
  const [plain, pmu] = initialised(vm, [[2], [2, 3]]);
  assert.equal(getRegList(plain!).length, 242);
  assert.equal(getRegList(pmu!).length, 316);
  assert.ok(!getRegList(plain!).includes(PMCR_EL0));
  assert.ok(getRegList(pmu!).includes(PMCR_EL0));
  assert.equal(
    errnoOf(() => plain!.getOneReg(PMCR_EL0)),
    "ENOENT",
  );
  assert.equal(
    errnoOf(() => pmu!.getOneReg(PMCR_EL0)),
    "ok",
  );
});

test("an ID write that hides a register changes every vCPU's list, and no other VM's", () => {
  const sys = new SimSystem({ generation: "next", cpu: "cortex-a72" });
  const vm = sys.createVm();
  const [a, b] = initialised(vm, [[2], [2]]);
  assert.ok(getRegList(b!).includes(PFAR_EL1)); // b's list is looked up before the write
  const pfr1 = a!.getOneReg(ID_AA64PFR1_EL1) as bigint;
  assert.equal(pfr1 & PFAR_FIELD, 1n << 60n);
  a!.setOneReg(ID_AA64PFR1_EL1, pfr1 & ~PFAR_FIELD); // VM-wide (is_vm_ftr_id_reg)
  for (const v of [a!, b!]) {
    assert.ok(!getRegList(v).includes(PFAR_EL1));
    assert.equal(
      errnoOf(() => v.getOneReg(PFAR_EL1)),
      "ENOENT",
    );
  }
  const [other] = initialised(sys.createVm(), [[2]]);
  assert.ok(getRegList(other!).includes(PFAR_EL1));
  assert.equal(
    errnoOf(() => other!.getOneReg(PFAR_EL1)),
    "ok",
  );
  // Raised back (KVM's limit is unchanged), PFAR_EL1 is listed again on both vCPUs.
  a!.setOneReg(ID_AA64PFR1_EL1, pfr1);
  for (const v of [a!, b!]) assert.ok(getRegList(v).includes(PFAR_EL1));
});

test("a vCPU's list is its own copy: changing it changes no other answer", () => {
  const vm = new SimSystem({ generation: "7.2", cpu: "cortex-a72" }).createVm();
  const [a, b] = initialised(vm, [[2], [2]]);
  const list = getRegList(a!);
  const first = list[0]!;
  list.length = 0;
  assert.equal(getRegList(a!)[0], first);
  assert.equal(getRegList(b!).length, 257);
});
