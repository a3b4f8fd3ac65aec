/**
 * guestabi's proposals (proposals.ts, README.md) and the synthetic "next" generation: what each proposal
 * changes on an upgrade and on a rollback to 7.2, with a VMM that saves and restores every register
 * KVM_GET_REG_LIST reports and knows nothing of what "next" added.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeId } from "../../regs/describe.js";
import { RegIdError, decodeId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { KvmError, errnoOf } from "../errors.js";
import { getRegList, getX, setPc, setX } from "../helpers.js";
import type { KvmVcpu, KvmVm, RegValue } from "../types.js";
import { FW_REGS } from "../uapi.js";
import {
  GUESTABI_CAP,
  HYPERCALL_SERVICE,
  REG_SCOPE_VM_FLAG,
  SimSystem,
  guestAbiFingerprint,
  identityRegId,
  stripScopeFlag,
} from "./index.js";
import type { SimGeneration, SimVm } from "./index.js";

const PFR1 = 0x603000000013c021n; // ID_AA64PFR1_EL1
const PFAR_EL1 = 0x603000000013c305n;
const ISAR0 = 0x603000000013c030n; // ID_AA64ISAR0_EL1
const CLIDR = 0x603000000013c801n; // CLIDR_EL1
const X0 = 0x6030000000100000n;
const ID_SMCCC = identityRegId(HYPERCALL_SERVICE.SMCCC); // KVM_REG_ARM_FW_REG(0x8000)
const ID_TRNG = identityRegId(HYPERCALL_SERVICE.TRNG);
const ID_PV_TIME = identityRegId(HYPERCALL_SERVICE.PV_TIME);
const ID_VENDOR = identityRegId(HYPERCALL_SERVICE.KVM_VENDOR);
const ID_WIDGET = identityRegId(HYPERCALL_SERVICE.WIDGET);
const NS = (1n << 64n) - 1n;

interface Host {
  generation: SimGeneration;
  proposals?: boolean;
  caps?: number[];
  /** After KVM_ARM_VCPU_INIT: what the VMM sets (pins, restores). */
  afterInit?: (vm: KvmVm, v: KvmVcpu) => void;
}

function boot(h: Host) {
  const sys = new SimSystem({ generation: h.generation, cpu: "cortex-a72", proposals: h.proposals ?? false });
  const vm = sys.createVm();
  for (const c of h.caps ?? []) vm.enableCap(c);
  const v = vm.createVcpu(0);
  v.init({ target: 5, features: [2] });
  h.afterInit?.(vm, v);
  return { sys, vm, v };
}

/** What a VMM saves: every register KVM_GET_REG_LIST reports, with its value. */
const save = (v: KvmVcpu): [RegId, RegValue][] => getRegList(v).map((id) => [id, v.getOneReg(id)]);

/** What a VMM restores, in list order; the failures, by register name. */
function restore(v: KvmVcpu, saved: [RegId, RegValue][]): string[] {
  const errs: string[] = [];
  for (const [id, val] of saved) {
    const e = errnoOf(() => v.setOneReg(id, val));
    if (e !== "ok") errs.push(`${describeId(id).name} ${e}`);
  }
  return errs;
}

const fingerprint = (h: Host) =>
  guestAbiFingerprint(
    new SimSystem({ generation: h.generation, cpu: "cortex-a72", proposals: h.proposals ?? false }),
    [2],
    { beforeVcpus: (vm) => (h.caps ?? []).forEach((c) => vm.enableCap(c)), afterInit: h.afterInit },
  );

const callers = new WeakSet<KvmVcpu>();
/**
 * The guest's answer to one SMCCC call (x0..x3): `hvc #0; str xzr, [x28]; b .-8` in a slot of its own.
 * Each KVM_RUN steps past the previous MMIO store (kvm_handle_mmio_return), loops back and calls again.
 */
