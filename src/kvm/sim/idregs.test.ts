/**
 * ID-register write rules (KVM_SET_ONE_REG), 5.10 and 6.12, and where the state lives (VM or vCPU).
 * Each case names the kernel function that decides it; values are the Cortex-A72 / Cortex-A76 models'.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysregByName } from "../../regs/catalog.js";
import { sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { errnoOf } from "../errors.js";
import { getRegList } from "../helpers.js";
import { KVM_CAP } from "../uapi.js";
import { descsOf } from "../kernels/descs.js";
import { getField, setField } from "./descs.js";
import { policiesOf } from "./idregs.js";
import { SimSystem } from "./index.js";
import type { SimGeneration } from "./index.js";

const idOf = (name: string): RegId => {
  const r = sysregByName(name)!;
  return sysregId(r.op0, r.op1, r.crn, r.crm, r.op2);
};

function vm(gen: SimGeneration, cpu: string, vcpus: number[][] = [[2]]) {
  const sys = new SimSystem({ generation: gen, cpu });
  const m = sys.createVm();
  const vs = vcpus.map((_, i) => m.createVcpu(i));
  vs.forEach((v, i) => {
    v.init({ target: m.preferredTarget().target, features: vcpus[i]! });
    if (vcpus[i]!.includes(4)) v.finalize(4);
  });
  return { sys, vm: m, v: vs[0]!, vs };
}

/** Runs the vCPU once (PC at an unbacked address: the fetch abort has no vector, KVM_RUN ends on a signal). */
function runOnce(v: ReturnType<typeof vm>["v"]): void {
  v.setOneReg(0x6030000000100040n, 0x7000_0000n);
  assert.equal(v.run().reason, "INTR");
}

const get = (v: ReturnType<typeof vm>["v"], name: string) => v.getOneReg(idOf(name)) as bigint;
const withField = (v: bigint, reg: string, field: string, x: number) => setField(v, reg, field, x);

describe("ID registers on 5.10 (immutable: __set_id_reg / set_invariant_sys_reg)", () => {
  it("accepts the current value of every listed ID register", () => {
    const { v } = vm("5.10", "cortex-a72");
    const ids = descsOf(v.vm.model).filter((d) => d.op0 === 3 && d.crn === 0 && d.listed);
    assert.ok(ids.length > 40);
    for (const d of ids)
      if (getRegList(v).includes(d.id))
        assert.equal(
          errnoOf(() => v.setOneReg(d.id, v.getOneReg(d.id))),
          "ok",
          d.name,
        );
  });

  it('refuses any change: EINVAL ("This is what we mean by invariant: you can\'t change it")', () => {
    const { v } = vm("5.10", "cortex-a72");
    const isar0 = get(v, "ID_AA64ISAR0_EL1");
    assert.equal(getField(isar0, "ID_AA64ISAR0_EL1", "AES"), 2);
    // lowering a lower-safe field: EINVAL on 5.10 (__set_id_reg compares with read_id_reg)
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), withField(isar0, "ID_AA64ISAR0_EL1", "AES", 1))),
      "EINVAL",
    );
    // MIDR_EL1, CTR_EL0, CLIDR_EL1 are invariant_sys_regs: set_invariant_sys_reg
    for (const name of ["MIDR_EL1", "CTR_EL0", "CLIDR_EL1"]) {
      const cur = get(v, name);
      assert.equal(
        errnoOf(() => v.setOneReg(idOf(name), cur ^ 1n)),
        "EINVAL",
        name,
      );
      assert.equal(
        errnoOf(() => v.setOneReg(idOf(name), cur)),
        "ok",
        name,
      );
    }
    // the rules do not change after the first run: no EBUSY on 5.10
    runOnce(v);
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), withField(isar0, "ID_AA64ISAR0_EL1", "AES", 1))),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), isar0)),
      "ok",
    );
  });

  it("ID_AA64PFR0_EL1.CSV2 alone may change (set_id_aa64pfr0_el1): to 1 only when Spectre-v2 is UNAFFECTED", () => {
    // Cortex-A72: Spectre-v2 VULNERABLE (no firmware mitigation): CSV2 = 0, and 1 is EINVAL
    const a72 = vm("5.10", "cortex-a72").v;
    const p72 = get(a72, "ID_AA64PFR0_EL1");
    assert.equal(getField(p72, "ID_AA64PFR0_EL1", "CSV2"), 0);
    assert.equal(
      errnoOf(() => a72.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(p72, "ID_AA64PFR0_EL1", "CSV2", 1))),
      "EINVAL",
    );
    // Cortex-A76: UNAFFECTED: CSV2 = 1 by default (kvm->arch.pfr0_csv2); 1 -> 0 -> 1 accepted, 2 EINVAL
    const a76 = vm("5.10", "cortex-a76").v;
    const p76 = get(a76, "ID_AA64PFR0_EL1");
    assert.equal(getField(p76, "ID_AA64PFR0_EL1", "CSV2"), 1);
    const low = withField(p76, "ID_AA64PFR0_EL1", "CSV2", 0);
    assert.equal(
      errnoOf(() => a76.setOneReg(idOf("ID_AA64PFR0_EL1"), low)),
      "ok",
    );
    assert.equal(get(a76, "ID_AA64PFR0_EL1"), low);
    assert.equal(
      errnoOf(() => a76.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(p76, "ID_AA64PFR0_EL1", "CSV2", 2))),
      "EINVAL",
    );
    // another field changed along with CSV2: "We can only differ with CSV2, and anything else is an error"
    assert.equal(
      errnoOf(() => a76.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(low, "ID_AA64PFR0_EL1", "EL0", 1))),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => a76.setOneReg(idOf("ID_AA64PFR0_EL1"), p76)),
      "ok",
    );
  });
});

