import assert from "node:assert/strict";
import { test } from "node:test";
import { KvmError, errnoOf } from "../errors.js";
import { getRegList } from "../helpers.js";
import { FW_REGS } from "../uapi.js";
import { KERNEL_GENERATIONS } from "../../regs/catalog-types.js";
import { sysregId } from "../../regs/id.js";
import { sysregByName } from "../../regs/catalog.js";
import f510 from "../../regs/fixtures/selftest-reglist-5.10.json" with { type: "json" };
import f61 from "../../regs/fixtures/selftest-reglist-6.1.json" with { type: "json" };
import f612 from "../../regs/fixtures/selftest-reglist-6.12.json" with { type: "json" };
import f72 from "../../regs/fixtures/selftest-reglist-7.2.json" with { type: "json" };
import { SimSystem, guestAbiFingerprint, injectFaults } from "./index.js";

type Fixture = { sublists: Record<string, { id: string }[]>; configs: Record<string, string[]> };
const FIX: Record<string, Fixture> = {
  "5.10": f510,
  "6.1": f61,
  "6.12": f612,
  "7.2": f72,
} as unknown as Record<string, Fixture>;
const PFR0 = sysregId(3, 0, 0, 4, 0);
const idOf = (name: string) => {
  const r = sysregByName(name)!;
  return sysregId(r.op0, r.op1, r.crn, r.crm, r.op2);
};
// get-reg-list.c feat_id_regs (6.12, 7.2; EL1/EL0 entries): required only when the guest has the feature.
const FEAT_ID_REGS: [string, string, number][] = [
  ["TCR2_EL1", "ID_AA64MMFR3_EL1", 0],
  ["PIRE0_EL1", "ID_AA64MMFR3_EL1", 8],
  ["PIR_EL1", "ID_AA64MMFR3_EL1", 8],
  ["POR_EL1", "ID_AA64MMFR3_EL1", 16],
  ["POR_EL0", "ID_AA64MMFR3_EL1", 16],
  ["SCTLR2_EL1", "ID_AA64MMFR3_EL1", 4],
];

function vcpuOf(gen: (typeof KERNEL_GENERATIONS)[number], cpu: string, features: number[]) {
  const sys = new SimSystem({ generation: gen, cpu });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: 5, features });
  if (features.includes(4)) v.finalize(4);
  return { sys, vm, v };
}

test("E2BIG protocol and ENOEXEC before init", () => {
  const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72" });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  assert.equal(
    errnoOf(() => v.getRegListRaw(0)),
    "ENOEXEC",
  );
  v.init({ target: 5, features: [2] });
  try {
    v.getRegListRaw(3);
    assert.fail("expected E2BIG");
  } catch (e) {
    assert.ok(KvmError.is(e, "E2BIG"));
    assert.equal(e.required, getRegList(v).length);
  }
});

test("register lists contain every selftest fixture register of the config (max CPU)", () => {
  const featuresOf: Record<string, number[]> = {
    vregs: [2],
    pmu_regs: [3],
    sve_regs: [4],
    pauth_addr_regs: [5, 6],
    pauth_generic_regs: [5, 6],
  };
  for (const gen of KERNEL_GENERATIONS) {
    const fx = FIX[gen]!;
    for (const [cfg, subs] of Object.entries(fx.configs)) {
      if (cfg.includes("EL2")) continue; // no NV host modelled
      const feats = [...new Set(subs.flatMap((s) => featuresOf[s] ?? []).concat([2]))];
      const { v } = vcpuOf(gen, "max", feats);
      const have = new Set(getRegList(v));
      const featOk = (id: bigint) => {
        const f = FEAT_ID_REGS.find(([r]) => idOf(r) === id);
        if (!f || gen === "5.10" || gen === "6.1") return true;
        return (((v.getOneReg(idOf(f[1])) as bigint) >> BigInt(f[2])) & 0xfn) >= 1n;
      };
      const missing = subs
        .filter((s) => !s.includes("rejects"))
        .flatMap((s) => fx.sublists[s]!.map((r) => BigInt(r.id)))
        .filter((id) => !have.has(id) && (id >> 16n) % 0x1000n !== 0x11n && featOk(id));
      assert.deepEqual(
        missing.map((x) => x.toString(16)),
        [],
        `${gen} ${cfg}`,
      );
    }
  }
});