function guestCall(vm: KvmVm, v: KvmVcpu, fid: bigint, x1 = 0n): bigint[] {
  if (!callers.has(v)) {
    callers.add(v);
    vm.setUserMemoryRegion({ slot: 9, guestPhysAddr: 0x4000_0000n, size: 0x1000 });
    const prog = [0x02, 0x00, 0x00, 0xd4, 0x9f, 0x03, 0x00, 0xf9, 0xfe, 0xff, 0xff, 0x17];
    vm.writeGuestMemory(9, 0, new Uint8Array(prog));
    setPc(v, 0x4000_0000n);
    setX(v, 28, 0x1000_0000n);
  }
  setX(v, 0, fid);
  setX(v, 1, x1);
  assert.equal(v.run().reason, "MMIO");
  return [0, 1, 2, 3].map((n) => getX(v, n));
}

describe("the proposal capabilities: guestabi's own numbers, off unless the kernel carries them", () => {
  it("an upstream kernel knows none of them: KVM_CHECK_EXTENSION 0, KVM_ENABLE_CAP EINVAL, the identity range ENOENT", () => {
    const { sys, vm, v } = boot({ generation: "next" });
    for (const cap of Object.values(GUESTABI_CAP)) {
      assert.equal(sys.checkExtension(cap), 0);
      assert.equal(
        errnoOf(() => sys.createVm().enableCap(cap)),
        "EINVAL",
      );
    }
    assert.equal(
      errnoOf(() => v.getOneReg(ID_SMCCC)),
      "ENOENT",
    ); // kvm_arm_get_fw_reg: -ENOENT
    assert.equal(
      errnoOf(() => vm.getRegListVmRaw(10)),
      "EINVAL",
    );
  });

  it("a kernel that carries them: 1, enabled per VM before any vCPU exists; flags/args nonzero EINVAL", () => {
    const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72", proposals: true });
    for (const cap of Object.values(GUESTABI_CAP)) {
      assert.equal(sys.checkExtension(cap), 1);
      assert.equal(
        errnoOf(() => sys.createVm().enableCap(cap, [], 1)),
        "EINVAL",
      );
      assert.equal(
        errnoOf(() => sys.createVm().enableCap(cap, [1n])),
        "EINVAL",
      );
      const vm = sys.createVm();
      vm.createVcpu(0);
      assert.equal(
        errnoOf(() => vm.enableCap(cap)),
        "EINVAL",
      ); // like !kvm->created_vcpus
      assert.equal(
        errnoOf(() => sys.createVm().enableCap(cap)),
        "ok",
      );
    }
    assert.deepEqual(GUESTABI_CAP, {
      HYPERCALL_IDENTITY: 0x10000,
      REG_SCOPE_FLAGS: 0x10001,
      VM_SCOPED_REGS: 0x10002,
    });
  });

  it("the proposals off, nothing differs from upstream: same register list, values and guest view", () => {
    for (const gen of ["6.1", "7.2", "next"] as const) {
      const up = boot({ generation: gen });
      const pr = boot({ generation: gen, proposals: true });
      assert.deepEqual(save(pr.v), save(up.v), gen);
      assert.equal(
        fingerprint({ generation: gen, proposals: true }).sha256,
        fingerprint({ generation: gen }).sha256,
      );
    }
  });
});