describe("ID registers on 6.12 (set_id_reg: arm64_check_features under the writable mask)", () => {
  it("lowers each writable lower-safe field of every VM-wide ID register", () => {
    // arm64_check_features: a field fully inside rd->val with FTR_LOWER_SAFE accepts any lower value.
    // Exceptions, refused before set_id_reg: DebugVer < 6 (set_id_aa64dfr0_el1), CopDbg < 6 and
    // PerfMon 1..2 (set_id_dfr0_el1).
    const refused = (field: string, to: number): string =>
      (field === "ID_AA64DFR0_EL1.DebugVer" || field === "ID_DFR0_EL1.CopDbg") && to < 6 ? "EINVAL" : "ok";
    let lowered = 0;
    for (const cpu of ["cortex-a72", "neoverse-n1"]) {
      const { v } = vm("6.12", cpu);
      for (const d of descsOf(v.vm.model)) {
        if (d.op0 !== 3 || d.crn !== 0 || !d.valBig || d.name === "CLIDR_EL1") continue;
        for (const p of policiesOf(v.vm.model, d.name) ?? []) {
          const mask = ((1n << BigInt(p.width)) - 1n) << BigInt(p.shift);
          if ((mask & d.valBig) !== mask || p.type !== "lowerSafe" || p.signed) continue;
          const cur = v.getOneReg(d.id) as bigint;
          const f = Number((cur & mask) >> BigInt(p.shift));
          if (f === 0 || f === 0xf) continue;
          const lower = (cur & ~mask) | (BigInt(f - 1) << BigInt(p.shift));
          const want = refused(`${d.name}.${p.field}`, f - 1);
          assert.equal(
            errnoOf(() => v.setOneReg(d.id, lower)),
            want,
            `${cpu} ${d.name}.${p.field} ${f} -> ${f - 1}`,
          );
          if (want === "ok") {
            assert.equal(v.getOneReg(d.id), lower);
            v.setOneReg(d.id, cur); // back up to the limit: still within it
            lowered++;
          }
        }
      }
    }
    assert.ok(lowered > 100, `${lowered} fields lowered`);
  });

  it("named cases: lower ok, raise beyond the host EINVAL, non-writable field EINVAL, higher-safe raise ok", () => {
    const { v } = vm("6.12", "cortex-a72");
    const isar0 = get(v, "ID_AA64ISAR0_EL1");
    assert.equal(isar0, 0x11120n);
    const setIsar0 = (x: bigint) => errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), x));
    assert.equal(setIsar0(0x11110n), "ok"); // AES 2 -> 1 (PMULL hidden)
    assert.equal(setIsar0(0x11100n), "ok"); // AES 1 -> 0
    assert.equal(setIsar0(0x11130n), "EINVAL"); // AES 3: beyond the host's 2 (-E2BIG reported as -EINVAL)
    assert.equal(setIsar0(0x1011120n), "EINVAL"); // RDM 1: the host has none
    assert.equal(get(v, "ID_AA64ISAR0_EL1"), 0x11100n);

    const mmfr0 = get(v, "ID_AA64MMFR0_EL1");
    assert.equal(getField(mmfr0, "ID_AA64MMFR0_EL1", "PARANGE"), 4); // 44 bits
    assert.equal(
      errnoOf(() =>
        v.setOneReg(idOf("ID_AA64MMFR0_EL1"), withField(mmfr0, "ID_AA64MMFR0_EL1", "PARANGE", 5)),
      ),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() =>
        v.setOneReg(idOf("ID_AA64MMFR0_EL1"), withField(mmfr0, "ID_AA64MMFR0_EL1", "PARANGE", 2)),
      ),
      "ok",
    );

    // FP is lower-safe (signed; 0xf = not implemented) but outside ID_AA64PFR0_EL1's writable mask
    const pfr0 = get(v, "ID_AA64PFR0_EL1");
    assert.equal(getField(pfr0, "ID_AA64PFR0_EL1", "FP"), 0);
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(pfr0, "ID_AA64PFR0_EL1", "FP", 0xf))),
      "EINVAL",
    );
    // SVE is outside it too: raising it is EINVAL for two reasons
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(pfr0, "ID_AA64PFR0_EL1", "SVE", 1))),
      "EINVAL",
    );
    // SpecSEI is FTR_HIGHER_SAFE: a value above the host's is the safe one (kvm_arm64_ftr_safe_value)
    const mmfr1 = get(v, "ID_AA64MMFR1_EL1");
    assert.equal(
      errnoOf(() =>
        v.setOneReg(idOf("ID_AA64MMFR1_EL1"), withField(mmfr1, "ID_AA64MMFR1_EL1", "SpecSEI", 1)),
      ),
      "ok",
    );
    // the reserved ID space reads as zero and accepts only zero (sysreg_visible_as_raz)
    const unalloc = sysregId(3, 0, 0, 3, 3);
    assert.equal(v.getOneReg(unalloc), 0n);
    assert.equal(
      errnoOf(() => v.setOneReg(unalloc, 1n)),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(unalloc, 0n)),
      "ok",
    );
  });

  it("set_id_aa64dfr0_el1 / set_id_dfr0_el1: DebugVer and CopDbg minimums, IMP_DEF PMU accepted as none", () => {
    const { v } = vm("6.12", "cortex-a72");
    const dfr0 = get(v, "ID_AA64DFR0_EL1");
    assert.equal(getField(dfr0, "ID_AA64DFR0_EL1", "DebugVer"), 6);
    assert.equal(getField(dfr0, "ID_AA64DFR0_EL1", "PMUVer"), 0); // no PMU_V3 feature
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64DFR0_EL1"), withField(dfr0, "ID_AA64DFR0_EL1", "DebugVer", 5))),
      "EINVAL",
    );
    // PMUVer 0xf (IMP_DEF) is replaced by 0 (NI) before set_id_reg: accepted, reads back as 0
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64DFR0_EL1"), withField(dfr0, "ID_AA64DFR0_EL1", "PMUVer", 0xf))),
      "ok",
    );
    assert.equal(get(v, "ID_AA64DFR0_EL1"), dfr0);
    const d32 = get(v, "ID_DFR0_EL1");
    assert.equal(getField(d32, "ID_DFR0_EL1", "CopDbg"), 6);
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_DFR0_EL1"), withField(d32, "ID_DFR0_EL1", "CopDbg", 5))),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_DFR0_EL1"), withField(d32, "ID_DFR0_EL1", "PerfMon", 2))),
      "EINVAL",
    );
  });

  it("after the first run: a changed value is EBUSY, the same value ok (set_id_reg, kvm_vm_has_ran_once)", () => {
    const { v } = vm("6.12", "cortex-a72");
    const isar0 = get(v, "ID_AA64ISAR0_EL1");
    v.setOneReg(idOf("ID_AA64ISAR0_EL1"), 0x11110n);
    const pfr0 = get(v, "ID_AA64PFR0_EL1");
    assert.equal(getField(pfr0, "ID_AA64PFR0_EL1", "GIC"), 1);
    runOnce(v);
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), 0x11100n)),
      "EBUSY",
    ); // lowering further
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), isar0)),
      "EBUSY",
    ); // back to the limit
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), 0x11110n)),
      "ok",
    );
    // kvm_finalize_sys_regs cleared GIC at the first run (no in-kernel vGIC): the old value is now a change
    const after = get(v, "ID_AA64PFR0_EL1");
    assert.equal(after, withField(pfr0, "ID_AA64PFR0_EL1", "GIC", 0));
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64PFR0_EL1"), pfr0)),
      "EBUSY",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64PFR0_EL1"), after)),
      "ok",
    );
    // an out-of-range value is still EBUSY, not EINVAL: the ran-once check comes first in set_id_reg
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("ID_AA64ISAR0_EL1"), 0x11130n)),
      "EBUSY",
    );
  });

  it("CLIDR_EL1 is per vCPU and stays writable after the first run (set_clidr)", () => {
    const { v } = vm("6.12", "cortex-a72");
    const clidr = get(v, "CLIDR_EL1");
    runOnce(v);
    const loc1 = (clidr & ~(7n << 24n)) | (1n << 24n);
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("CLIDR_EL1"), loc1)),
      "ok",
    );
    assert.equal(
      errnoOf(() => v.setOneReg(idOf("CLIDR_EL1"), clidr | (1n << 47n))),
      "EINVAL",
    ); // CLIDR_EL1_RES0
  });
});