test("firmware registers: PSCI versions, workaround levels, bitmaps", () => {
  for (const gen of ["6.1", "7.2"] as const) {
    const { v } = vcpuOf(gen, "cortex-a72", [2]);
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 1n)),
      "EINVAL",
    ); // 0.1 with PSCI_0_2
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 0x10000n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.PSCI_VERSION, 0x10003n)),
      gen === "7.2" ? "ok" : "EINVAL",
    );
    // a72 is Spectre-v2 vulnerable (no firmware): WA1 level 0; AVAIL (1) cannot be honoured
    assert.equal(v.getOneReg(FW_REGS.SMCCC_ARCH_WORKAROUND_1), 0n);
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.SMCCC_ARCH_WORKAROUND_1, 1n)),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.SMCCC_ARCH_WORKAROUND_1, 0n)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.STD_BMAP, 2n)),
      "EINVAL",
    ); // unknown bit
    assert.equal(
      errnoOf(() => v.setOneReg(FW_REGS.STD_BMAP, 0n)),
      "ok",
    );
  }
});

test("bitmap change after the first run is EBUSY, unchanged accepted", () => {
  const { v } = vcpuOf("6.1", "cortex-a72", [2]);
  v.setOneReg(FW_REGS.VENDOR_HYP_BMAP, 1n);
  v.setOneReg(0x6030000000100040n, 0x40000000n); // pc at an unbacked address: run ends at once
  v.run();
  assert.equal(
    errnoOf(() => v.setOneReg(FW_REGS.VENDOR_HYP_BMAP, 3n)),
    "EBUSY",
  );
  assert.equal(
    errnoOf(() => v.setOneReg(FW_REGS.VENDOR_HYP_BMAP, 1n)),
    "ok",
  );
});

test("ID registers: immutable before 6.7, writable masks with EINVAL from 6.7", () => {
  const a = vcpuOf("6.1", "cortex-a72", [2]).v;
  const cur = a.getOneReg(PFR0) as bigint;
  assert.equal(
    errnoOf(() => a.setOneReg(PFR0, cur)),
    "ok",
  );
  assert.equal(
    errnoOf(() => a.setOneReg(PFR0, cur ^ 0x1n)),
    "EINVAL",
  );
  const b = vcpuOf("7.2", "cortex-a72", [2]);
  const c = b.v.getOneReg(PFR0) as bigint;
  assert.equal(
    errnoOf(() => b.v.setOneReg(PFR0, c & ~(0xfn << 56n))),
    "ok",
  ); // lower CSV2/CSV3 allowed
  assert.equal(
    errnoOf(() => b.v.setOneReg(PFR0, c | (0xfn << 32n))),
    "EINVAL",
  ); // SVE not writable up
  const masks = b.vm.getRegWritableMasks();
  assert.equal(masks.length, 192);
  assert.equal(
    errnoOf(() => vcpuOf("6.1", "cortex-a72", [2]).vm.getRegWritableMasks()),
    "EINVAL",
  );
  // MIDR only with KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (7.2)
  const midr = sysregId(3, 0, 0, 0, 0);
  assert.equal(
    errnoOf(() => b.v.setOneReg(midr, 0x410fd081n)),
    "EINVAL",
  );
});

test("vCPU init: ptrauth bits must come together; unknown bit ENOENT", () => {
  const sys = new SimSystem({ generation: "6.1", cpu: "max" });
  const vm = sys.createVm();
  assert.equal(
    errnoOf(() => vm.createVcpu(0).init({ target: 5, features: [5] })),
    "EINVAL",
  );
  assert.equal(
    errnoOf(() => vm.createVcpu(1).init({ target: 5, features: [9] })),
    "ENOENT",
  );
});

test("fingerprint is stable and differs between generations", () => {
  const a = guestAbiFingerprint(new SimSystem({ generation: "7.2", cpu: "cortex-a72" }));
  const b = guestAbiFingerprint(new SimSystem({ generation: "7.2", cpu: "cortex-a72" }));
  const c = guestAbiFingerprint(new SimSystem({ generation: "6.1", cpu: "cortex-a72" }));
  assert.ok(a.completed);
  assert.equal(a.sha256, b.sha256);
  assert.notEqual(a.sha256, c.sha256);
  assert.ok(a.lines.some((l) => l.startsWith("PSCI_VERSION: 0x10003")));
});

test("fault injection by predicate", () => {
  const inj = injectFaults(new SimSystem({ generation: "7.2", cpu: "max" }), [
    { when: (o) => o.op === "getOneReg" && o.regId === PFR0, errno: "EIO" },
  ]);
  const vm = inj.system.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: 5, features: [2] });
  assert.equal(
    errnoOf(() => v.getOneReg(PFR0)),
    "EIO",
  );
  assert.equal(
    errnoOf(() => v.getOneReg(FW_REGS.PSCI_VERSION)),
    "ok",
  );
});