describe("(a) hypercall identity registers: KVM_REG_ARM_FW_REG(0x8000 + service)", () => {
  it("cap off: the whole range is RAZ/WI and not listed", () => {
    const { v } = boot({ generation: "7.2", proposals: true });
    for (const id of [ID_SMCCC, ID_VENDOR, ID_WIDGET, identityRegId(0xff)]) {
      assert.equal(v.getOneReg(id), 0n);
      assert.equal(
        errnoOf(() => v.setOneReg(id, 0x12345n)),
        "ok",
      );
      assert.equal(v.getOneReg(id), 0n);
    }
    assert.ok(!getRegList(v).includes(ID_SMCCC));
  });

  it("cap on: each service listed; only the mandatory SMCCC is on until userspace names a revision (opt-in)", () => {
    const { vm, v } = boot({ generation: "7.2", proposals: true, caps: [GUESTABI_CAP.HYPERCALL_IDENTITY] });
    const list = getRegList(v);
    const fw = list.filter((id) => ((id >> 16n) & 0xfffn) === 0x14n || ((id >> 16n) & 0xfffn) === 0x16n);
    assert.deepEqual(fw, [
      FW_REGS.PSCI_VERSION,
      FW_REGS.SMCCC_ARCH_WORKAROUND_1,
      FW_REGS.SMCCC_ARCH_WORKAROUND_2,
      FW_REGS.SMCCC_ARCH_WORKAROUND_3,
      ID_SMCCC,
      ID_TRNG,
      ID_PV_TIME,
      ID_VENDOR,
      FW_REGS.STD_BMAP,
      FW_REGS.STD_HYP_BMAP,
      FW_REGS.VENDOR_HYP_BMAP,
      FW_REGS.VENDOR_HYP_BMAP_2,
    ]);
    assert.deepEqual(
      [ID_SMCCC, ID_TRNG, ID_PV_TIME, ID_VENDOR].map((id) => v.getOneReg(id)),
      [0x10001n, 0n, 0n, 0n],
    );
    // the bitmaps follow: nothing selected
    assert.deepEqual(
      [FW_REGS.STD_BMAP, FW_REGS.STD_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP].map((id) => v.getOneReg(id)),
      [0n, 0n, 0n],
    );
    assert.equal(guestCall(vm, v, 0x84000050n)[0], NS); // TRNG_VERSION: the service is absent
    assert.equal(guestCall(vm, v, 0x80000000n)[0], 0x10001n); // SMCCC_VERSION
  });

  it("naming a revision selects its functions (the bitmaps get that revision's defaults); values EINVAL/EBUSY like the bitmaps", () => {
    const { vm, v } = boot({ generation: "7.2", proposals: true, caps: [GUESTABI_CAP.HYPERCALL_IDENTITY] });
    assert.equal(
      errnoOf(() => v.setOneReg(ID_VENDOR, 0x10002n)),
      "EINVAL",
    ); // 7.2 implements 1.0 and 1.1
    assert.equal(
      errnoOf(() => v.setOneReg(ID_TRNG, 0x10000n)),
      "ok",
    );
    assert.equal(v.getOneReg(FW_REGS.STD_BMAP), 0b1n);
    assert.equal(
      errnoOf(() => v.setOneReg(ID_SMCCC, 0n)),
      "EINVAL",
    ); // mandatory
    assert.equal(
      errnoOf(() => v.setOneReg(ID_VENDOR, 0x10000n)),
      "ok",
    );
    assert.equal(v.getOneReg(FW_REGS.VENDOR_HYP_BMAP), 0b11n); // FUNC_FEAT, PTP
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.VENDOR_HYP_BMAP_2, 0b1n)),
      "EINVAL",
    ); // DISCOVER_IMPL is 1.1
    assert.equal(
      errnoOf(() => v.setOneReg(ID_VENDOR, 0x10001n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.VENDOR_HYP_BMAP_2, 0b1n)),
      "ok",
    );
    assert.deepEqual(guestCall(vm, v, 0x8600ff03n).slice(0, 2), [1n, 1n]); // vendor Call Revision: 1.1
    // a service 7.2 does not know (WIDGET): "absent" is accepted, anything else is EINVAL
    assert.equal(
      errnoOf(() => v.setOneReg(ID_WIDGET, 0n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(ID_WIDGET, 0x10000n)),
      "EINVAL",
    );
    // after the first run: a change is EBUSY, the same value ok
    assert.equal(
      errnoOf(() => v.setOneReg(ID_TRNG, 0n)),
      "EBUSY",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(ID_VENDOR, 0x10001n)),
      "ok",
    );
  });

  it("upstream answers the vendor Call Revision with NOT_SUPPORTED", () => {
    const { vm, v } = boot({ generation: "7.2" });
    assert.equal(guestCall(vm, v, 0x8600ff03n)[0], NS);
  });
});