describe("VM-wide and per-vCPU ID register state", () => {
  it("6.12 and 7.2: a write through vCPU 0 is seen through vCPU 1 (kvm->arch.id_regs); CLIDR_EL1 is not", () => {
    for (const gen of ["6.12", "7.2"] as const) {
      const { vs } = vm(gen, "cortex-a72", [[2], [2]]);
      const [v0, v1] = [vs[0]!, vs[1]!];
      v0.setOneReg(idOf("ID_AA64ISAR0_EL1"), 0x11110n);
      assert.equal(get(v1, "ID_AA64ISAR0_EL1"), 0x11110n, gen);
      const clidr = get(v0, "CLIDR_EL1");
      const loc1 = (clidr & ~(7n << 24n)) | (1n << 24n);
      v0.setOneReg(idOf("CLIDR_EL1"), loc1);
      assert.equal(get(v0, "CLIDR_EL1"), loc1);
      assert.equal(get(v1, "CLIDR_EL1"), clidr, `${gen}: is_vcpu_ftr_id_reg`);
      // a vCPU initialised after the write gets the VM's value, not a fresh reset (ID_REGS_INITIALIZED)
      const v2 = v0.vm.createVcpu(2);
      v2.init({ target: 5, features: [2] });
      assert.equal(get(v2, "ID_AA64ISAR0_EL1"), 0x11110n);
    }
  });

  it("7.2: MIDR_EL1 written through vCPU 0 is seen through vCPU 1 (KVM_CAP_ARM_WRITABLE_IMP_ID_REGS)", () => {
    const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72" });
    const m = sys.createVm();
    m.enableCap(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS);
    const [v0, v1] = [m.createVcpu(0), m.createVcpu(1)];
    v0.init({ target: 5, features: [2] });
    v1.init({ target: 5, features: [2] });
    v0.setOneReg(idOf("MIDR_EL1"), 0x410fd081n);
    assert.equal(get(v1, "MIDR_EL1"), 0x410fd081n);
    // the cap needs !kvm->created_vcpus
    const m2 = sys.createVm();
    m2.createVcpu(0);
    assert.equal(
      errnoOf(() => m2.enableCap(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS)),
      "EINVAL",
    );
  });

  it("6.1: CSV2 is VM-wide (kvm->arch.pfr0_csv2); the rest is computed per vCPU from its features", () => {
    const { vs } = vm("6.1", "max", [[2, 4], [2]]);
    const [v0, v1] = [vs[0]!, vs[1]!];
    const p0 = get(v0, "ID_AA64PFR0_EL1");
    const p1 = get(v1, "ID_AA64PFR0_EL1");
    assert.equal(getField(p0, "ID_AA64PFR0_EL1", "SVE"), 1); // vCPU 0 has SVE
    assert.equal(getField(p1, "ID_AA64PFR0_EL1", "SVE"), 0); // vCPU 1 has not (per-vCPU features before 6.7)
    assert.equal(getField(p0, "ID_AA64PFR0_EL1", "CSV2"), 1);
    v0.setOneReg(idOf("ID_AA64PFR0_EL1"), withField(p0, "ID_AA64PFR0_EL1", "CSV2", 0));
    assert.equal(getField(get(v1, "ID_AA64PFR0_EL1"), "ID_AA64PFR0_EL1", "CSV2"), 0);
    // 6.12: one feature set per VM (kvm_vcpu_init_changed): the second vCPU's different set is EINVAL
    const sys = new SimSystem({ generation: "6.12", cpu: "max" });
    const m = sys.createVm();
    m.createVcpu(0).init({ target: 5, features: [2, 4] });
    assert.equal(
      errnoOf(() => m.createVcpu(1).init({ target: 5, features: [2] })),
      "EINVAL",
    );
  });
});