describe("(b) the VM-scope flag in KVM_GET_REG_LIST (bit 51)", () => {
  const flagged = (gen: SimGeneration) => {
    const { v } = boot({ generation: gen, proposals: true, caps: [GUESTABI_CAP.REG_SCOPE_FLAGS] });
    return { v, list: getRegList(v) };
  };

  it("flags the registers whose writes are VM-global, per generation", () => {
    const up = getRegList(boot({ generation: "7.2" }).v);
    const { v, list } = flagged("7.2");
    assert.deepEqual(list.map(stripScopeFlag), up, "same ids, same order once the flag is stripped");
    const isFlagged = (id: bigint) => list.includes(id | REG_SCOPE_VM_FLAG);
    for (const id of [FW_REGS.PSCI_VERSION, FW_REGS.STD_BMAP, ISAR0, PFR1, 0x603000000013c000n /* MIDR */])
      assert.ok(isFlagged(id), describeId(id).name);
    for (const id of [X0, CLIDR, 0x603000000013c005n /* MPIDR */, 0x603000000013c080n /* SCTLR_EL1 */])
      assert.ok(list.includes(id), describeId(id).name);
    assert.equal(v.scopeOfId(ISAR0), "vm");
    assert.equal(v.scopeOfId(CLIDR), "vcpu");
    // 6.1: the ID registers are per vCPU, except ID_AA64PFR0_EL1 (kvm->arch.pfr0_csv2/csv3)
    const old = flagged("6.1").list;
    assert.ok(old.includes(ISAR0) && old.includes(0x603000000013c020n | REG_SCOPE_VM_FLAG));
  });

  it("GET/SET_ONE_REG take a flagged id only for a VM-scoped register, and only with the cap", () => {
    const { v } = flagged("7.2");
    assert.equal(v.getOneReg(FW_REGS.PSCI_VERSION | REG_SCOPE_VM_FLAG), 0x10003n);
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION | REG_SCOPE_VM_FLAG, 0x10001n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.getOneReg(X0 | REG_SCOPE_VM_FLAG)),
      "ENOENT",
    );
    const up = boot({ generation: "7.2", proposals: true }).v;
    assert.equal(
      errnoOf(() => up.getOneReg(FW_REGS.PSCI_VERSION | REG_SCOPE_VM_FLAG)),
      "ENOENT",
    );
  });

  it("src/regs calls a flagged id malformed: strip the flag first", () => {
    assert.throws(() => decodeId(FW_REGS.PSCI_VERSION | REG_SCOPE_VM_FLAG), RegIdError);
    assert.equal(decodeId(stripScopeFlag(FW_REGS.PSCI_VERSION | REG_SCOPE_VM_FLAG)).class, "fw");
  });
});

describe("(c) VM-scoped registers and new-things-default-off", () => {
  it("GET_REG_LIST/GET_ONE_REG/SET_ONE_REG on the VM: before any vCPU; immutable once one exists", () => {
    const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72", proposals: true });
    const vm: SimVm = sys.createVm();
    assert.equal(
      errnoOf(() => vm.getRegListVmRaw(10)),
      "EINVAL",
    ); // the cap is off
    vm.enableCap(GUESTABI_CAP.VM_SCOPED_REGS);
    try {
      vm.getRegListVmRaw(0);
      assert.fail("E2BIG expected");
    } catch (e) {
      assert.ok(KvmError.is(e, "E2BIG") && e.required === 5);
    }
    assert.deepEqual(vm.getRegListVmRaw(5), [
      FW_REGS.PSCI_VERSION,
      FW_REGS.STD_BMAP,
      FW_REGS.STD_HYP_BMAP,
      FW_REGS.VENDOR_HYP_BMAP,
      FW_REGS.VENDOR_HYP_BMAP_2,
    ]);
    assert.equal(vm.getOneRegVm(FW_REGS.PSCI_VERSION), 0x10003n);
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.PSCI_VERSION, 0x10004n)),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.PSCI_VERSION, 0x10001n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.VENDOR_HYP_BMAP, 0b1n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => vm.getOneRegVm(ISAR0)),
      "ENOENT",
    ); // ID registers stay with the vCPUs
    const v = vm.createVcpu(0);
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.PSCI_VERSION, 0x10000n)),
      "EBUSY",
    );
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.PSCI_VERSION, 0x10001n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => vm.setOneRegVm(FW_REGS.VENDOR_HYP_BMAP, 0b11n)),
      "EBUSY",
    );
    v.init({ target: 5, features: [2] });
    assert.equal(v.getOneReg(FW_REGS.PSCI_VERSION), 0x10001n);
    assert.equal(v.getOneReg(FW_REGS.VENDOR_HYP_BMAP), 0b1n);
  });

  it("on next: the new bitmap bit, ID field and register default off; a VMM that knows them can opt in", () => {
    const plain = boot({ generation: "next" }).v;
    assert.equal(plain.getOneReg(FW_REGS.VENDOR_HYP_BMAP_2), 0b100n);
    assert.equal((plain.getOneReg(PFR1) as bigint) >> 60n, 1n);
    assert.ok(getRegList(plain).includes(PFAR_EL1));

    const { v } = boot({ generation: "next", proposals: true, caps: [GUESTABI_CAP.VM_SCOPED_REGS] });
    assert.equal(v.getOneReg(FW_REGS.VENDOR_HYP_BMAP_2), 0n);
    const pfr1 = v.getOneReg(PFR1) as bigint;
    assert.equal(pfr1 >> 60n, 0n);
    assert.ok(!getRegList(v).includes(PFAR_EL1));
    // KVM's limit is unchanged: PFAR can be raised back to 1, WIDGET's bit set
    assert.equal(
      errnoOf(() => v.setOneReg(PFR1, pfr1 | (1n << 60n))),
      "ok",
    );
    assert.ok(getRegList(v).includes(PFAR_EL1));
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.VENDOR_HYP_BMAP_2, 0b100n)),
      "ok",
    );
  });
});

describe('upgrade to "next" and rollback to 7.2', () => {
  const a72 = fingerprint({ generation: "7.2" });

  it("proposals off: a VM started on next and restored onto 7.2 hits EINVAL (bitmap, ID field) and ENOENT (register)", () => {
    const src = boot({ generation: "next" });
    assert.deepEqual(restore(boot({ generation: "7.2" }).v, save(src.v)), [
      "KVM_REG_ARM_VENDOR_HYP_BMAP_2 EINVAL", // kvm_arm_set_fw_reg_bmap: bit 2 unknown to 7.2
      "ID_AA64PFR1_EL1 EINVAL", // arm64_check_features: PFAR outside 7.2's writable mask
      "PFAR_EL1 ENOENT", // 7.2 has no such register
    ]);
    // and the guest on next saw more than a 7.2 guest: WIDGET in KVM_FEATURES' x2, PFAR in ID_AA64PFR1_EL1
    const next = fingerprint({ generation: "next" });
    assert.notEqual(next.sha256, a72.sha256);
    assert.deepEqual(
      next.lines.filter((l) => !a72.lines.includes(l)),
      ["VENDOR_HYP_KVM_FEATURES: 0x3 0x0 0x4 0x0", "ID_AA64PFR1_EL1: 0x1000000000000000"],
    );
  });

  it("proposals off, upgrade: a VM started on 7.2 restores onto next and its guest sees 7.2 (the upstream contract works one way)", () => {
    const saved = save(boot({ generation: "7.2" }).v);
    assert.deepEqual(restore(boot({ generation: "next" }).v, saved), []);
    const restored = fingerprint({
      generation: "next",
      afterInit: (_vm, v) => assert.deepEqual(restore(v, saved), []),
    });
    assert.equal(restored.sha256, a72.sha256);
  });

  it("(c) on: the unaware VMM's VM started on next restores onto an upstream 7.2, and its guest saw 7.2", () => {
    const host = { generation: "next" as const, proposals: true, caps: [GUESTABI_CAP.VM_SCOPED_REGS] };
    const src = boot(host);
    assert.deepEqual(restore(boot({ generation: "7.2" }).v, save(src.v)), []);
    assert.equal(fingerprint(host).sha256, a72.sha256);
  });

  it("(a) on: the guest's identities are stable; saved identities restore onto 7.2, a named WIDGET fails loudly", () => {
    // The VMM pins the revisions of its fleet's oldest kernel (7.2) on every host; next's WIDGET stays
    // absent. (a) covers the hypercalls only: the ID field is pinned the upstream way, by writing the
    // baseline's ID_AA64PFR1_EL1 (0 on the A72: PFAR lowered, PFAR_EL1 hidden).
    const idents: [RegId, bigint][] = [
      [ID_SMCCC, 0x10001n],
      [ID_TRNG, 0x10000n],
      [ID_PV_TIME, 0x10000n],
      [ID_VENDOR, 0x10001n],
    ];
    const hyp = (l: string) => /^(SMCCC|TRNG|PV_TIME|VENDOR_HYP|PSCI)/.test(l);
    const onlyIdents = fingerprint({
      generation: "next",
      proposals: true,
      caps: [GUESTABI_CAP.HYPERCALL_IDENTITY],
      afterInit: (_vm, v) => idents.forEach(([id, x]) => v.setOneReg(id, x)),
    });
    assert.deepEqual(onlyIdents.lines.filter(hyp), a72.lines.filter(hyp));
    assert.deepEqual(
      onlyIdents.lines.filter((l) => !a72.lines.includes(l)),
      ["ID_AA64PFR1_EL1: 0x1000000000000000"],
    );
    const pins: [RegId, bigint][] = [...idents, [PFR1, 0n]];
    const pin = (_vm: KvmVm, v: KvmVcpu) => pins.forEach(([id, x]) => v.setOneReg(id, x));
    const cap = [GUESTABI_CAP.HYPERCALL_IDENTITY];
    const on72 = { generation: "7.2" as const, proposals: true, caps: cap, afterInit: pin };
    const onNext = { generation: "next" as const, proposals: true, caps: cap, afterInit: pin };
    assert.equal(fingerprint(on72).sha256, a72.sha256);
    assert.equal(fingerprint(onNext).sha256, a72.sha256);
    const src = boot(onNext);
    assert.equal(src.v.getOneReg(ID_WIDGET), 0n);
    assert.equal(src.v.getOneReg(FW_REGS.VENDOR_HYP_BMAP_2), 0n);
    const saved = save(src.v);
    assert.ok(
      saved.some(([id]) => id === ID_WIDGET),
      "next lists WIDGET's identity (0)",
    );
    assert.deepEqual(restore(boot({ ...on72, afterInit: undefined }).v, saved), []);
    assert.equal(fingerprint({ ...on72, afterInit: (_vm, v) => void restore(v, saved) }).sha256, a72.sha256);
    // a VM that named WIDGET 1.0 on next cannot go back silently
    const named = boot({ ...onNext, afterInit: (vm, v) => (pin(vm, v), v.setOneReg(ID_WIDGET, 0x10000n)) });
    assert.equal(named.v.getOneReg(FW_REGS.VENDOR_HYP_BMAP_2), 0b100n);
    assert.deepEqual(restore(boot({ ...on72, afterInit: undefined }).v, save(named.v)), [
      "KVM_REG_ARM_FW_REG(32773) EINVAL", // 0x8005: WIDGET, unknown to 7.2
      "KVM_REG_ARM_VENDOR_HYP_BMAP_2 EINVAL",
    ]);
  });
});
